"""``transitwatch countries`` and the ``--country`` forms of ``upstreams`` / ``events``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from transitwatch.cli.common import (
    UserError,
    _add_db_arg,
    _add_parallel_args,
    _add_registry_args,
    _country_code,
    _print_notes,
    _registry_from_args,
    progress_for,
    source_from_args,
)

if TYPE_CHECKING:
    from transitwatch.registry import Registry


def _cmd_countries(args: argparse.Namespace) -> int:
    import json

    import transitwatch as tw
    from transitwatch.cli.render_country import print_countries

    registry = _registry_from_args(args)
    if not args.files and args.db is None:
        raise UserError("give MRT files, or --db with a database made by 'transitwatch ingest'")
    src = source_from_args(args)
    result = tw.countries(src, at=args.at, workers=args.workers, scheduler=args.scheduler, registry=registry)
    _print_notes(result.notices)
    if args.json:
        doc = result.to_dict()
        if args.limit is not None:   # as the text: the first N (it printed every country)
            doc["countries"] = doc["countries"][: args.limit]
        print(json.dumps(doc, indent=2))
    else:
        print_countries(result.rows, rich=sys.stdout.isatty(), file=sys.stdout, limit=args.limit,
                        registry=result.registry)
    if not result.rows and not any(n.startswith("no data covers") for n in result.notices):
        print("transitwatch: note: no route to a prefix with a known country in the input", file=sys.stderr)
    return 0


def _country_inputs(args: argparse.Namespace) -> tuple[str, Registry, Any]:
    """(country code, registry, source) for ``upstreams/events --country``. With --country, the
    TARGET position holds the first FILE."""
    cc = _country_code(args.country)
    files = [f for f in [args.target, *args.files] if f]
    if args.db is None and not files and not (args.start or args.end):
        raise UserError("give the MRT files to read after --country CC, or --collector/--from/--to")
    registry = _registry_from_args(args)
    return cc, registry, source_from_args(args, files)


def _cmd_country_upstreams(args: argparse.Namespace) -> int:
    import json

    import transitwatch as tw
    from transitwatch.cli.render_country import print_country_upstreams

    cc, registry, src = _country_inputs(args)
    at = args.at
    if at is None and args.db is not None and args.end:
        at = args.end  # with --db, --to bounds the question
    with progress_for(args) as progress:
        result = tw.country_upstreams(cc, src, at=at, tz=args.tz, registry=registry, progress=progress,
                                      as_rel=getattr(args, "as_rel", None))
    if args.json:
        _print_notes(result.notices)
        print(json.dumps(result.to_dict(), indent=2))
    else:
        # the text answer itself says "no data covers T" in place of "no route": not again on stderr
        shown = None if result.report.prefixes else _uncovered(result.notices)
        _print_notes(n for n in result.notices if n != shown)
        print_country_upstreams(result.report, tz=result.tz, rich=sys.stdout.isatty(), file=sys.stdout,
                                notices=result.notices)
    return 0


def _uncovered(notices: list[str]) -> str | None:
    """The "no data covers T" note among ``notices`` (the one the text answer shows), if any."""
    return next((n for n in notices if n.startswith("no data covers")), None)


def _cmd_country_events(args: argparse.Namespace) -> int:
    import json

    import transitwatch as tw
    from transitwatch.cli.render_upstreams import print_events

    cc, registry, src = _country_inputs(args)
    buckets = (args.buckets or 48) if (args.timeline if args.json else not args.no_timeline) else 0
    window = args.db is not None  # with --db, --from/--to bound the events (else an archive window)
    with progress_for(args) as progress:
        result = tw.country_events(
            cc, src, tz=args.tz, min_peers=args.min_peers, min_duration=args.min_duration,
            baseline=args.baseline, timeline=buckets or False, registry=registry,
            start=args.start if window else None, end=args.end if window else None, progress=progress,
            as_rel=getattr(args, "as_rel", None))
    _print_notes(result.notices)
    changes = result.changes
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print_events(changes, result.timeline, tz=result.tz, rich=sys.stdout.isatty(), file=sys.stdout)
        shown = sorted({e.upstream for e in changes.events} | set(changes.baseline))
        for asn in shown:
            info = registry.as_info(asn)
            name = info.name or (f"~{info.name_hint}" if info.name_hint else "?")
            print(f"  AS{asn}: {name} ({info.country or '?'})", file=sys.stdout)
        from transitwatch.cli.render_country import print_registry_line

        print_registry_line(registry.snapshot.to_dict() if registry.snapshot else None, sys.stdout)
    if not result.view.spans:
        print(f"transitwatch: note: no route to a prefix in {cc} in the input", file=sys.stderr)
    return 0


def _at_least_one(text: str) -> int:
    """--limit N for argparse: a whole number >= 1 (a negative one sliced rows off the end)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: give at least 1")
    return n


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("countries", _cmd_countries,
            "Every country seen, ranked by how much its international connectivity hangs on one network.",
            "examples:\n"
            "  transitwatch countries rib.20171001.0800.bz2\n"
            "  transitwatch countries bview.gz updates.*.gz --at 2017-10-01T09:30Z --json\n\n"
            "For each country (prefixes placed by the bundled GeoLite2 data, or --country-source rir):\n"
            "its international upstreams (the first AS outside the country on each path towards a\n"
            "domestic prefix), the share of its address space the largest one carries (a single point\n"
            "of failure at 100%), and the Herfindahl index of the upstreams' shares (1 = one upstream).\n"
            "In the spirit of CAIDA's Country-level Transit Influence; see docs/cli.md.\n\n"
            "--workers N / --scheduler ADDRESS build the tables collector by collector in parallel\n"
            "(compact tables, a quarter of the memory; same ranking); see docs/scaling.md.")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="MRT files (RIB dumps and updates, merged by time)")
    p.add_argument("--at", metavar="TIME", help="the state at this time (ISO 8601 or epoch), not at the end")
    p.add_argument("--limit", type=_at_least_one, default=None, metavar="N",
                   help="show only the first N countries")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="build the tables on N processes, one collector per task (default: all cores "
                        "when the files come from several collectors; 1: one process)")
    _add_parallel_args(p)
    _add_db_arg(p, reading=True)
    _add_registry_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
