"""The command line: parses arguments, calls the Python API, formats results. Nothing else.

Each subcommand is a ``_cmd_<name>(args) -> int`` function registered in ``build_parser``.
Errors the user can fix are raised as :class:`UserError` and printed as one line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transitwatch.observation import Observation
    from transitwatch.registry import Registry
    from transitwatch.state.target import Target
    from transitwatch.state.view import TargetView


from transitwatch.errors import TransitwatchError

#: A problem with the user's input: printed as one line on stderr, exit code 2. The API's one
#: exception type, so what the API raises and what the CLI raises are printed alike.
UserError = TransitwatchError


def _cmd_dump(args: argparse.Namespace) -> int:
    import json

    from transitwatch.sources.mrt import MrtError, MrtReader, format_bgpdump

    out = sys.stdout.buffer
    failed = damaged = 0
    for path in args.files:
        reader = MrtReader(path, collector=args.collector, strict=args.strict)
        try:
            for batch in reader.batches():
                if args.json:
                    out.write("".join(json.dumps(o.to_dict()) + "\n" for o in batch).encode())
                else:
                    out.write(format_bgpdump(batch))
        except MrtError as exc:
            failed += 1
            out.flush()
            print(f"transitwatch: error: {exc}", file=sys.stderr)
            continue
        finally:
            out.flush()
        st = reader.stats
        if st.damaged:
            damaged += 1
            for d in st.damage[:5]:
                print(f"transitwatch: warning: {path}: {d}", file=sys.stderr)
            if len(st.damage) > 5:
                print(f"transitwatch: warning: {path}: ... {len(st.damage) - 5} more", file=sys.stderr)
        if not args.quiet:
            print(st.summary(), file=sys.stderr)
    if failed:
        return 1
    return 1 if (args.strict and damaged) else 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    import json

    from transitwatch.sources import archive

    try:
        files = archive.resolve(
            args.collector, args.start, args.end,
            archive_urls=archive.parse_archive_urls(args.archive_url or []),
            cache_dir=args.cache_dir, bridge=not args.no_bridge,
        )
        report = archive.fetch(files, workers=args.workers or 4, dry_run=args.dry_run,
                               progress=not args.json and not args.dry_run)
        report.raise_if_empty()
    except archive.ArchiveError as exc:
        raise UserError(str(exc)) from None
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


def _add_archive_window_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    """--collector/--from/--to/--archive-url/--cache-dir/--workers, for commands that read the public
    archives instead of (or, with required=False, as an alternative to) FILE arguments."""
    p.add_argument("--collector", required=required, metavar="NAMES",
                   help="comma-separated collectors, e.g. rrc00,route-views2,route-views.linx")
    p.add_argument("--from", dest="start", required=required, metavar="TIME",
                   help="window start, ISO 8601 (UTC unless a zone is given)")
    p.add_argument("--to", dest="end", required=required, metavar="TIME", help="window end (exclusive)")
    p.add_argument("--archive-url", action="append", metavar="NAME=URL",
                   help="mirror for a project (ris, routeviews) or one collector; repeatable")
    p.add_argument("--cache-dir", type=Path, metavar="DIR", help="archive cache folder (default: XDG cache)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="parallel downloads (default 4); for commands that read routes, also the processes "
                        "decoding the files (default: all cores; 1: one process)")


def _archive_window_files(args: argparse.Namespace) -> list[Path]:
    """The cached archive files for --collector/--from/--to, fetching what is missing; each gap is a
    warning on stderr. For commands that accept either FILEs or a window."""
    from transitwatch.sources import archive

    if not (args.collector and args.start and args.end):
        raise UserError("give MRT files, or --collector, --from and --to to read the public archives")
    try:
        return archive.files_for_window(
            args.collector, args.start, args.end,
            archive_urls=archive.parse_archive_urls(args.archive_url or []),
            cache_dir=args.cache_dir, workers=args.workers or 4, progress=True,
        )
    except archive.ArchiveError as exc:
        raise UserError(str(exc)) from None


def _registry_from_args(args: argparse.Namespace) -> Registry:
    """The Registry the --registry-dir / --country-source options ask for (warnings on stderr)."""
    from transitwatch.registry import Registry, RegistryFileError

    try:
        registry = Registry.load(getattr(args, "registry_dir", None),
                                 prefix_source=getattr(args, "country_source", None) or "geo")
    except RegistryFileError as exc:
        raise UserError(str(exc)) from None
    for warning in registry.warnings:
        print(f"transitwatch: warning: {warning}", file=sys.stderr)
    return registry


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


def _target_arg(text: str | None) -> Target:
    """TARGET (an AS, a prefix, or several joined by commas) parsed; errors as UserError."""
    from transitwatch.state.target import Target, TargetError

    if not text:
        raise UserError("give a TARGET (an AS such as AS131279, or a prefix), or --country CC")
    try:
        return Target.parse(text)
    except TargetError as exc:
        raise UserError(str(exc)) from None


def _check_zone(tz: str | None) -> None:
    """A time zone the user gave (or a country's) must be a known IANA zone; None is fine."""
    from transitwatch.times import zone

    if tz:
        try:
            zone(tz)
        except ValueError as exc:
            raise UserError(str(exc)) from None


def _time_arg(text: str | None) -> float | None:
    """A TIME option (ISO 8601 or epoch) as epoch seconds; None when not given."""
    from transitwatch.times import parse_time

    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _check_one_collector(args: argparse.Namespace) -> None:
    """With FILES, --collector is the one collector they all come from, not a list."""
    if args.collector and "," in args.collector:
        raise UserError("with FILES, --collector names the one collector the files come from")


def _route_files(args: argparse.Namespace) -> tuple[list[str], str | None]:
    """(files, collector override) for commands that read FILES or an archive window: the FILES
    and their --collector, or the cached archive files of --collector/--from/--to (their collector
    comes from their paths)."""
    if args.files:
        if args.start or args.end:
            raise UserError("give either MRT files or --from/--to, not both")
        _check_one_collector(args)
        return list(args.files), args.collector
    return [str(p) for p in _archive_window_files(args)], None


def _route_progress(args: argparse.Namespace, files: list[str]) -> _RouteProgress | None:
    """Progress while ``files`` are decoded: on a terminal, and not with --json."""
    return _RouteProgress(len(files)) if sys.stderr.isatty() and not args.json else None


def _print_notes(lines: Iterable[str]) -> None:
    """Notices of the readers and detectors (left-out files, damage, ...) as notes on stderr."""
    for line in lines:
        print(f"transitwatch: note: {line}", file=sys.stderr)


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


class _RouteProgress:
    """Progress on stderr while files are decoded (terminal only)."""

    def __init__(self, files: int) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn

        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True,
                                  console=Console(stderr=True))
        self._task = self._progress.add_task("reading", total=None)
        self._progress.start()

    def update(self, observations: int, done: int, total: int) -> None:
        text = f"reading {done}/{total} files: {observations:,} observations"
        self._progress.update(self._task, description=text)

    def close(self) -> None:
        self._progress.stop()


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
    from transitwatch.metrics.upstreams import upstream_report

    at = _time_arg(args.at)
    view = _replay_view(args, until=at, filtered=True)
    report = upstream_report(view, at)
    if args.json:
        print(json.dumps(report.to_dict(args.tz), indent=2))
    else:
        print_upstreams(report, tz=args.tz, rich=sys.stdout.isatty(), file=sys.stdout)
    if report.coverage.get("note"):
        print(f"transitwatch: note: {report.coverage['note']}", file=sys.stderr)
    elif report.empty:
        print(f"transitwatch: note: no route to {report.target} in the input", file=sys.stderr)
    return 0


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
    changes = upstream_changes(view, min_peers=args.min_peers, min_duration=min_duration,
                               baseline=baseline)
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


def _upstream_rule_args(args: argparse.Namespace) -> tuple[float, float]:
    """(min_duration, baseline) in seconds from --min-duration and --baseline; --min-peers checked."""
    from transitwatch.times import parse_duration

    try:
        min_duration = parse_duration(args.min_duration)
        baseline = parse_duration(args.baseline)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.min_peers < 1:
        raise UserError("--min-peers must be at least 1")
    return min_duration, baseline


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


def _add_route_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="TARGET", nargs="?",
                   help="an AS (AS131279 or 131279), a prefix (175.45.176.0/22, covers more-specifics), "
                        "or several joined by commas (not with --country)")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="MRT files (RIB dumps and updates, any order: merged by time)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--tz", metavar="ZONE",
                   help="also show local times in this IANA zone, e.g. Asia/Pyongyang")
    _add_archive_window_args(p, required=False)
    _add_db_arg(p, reading=True)


def _add_parallel_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="decode on a Dask cluster: its scheduler address (tcp://HOST:8786), or 'local' to "
                        "start one here with --workers processes; files must be at the same paths there")


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
    from transitwatch.metrics.country import countries_ranking

    registry = _registry_from_args(args)
    state, notices = _country_state(args)
    rows = countries_ranking(state, registry)
    if args.json:
        print(json.dumps({"countries": [r.to_dict() for r in rows], "notices": notices}, indent=2))
    else:
        print_countries(rows, rich=sys.stdout.isatty(), file=sys.stdout, limit=args.limit)
    if not rows:
        print("transitwatch: note: no route to a prefix with a known country in the input", file=sys.stderr)
    return 0


def _add_registry_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry-dir", type=Path, metavar="DIR",
                   help="RIR files to use (default: the XDG cache, if 'registry update' filled it)")
    p.add_argument("--country-source", choices=["geo", "rir"], default="geo",
                   help="what places a prefix in a country: geolocation (default) or RIR registration")


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


def _country_code(text: str) -> str:
    """A country code the user gave, normalised (``kp`` -> ``KP``); unknown ones as UserError."""
    from transitwatch.registry import UnknownCountryError, normalise_country

    try:
        return normalise_country(text)
    except UnknownCountryError as exc:
        raise UserError(str(exc)) from None


def _country_zone(tz: str | None, registry: Registry, cc: str) -> str | None:
    """--tz, or else the country's own zone (None when the registry knows none); checked."""
    if not tz:
        own = registry.timezone_of(cc)
        tz = str(own) if own is not None else None
    _check_zone(tz)
    return tz


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


def _add_country_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--country", metavar="CC",
                   help="watch a country (ISO code, e.g. KP) instead of TARGET: its international "
                        "upstreams; then TARGET is the first FILE and --tz defaults to its own zone")
    _add_registry_args(p)


# -- the store: ingest, export, serve, and --db for upstreams/events/countries ------------------------


def _add_db_arg(p: argparse.ArgumentParser, *, reading: bool = False) -> None:
    from transitwatch.dirs import default_db_path  # not the store itself: --help stays fast

    if reading:
        p.add_argument("--db", nargs="?", const=default_db_path(), type=Path, metavar="PATH",
                       help="answer from a database made by 'transitwatch ingest' instead of FILES "
                            f"(PATH defaults to {default_db_path()}); --from/--to then bound the events")
    else:
        p.add_argument("--db", type=Path, default=default_db_path(), metavar="PATH",
                       help=f"the database file (default {default_db_path()})")


def _open_store(path: Path, *, read_only: bool) -> Any:
    from transitwatch.store import Store, StoreError

    try:
        return Store(path, read_only=read_only)
    except StoreError as exc:
        raise UserError(str(exc)) from None


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


def _store_state(args: argparse.Namespace, until: float | None) -> Any:
    from transitwatch.store import state_at

    if args.files:
        raise UserError("give either MRT files or --db, not both")
    with _open_store(args.db, read_only=True) as store:
        return state_at(store, until)


class _IngestProgress:
    """A rich progress line on a terminal while ingesting: observations per collector."""

    def __init__(self) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 transient=True)
        self.progress.start()
        self.task = self.progress.add_task("hashing files", total=None)

    def __call__(self, collector: str, observations: int, files: int) -> None:
        self.progress.update(self.task, description=f"{collector or 'files'}: {files} files, "
                                                    f"{observations:,} observations replayed")

    def close(self) -> None:
        self.progress.stop()


def _cmd_ingest(args: argparse.Namespace) -> int:
    import json

    from transitwatch.sources.mrt import MrtError
    from transitwatch.state.target import TargetError
    from transitwatch.store import StoreError, ingest
    from transitwatch.times import parse_duration

    try:
        min_duration = parse_duration(args.min_duration)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if not args.files and not args.watch:
        raise UserError("give MRT files to ingest (and/or --watch TARGET)")
    workers = _ingest_workers(args)
    progress = _IngestProgress() if sys.stderr.isatty() and not args.json else None
    with _open_store(args.db, read_only=False) as store:
        try:
            report = ingest(store, args.files, collector=args.collector, watch_targets=args.watch or (),
                            min_peers=args.min_peers, min_duration=min_duration, progress=progress,
                            workers=workers, scheduler=args.scheduler)
        except (MrtError, OSError, StoreError, TargetError, RuntimeError, ValueError) as exc:
            raise UserError(str(exc)) from None
        finally:
            if progress is not None:
                progress.close()
        summary = store.summary()
    _print_notes(report.notices)
    for failure in report.failures:
        print(f"transitwatch: error: {failure}", file=sys.stderr)
    status = 1 if report.failures else 0
    if args.json:
        print(json.dumps({**report.to_dict(), "database": summary}, indent=2))
        return status
    modes = ", ".join(f"{c} {m}" for c, m in report.collectors.items()) or "nothing new"
    rate = report.observations / report.seconds if report.seconds else 0.0
    print(f"{len(report.ingested)} files ingested, {len(report.skipped)} already there ({modes}); "
          f"{report.observations:,} observations -> {report.route_intervals:,} route intervals "
          f"in {report.seconds:.1f} s ({rate:,.0f}/s)")
    if report.events is not None:
        print(f"events of watched targets ({', '.join(summary['watched']) or 'none'}): {report.events}")
    print(f"{summary['path']}: {summary['files']} files, {summary['route_intervals']:,} route intervals, "
          f"{summary['peers']} peers, {', '.join(summary['collectors']) or 'no collector'}")
    return status


def _ingest_workers(args: argparse.Namespace) -> int | None:
    """--workers for ingest: as given; by default all cores (None) when the files come from
    several collectors (one collector is one task), else 1 (this process)."""
    from transitwatch.sources.files import collector_and_time_from_name

    if args.workers is not None:
        if args.workers < 1:
            raise UserError("--workers must be at least 1")
        return int(args.workers)
    if args.scheduler:
        return None  # as many as the cluster has
    if args.collector:
        return 1  # one collector for all files
    collectors = {collector_and_time_from_name(f)[0] for f in args.files}
    return None if len(collectors) > 1 else 1


def _cmd_export(args: argparse.Namespace) -> int:
    import json

    from transitwatch.store.export import export

    with _open_store(args.db, read_only=True) as store:
        try:
            written = export(store, args.out, args.format, args.table or None)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps({"files": [str(p) for p in written]}, indent=2))
    else:
        for path in written:
            print(path)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from transitwatch.api.server import serve

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"transitwatch: warning: serving on {args.host}: anyone who can reach this address can "
              "read the database (the API is read-only, without authentication)", file=sys.stderr)
    with _open_store(args.db, read_only=True):
        pass  # a clear error now for a missing or foreign database, before the server starts
    serve(args.db, host=args.host, port=args.port, allow_hosts=args.allow_host or ())
    return 0


def _add_store_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("ingest", _cmd_ingest,
            "Store MRT files' route history in a database (incremental: known files are skipped).",
            "examples:\n"
            "  transitwatch ingest rrc00/2017.10/*.gz --db kp.duckdb --watch AS131279\n"
            "  transitwatch ingest rrc00/2017.10/updates.20171001.1205.gz --db kp.duckdb  # appended\n"
            "  transitwatch upstreams AS131279 --db kp.duckdb --at 2017-10-01T09:30Z\n\n"
            "Keeps route intervals per (collector, peer, prefix), sessions, file provenance and the\n"
            "upstream events of --watch targets; not every update. A file is known by its SHA-256.\n"
            "Files older than what a collector already has make its history derived again from all\n"
            "its files (same result as ingesting everything in order). Each collector is one\n"
            "transaction: an interrupted ingest loses nothing committed; run it again to finish.\n\n"
            "Files of several collectors are derived on all cores, one collector per task (--workers N\n"
            "to choose, 1 for one process), or on a Dask cluster with --scheduler tcp://HOST:8786\n"
            "(--scheduler local: a cluster here); this process writes each collector as it arrives,\n"
            "and the database is the one-process database. A collector that fails there is reported\n"
            "(exit 1) and not written; the others are. See docs/scaling.md.")
    p.add_argument("files", nargs="*", metavar="FILE", help="MRT files (RIB dumps and updates, any order)")
    _add_db_arg(p)
    p.add_argument("--collector", metavar="NAME", help="collector of all FILES (default: from their paths)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="derive collectors on N processes, one collector per task (default: all cores "
                        "when the files come from several collectors; 1: one process)")
    _add_parallel_args(p)
    p.add_argument("--watch", action="append", metavar="TARGET",
                   help="keep upstream events of this AS or prefix (repeatable)")
    p.add_argument("--min-peers", type=int, default=2, metavar="N", help="for --watch events (default 2)")
    p.add_argument("--min-duration", default="5m", metavar="DURATION", help="for --watch events (default 5m)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = add("export", _cmd_export,
            "Write the database's tables as Parquet or CSV files (for pandas, polars, Spark).",
            "examples:\n"
            "  transitwatch export --db kp.duckdb --format parquet --out kp-parquet/\n"
            "  transitwatch export --db kp.duckdb --format csv --table route_intervals --out .\n\n"
            "Tables: route_intervals (flat: collector, peer, prefix, AS path, start/end), sessions,\n"
            "files, peers, events. Times are epoch seconds plus UTC timestamps.")
    _add_db_arg(p)
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="default parquet")
    p.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="output folder (default .)")
    p.add_argument("--table", action="append", metavar="NAME", help="only this table (repeatable)")
    p.add_argument("--json", action="store_true", help="print the written paths as JSON")

    p = add("serve", _cmd_serve,
            "Serve the HTTP API and the web dashboard for a database (read-only).",
            "examples:\n"
            "  transitwatch serve --db kp.duckdb              # http://127.0.0.1:8047/\n"
            "  transitwatch serve --db kp.duckdb --port 9000\n\n"
            "JSON endpoints: /api/upstreams/{target}?at=, /api/events?target=&country=&from=&to=,\n"
            "/api/timeline/{target}?from=&to=, /api/countries; OpenAPI docs at /docs. Binds to\n"
            "127.0.0.1 unless --host says otherwise (with a warning: there is no authentication).\n"
            "The database is opened read-only; stop the server before ingesting into it.")
    _add_db_arg(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8047, help="port (default 8047)")
    p.add_argument("--allow-host", action="append", metavar="NAME",
                   help="also answer requests for this Host name (repeatable; default: only the bound "
                        "address and 127.0.0.1/localhost, against DNS rebinding; '*' for any, behind a "
                        "proxy that checks it)")


# -- watch: events as they are confirmed, live (RIS Live) or replaying files; alerts ---------------


def _watch_inputs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(targets, files) from the positional arguments: an existing path is a FILE, anything
    else must read as a target (AS, prefix, country code)."""
    import os

    targets: list[str] = []
    files: list[str] = []
    for item in args.inputs:
        (files if os.path.exists(item) else targets).append(item)
    return targets, files


def _cmd_watch(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import time

    from transitwatch.live import alerts as alerting
    from transitwatch.live import watch as watching
    from transitwatch.live.watch import LIVE_BASELINE
    from transitwatch.sources.files import read_files
    from transitwatch.sources.mrt import MrtError
    from transitwatch.sources.rislive import RIS_LIVE_URL, LiveStats, RisLiveError
    from transitwatch.times import parse_duration

    target_texts, files = _watch_inputs(args)
    config = None
    if args.config is not None:
        try:
            config = alerting.load_config(args.config)
        except alerting.AlertConfigError as exc:
            raise UserError(str(exc)) from None
    try:
        targets = [watching.WatchTarget.parse(t) for t in target_texts]
        targets += [watching.WatchTarget.for_country(cc) for cc in args.country or []]
    except watching.WatchError as exc:
        raise UserError(f"{exc} (FILE arguments must exist)") from None
    if config is not None:
        targets += [t for t in config.targets if t.label not in {x.label for x in targets}]
    if not targets:
        raise UserError("nothing to watch: give an AS, a prefix or --country CC "
                        "(or a --config with [[targets]])")
    if not args.live and not files:
        raise UserError("give MRT FILES to replay, or --live to follow RIS Live")
    tz = args.tz or (config.timezone if config is not None else None)
    _check_zone(tz)
    base = config.settings if config is not None else watching.WatchSettings()
    try:
        if args.baseline:
            baseline = parse_duration(args.baseline)
        elif (config is not None and "baseline" in config.watch_keys) or not args.live or files:
            baseline = base.baseline
        else:
            baseline = LIVE_BASELINE  # live without seed files: nothing is known before this
        settings = watching.WatchSettings(
            min_peers=args.min_peers if args.min_peers is not None else base.min_peers,
            min_duration=parse_duration(args.min_duration) if args.min_duration else base.min_duration,
            baseline=baseline,
            resync=parse_duration(args.resync) if args.resync else base.resync,
            detectors=tuple(args.detect.split(",")) if args.detect else base.detectors,
            check_every=base.check_every,
        )
    except (ValueError, watching.WatchError) as exc:
        raise UserError(str(exc)) from None
    registry = _registry_from_args(args)
    if args.live:
        for i, t in enumerate(targets):
            if t.country and not (t.asns or t.prefixes):
                asns, prefixes = watching.country_registrations(t.country, registry)
                if not (asns or prefixes):
                    raise UserError(
                        f"RIS Live cannot be filtered by country, and no RIR file registers an AS or "
                        f"prefix to {t.country}: run 'transitwatch registry update', or list the "
                        f"country's ASes in a --config target (country = \"{t.country}\", asns = [...])")
                targets[i] = watching.WatchTarget.for_country(t.country, asns=asns, prefixes=prefixes,
                                                              name=t.name)

    def note(notice: watching.Notice) -> None:
        print(f"transitwatch: {'warning' if notice.kind in ('gap', 'problem') else 'note'}: {notice}",
              file=sys.stderr, flush=True)

    def problem(text: str) -> None:
        print(f"transitwatch: warning: {text}", file=sys.stderr, flush=True)

    dispatcher = None
    if config is not None:
        channels = config.channels or [alerting.ChannelConfig(type="stdout", name="stdout")]
        if args.json:
            for c in channels:
                if c.type == "stdout":
                    c.format = "json"
        try:
            dispatcher = alerting.AlertDispatcher(channels, tz=tz, on_problem=problem)
        except alerting.AlertConfigError as exc:
            raise UserError(str(exc)) from None

    def on_event(event: watching.WatchEvent) -> None:
        if dispatcher is not None:
            dispatcher.send(event)
        elif args.json:
            print(json.dumps({"record": "event", **event.to_dict(tz)}), flush=True)
        else:
            print(event.summary(tz), flush=True)

    def on_notice(notice: watching.Notice) -> None:
        note(notice)
        if dispatcher is not None:
            dispatcher.notice(notice)

    watcher = watching.Watcher(targets, settings=settings, registry=registry, on_event=on_event,
                               on_notice=on_notice)
    stats = LiveStats()
    started = time.monotonic()
    try:
        if files:
            notices: list[str] = []
            progress = _route_progress(args, files)
            try:
                stream = read_files(files, collector=args.collector, notices=notices,
                                    progress=progress.update if progress else None)
                if args.live:
                    watching.seed(watcher, stream)
                else:
                    watching.replay(watcher, stream)
            except (MrtError, OSError) as exc:
                raise UserError(str(exc)) from None
            finally:
                if progress is not None:
                    progress.close()
            _print_notes(notices)
        if args.live:
            url = args.ris_live_url or (config.ris_live_url if config is not None else None) or RIS_LIVE_URL
            prefixes, paths = watcher.subscriptions()
            print(f"transitwatch: note: following {url} for {', '.join(t.label for t in targets)} "
                  f"({len(prefixes)} prefix and {len(paths)} path subscriptions)",
                  file=sys.stderr, flush=True)
            try:
                run_for = parse_duration(args.run_for) if args.run_for else None
            except ValueError as exc:
                raise UserError(str(exc)) from None
            from transitwatch.live.watchdog import Watchdog, WatchdogExpired

            # --for ends the run even if something is stuck (watch_live itself stops on time
            # otherwise; the watchdog only fires a little after that).
            guard = Watchdog(run_for + 2.0, what="watch --for") if run_for is not None else None
            try:
                if guard is not None:
                    guard.__enter__()
                asyncio.run(watching.watch_live(watcher, url, duration=run_for, stats=stats,
                                                backoff=args.backoff))
            except RisLiveError as exc:
                raise UserError(str(exc)) from None
            except WatchdogExpired as exc:
                raise UserError(f"{exc}; stopped") from None
            finally:
                if guard is not None:
                    guard.__exit__(None, None, None)
    finally:
        if dispatcher is not None:
            dispatcher.close()
        status = watcher.status()
        parts = [f"{status['events']} event(s) for {', '.join(status['targets'])}",
                 f"{status['observations']:,} observations"]
        if args.live:
            parts.append(f"{stats.messages:,} messages in {time.monotonic() - started:.0f} s, "
                         f"{len(stats.gaps)} gap(s), {stats.dropped_text()}")
        if status["held"] or status["dropped"]:
            parts.append(f"{status['held']} held, {status['dropped']} dropped after gaps")
        print(f"transitwatch: watch: {'; '.join(parts)}", file=sys.stderr)
        if dispatcher is not None:
            print("transitwatch: alerts: " + "; ".join(s.summary() for s in dispatcher.stats()),
                  file=sys.stderr)
    return 0


def _add_watch_command(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("watch", _cmd_watch,
            "Report events as they are confirmed: live from RIS Live, or replaying MRT files; alerts.",
            "examples:\n"
            "  transitwatch watch AS131279 --live                        # follow RIS Live, print events\n"
            "  transitwatch watch AS131279 rrc00/bview.20171001.0800.gz --live   # seed the state first\n"
            "  transitwatch watch --country KP --live --registry-dir registry/\n"
            "  transitwatch watch --config examples/alerts.toml --live   # alerts: stdout, log, webhooks\n"
            "  transitwatch watch --config examples/alerts.toml rrc00/*.gz  # replay archive data\n\n"
            "Runs the same detectors as 'transitwatch events' on the growing view and prints each event\n"
            "once, when it is confirmed (min-peers or min-duration). Without seed FILES, live mode\n"
            "takes the first --baseline (default 15m) as the starting state: RIS Live only sends\n"
            "changes, so a stable route is unknown until it is re-announced. A dropped connection is a\n"
            "gap: routes are kept, events near it are marked uncertain, and lost upstreams near it are\n"
            "held until --resync has passed (docs/cli.md). Notes, gaps and malformed messages go to\n"
            "stderr. Arguments that exist as files are MRT FILES; the others are targets.")
    p.add_argument("inputs", nargs="*", metavar="TARGET|FILE",
                   help="ASes (AS131279), prefixes (175.45.176.0/22) or country codes to watch, and MRT "
                        "files to replay (with --live: to seed the state before following the feed)")
    p.add_argument("--country", action="append", metavar="CC", help="watch a country (repeatable)")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="alert config (TOML): targets, detector settings and channels "
                        "(see examples/alerts.toml)")
    p.add_argument("--live", action="store_true", help="follow RIS Live (after replaying FILES, if any)")
    p.add_argument("--ris-live-url", metavar="URL", help="RIS Live websocket (default: RIPE's; ws:// or wss://)")
    p.add_argument("--for", dest="run_for", metavar="DURATION", help="live: stop after this long (e.g. 1h)")
    p.add_argument("--backoff", type=float, default=1.0, metavar="SECONDS",
                   help="live: first reconnection delay, doubled after each failure up to 60 s (default 1)")
    p.add_argument("--min-peers", type=int, metavar="N",
                   help="peers that confirm a change at once (default 2)")
    p.add_argument("--min-duration", metavar="DURATION",
                   help="persistence that confirms a change seen by fewer peers (default 5m)")
    p.add_argument("--baseline", metavar="DURATION",
                   help="how long after the first target route the state is still baseline "
                        "(default 0; 15m live without seed FILES)")
    p.add_argument("--resync", metavar="DURATION",
                   help="how long after a gap the state counts as uncertain (default: --min-duration)")
    p.add_argument("--detect", metavar="LIST", help="detectors: upstream (default), origin, outage, or all")
    p.add_argument("--collector", metavar="NAME", help="collector of all FILES (default: from their paths)")
    p.add_argument("--tz", metavar="ZONE", help="also show local times in this IANA zone")
    p.add_argument("--json", action="store_true", help="events as JSON lines (stdout channels too)")
    _add_registry_args(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transitwatch",
        description="Watch who connects a network or a country to the Internet, and say when that changes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'transitwatch COMMAND --help' for examples of each command.",
    )
    from transitwatch import __version__

    parser.add_argument("--version", action="version", version=f"transitwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str, epilog: str = ""
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = add("dump", _cmd_dump, "Decode MRT files (plain, gzip, bzip2) into bgpdump -m lines or JSON.",
            "examples:\n  transitwatch dump -m updates.20171001.0900.gz\n"
            "  transitwatch dump --json rib.20171001.0800.bz2 | head\n\n"
            "Damaged records are skipped, counted and reported on stderr with their byte offset;\n"
            "everything before and after the damage is kept. Exit status: 0 when the files could\n"
            "be read, 1 when a file could not be read at all (or any damage with --strict).")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="MRT files: plain, .gz, .bz2 or .xz (detected by content)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("-m", dest="json", action="store_false", default=False,
                     help="one line per route, as bgpdump -m prints (the default)")
    fmt.add_argument("--json", action="store_true", help="one JSON object per observation and line")
    p.add_argument("--collector", help="collector name to record in --json output")
    p.add_argument("--strict", action="store_true", help="treat any damaged record as an error (exit 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")

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

    _add_store_commands(add)
    _add_watch_command(add)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"transitwatch: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `transitwatch dump ... | head` closes the pipe early: not an error.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("transitwatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
