"""``transitwatch registry update|show``: RIR delegated files and AS names."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from transitwatch.cli.common import UserError


def _cmd_registry(args: argparse.Namespace) -> int:
    import json

    from transitwatch.registry import DEFAULT_URLS, default_registry_dir
    from transitwatch.registry.rir import file_name_for, update_registry

    directory = args.registry_dir or default_registry_dir()
    if args.action == "update" and args.as_rel:
        return _update_as_rel(args, directory)
    if args.action == "update":
        urls = {}
        for item in args.url or []:
            key, sep, url = item.partition("=")
            if not sep or not url:
                raise UserError(f"--url {item!r}: expected NAME=URL, e.g. apnic=https://mirror/...")
            urls[key] = url
        if args.mirror and not args.mirror.startswith(("http://", "https://")):
            raise UserError(f"--mirror {args.mirror!r}: expected an http:// or https:// URL")
        if args.at:
            from datetime import UTC, datetime

            from transitwatch.registry.snapshots import snapshot_dir, update_snapshot
            from transitwatch.times import parse_time

            # the one time parser (a day, ISO 8601, epoch seconds, now-30d); the snapshot is that UTC day
            try:
                day = datetime.fromtimestamp(parse_time(args.at), tz=UTC).date()
            except ValueError:
                raise UserError(f"--at {args.at!r}: expected a day, YYYY-MM-DD (e.g. 2017-10-01)") from None
            results = update_snapshot(directory, day, urls=urls, mirror=args.mirror, progress=not args.json)
            directory = snapshot_dir(directory, day)
        else:
            if args.mirror:
                from transitwatch.registry.snapshots import with_mirror

                urls = {**with_mirror(DEFAULT_URLS, args.mirror), **urls}
            elif not urls:  # --url alone downloads just those sources
                urls = dict(DEFAULT_URLS)
            results = update_registry(directory, urls, progress=not args.json)
        if args.json:
            print(json.dumps([r.to_dict() for r in results], indent=2))
        else:
            for r in results:
                print(f"{'ok' if r.error is None else 'failed':7} {r.key:8} "
                      f"{r.path or directory / file_name_for(r.key, r.url)}")
        failed = [r for r in results if r.error]
        for r in failed:
            print(f"transitwatch: error: {r.error}", file=sys.stderr)
        if failed and len(failed) < len(results):
            print(f"transitwatch: warning: {len(failed)} of {len(results)} sources failed; "
                  "the others are updated and used", file=sys.stderr)
        return 1 if failed else 0
    import transitwatch as tw

    info = tw.registry_of(args.registry_dir).describe()
    if args.json:
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


def _update_as_rel(args: argparse.Namespace, directory: Path) -> int:
    """registry update --as-rel: CAIDA's AS relationships of the month nearest --at (default: now)."""
    import json
    import time
    from datetime import UTC, datetime

    from transitwatch.registry.relationships import as_rel_url, load_as_rel, update_as_rel
    from transitwatch.times import parse_time

    if args.mirror and not args.mirror.startswith(("http://", "https://")):
        raise UserError(f"--mirror {args.mirror!r}: expected an http:// or https:// URL")
    try:
        day = datetime.fromtimestamp(parse_time(args.at) if args.at else time.time(), tz=UTC).date()
    except ValueError:
        raise UserError(f"--at {args.at!r}: expected a day, YYYY-MM-DD (e.g. 2017-10-01)") from None
    explicit = [u.partition("=")[2] for u in args.url or [] if u.startswith("as-rel=")]
    url = explicit[0] if explicit else as_rel_url(day, args.mirror)
    try:
        path = update_as_rel(directory, day, url=url, progress=not args.json)
        rels = load_as_rel(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"as-rel {url}: {str(exc).splitlines()[0]}") from None
    out = {"key": "as-rel", "url": url, "path": str(path), **rels.describe()}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"ok      as-rel   {path} ({out['p2c']} p2c, {out['p2p']} p2p links; date {rels.date})")
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
