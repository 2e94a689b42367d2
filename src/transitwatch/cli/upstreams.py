"""``transitwatch upstreams``, ``events``, ``visibility``: questions about one target (an AS, a
prefix, or with --country a country) over FILES, an archive window or a database."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transitwatch.cli.common import (
    UserError,
    _add_country_args,
    _add_parallel_args,
    _add_registry_args,
    _add_route_args,
    _archive_window_files,
    _check_zone,
    _country_code,
    _country_zone,
    _open_store,
    _print_notes,
    _registry_from_args,
    _route_files,
    _route_progress,
    _target_arg,
    _time_arg,
    _upstream_rule_args,
)
from transitwatch.cli.country import _cmd_country_events, _cmd_country_upstreams

if TYPE_CHECKING:
    from transitwatch.observation import Observation
    from transitwatch.state.target import Target
    from transitwatch.state.view import TargetView


def _route_inputs(
    args: argparse.Namespace, *, filtered: bool = False
) -> tuple[Target, list[str], Iterator[Observation]]:
    """(Target, notices list, observation stream) for upstreams/events; errors as UserError.
    ``filtered``: the decoder drops announcements that cannot concern the target (fast path for
    questions about the target's own routes only)."""
    from transitwatch.sources.files import read_files

    target = _target_arg(args.target)
    _check_zone(args.tz)
    files, override = _route_files(args)
    notices: list[str] = []
    progress = _route_progress(args, files)
    try:
        stream = read_files(files, collector=override, notices=notices,
                            progress=progress.update if progress else None,
                            route_filter=target.route_filter() if filtered else None)
    except OSError as exc:
        raise UserError(str(exc)) from None
    args._progress = progress
    return target, notices, stream


def _replay_view(
    args: argparse.Namespace, until: float | None = None, *, filtered: bool = False, tracker: Any = None
) -> TargetView:
    if getattr(args, "db", None) is not None:
        return _store_view(args, until)
    if _parallel_wanted(args):
        if tracker is None:
            return _parallel_view(args, until)
        if args.scheduler or (args.workers or 1) > 1:
            print("transitwatch: note: outage detection reads every record in one process; "
                  "--workers/--scheduler apply to --detect upstream,origin", file=sys.stderr)
    view = _one_process_view(args, until, filtered=filtered, tracker=tracker)
    _print_notes(view.notices)
    return view


def _one_process_view(
    args: argparse.Namespace, until: float | None, *, filtered: bool, tracker: Any
) -> TargetView:
    """The target's view from FILES or the archive window, decoded in this process (its notices
    are the caller's to print)."""
    from transitwatch.sources.mrt import MrtError
    from transitwatch.state.view import target_view

    target, notices, stream = _route_inputs(args, filtered=filtered)
    try:
        # `tracker` (a LivenessTracker) records collector silences on the way.
        return target_view(target, tracker.watch(stream) if tracker is not None else stream,
                           until=until, notices=notices, coverage=lambda: getattr(stream, "coverage", None))
    except (MrtError, OSError) as exc:
        raise UserError(str(exc)) from None
    finally:
        if args._progress is not None:
            args._progress.close()


def _parallel_wanted(args: argparse.Namespace) -> bool:
    """Whether to decode in parallel: a --scheduler, or several files and more than one worker."""
    if getattr(args, "scheduler", None):
        return True
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        raise UserError("--workers must be at least 1")
    if workers == 1:
        return False
    from transitwatch.engine.parallel import default_workers

    many_files = len(args.files) > 1 if args.files else True
    return many_files and (workers or default_workers()) > 1


def _parallel_view(args: argparse.Namespace, until: float | None) -> TargetView:
    """The target's view from files decoded by --workers processes or on a Dask --scheduler (the
    single-process view; unreadable files are noted and left out instead of stopping the run)."""
    from transitwatch.engine.parallel import parallel_target_view

    target = _target_arg(args.target)
    files, override = _route_files(args)
    for path in files:
        if not Path(path).exists():
            raise UserError(f"{path}: no such file")
    progress = _route_progress(args, files)
    try:
        run = parallel_target_view(target, files, collector=override, until=until, workers=args.workers,
                                   scheduler=args.scheduler, progress=progress.update if progress else None)
    except (RuntimeError, OSError, ValueError) as exc:
        raise UserError(str(exc)) from None
    finally:
        if progress is not None:
            progress.close()
    _print_notes(run.view.notices)
    return run.view


def _cmd_upstreams(args: argparse.Namespace) -> int:
    if getattr(args, "country", None):
        return _cmd_country_upstreams(args)
    import json

    from transitwatch.cli.render_upstreams import print_upstreams
    from transitwatch.metrics.relationship_view import annotate_report, own_space
    from transitwatch.metrics.upstreams import upstream_report

    at = _time_arg(args.at)
    view = _replay_view(args, until=at, filtered=True)
    rels, info = _relationships(args, at)
    scoped = view if args.transit else own_space(view, rels)
    report = upstream_report(scoped, at)
    annotate_report(report, scoped, rels, info, "transit" if args.transit else "own")
    if args.json:
        print(json.dumps(report.to_dict(args.tz), indent=2))
    else:
        print_upstreams(report, tz=args.tz, rich=sys.stdout.isatty(), file=sys.stdout)
    if report.coverage.get("note"):
        print(f"transitwatch: note: {report.coverage['note']}", file=sys.stderr)
    elif report.empty:
        print(f"transitwatch: note: no route to {report.target} in the input", file=sys.stderr)
    return 0


def _relationships(args: argparse.Namespace, at: float | None) -> tuple[Any, dict[str, Any]]:
    """The relationships that answer (--as-rel FILE, else inferred from the same files up to
    --at) and their source, for the output."""
    from transitwatch.engine.dependence import relationship_context

    if getattr(args, "db", None) is not None and not args.as_rel:
        return None, {"source": None, "note": "no relationships for a database: give --as-rel FILE"}
    files = [] if args.as_rel else _route_files(args)[0]
    return relationship_context(args.as_rel, files or None, at) if (files or args.as_rel) else (
        None, {"source": None})


def _cmd_events(args: argparse.Namespace) -> int:
    if getattr(args, "country", None):
        return _cmd_country_events(args)
    import json
    import shutil

    from transitwatch.cli.render_upstreams import print_events, timeline_buckets
    from transitwatch.detect.upstream_change import upstream_changes
    from transitwatch.metrics.upstreams import upstream_timeline

    min_duration, baseline = _upstream_rule_args(args)
    detectors = _detectors_from_args(args)
    # Upstream changes need only the target's routes (plus RIB dumps, withdrawals and session
    # changes, which the filter always passes). Detectors that watch all peers must not filter:
    # the outage detector needs every record's time to see collectors go quiet.
    tracker = _liveness_tracker(detectors)
    view = _replay_view(args, filtered=tracker is None, tracker=tracker)
    from transitwatch.metrics.relationship_view import annotate_events, own_space

    rels, _ = _relationships(args, None) if "upstream" in detectors else (None, {})
    scoped = view if args.transit else own_space(view, rels)
    changes = upstream_changes(scoped, min_peers=args.min_peers, min_duration=min_duration,
                               baseline=baseline)
    annotate_events(changes.events, scoped, rels)
    if getattr(args, "db", None) is not None:
        _keep_events_in_window(changes, args)
    others = _other_events(view, tracker, detectors)
    if args.json:
        out: dict[str, Any] = (changes.to_dict(args.tz) if "upstream" in detectors
                               else {"target": str(view.target)})
        _merge_other_events(out, others, args.tz)
        if args.timeline:
            out["timeline"] = upstream_timeline(view, args.buckets or 48).to_dict()
        print(json.dumps(out, indent=2))
    else:
        buckets = args.buckets or (timeline_buckets(shutil.get_terminal_size().columns)
                                   if sys.stdout.isatty() else 48)
        if "upstream" in detectors:
            timeline = upstream_timeline(view, buckets) if not args.no_timeline else None
            print_events(changes, timeline, tz=args.tz, rich=sys.stdout.isatty(), file=sys.stdout)
        _print_other_events(others, args.tz)
    if not view.spans:
        print(f"transitwatch: note: no route to {changes.target} in the input", file=sys.stderr)
    return 0


def _detectors_from_args(args: argparse.Namespace) -> tuple[str, ...]:
    from transitwatch.detect.events import parse_detectors

    try:
        return parse_detectors(getattr(args, "detect", None))
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _liveness_tracker(detectors: tuple[str, ...]) -> Any:
    """A LivenessTracker when the outage detector runs (it needs the unfiltered stream), else None."""
    from transitwatch.state.liveness import LivenessTracker

    return LivenessTracker() if "outage" in detectors else None


def _other_events(view: TargetView, tracker: Any, detectors: tuple[str, ...]) -> Any:
    """Outages, lost vantage points and origin changes of ``view`` (None when none was asked)."""
    from transitwatch.detect.events import detect_events

    others = tuple(d for d in detectors if d != "upstream")
    if not others:
        return None
    return detect_events(view, tracker.liveness() if tracker is not None else None, detectors=others)


def _merge_other_events(out: dict[str, Any], others: Any, tz: str | None) -> None:
    """Add outage/origin events to an events JSON object: one ``events`` list (every type, by
    onset), transients likewise, plus ``vantage_lost`` and the collector ``silences`` seen."""
    if others is None:
        return
    found = others.to_dict(tz)
    out["events"] = sorted([*out.get("events", []), *found["events"]], key=lambda e: e["onset"])
    out["transients"] = sorted([*out.get("transients", []), *found["transients"]], key=lambda e: e["onset"])
    out["detectors"] = found["detectors"] if "baseline" not in out else ["upstream", *found["detectors"]]
    out["vantage_lost"] = found["vantage_lost"]
    out["silences"] = found["silences"]


def _print_other_events(others: Any, tz: str | None) -> None:
    from transitwatch.cli.render_events import print_other_events

    if others is not None:
        print_other_events(others.events, others.transients, tz=tz, rich=sys.stdout.isatty(),
                           file=sys.stdout, vantage_lost=others.vantage_lost)


def _detector_view(args: argparse.Namespace, tracker: Any = None) -> tuple[TargetView, str | None]:
    """(view, time zone) for visibility/outage commands: TARGET is an AS, a prefix, or a country
    code (KP: its domestic prefixes, placed by the registry; the zone defaults to the country's).
    The stream is not filtered (outages and collector silences need every record); ``tracker``
    (a LivenessTracker) watches it."""
    from transitwatch.sources.files import read_files
    from transitwatch.sources.mrt import MrtError

    text = (args.target or "").strip()
    if len(text) == 2 and text.isalpha():
        from transitwatch.metrics.country import country_view

        cc = _country_code(text)
        registry = _registry_from_args(args)
        tz = _country_zone(args.tz, registry, cc)
        files = list(args.files) if args.files else [str(p) for p in _archive_window_files(args)]
        notices: list[str] = []
        try:
            stream: Any = read_files(files, collector=args.collector if args.files else None, notices=notices)
            if tracker is not None:
                stream = tracker.watch(stream)
            view = country_view(cc, stream, registry, notices=notices)
        except (MrtError, OSError) as exc:
            raise UserError(str(exc)) from None
    else:
        view = _one_process_view(args, None, filtered=False, tracker=tracker)
        tz = args.tz
    _print_notes(view.notices)
    return view, tz


def _cmd_visibility(args: argparse.Namespace) -> int:
    import json
    import shutil

    from transitwatch.cli.render_events import print_visibility
    from transitwatch.metrics.visibility import visibility
    from transitwatch.times import parse_duration

    try:
        resolution = parse_duration(args.resolution)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if resolution <= 0:
        raise UserError("--resolution must be positive, e.g. 5m")
    view, tz = _detector_view(args)
    series = visibility(view, resolution)
    if args.json:
        print(json.dumps(series.to_dict(tz), indent=2))
    else:
        width = max(20, shutil.get_terminal_size().columns - 12) if sys.stdout.isatty() else 72
        print_visibility(series, tz=tz, rich=sys.stdout.isatty(), file=sys.stdout, width=width,
                         changes_only=not args.all_points)
    if not view.spans:
        print(f"transitwatch: note: no route to {view.target} in the input", file=sys.stderr)
    return 0


def _store_view(args: argparse.Namespace, until: float | None) -> TargetView:
    from transitwatch.store import TargetTooBroad, target_view

    if args.files:
        raise UserError("give either MRT files or --db, not both")
    target = _target_arg(args.target)
    _check_zone(args.tz)
    if until is None and args.end and args.command == "upstreams":
        until = _time_arg(args.end)
    with _open_store(args.db, read_only=True) as store:
        try:
            return target_view(store, target, until=until)
        except TargetTooBroad as exc:
            raise UserError(str(exc)) from None


def _keep_events_in_window(changes: Any, args: argparse.Namespace) -> None:
    """With --db, --from/--to keep the events (and transients) whose onset lies in the window."""
    from transitwatch.times import parse_time

    try:
        lo = parse_time(args.start) if args.start else float("-inf")
        hi = parse_time(args.end) if args.end else float("inf")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    changes.events = [e for e in changes.events if lo <= e.onset <= hi]
    changes.transients = [t for t in changes.transients if lo <= t.onset <= hi]


def _add_relationship_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--transit", action="store_true",
                   help="count every route crossing an AS target, not only routes to its own address "
                        "space (its prefixes and its customer cone)")
    p.add_argument("--as-rel", metavar="FILE",
                   help="CAIDA serial-1/serial-2 AS relationships (plain, .gz, .bz2) for each upstream's "
                        "relationship (default: inferred from the same input, AS-Rank)")


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("upstreams", _cmd_upstreams,
            "Who carries a target (an AS or a prefix) to the rest of the Internet, at the end of the input.",
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
