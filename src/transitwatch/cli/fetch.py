"""``transitwatch fetch``: download archive files of a window to the cache."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from transitwatch.cli.common import UserError, _add_archive_window_args


def _cmd_fetch(args: argparse.Namespace) -> int:
    import json

    import transitwatch as tw

    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    result = tw.fetch(args.collector, args.start, args.end, archive_url=args.archive_url or [],
                      cache_dir=args.cache_dir, bridge=not args.no_bridge, dry_run=args.dry_run,
                      workers=args.workers or 4, progress=not args.json)
    report = result.report
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for outcome in report.outcomes:
            where = outcome.file.url if outcome.status == "planned" else outcome.file.cache_path
            print(f"{outcome.status:8} {where}" + (f"  ({outcome.reason})" if outcome.reason else ""))
        print(report.summary(), file=sys.stderr)
        for line in report.gaps():
            print(f"transitwatch: warning: {line}", file=sys.stderr)
    return 0 if report.ok else 1


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("fetch", _cmd_fetch,
            "Download RIS / RouteViews archive files (the RIB before --from, updates to --to) to the cache.",
            "examples:\n"
            "  transitwatch fetch --collector rrc00,route-views2 \\\n"
            "      --from 2017-10-01T08:00 --to 2017-10-01T12:00\n"
            "  transitwatch fetch --collector rrc00 --from 2017-10-01T09:00 --to 2017-10-01T09:30 --dry-run\n"
            "  transitwatch fetch --collector rrc00 --from ... --to ... --archive-url ris=http://mirror/ris\n\n"
            "Files go to $XDG_CACHE_HOME/transitwatch/archive/<collector>/<YYYY.MM>/<name>; files already\n"
            "there are skipped, cut downloads resume. Exit 1 when some files are missing (the rest is kept).")
    _add_archive_window_args(p, required=True)
    p.add_argument("--no-bridge", action="store_true",
                   help="only updates inside the window, not those between the RIB and --from")
    p.add_argument("--dry-run", action="store_true", help="list the files, download nothing")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
