"""The questions of the Python API: ``tw.routes``, ``tw.upstreams``, ``tw.events``,
``tw.visibility``, ``tw.countries``, ``tw.country_upstreams``, ``tw.country_events``.

Each takes a source (:mod:`transitwatch.engine.sources`; a path or a list of paths will do) and
returns a :class:`~transitwatch.results.Result`. This module is where the choice of the fast path
lives: a route filter in the decoder when only a target's routes matter, parallel workers or a Dask
cluster for several files (``workers=``, ``scheduler=``: an argument, never a different function),
the database's own queries for a store. The CLI, the HTTP API and ``watch`` call these and only
parse arguments and render; the answers are the same whichever path computed them.

Bad input raises :class:`~transitwatch.errors.TransitwatchError` (one line).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from transitwatch.engine.sources import (
    ArchiveSource,
    FileSource,
    LiveSource,
    Source,
    StoreSource,
    TimeLike,
    as_source,
    parse_target,
)
from transitwatch.errors import TransitwatchError
from transitwatch.results import (
    CountriesResult,
    CountryUpstreamsResult,
    EventsResult,
    UpstreamsResult,
    VisibilityResult,
)

if TYPE_CHECKING:
    from transitwatch.metrics.asrank import PathTally
    from transitwatch.observation import Observation
    from transitwatch.registry import Registry
    from transitwatch.sources.files import FileProgress
    from transitwatch.state.target import Target
    from transitwatch.state.view import TargetView

__all__ = [
    "routes",
    "upstreams",
    "upstreams_of_view",
    "events",
    "visibility",
    "countries",
    "country_upstreams",
    "country_events",
    "target_view",
    "registry_of",
]

SourceLike = Source | str | os.PathLike[str] | Iterable[Any]


# -- shared pieces -----------------------------------------------------------------------------------------


@contextmanager
def _user_errors() -> Iterator[None]:
    """Errors of the lower layers that are the input's fault, as one-line TransitwatchError."""
    from transitwatch.registry import RegistryFileError, UnknownCountryError
    from transitwatch.sources.mrt import MrtError
    from transitwatch.state.target import TargetError

    try:
        yield
    except TransitwatchError:
        raise
    except (MrtError, OSError, TargetError, UnknownCountryError, RegistryFileError) as exc:
        raise TransitwatchError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def _time(value: TimeLike | None) -> float | None:
    from transitwatch.times import parse_time

    return None if value is None or value == "" else parse_time(value)


def _zone(tz: str | None) -> str | None:
    from transitwatch.times import zone

    if tz:
        zone(tz)  # TransitwatchError naming it when unknown
    return tz or None


def _is_country(text: Any) -> bool:
    return isinstance(text, str) and len(text.strip()) == 2 and text.strip().isalpha()


def _require_source(src: SourceLike | None) -> SourceLike:
    if src is None:
        raise TransitwatchError("give a source: tw.files(paths), tw.archive(...) or tw.store(path)")
    return src


def _country_asked(target: Target | str | int | None, country: str | None) -> str | None:
    """The country a question is about (``country=``, or a two-letter target), None when it is
    about a target; both at once is an error."""
    if country is None and not _is_country(target):
        return None
    if country is not None and target is not None:
        raise TransitwatchError("give a target or a country, not both")
    return country or str(target)


def _country_code(text: str) -> str:
    from transitwatch.registry import UnknownCountryError, normalise_country

    try:
        return normalise_country(text)
    except UnknownCountryError as exc:
        raise TransitwatchError(str(exc)) from None


def registry_of(
    registry: Registry | str | os.PathLike[str] | None = None, country_source: str = "geo"
) -> Registry:
    """A :class:`~transitwatch.registry.Registry`: the one given, or loaded from a folder of RIR
    files (default: the XDG cache); ``country_source`` "geo" or "rir" places prefixes. Its
    ``warnings`` say what could not be used."""
    from transitwatch.registry import Registry, RegistryFileError

    if isinstance(registry, Registry):
        return registry
    if country_source not in ("geo", "rir"):
        raise TransitwatchError(f"country_source {country_source!r}: choose geo or rir")
    try:
        from pathlib import Path

        return Registry.load(Path(registry) if registry is not None else None, prefix_source=country_source)
    except RegistryFileError as exc:
        raise TransitwatchError(str(exc)) from None


def _country_zone(tz: str | None, registry: Registry, cc: str) -> str | None:
    """``tz``, or else the country's own zone (None when tzdata knows none)."""
    if not tz:
        own = registry.timezone_of(cc)
        tz = str(own) if own is not None else None
    return _zone(tz)


def _workers(workers: int | None) -> int | None:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise TransitwatchError(f"workers must be a whole number of at least 1, not {workers!r}")
    return workers


def _parallel_wanted(source: Source, workers: int | None, scheduler: Any) -> bool:
    """Decode in parallel: a scheduler, or several files and more than one worker (the default
    for several files on several cores)."""
    if scheduler:
        return True
    if workers == 1 or not isinstance(source, FileSource | ArchiveSource):
        return False
    from transitwatch.engine.parallel import default_workers

    many = len(source.paths()) > 1
    return many and (workers or default_workers()) > 1


def _no_live(source: Source, what: str) -> None:
    if isinstance(source, LiveSource):
        raise TransitwatchError(
            f"{what} answers about recorded data; a live source is followed with tw.watch or by iterating it"
        )


def target_view(
    target: Target | str | int,
    src: SourceLike,
    *,
    until: float | None = None,
    filtered: bool = False,
    tracker: Any = None,
    workers: int | None = None,
    scheduler: Any = None,
    progress: FileProgress | None = None,
    tally: PathTally | None = None,
) -> TargetView:
    """The target's routes over time from ``src`` (up to ``until``): the one place that chooses
    between the store, parallel decoding and one process. ``filtered``: the decoder drops
    announcements that cannot concern the target (for questions about its own routes only);
    ``tracker`` (a LivenessTracker) watches every record, so it forces one process. ``tally``:
    an empty ``PathSet.tally(())`` that an unfiltered read in one process goes through (the paths
    for the inference counted on the way), left empty otherwise."""
    source = as_source(src)
    tgt = parse_target(target)
    _no_live(source, "a target view")
    workers = _workers(workers)
    if isinstance(source, StoreSource):
        from transitwatch.store import TargetTooBroad
        from transitwatch.store import target_view as stored_view

        with source.open() as db:
            try:
                return stored_view(db, tgt, until=until)
            except TargetTooBroad as exc:
                raise TransitwatchError(str(exc)) from None
    notices: list[str] = []
    if _parallel_wanted(source, workers, scheduler):
        if tracker is None:
            return _parallel_view(tgt, source, until, workers, scheduler, progress)
        if scheduler or (workers or 1) > 1:
            notices.append(
                "outage detection reads every record in one process; "
                "workers/scheduler apply to the upstream and origin detectors"
            )
    with _user_errors():
        stream = source.observations(
            route_filter=tgt.route_filter() if filtered else None, notices=notices, progress=progress
        )
        observed: Iterable[Observation] = stream
        if tally is not None and not filtered:
            observed = tally.reading(stream)
        from transitwatch.state.view import target_view as build_view

        return build_view(
            tgt, tracker.watch(observed) if tracker is not None else observed, until=until, notices=notices,
            coverage=lambda: getattr(stream, "coverage", None),
        )


def _parallel_view(
    tgt: Target,
    source: Source,
    until: float | None,
    workers: int | None,
    scheduler: Any,
    progress: FileProgress | None,
) -> TargetView:
    from transitwatch.engine.parallel import parallel_target_view

    try:
        run = parallel_target_view(
            tgt,
            source.paths(),
            collector=source.collector,
            until=until,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
        )
    except TransitwatchError:
        raise
    except (RuntimeError, OSError, ValueError) as exc:
        raise TransitwatchError(str(exc).splitlines()[0]) from None
    return run.view


# -- routes --------------------------------------------------------------------------------------------------


def routes(
    src: SourceLike,
    *,
    peer_asn: int | Iterable[int] | None = None,
    origin_asn: int | Iterable[int] | None = None,
    prefix: str | Iterable[str] | None = None,
    prefix_super: str | Iterable[str] | None = None,
    prefix_sub: str | Iterable[str] | None = None,
    as_path_regex: str | None = None,
    type: str | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    safi: int | str | None = 1,
) -> Any:
    """The observations of ``src`` that pass every filter given (all optional; ANDed):

    ``peer_asn`` the vantage point's AS; ``origin_asn`` the last AS of the path; ``prefix`` exactly
    this prefix; ``prefix_super`` this prefix or a less-specific covering it; ``prefix_sub`` this
    prefix or a more-specific inside it; ``as_path_regex`` a regular expression searched in the AS
    path as bgpdump prints it (``"^3356 "``, ``" 4837 131279$"``); ``type`` ``"A"`` (routes:
    announcements and RIB entries) or ``"W"`` (withdrawals); ``start``/``end`` a time window
    (end exclusive). With a route filter (anything but ``peer_asn``/``start``/``end``), session
    state changes are left out. Filters are applied in the C decoder where they can be.
    ``safi``: unicast routes (1, the default), multicast (2), every route (None), or ``"bgpdump"``
    what bgpdump -m prints (other than unicast: with ``tw.files(paths, merge=False)``).

    Returns a lazy :class:`~transitwatch.engine.routes.Routes`: iterate it, or ask ``.to_arrow()``
    / ``.to_pandas()`` / ``.records()`` / ``.to_dict()``."""
    from transitwatch.engine.routes import RouteQuery, Routes

    source = as_source(src)
    if isinstance(source, StoreSource):
        source.observations()  # raises: a store holds route intervals, not observations
    query = RouteQuery.of(
        peer_asn=peer_asn,
        origin_asn=origin_asn,
        prefix=prefix,
        prefix_super=prefix_super,
        prefix_sub=prefix_sub,
        as_path_regex=as_path_regex,
        type=type,
        start=start,
        end=end,
    )
    return Routes(source, query, safi)


# -- upstreams ----------------------------------------------------------------------------------------------


def upstreams(
    target: Target | str | int | None = None,
    src: SourceLike | None = None,
    *,
    at: TimeLike | None = None,
    country: str | None = None,
    tz: str | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    registry: Registry | str | os.PathLike[str] | None = None,
    country_source: str = "geo",
    progress: FileProgress | None = None,
    transit: bool = False,
    as_rel: Any = None,
) -> UpstreamsResult | CountryUpstreamsResult:
    """Who carries ``target`` (an AS, a prefix, several joined by commas) to the rest of the
    Internet at ``at`` (default: the end of the input): each upstream AS, what it is to the target
    (``relationship``), the target prefixes it carries, the peers that see it and their share.
    For an AS, only routes to its own address space count (what it originates and its customer
    cone); ``transit=True`` counts every route crossing it. ``as_rel``: a CAIDA relationship file
    (default: relationships inferred from the same input up to ``at``). ``country="KP"`` (or a
    two-letter target) asks for a country's international upstreams instead
    (:func:`country_upstreams`). ``workers``/``scheduler`` decode several files in parallel."""
    src = _require_source(src)
    asked = _country_asked(target, country)
    if asked is not None:
        return country_upstreams(
            asked,
            src,
            at=at,
            tz=tz,
            registry=registry,
            country_source=country_source,
            progress=progress,
            as_rel=as_rel,
        )
    from transitwatch.engine.dependence import relationship_context

    tgt = parse_target(target)
    tz = _zone(tz)
    until = _time(at)
    view = target_view(
        tgt, src, until=until, filtered=True, workers=workers, scheduler=scheduler, progress=progress
    )
    rels, info = relationship_context(as_rel, src, until)   # the same answer as `relationships`
    return UpstreamsResult(upstreams_of_view(view, until, rels, info, transit=transit), tz)


def upstreams_of_view(
    view: TargetView, at: float | None, rels: Any, info: dict[str, Any], *, transit: bool = False
) -> Any:
    """The upstream report of a target's view at ``at`` (default: its end): for an AS only the
    routes to its own address space unless ``transit``, each upstream with its relationship from
    ``rels`` (described by ``info``). The one computation behind ``tw.upstreams``, also used by the
    HTTP API, which keeps its views cached."""
    from transitwatch.metrics.relationship_view import annotate_report, own_space
    from transitwatch.metrics.upstreams import upstream_report

    scoped = view if transit else own_space(view, rels)
    report = upstream_report(scoped, at)
    annotate_report(report, scoped, rels, info, "transit" if transit else "own")
    return report


# -- events -------------------------------------------------------------------------------------------------


def events(
    target: Target | str | int | None = None,
    src: SourceLike | None = None,
    *,
    detect: str | Iterable[str] = "all",
    tz: str | None = None,
    min_peers: int = 2,
    min_duration: str | float = "5m",
    baseline: str | float = 0,
    timeline: bool | int = False,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    country: str | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    registry: Registry | str | os.PathLike[str] | None = None,
    country_source: str = "geo",
    progress: FileProgress | None = None,
    transit: bool = False,
    as_rel: Any = None,
) -> EventsResult:
    """When ``target`` gained or lost an upstream, went dark, or had its prefixes originated by
    another AS: onset, confirmation, peers and evidence for each event.

    ``detect``: "upstream", "outage", "origin" (comma-separated or a list) or "all". A change seen
    by fewer than ``min_peers`` peers and for less than ``min_duration`` is a transient.
    ``baseline``: how long after the first target route the state is still the baseline.
    ``timeline``: also the upstream timeline (True: 48 buckets, or the number of buckets).
    ``start``/``end``: keep the events whose onset lies in this window. ``country="KP"`` (or a
    two-letter target): the country's international upstream changes (:func:`country_events`)."""
    src = _require_source(src)
    asked = _country_asked(target, country)
    if asked is not None:
        return country_events(
            asked,
            src,
            tz=tz,
            min_peers=min_peers,
            min_duration=min_duration,
            baseline=baseline,
            timeline=timeline,
            start=start,
            end=end,
            registry=registry,
            country_source=country_source,
            progress=progress,
            as_rel=as_rel,
        )
    from transitwatch.detect.events import detect_events, parse_detectors
    from transitwatch.detect.upstream_change import upstream_changes
    from transitwatch.state.liveness import LivenessTracker

    tgt = parse_target(target)
    tz = _zone(tz)
    rules = _rules(min_peers, min_duration, baseline)
    buckets = _buckets(timeline)
    lo, hi = _window(start, end)
    try:
        detectors = parse_detectors(detect)
    except (ValueError, TypeError) as exc:
        text = f"detect {detect!r:.60}: {exc}" if isinstance(exc, TypeError) else str(exc)
        raise TransitwatchError(text) from None
    # Upstream changes need only the target's routes (plus RIB dumps, withdrawals and session
    # changes, which the filter always passes); the outage detector needs every record's time to
    # see collectors go quiet, so it reads unfiltered.
    tracker = LivenessTracker() if "outage" in detectors else None
    # That unfiltered read also counts the paths the relationships are inferred from (no second
    # read; without --as-rel, when upstream changes are asked for).
    tally: PathTally | None = None
    if tracker is not None and as_rel is None and "upstream" in detectors:
        from transitwatch.metrics.asrank import PathSet

        tally = PathSet.tally(())
    view = target_view(
        tgt,
        src,
        filtered=tracker is None,
        tracker=tracker,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        tally=tally,
    )
    changes = None
    rel_info: dict[str, Any] | None = None
    if "upstream" in detectors:
        from transitwatch.engine.dependence import relationship_context
        from transitwatch.metrics.relationship_view import annotate_events, own_space

        rels, rel_info = relationship_context(as_rel, src, observed=tally, notices=view.notices)
        scoped = view if transit else own_space(view, rels)
        changes = upstream_changes(scoped, **rules)
        annotate_events(changes.events, scoped, rels)
    others_wanted = tuple(d for d in detectors if d != "upstream")
    liveness = tracker.liveness() if tracker is not None else None
    if liveness is not None and not liveness.first:
        # A store: no records went by the tracker; its coverage says when collectors had no data
        # (the stored events are computed the same way).
        from transitwatch.detect.events import with_coverage_gaps

        liveness = with_coverage_gaps(view, liveness)
    others = detect_events(view, liveness, detectors=others_wanted) if others_wanted else None
    _keep_in_window(changes, others, lo, hi)
    line = _timeline(view, buckets, lo, hi) if buckets else None
    result = EventsResult(view, changes, others, detectors, tz=tz, timeline=line)
    result.relationships = rel_info   # which source named the relationships (as upstreams says)
    return result


def _rules(min_peers: int, min_duration: str | float, baseline: str | float) -> dict[str, Any]:
    from transitwatch.times import parse_duration

    if isinstance(min_peers, bool) or not isinstance(min_peers, int) or min_peers < 1:
        raise TransitwatchError(f"min_peers must be at least 1, not {min_peers!r}")
    return {
        "min_peers": min_peers,
        "min_duration": parse_duration(min_duration),
        "baseline": parse_duration(baseline),
    }


def _buckets(timeline: bool | int | None) -> int:
    if timeline is None or timeline is False:
        return 0
    if timeline is True:
        return 48
    if not isinstance(timeline, int) or timeline < 1:
        raise TransitwatchError(
            f"timeline must be True or a number of buckets (at least 1), not {timeline!r}"
        )
    return timeline


def _window(start: TimeLike | None, end: TimeLike | None) -> tuple[float, float]:
    from transitwatch.times import parse_window

    lo, hi = parse_window(start, end)
    return (lo if lo is not None else float("-inf"), hi if hi is not None else float("inf"))


def _keep_in_window(changes: Any, others: Any, lo: float, hi: float) -> None:
    """Keep the events (and transients) whose onset lies in [lo, hi]."""
    for found in (changes, others):
        if found is not None and (lo > float("-inf") or hi < float("inf")):
            found.events = [e for e in found.events if lo <= e.onset <= hi]
            found.transients = [t for t in found.transients if lo <= t.onset <= hi]


def _timeline(view: TargetView, buckets: int, lo: float = float("-inf"), hi: float = float("inf")) -> Any:
    """The timeline of the events' window [lo, hi], as far as the view's data reaches (like the
    events listed); the whole view without a window; none for a window the data does not reach
    (empty buckets there would read as routes gone)."""
    from transitwatch.metrics.upstreams import UpstreamTimeline

    first = min((s.start for s in view.spans), default=view.start)
    start = max(lo, first) if first is not None and lo > float("-inf") else None
    end = min(hi, view.end) if view.end is not None and hi < float("inf") else None
    if (start is not None and end is not None and end <= start) or (
            first is not None and hi < first) or (view.end is not None and lo > view.end):
        return UpstreamTimeline(view.target, [], {}, [])
    return timeline_of_view(view, buckets, start, end)


def timeline_of_view(view: TargetView, buckets: int, start: float | None = None,
                     end: float | None = None) -> Any:
    """Peers seeing the target through each upstream over ``buckets`` equal steps of the view
    (or of [start, end]): ``events(timeline=N)`` and ``/api/timeline`` (on its cached views)."""
    from transitwatch.metrics.upstreams import upstream_timeline

    return upstream_timeline(view, buckets, start, end)


# -- visibility ---------------------------------------------------------------------------------------------


def visibility(
    target: Target | str | int | None = None,
    src: SourceLike | None = None,
    *,
    resolution: str | float = "5m",
    tz: str | None = None,
    country: str | None = None,
    registry: Registry | str | os.PathLike[str] | None = None,
    country_source: str = "geo",
    progress: FileProgress | None = None,
) -> VisibilityResult:
    """How visible ``target`` was over time, every ``resolution`` (aligned to the clock): its
    prefixes with a route, their address space (/24 and /48 equivalents), the peers seeing it out
    of those whose session is up. A country code (``"KP"`` or ``country=``) means its domestic
    prefixes, placed by the registry, in its own time zone unless ``tz`` says otherwise."""
    from transitwatch.metrics.visibility import visibility as series_of
    from transitwatch.times import parse_duration

    src = _require_source(src)
    step = parse_duration(resolution)
    if step <= 0:
        raise TransitwatchError("resolution must be positive, e.g. 5m")
    asked = _country_asked(target, country)
    if asked is not None:
        cc = _country_code(asked)
        reg = registry_of(registry, country_source)
        tz = _country_zone(tz, reg, cc)
        view = _country_view(cc, as_source(src), reg, progress=progress)
    else:
        tgt = parse_target(target)
        tz = _zone(tz)
        view = target_view(tgt, src, filtered=False, workers=1, progress=progress)
    return VisibilityResult(series_of(view, step), tz, view=view)


# -- countries ----------------------------------------------------------------------------------------------


def countries(
    src: SourceLike,
    *,
    at: TimeLike | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    registry: Registry | str | os.PathLike[str] | None = None,
    country_source: str = "geo",
) -> CountriesResult:
    """Every country seen, ranked by how much its international connectivity hangs on one
    network: its upstreams, the largest one's share of its address space, the Herfindahl index.
    ``workers``/``scheduler`` build the tables collector by collector in parallel (same ranking)."""
    from transitwatch.metrics.country import countries_report
    from transitwatch.state.known import known_tables, uncovered_block

    source = as_source(src)
    reg = registry_of(registry, country_source)
    until = _time(at)
    cov = _source_coverage(source) if until is not None and source.kind != "live" else None
    stale = (_uncovered_notes(source, until, outside_only=True, cov=cov)
             if cov is not None and until is not None else [])
    if stale:
        # no data covers `until` (before the data, after its end): the routes are unknown then,
        # not the last ones seen; nothing is read
        from transitwatch.state.snapshot import route_snapshot

        _workers(workers)
        with _user_errors():
            empty = countries_report(route_snapshot(iter(()), until), reg)
        result = CountriesResult([], stale, time=until, registry=empty.registry)
        result.coverage = uncovered_block(cov, until) if cov is not None and until is not None else {}
        return result
    if isinstance(source, StoreSource):
        _workers(workers)
        with source.open() as db:
            result = countries_of_store(db, reg, until)
        if not result.rows and until is not None and not result.coverage.get("note"):
            result.notices.extend(_uncovered_notes(source, until, cov=cov))
        return result
    state, notices, state_cov = _full_state(source, until, _workers(workers), scheduler, cov)
    when = until if until is not None else getattr(state, "time", None)
    # only the tables whose collector's data covers `when` (a gap: unknown, not the last seen)
    state, block = known_tables(state, state_cov, when)
    with _user_errors():
        report = countries_report(state, reg)
    if block.get("note"):
        notices.append(block["note"])
    elif not report.rows and until is not None and source.kind != "live":
        notices.extend(_uncovered_notes(source, until, cov=cov))
    result = CountriesResult(report.rows, notices, time=when, registry=report.registry)
    result.coverage = block
    return result


def _source_coverage(source: Source) -> Any:
    """What a source's files (or store) cover (:func:`~transitwatch.engine.coverage.coverage`)."""
    from transitwatch.engine.coverage import coverage

    return coverage(source).coverage


def _uncovered_notes(source: Source, when: float, *, outside_only: bool = False,
                     cov: Any = None) -> list[str]:
    """An empty answer at a moment no file covers is "unknown", not "no route": say so (the
    note of ``upstreams``). ``outside_only``: only a moment before the data's first window or
    after its last (no answer at all there: the last routes seen are not the routes then)."""
    from transitwatch.times import iso_utc

    if cov is None:
        cov = _source_coverage(source)
    if outside_only:
        note = outside_data_note(cov, when)
        return [note] if note else []
    if not cov.windows or cov.covering(when):
        return []
    first, last = cov.span() or (when, when)
    return [f"no data covers {iso_utc(when)}: the routes are unknown then, not absent "
            f"(data from {iso_utc(first)} to {iso_utc(last)})"]


def outside_data_note(cov: Any, when: float) -> str | None:
    """The "no data covers T" note when ``when`` is before the first window of ``cov`` (a
    :class:`~transitwatch.state.coverage.Coverage`) or after its last, else None: a country
    answer there would be the last routes seen, not the routes then (files, store and API alike)."""
    from transitwatch.times import iso_utc

    span = cov.span() if cov.windows else None
    if span is None or span[0] <= when <= span[1] or cov.covering(when):
        return None
    return (f"no data covers {iso_utc(when)}: the routes are unknown then, not absent "
            f"(data from {iso_utc(span[0])} to {iso_utc(span[1])})")


def countries_of_store(db: Any, registry: Registry, at: float | None = None) -> CountriesResult:
    """The country ranking from an open store's tables at ``at`` (default: its end): what
    ``countries(tw.store(db))`` answers, and ``/api/countries`` on the served store."""
    from transitwatch.metrics.country import countries_report
    from transitwatch.state.known import known_tables
    from transitwatch.store import state_at
    from transitwatch.store.coverage import stored_coverage

    state = state_at(db, at)
    when = at if at is not None else getattr(state, "time", None)
    state, block = known_tables(state, stored_coverage(db), when)
    with _user_errors():
        report = countries_report(state, registry)
    result = CountriesResult(report.rows, [block["note"]] if block.get("note") else [], time=when,
                             registry=report.registry)
    result.coverage = block
    return result


def _full_state(
    source: Source, until: float | None, workers: int | None, scheduler: Any, cov: Any = None
) -> tuple[Any, list[str], Any]:
    """Every peer's full table after ``source`` (up to ``until``), the readers' notices, and
    what the data read covers (``cov``: the files' coverage when already known)."""
    _no_live(source, "a routing table")
    notices: list[str] = []
    if isinstance(source, StoreSource):
        from transitwatch.store import state_at
        from transitwatch.store.coverage import stored_coverage

        with source.open() as db:
            return state_at(db, until), notices, stored_coverage(db)
    if _parallel_countries_wanted(source, workers, scheduler):
        from transitwatch.engine.parallel import parallel_routing_state

        try:
            run = parallel_routing_state(
                source.paths(), collector=source.collector, until=until, workers=workers, scheduler=scheduler
            )
        except TransitwatchError:
            raise
        except (RuntimeError, OSError, ValueError) as exc:
            raise TransitwatchError(str(exc).splitlines()[0]) from None
        return run, list(run.notices), cov if cov is not None else _named_coverage(source)
    if _input_bytes(source) > SNAPSHOT_MAX_INPUT_BYTES:
        from transitwatch.state.compact import CompactRoutingState

        with _user_errors():
            # many full tables: 4 bytes a route (1M prefixes x 40 peers in 0.9 GB), same ranking
            stream = source.observations(notices=notices)
            return (CompactRoutingState().replay(stream, until=until), notices,
                    _stream_coverage(stream, until))
    from transitwatch.state.snapshot import route_snapshot

    with _user_errors():
        # The routes at `until` as arrays, from the decoder's batches: the same routes as a
        # replay (CompactRoutingState) with no Python step per route, 3-4 words a route.
        stream = source.observations(notices=notices)
        state = route_snapshot(stream, until)
    return state, notices, _stream_coverage(stream, until)


def _named_coverage(source: Source) -> Any:
    """The files' coverage when every file's name gives its time (nothing read for it), else
    None: an unnamed file would be read to its end once more only to find its last record."""
    from transitwatch.sources.files import collector_and_time_from_name

    if any(collector_and_time_from_name(p)[1] is None for p in source.paths()):
        return None
    return _source_coverage(source)


def _stream_coverage(stream: Any, until: float | None) -> Any:
    """What a read stream's files covered, up to ``until`` where the read stopped (None: the
    stream does not say)."""
    cov = getattr(stream, "coverage", None)
    return cov.settle(until) if cov is not None and until is not None else cov


#: Compressed input above which ``countries`` replays into the compact tables (4 bytes a route)
#: instead of the columnar snapshot (2-3x faster, but ~25-35 bytes a route while it is built):
#: the same ranking either way (tests compare them); 256 MB of gzip is ~6M routes.
SNAPSHOT_MAX_INPUT_BYTES = 256 << 20


def _input_bytes(source: Source) -> int:
    try:
        return sum(os.path.getsize(p) for p in source.paths())
    except (OSError, TransitwatchError):
        return 0


def _parallel_countries_wanted(source: Source, workers: int | None, scheduler: Any) -> bool:
    """Per-collector parallel tables: asked for, or by default when the files come from several
    collectors and there are several cores (one collector is one task: nothing to share)."""
    from transitwatch.sources.files import collector_and_time_from_name

    if scheduler:
        return True
    if workers is not None:
        return workers != 1
    if source.collector is not None:
        return False
    collectors = {collector_and_time_from_name(f)[0] for f in source.paths()}
    if len(collectors) <= 1:
        return False  # (without importing the parallel engine: ~40 ms of a country command)
    from transitwatch.engine.parallel import default_workers

    return default_workers() > 1


def _country_view(
    cc: str, source: Source, registry: Registry, *, progress: FileProgress | None = None, tracker: Any = None,
    tally: PathTally | None = None,
) -> TargetView:
    """``tally``: an empty ``PathSet.tally(())`` whose stream becomes this read's (the paths for the
    inference counted on the way, no second read)."""
    _no_live(source, "a country view")
    if isinstance(source, StoreSource):
        from transitwatch.store.query import country_view as stored_country_view

        with source.open() as db, _user_errors():
            return stored_country_view(db, cc, registry)
    from transitwatch.metrics.country import country_view

    notices: list[str] = []
    with _user_errors():
        stream: Any = source.observations(notices=notices, progress=progress)
        source_stream = stream
        if tally is not None:
            stream = tally.reading(stream)
        if tracker is not None:
            stream = tracker.watch(stream)
        view = country_view(cc, stream, registry, notices=notices)
    if view.coverage is None:
        # what the files cover, as a target's view has (gaps: no confirmation across them, no
        # vantage point counted where its collector has no data)
        view.coverage = getattr(source_stream, "coverage", None)
    return view


def country_upstreams(
    country: str,
    src: SourceLike,
    *,
    at: TimeLike | None = None,
    tz: str | None = None,
    registry: Registry | str | os.PathLike[str] | None = None,
    country_source: str = "geo",
    progress: FileProgress | None = None,
    as_rel: Any = None,
) -> CountryUpstreamsResult:
    """A country's international upstreams at ``at`` (default: the end of the input): the first
    AS outside the country on each path towards a domestic prefix, with its share of the
    country's address space; also its networks and domestic prefixes. Times in the country's
    own zone unless ``tz`` says otherwise. Each upstream's ``relationship`` (to the domestic AS
    it hands the routes to) comes from ``as_rel`` or relationships inferred from the input."""
    from transitwatch.metrics.country import country_upstreams as upstreams_of_country

    source = as_source(src)
    _no_live(source, "tw.country_upstreams")
    cc = _country_code(country)
    reg = registry_of(registry, country_source)
    tz = _country_zone(tz, reg, cc)
    until = _time(at)
    notices: list[str] = []
    tally: PathTally | None = None
    from transitwatch.state.known import known_tables, uncovered_block

    files_cov = _source_coverage(source) if until is not None else None
    stale = _uncovered_notes(source, until, outside_only=True, cov=files_cov) if until is not None else []
    if stale and until is not None:
        # no data covers `until`: the routes are unknown then, not the last ones seen (a 2015
        # table does not answer for 2030); an empty answer that says so, nothing read
        from transitwatch.state.snapshot import route_snapshot

        with _user_errors():
            empty = upstreams_of_country(route_snapshot(iter(()), until), cc, reg)
        empty.time = until
        out = CountryUpstreamsResult(empty, tz, stale)
        out.coverage = uncovered_block(files_cov, until) if files_cov is not None else {}
        return out
    if isinstance(source, StoreSource):
        from transitwatch.store import state_at
        from transitwatch.store.coverage import stored_coverage

        with source.open() as db:
            state: Any = state_at(db, until)
            state_cov: Any = stored_coverage(db)
    else:
        from transitwatch.metrics._asrank import PairCounter
        from transitwatch.metrics.asrank import PathSet, PathTally
        from transitwatch.state.snapshot import route_snapshot

        with _user_errors():
            stream = source.observations(notices=notices, progress=progress)
            # the routes at `until` as arrays (the decoder's batches, no Python step per route),
            # and the (peer AS, path) pairs for the inference from the same read
            counter = PairCounter() if as_rel is None else None
            state = route_snapshot(stream, until, counter=counter)
            state_cov = _stream_coverage(stream, until)
            if counter is not None:
                last = getattr(stream, "last_time", None) or state.first_time
                tally = PathTally.counted(
                    PathSet.of_counter(counter, state.first_time, last) if state.first_time is not None
                    else PathSet())
    # only the tables whose collector's data covers the moment (a gap: unknown, not the last seen)
    state, block = known_tables(state, state_cov, until if until is not None else state.time)
    if block.get("note"):
        notices.append(block["note"])
    with _user_errors():
        report = upstreams_of_country(state, cc, reg)
    if until is not None:
        report.time = until
    from transitwatch.engine.dependence import relationship_context
    from transitwatch.metrics.relationship_view import annotate_country

    rels, info = relationship_context(as_rel, source, until, observed=tally, notices=notices)
    annotate_country(report, rels, info)
    if not report.prefixes and until is not None and not block.get("note"):
        notices.extend(_uncovered_notes(source, until, cov=files_cov))
    result = CountryUpstreamsResult(report, tz, notices)
    result.coverage = block
    return result


def country_events(
    country: str,
    src: SourceLike,
    *,
    tz: str | None = None,
    min_peers: int = 2,
    min_duration: str | float = "5m",
    baseline: str | float = 0,
    timeline: bool | int = False,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    registry: Registry | str | os.PathLike[str] | None = None,
    country_source: str = "geo",
    progress: FileProgress | None = None,
    as_rel: Any = None,
) -> EventsResult:
    """When a country gained or lost an international upstream (as :func:`events` for an AS),
    each upstream with its registry name and country, and its relationship (``as_rel`` or
    relationships inferred from the input)."""
    from transitwatch.detect.upstream_change import upstream_changes

    source = as_source(src)
    cc = _country_code(country)
    reg = registry_of(registry, country_source)
    tz = _country_zone(tz, reg, cc)
    rules = _rules(min_peers, min_duration, baseline)
    buckets = _buckets(timeline)
    lo, hi = _window(start, end)
    tally: PathTally | None = None
    if as_rel is None and not isinstance(source, StoreSource):   # counted in the country view's read
        from transitwatch.metrics.asrank import PathSet

        tally = PathSet.tally(())
    view = _country_view(cc, source, reg, progress=progress, tally=tally)
    changes = upstream_changes(view, **rules)
    from transitwatch.engine.dependence import relationship_context
    from transitwatch.metrics.relationship_view import annotate_events

    rels, rel_info = relationship_context(as_rel, source, observed=tally, notices=view.notices)
    annotate_events(changes.events, view, rels)
    _keep_in_window(changes, None, lo, hi)
    line = _timeline(view, buckets, lo, hi) if buckets else None
    result = EventsResult(view, changes, None, ("upstream",), tz=tz, timeline=line, country=cc, registry=reg)
    result.relationships = rel_info
    return result
