"""``transitwatch registry update|show``: RIR delegated files and AS names."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from transitwatch.cli.common import UserError


def _cmd_registry(args: argparse.Namespace) -> int:
    import json

    from transitwatch.registry import DEFAULT_URLS, Registry, RegistryFileError, default_registry_dir
    from transitwatch.registry.rir import file_name_for, update_registry

    directory = args.registry_dir or default_registry_dir()
    if args.action == "update":
        if args.url:
            urls = {}
            for item in args.url:
                key, sep, url = item.partition("=")
                if not sep or not url:
                    raise UserError(f"--url {item!r}: expected NAME=URL, e.g. apnic=https://mirror/...")
                urls[key] = url
        else:
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
    try:
        registry = Registry.load(args.registry_dir)
    except RegistryFileError as exc:
        raise UserError(str(exc)) from None
    info = registry.describe()
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
    for warning in info["warnings"]:
        print(f"transitwatch: warning: {warning}", file=sys.stderr)
    return 0


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("registry", _cmd_registry,
            "Download or show the registry data: RIR delegated statistics and AS names.",
            "examples:\n"
            "  transitwatch registry show             # what is loaded, dates and ages\n"
            "  transitwatch registry update           # the five RIRs' delegated-extended files + asn.txt\n"
            "  transitwatch registry update --url apnic=http://mirror/delegated-apnic-extended-latest\n\n"
            "Country and AS-name data works offline without this (bundled GeoLite2 data, via geoip2fast);\n"
            "the RIR files add registration countries for ASes and address blocks. They go to\n"
            "$XDG_CACHE_HOME/transitwatch/registry (or --registry-dir); cut downloads resume. Exit 1 when a\n"
            "source failed (the others are still saved and used).")
    p.add_argument("action", choices=["update", "show"], help="update: download; show: what is loaded")
    p.add_argument("--registry-dir", type=Path, metavar="DIR",
                   help="folder with delegated-*-extended-latest and asn.txt files (default: XDG cache)")
    p.add_argument("--url", action="append", metavar="NAME=URL",
                   help="download NAME from URL instead of the defaults; repeatable")
    p.add_argument("--json", action="store_true", help="print JSON")
