"""A target's routes over time, per peer: the mergeable summary that metrics and detectors read.

>>> view = target_view("AS131279", read_files(paths))                    # doctest: +SKIP
>>> view.spans[0]                                                        # doctest: +SKIP
RouteSpan(peer=PeerKey('rrc00', '192.0.2.1', 3356), prefix='175.45.176.0/24', upstream=4837, ...)

A :class:`RouteSpan` is one peer holding one target route through one upstream, from ``start``
to ``end`` (None: still held at the end of the input), with the paths and file positions that
prove it. :class:`SessionEvent` records a peer's session going down or up (route loss that is
*not* a routing change). Every span and session event belongs to one (collector, peer), so views
built from separate streams (other collectors, other peers, in parallel) combine with
:meth:`TargetView.merge`; :mod:`transitwatch.metrics.upstreams` and
:mod:`transitwatch.detect.upstream_change` are pure functions of a view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from transitwatch.observation import Observation
from transitwatch.state.aspath import Hop
from transitwatch.state.coverage import Coverage
from transitwatch.state.table import PeerKey, RouteChange, RouteKey, RoutingState, SessionChange
from transitwatch.state.target import Target
from transitwatch.times import iso_utc

__all__ = ["RouteSpan", "SessionEvent", "TargetView", "target_view", "ViewBuilder"]


@dataclass(slots=True)
class RouteSpan:
    """One peer holding one target route via one upstream, over [start, end).

    ``upstream`` is an ASN, an AS_SET (frozenset) or None (the peer itself is in the target).
    ``start_cause`` is ``"announce"`` or ``"rib"``; ``end_cause`` ``"announce"`` (replaced by a
    path through another upstream, or one that avoids the target), ``"withdraw"``, ``"rib_replace"``
    (absent from a RIB dump), ``"down"`` (session left Established) or None (still held).
    ``last_seen`` is the time of the latest announcement or RIB entry that confirmed it.
    ``path``/``source``/``offset`` locate the observation that started it, ``end_path``/
    ``end_source``/``end_offset`` the one that ended it.
    """

    peer: PeerKey
    prefix: str
    upstream: Hop | None
    start: float
    start_cause: str
    path: str
    source: str
    offset: int
    last_seen: float
    end: float | None = None
    end_cause: str | None = None
    end_path: str | None = None
    end_source: str | None = None
    end_offset: int | None = None
    path_id: int | None = None

    def active_at(self, time: float) -> bool:
        """Whether the span holds at ``time`` (start <= time < end)."""
        return self.start <= time and (self.end is None or time < self.end)

    def to_dict(self) -> dict[str, Any]:
        up = self.upstream
        return {
            **self.peer.to_dict(),
            "prefix": self.prefix,
            "path_id": self.path_id,
            "upstream": sorted(up) if isinstance(up, frozenset) else up,
            "start": iso_utc(self.start),
            "start_cause": self.start_cause,
            "end": iso_utc(self.end) if self.end is not None else None,
            "end_cause": self.end_cause,
            "last_seen": iso_utc(self.last_seen),
            "as_path": self.path,
            "source": self.source,
            "offset": self.offset,
            "end_as_path": self.end_path,
            "end_source": self.end_source,
            "end_offset": self.end_offset,
        }


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """A peer's session went down (left Established) or came up (entered it)."""

    peer: PeerKey
    time: float
    up: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.peer.to_dict(), "time": iso_utc(self.time), "up": self.up}


@dataclass
class TargetView:
    """A target's route spans and peers' session events, plus the time range of the input.

    ``start``/``end`` are the first and last observation times read (any route, not only the
    target's), ``notices`` what the readers reported (overlapping files...). ``coverage`` the
    time windows the input covers per collector (:mod:`~transitwatch.state.coverage`; None: not
    known, taken as continuous from ``start`` to ``end``). ``foreign`` holds routes inside the
    address space an AS target originates that do not go through the target (a more-specific or
    the same prefix from another origin: possible hijacks); the upstream and outage detectors do
    not read them.
    """

    target: Target
    spans: list[RouteSpan] = field(default_factory=list)
    sessions: list[SessionEvent] = field(default_factory=list)
    start: float | None = None
    end: float | None = None
    notices: list[str] = field(default_factory=list)
    coverage: Coverage | None = None
    foreign: list[RouteSpan] = field(default_factory=list)

    @property
    def peers(self) -> list[PeerKey]:
        """Peers that held a target route at some time."""
        return sorted({s.peer for s in self.spans})

    def known_at(self, span: RouteSpan, time: float) -> bool:
        """Whether the data can say that ``span`` (active at ``time``) held then: its collector's
        data covers ``time``, and the span was observed (started or confirmed) no more than a
        short gap before (:data:`~transitwatch.state.coverage.MAX_CARRY`): a route last seen
        before a long gap is unknown after it until seen again."""
        cov = self.coverage
        if cov is None or not cov.windows:
            return True
        seen = span.last_seen if span.last_seen <= time else span.start
        return cov.carried(span.peer.collector, seen, time)

    def vantage_at(self, time: float) -> list[PeerKey]:
        """The peers that could see the target at ``time``: seen by then (holding a target
        route or with a session event), their collector's data covering ``time``, their session
        not down then."""
        first: dict[PeerKey, float] = {}
        for s in (*self.spans, *self.foreign):
            if s.start <= time and (s.peer not in first or s.start < first[s.peer]):
                first[s.peer] = s.start
        down: dict[PeerKey, bool] = {}
        for e in self.sessions:  # time order
            if e.time <= time:
                first.setdefault(e.peer, e.time)
                down[e.peer] = not e.up
        cov = self.coverage
        return sorted(p for p in first if not down.get(p, False)
                      and (cov is None or not cov.windows or cov.covers(p.collector, time)))

    def merge(self, *others: TargetView) -> TargetView:
        """Combine views of the same target built from disjoint (collector, peer) streams."""
        views = (self, *others)
        for v in others:
            if v.target != self.target:
                raise ValueError(f"cannot merge views of {v.target} and {self.target}")
        starts = [v.start for v in views if v.start is not None]
        ends = [v.end for v in views if v.end is not None]
        return TargetView(
            target=self.target,
            spans=sorted((s for v in views for s in v.spans), key=lambda s: (s.start, s.peer, s.prefix)),
            sessions=sorted((e for v in views for e in v.sessions), key=lambda e: (e.time, e.peer)),
            start=min(starts) if starts else None,
            end=max(ends) if ends else None,
            notices=[n for v in views for n in v.notices],
            coverage=_merge_coverage([v.coverage for v in views]),
            foreign=sorted((s for v in views for s in v.foreign), key=lambda s: (s.start, s.peer, s.prefix)),
        )

    def to_records(self) -> list[dict[str, Any]]:
        """Spans as flat dicts (``pandas.DataFrame(view.to_records())``)."""
        return [s.to_dict() for s in self.spans]


def _merge_coverage(items: list[Coverage | None]) -> Coverage | None:
    known = [c for c in items if c is not None]
    return known[0].merge(*known[1:]) if known else None


class ViewBuilder:
    """Builds a :class:`TargetView` from :class:`RoutingState` callbacks.

    ``builder = ViewBuilder(target); state = RoutingState(target, on_change=builder.route,
    on_session=builder.session)``; replay; then ``builder.view(state)``.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self.spans: list[RouteSpan] = []
        self.foreign: list[RouteSpan] = []
        self.sessions: list[SessionEvent] = []
        self._open: dict[tuple[PeerKey, RouteKey], RouteSpan] = {}
        self._foreign_paths: dict[tuple[str, str], bool] = {}
        self._open_foreign: set[tuple[PeerKey, RouteKey]] = set()

    def _is_foreign(self, prefix: str, path: str | None) -> bool:
        # A kept route the target does not select itself: inside the address space its ASNs
        # originate, through another origin (RoutingState(own_space=True) keeps those).
        key = (prefix, path or "")
        known = self._foreign_paths.get(key)
        if known is None:
            known = not self.target.selects(prefix, path)
            if len(self._foreign_paths) < 1 << 16:
                self._foreign_paths[key] = known
        return known

    def route(self, change: RouteChange) -> None:
        key = (change.peer, change.key)
        span = self._open.get(key)
        foreign = change.selected and self._is_foreign(change.prefix, change.new_path)
        upstream = (self.target.upstream(change.new_path, change.prefix)
                    if change.selected and not foreign else None)
        obs = change.obs
        if span is not None:
            was_foreign = key in self._open_foreign
            if change.selected and foreign == was_foreign and (
                    change.new_path == span.path if foreign else upstream == span.upstream):
                span.last_seen = change.time
                return
            span.end = change.time
            span.end_cause = change.cause
            span.end_path = change.new_path
            if obs is not None:
                span.end_source, span.end_offset = obs.source, obs.offset
            del self._open[key]
            self._open_foreign.discard(key)
        if change.selected:
            new = RouteSpan(
                peer=change.peer,
                prefix=change.prefix,
                upstream=upstream,
                start=change.time,
                start_cause=change.cause,
                path=change.new_path or "",
                source=obs.source if obs is not None else "",
                offset=obs.offset if obs is not None else 0,
                last_seen=change.time,
                path_id=None if isinstance(change.key, str) else change.key[1],
            )
            (self.foreign if foreign else self.spans).append(new)
            self._open[key] = new
            if foreign:
                self._open_foreign.add(key)

    def session(self, change: SessionChange) -> None:
        self.sessions.append(SessionEvent(change.peer, change.time, change.up))

    def view(self, state: RoutingState, notices: Iterable[str] = ()) -> TargetView:
        return TargetView(
            target=self.target,
            spans=sorted(self.spans, key=lambda s: (s.start, s.peer, s.prefix)),
            sessions=sorted(self.sessions, key=lambda e: (e.time, e.peer)),
            foreign=sorted(self.foreign, key=lambda s: (s.start, s.peer, s.prefix)),
            start=state.start,
            end=state.time,
            notices=list(notices),
        )


def target_view(
    target: Target | str | int,
    observations: Iterable[Observation],
    *,
    until: float | None = None,
    notices: Iterable[str] = (),
    coverage: Coverage | Callable[[], Coverage | None] | None = None,
) -> TargetView:
    """Replay ``observations`` (time order) keeping only ``target``'s routes; return its view.

    ``until``: stop after the observations at that time. ``notices``: reader reports to carry
    along (pass the list given to :func:`~transitwatch.sources.files.read_files`; it is read
    after the replay, so it includes what the readers found on the way). ``coverage``: the
    input's coverage, or a function giving it after the replay; by default the stream's own
    (:func:`~transitwatch.sources.files.read_files` knows what its files cover).
    """
    tgt = Target.of(target)
    builder = ViewBuilder(tgt)
    state = RoutingState(tgt, on_change=builder.route, on_session=builder.session, own_space=True)
    state.replay(observations, until=until)
    view = builder.view(state, notices)
    # A filtered stream (read_files with a route filter) knows where the input really ends.
    last = getattr(observations, "last_time", None)
    if until is None and last is not None and (view.end is None or last > view.end):
        view.end = last
    if coverage is None:
        coverage = getattr(observations, "coverage", None)
    view.coverage = coverage() if callable(coverage) else coverage
    if until is not None and view.coverage is not None:
        view.coverage = view.coverage.settle(until)
    return view
