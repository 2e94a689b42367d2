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
    _archive_window_files,
    _check_one_collector,
    _country_code,
    _country_zone,
    _open_store,
    _print_notes,
    _registry_from_args,
    _time_arg,
    _upstream_rule_args,
)

if TYPE_CHECKING:
    from transitwatch.registry import Registry


def _country_state(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """Replay FILES (up to --at) into full routing tables, for the country commands."""
    from transitwatch.sources.files import read_files
    from transitwatch.sources.mrt import MrtError
    from transitwatch.state.compact import CompactRoutingState

    until = _time_arg(getattr(args, "at", None))
    notices: list[str] = []
    if getattr(args, "db", None) is not None:
        return _store_state(args, until), notices
    if not args.files:
        raise UserError("give MRT files, or --db with a database made by 'transitwatch ingest'")
    if _parallel_countries_wanted(args):
        return _parallel_country_state(args, until)
    try:
        # Compact tables: a full table of 1M prefixes x 40 peers in 0.9 GB instead of 3 GB, same ranking.
        state = CompactRoutingState().replay(read_files(args.files, notices=notices), until=until)
    except (MrtError, OSError) as exc:
        raise UserError(str(exc)) from None
    _print_notes(notices)
    return state, notices


def _parallel_countries_wanted(args: argparse.Namespace) -> bool:
    """Per-collector parallel tables: asked for, or by default when the files come from several
    collectors and there are several cores (one collector is one task: nothing to share)."""
    from transitwatch.engine.parallel import default_workers
    from transitwatch.sources.files import collector_and_time_from_name

    if getattr(args, "scheduler", None):
        return True
    workers = getattr(args, "workers", None)
    if workers is not None:
        return workers != 1
    collectors = {collector_and_time_from_name(f)[0] for f in args.files}
    return len(collectors) > 1 and default_workers() > 1


def _parallel_country_state(args: argparse.Namespace, until: float | None) -> tuple[Any, list[str]]:
    """Full tables built per collector on --workers processes or a Dask --scheduler (compact
    tables; unreadable files noted and left out)."""
    from transitwatch.engine.parallel import parallel_routing_state

    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    try:
        run = parallel_routing_state(args.files, until=until, workers=args.workers, scheduler=args.scheduler)
    except (RuntimeError, OSError, ValueError) as exc:
        raise UserError(str(exc)) from None
    _print_notes(run.notices)
    return run, run.notices


def _cmd_countries(args: argparse.Namespace) -> int:
    import json

    from transitwatch.cli.render_country import print_countries
    from transitwatch.metrics.country import countries_report

    registry = _registry_from_args(args)
    state, notices = _country_state(args)
    report = countries_report(state, registry)
    rows = report.rows
    if args.json:
        print(json.dumps({"countries": [r.to_dict() for r in rows], "registry": report.registry,
                          "notices": notices}, indent=2))
    else:
        print_countries(rows, rich=sys.stdout.isatty(), file=sys.stdout, limit=args.limit,
                        registry=report.registry)
    if not rows:
        print("transitwatch: note: no route to a prefix with a known country in the input", file=sys.stderr)
    return 0


def _country_inputs(args: argparse.Namespace) -> tuple[str, str | None, Registry, list[str]]:
    """(country code, time zone, registry, files) for ``upstreams/events --country``.

    With --country, the TARGET position holds the first FILE. The time zone defaults to the
    country's own (``--country KP`` prints Pyongyang times)."""
    cc = _country_code(args.country)
    files = [f for f in [args.target, *args.files] if f]
    args._window = bool(args.start or args.end)
    if args._window:
        if files:
            raise UserError("give either MRT files or --from/--to, not both")
    else:
        _check_one_collector(args)
        if not files:
            raise UserError("give the MRT files to read after --country CC, or --collector/--from/--to")
    registry = _registry_from_args(args)
    tz = _country_zone(args.tz, registry, cc)
    if args._window:
        # the archive files of --collector/--from/--to (their collectors come from their paths)
        files = [str(p) for p in _archive_window_files(args)]
    return cc, tz, registry, files


def _country_stream(args: argparse.Namespace, files: list[str], notices: list[str]) -> Any:
    from transitwatch.sources.files import read_files

    try:
        override = None if getattr(args, "_window", False) else args.collector
        return read_files(files, collector=override, notices=notices)
    except OSError as exc:
        raise UserError(str(exc)) from None


def _cmd_country_upstreams(args: argparse.Namespace) -> int:
    import json

    from transitwatch.cli.render_country import print_country_upstreams
    from transitwatch.metrics.country import country_upstreams
    from transitwatch.sources.mrt import MrtError
    from transitwatch.state.table import RoutingState
    from transitwatch.times import iso_local

    cc, tz, registry, files = _country_inputs(args)
    at = _time_arg(args.at)
    notices: list[str] = []
    try:
        state = RoutingState().replay(_country_stream(args, files, notices), until=at)
    except (MrtError, OSError) as exc:
        raise UserError(str(exc)) from None
    _print_notes(notices)
    report = country_upstreams(state, cc, registry)
    if at is not None:
        report.time = at
    if args.json:
        out = report.to_dict()
        if tz and report.time is not None:
            out["time_local"] = iso_local(report.time, tz)
        out["notices"] = notices
        print(json.dumps(out, indent=2))
    else:
        print_country_upstreams(report, tz=tz, rich=sys.stdout.isatty(), file=sys.stdout)
    return 0


def _cmd_country_events(args: argparse.Namespace) -> int:
    import json

    from transitwatch.cli.render_upstreams import print_events
    from transitwatch.detect.country_change import country_changes_dict
    from transitwatch.detect.upstream_change import upstream_changes
    from transitwatch.metrics.country import country_view
    from transitwatch.metrics.upstreams import upstream_timeline
    from transitwatch.sources.mrt import MrtError

    cc, tz, registry, files = _country_inputs(args)
    min_duration, baseline = _upstream_rule_args(args)
    notices: list[str] = []
    try:
        view = country_view(cc, _country_stream(args, files, notices), registry, notices=notices)
    except (MrtError, OSError) as exc:
        raise UserError(str(exc)) from None
    _print_notes(notices)
    changes = upstream_changes(view, min_peers=args.min_peers, min_duration=min_duration, baseline=baseline)
    buckets = args.buckets or 48
    if args.json:
        out = country_changes_dict(changes, registry, tz)
        if args.timeline:
            out["timeline"] = upstream_timeline(view, buckets).to_dict()
        print(json.dumps(out, indent=2))
    else:
        timeline = upstream_timeline(view, buckets) if not args.no_timeline else None
        print_events(changes, timeline, tz=tz, rich=sys.stdout.isatty(), file=sys.stdout)
        shown = sorted({e.upstream for e in changes.events} | set(changes.baseline))
        for asn in shown:
            info = registry.as_info(asn)
            print(f"  AS{asn}: {info.name or '?'} ({info.country or '?'})", file=sys.stdout)
    if not view.spans:
        print(f"transitwatch: note: no route to a prefix in {cc} in the input", file=sys.stderr)
    return 0


def _store_state(args: argparse.Namespace, until: float | None) -> Any:
    from transitwatch.store import state_at

    if args.files:
        raise UserError("give either MRT files or --db, not both")
    with _open_store(args.db, read_only=True) as store:
        return state_at(store, until)


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
    p.add_argument("--limit", type=int, default=None, metavar="N", help="show only the first N countries")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="build the tables on N processes, one collector per task (default: all cores "
                        "when the files come from several collectors; 1: one process)")
    _add_parallel_args(p)
    _add_db_arg(p, reading=True)
    _add_registry_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
