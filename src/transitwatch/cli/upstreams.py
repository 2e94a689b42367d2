"""``transitwatch upstreams``, ``events``, ``visibility``: questions about one target (an AS, a
prefix, or with --country a country) over FILES, an archive window or a database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from transitwatch.cli.common import (
    UserError,
    _add_country_args,
    _add_parallel_args,
    _add_registry_args,
    _add_route_args,
    _print_notes,
    _registry_from_args,
    progress_for,
    source_from_args,
)
from transitwatch.cli.country import _cmd_country_events, _cmd_country_upstreams

if TYPE_CHECKING:
    pass


def _cmd_upstreams(args: argparse.Namespace) -> int:
    from transitwatch.engine.queries import _is_country

    if not getattr(args, "country", None) and _is_country(args.target):
        # a country code as TARGET is --country CC (as for events, visibility and tw.upstreams)
        args.country, args.target = args.target, None
    if getattr(args, "country", None):
        return _cmd_country_upstreams(args)
    import json

    import transitwatch as tw
    from transitwatch.cli.render_upstreams import no_route_line, print_upstreams

    _need_target(args)
    src = source_from_args(args)
    at = args.at
    if at is None and args.db is not None and args.end:
        at = args.end  # with --db, --to bounds the question
    with progress_for(args) as progress:
        result = tw.upstreams(args.target, src, at=at, tz=args.tz, workers=args.workers,
                              scheduler=args.scheduler, progress=progress, transit=args.transit,
                              as_rel=args.as_rel)
    report = result.report
    _print_notes(report.notices, report.target)
    if not args.json:
        # the text answer itself says "no data covers T" / "no route": not a second time on stderr
        print_upstreams(report, tz=args.tz, rich=sys.stdout.isatty(), file=sys.stdout)
        return 0
    print(json.dumps(result.to_dict(), indent=2))
    if report.coverage.get("note"):
        print(f"transitwatch: note: {report.coverage['note']}", file=sys.stderr)
    elif report.empty:
        print(f"transitwatch: note: {no_route_line(report)}", file=sys.stderr)
    return 0


def _need_target(args: argparse.Namespace) -> None:
    if not args.target:
        raise UserError("give a TARGET (an AS such as AS131279, or a prefix), or --country CC")


def _cmd_events(args: argparse.Namespace) -> int:
    if getattr(args, "country", None):
        return _cmd_country_events(args)
    import json
    import shutil

    import transitwatch as tw
    from transitwatch.cli.render_events import print_other_events
    from transitwatch.cli.render_upstreams import print_events, timeline_buckets
    from transitwatch.detect.events import parse_detectors

    _need_target(args)
    try:
        detectors = parse_detectors(args.detect)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.buckets is not None and args.buckets < 1:
        raise UserError(f"--buckets must be at least 1, not {args.buckets}")
    if args.json:
        buckets = (args.buckets or 48) if args.timeline else 0
    elif args.no_timeline or "upstream" not in detectors:
        buckets = 0
    else:
        buckets = args.buckets or (timeline_buckets(shutil.get_terminal_size().columns)
                                   if sys.stdout.isatty() else 48)
    src = source_from_args(args)
    window = args.db is not None  # with --db, --from/--to bound the events (else they name an archive window)
    with progress_for(args) as progress:
        result = tw.events(args.target, src, detect=detectors, tz=args.tz, min_peers=args.min_peers,
                           min_duration=args.min_duration, baseline=args.baseline, timeline=buckets or False,
                           start=args.start if window else None, end=args.end if window else None,
                           workers=args.workers, scheduler=args.scheduler, progress=progress,
                           transit=args.transit, as_rel=args.as_rel)
    _print_notes(result.notices, result.target)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        if result.changes is not None:
            print_events(result.changes, result.timeline, tz=args.tz, rich=sys.stdout.isatty(),
                         file=sys.stdout)
        if result.others is not None:
            others = result.others
            print_other_events(others.events, others.transients, tz=args.tz, rich=sys.stdout.isatty(),
                               file=sys.stdout, vantage_lost=others.vantage_lost)
    if not result.view.spans:
        print(f"transitwatch: note: no route to {result.target} in the input", file=sys.stderr)
    return 0


def _cmd_visibility(args: argparse.Namespace) -> int:
    import json
    import shutil

    import transitwatch as tw
    from transitwatch.cli.render_events import print_visibility

    _need_target(args)
    text = args.target.strip()
    country = len(text) == 2 and text.isalpha()
    registry = _registry_from_args(args) if country else None
    src = source_from_args(args)
    with progress_for(args) as progress:
        result = tw.visibility(text, src, resolution=args.resolution, tz=args.tz, registry=registry,
                               progress=progress)
    _print_notes(result.series.notices, None if country else result.view.target)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        width = max(20, shutil.get_terminal_size().columns - 12) if sys.stdout.isatty() else 72
        print_visibility(result.series, tz=result.tz, rich=sys.stdout.isatty(), file=sys.stdout, width=width,
                         changes_only=not args.all_points)
    if not result.view.spans:
        print(f"transitwatch: note: no route to {result.view.target} in the input", file=sys.stderr)
    return 0


def _add_relationship_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--transit", action="store_true",
                   help="count every route crossing an AS target, not only routes to its own address "
                        "space (its prefixes and its customer cone)")
    p.add_argument("--as-rel", metavar="FILE",
                   help="CAIDA serial-1/serial-2 AS relationships (plain, .gz, .bz2) for each upstream's "
                        "relationship (default: inferred from the same input, AS-Rank)")


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("upstreams", _cmd_upstreams,
            "Who carries a target (an AS or a prefix) to the rest of the Internet, at the end of the "
            "input or at --at.",
            "examples:\n"
            "  transitwatch upstreams AS131279 bview.20171001.0800.gz updates.20171001.*.gz\n"
            "  transitwatch upstreams 175.45.176.0/22 rrc00/*.gz --at 2017-10-01T09:00Z --json\n"
            "  transitwatch upstreams AS131279 --collector rrc00 \\\n"
            "      --from 2017-10-01T08:00 --to 2017-10-01T10:00\n\n"
            "An upstream is the AS just before the target's ASNs in a path (for a prefix: before its\n"
            "origin). For each: the target prefixes it carries, the peers that see it and their share,\n"
            "first and last seen. Files are merged by time; with FILES, --collector names their collector.\n"
            "No route to the target is not an error: an empty result, exit 0.\n\n"
            "Several files are decoded on all cores (--workers N to choose, 1 for one process), or on a\n"
            "Dask cluster with --scheduler tcp://HOST:8786 (--scheduler local: a cluster on this machine);\n"
            "the result is the one-process result. See docs/scaling.md.")
    _add_route_args(p)
    _add_parallel_args(p)
    _add_country_args(p)
    p.add_argument("--at", metavar="TIME", help="the state at this time (ISO 8601 or epoch), not at the end")
    _add_relationship_args(p)

    p = add("events", _cmd_events,
            "When a target gained or lost an upstream: onset, confirmation, peers and evidence.",
            "examples:\n"
            "  transitwatch events AS131279 rrc00/bview.20171001.0800.gz rrc00/updates.20171001.*.gz \\\n"
            "      --tz Asia/Pyongyang\n"
            "  transitwatch events AS131279 files... --min-peers 3 --min-duration 10m --json\n\n"
            "The first state seen is the baseline. A change seen by fewer than --min-peers peers and\n"
            "for less than --min-duration is a transient, listed apart. Session resets and RIB dumps\n"
            "refreshing a table are not changes. Times are UTC (Z); --tz adds local time with the\n"
            "offset in force then (Pyongyang was UTC+8:30 in 2017). Below the table, a timeline: one\n"
            "row per upstream, bar height = peers seeing the target through it in each time bucket.\n\n"
            "Beside upstream changes (--detect, default all): outage / partial_outage (the visible\n"
            "address space below 20% / 80% of its last hour's level, lost by most vantage points),\n"
            "origin_change (a prefix from another origin AS) and more_specific (a more-specific of a\n"
            "target prefix from another origin; watch the prefixes too, e.g. AS131279,175.45.176.0/22).\n"
            "A session going down or a collector going quiet is listed as a lost vantage point, not an\n"
            "outage. See docs/cli.md. --workers/--scheduler decode files in parallel as for upstreams,\n"
            "for --detect upstream,origin (outage detection reads every record in one process).")
    _add_route_args(p)
    _add_parallel_args(p)
    _add_country_args(p)
    _add_relationship_args(p)
    p.add_argument("--min-peers", type=int, default=2, metavar="N",
                   help="peers that must see a change to confirm it at once (default 2)")
    p.add_argument("--min-duration", default="5m", metavar="DURATION",
                   help="persistence that confirms a change seen by fewer peers (default 5m)")
    p.add_argument("--baseline", default="0", metavar="DURATION",
                   help="how long after the first target route the state is still baseline (default 0)")
    p.add_argument("--buckets", type=int, metavar="N",
                   help="timeline buckets (default: the terminal's width, 48 in pipes)")
    p.add_argument("--no-timeline", action="store_true", help="no timeline under the events table")
    p.add_argument("--timeline", action="store_true", help="with --json: include the timeline buckets")
    p.add_argument("--detect", default="all", metavar="NAMES",
                   help="detectors to run, comma-separated: upstream, outage, origin (default all); "
                        "outage reads every record (slower than upstream alone)")

    p = add("visibility", _cmd_visibility,
            "How visible a target is over time: prefixes, address space, and the peers that see it.",
            "examples:\n"
            "  transitwatch visibility AS131279 rrc00/bview.20141222.0000.gz rrc00/updates.20141222.*.gz\n"
            "  transitwatch visibility KP rrc00/*.gz                # a country: its zone's local times\n"
            "  transitwatch visibility 175.45.176.0/22 files... --resolution 1m --json\n\n"
            "Every --resolution (default 5m, aligned to the clock): the target prefixes at least one\n"
            "peer has a route to, their address space in IPv4 /24 and IPv6 /48 equivalents (a\n"
            "more-specific inside a covering prefix is not counted twice), and the peers that see the\n"
            "target out of those whose session is up. The chart's bars are the lowest address space in\n"
            "each bucket, so a dip shorter than the resolution still shows. JSON adds, per prefix, the\n"
            "number and share of peers seeing it at each point.")
    _add_route_args(p)
    _add_registry_args(p)
    p.add_argument("--resolution", default="5m", metavar="DURATION",
                   help="time between points (default 5m)")
    p.add_argument("--all-points", action="store_true",
                   help="list every point under the chart, not only those where something changed")
