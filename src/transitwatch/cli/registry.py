"""``transitwatch registry update|show``: RIR delegated files and AS names."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transitwatch.cli.common import UserError

# the API names its parameters; say the options the user typed
_OPTIONS = (("at ", "--at "), ("mirror ", "--mirror "))


def _cmd_registry(args: argparse.Namespace) -> int:
    import json

    import transitwatch as tw

    if args.action == "show":
        return _show(tw.registry_show(args.registry_dir), args.json)
    urls = {}
    for item in args.url or []:
        key, sep, url = item.partition("=")
        if not sep or not url:
            raise UserError(f"--url {item!r}: expected NAME=URL, e.g. apnic=https://mirror/...")
        urls[key] = url
    try:
        result = tw.registry_update(args.registry_dir, at=args.at, mirror=args.mirror, urls=urls,
                                    as_rel=args.as_rel, progress=not args.json)
    except UserError as exc:
        text = str(exc)
        for name, option in _OPTIONS:
            if text.startswith(name):
                text = option + text[len(name):]
        raise UserError(text) from None
    sources = result.to_dict()["sources"]
    if args.as_rel:
        out = sources[0]
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            print(f"ok      as-rel   {out['path']} ({out['p2c']} p2c, {out['p2p']} p2p links; "
                  f"date {result.relationships.date})")
        return 0
    if args.json:
        print(json.dumps(sources, indent=2))
    else:
        for row, where in zip(sources, result.destinations, strict=True):
            print(f"{'ok' if row['error'] is None else 'failed':7} {row['source']:8} {where}")
    failed = result.failed
    for row in failed:
        print(f"transitwatch: error: {row['error']}", file=sys.stderr)
    if failed and len(failed) < len(sources):
        print(f"transitwatch: warning: {len(failed)} of {len(sources)} sources failed; "
              "the others are updated and used", file=sys.stderr)
    return 1 if failed else 0


def _show(result: Any, as_json: bool) -> int:
    import json

    info = result.to_dict()
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    geo = info["geolocation"]
    print(f"registry directory: {info['registry_dir']}")
    if geo:
        print(f"geolocation: {geo['source']} (geoip2fast {geo['version']}, data of {geo['date']}, "
              f"IPv6 {'yes' if geo['ipv6'] else 'no'}, AS names {'yes' if geo['asn_names'] else 'no'})")
    if not info["rir_files"]:
        print("RIR files: none loaded (run 'transitwatch registry update')")
    for f in info["rir_files"]:
        age = f"{f['age_days']:.0f} days old" if f["age_days"] is not None else "age unknown"
        print(f"{f['kind']:9} {f['registry'] or '':8} {f['date'] or '?':10} {age:14} "
              f"{f['records']:>8} records{'  STALE' if f['stale'] else ''}  {f['path']}")
    if info["snapshots"]:
        print("dated snapshots (a query uses the one nearest its data's time): "
              + ", ".join(snap["date"] for snap in info["snapshots"]))
    else:
        print("dated snapshots: none (run 'transitwatch registry update --at YYYY-MM-DD')")
    for warning in info["warnings"]:
        print(f"transitwatch: warning: {warning}", file=sys.stderr)
    return 0


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("registry", _cmd_registry,
            "Download or show the registry data: RIR delegated statistics and AS names.",
            "examples:\n"
            "  transitwatch registry show             # what is loaded, dates and ages\n"
            "  transitwatch registry update           # the five RIRs' delegated-extended files + asn.txt\n"
            "  transitwatch registry update --url apnic=http://mirror/delegated-apnic-extended-latest\n"
            "  transitwatch registry update --at 2017-10-01  # RIR archives + CAIDA as2org of that day\n"
            "  transitwatch registry update --at 2017-10-01 --mirror http://127.0.0.1:8000/\n\n"
            "A query uses the snapshot nearest its data's time and says which (date, source); one more\n"
            "than a year away is flagged. --mirror fetches the same paths from another host\n"
            "(<mirror>/stats/apnic/2017/delegated-apnic-extended-20171001.gz ...).\n"
            "Country and AS-name data works offline without this (bundled GeoLite2 data, via geoip2fast);\n"
            "the RIR files add registration countries for ASes and address blocks. They go to\n"
            "$XDG_CACHE_HOME/transitwatch/registry (or --registry-dir); cut downloads resume. Exit 1 when a\n"
            "source failed (the others are still saved and used).")
    p.add_argument("action", choices=["update", "show"], help="update: download; show: what is loaded")
    p.add_argument("--registry-dir", type=Path, metavar="DIR",
                   help="folder with delegated-*-extended-latest and asn.txt files (default: XDG cache)")
    p.add_argument("--url", action="append", metavar="NAME=URL",
                   help="download NAME from URL instead of the defaults; repeatable")
    p.add_argument("--at", metavar="YYYY-MM-DD",
                   help="update: download the dated snapshot of that day (RIR archives + CAIDA as2org)")
    p.add_argument("--mirror", metavar="URL",
                   help="update: fetch every source's path from this host instead (a local mirror)")
    p.add_argument("--as-rel", action="store_true",
                   help="update: fetch CAIDA's AS relationships (serial-1) of the month nearest --at "
                        "(default: now) into <registry>/as-rel/; with --mirror from that host, or "
                        "--url as-rel=URL; used by upstreams/resilience when no --as-rel FILE is given")
    p.add_argument("--json", action="store_true", help="print JSON")
