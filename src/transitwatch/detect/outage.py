"""Outages of a target: its visible address space falling well below its recent baseline.

>>> view = target_view("AS131279", read_files(paths))                     # doctest: +SKIP
>>> report = outage_changes(view)                                        # doctest: +SKIP
>>> [(e.type, iso_utc(e.onset), e.duration) for e in report.events]       # doctest: +SKIP
[('outage', '2014-12-22T16:40:12Z', 34168.0)]

A pure function of a :class:`~transitwatch.state.view.TargetView` (and, optionally, the collector
:class:`~transitwatch.state.liveness.Liveness` recorded while it was built). The rules:

- **Vantage points.** A peer counts once its whole table is known (its collector's RIB dump was
  read, or its session came up: with update files only, a peer's announcements are not all it
  had, and ordinary withdrawals would look like outages; ``require_table=False`` lifts this),
  while its session is up, its collector is not silent (no observation for ``quiet_after``, see
  :mod:`transitwatch.state.liveness`), and it has held a target route within the last ``window``
  seconds. For ``settle`` seconds after its session comes
  back it does not count (it is still re-announcing its table). A vantage point that goes away
  while it saw the target is reported as ``vantage_point_lost`` ("session down" or "collector
  quiet"): losing a view of the target is not an outage of the target.
- **Visible space.** A target prefix is visible when at least ``1 - quorum`` of the vantage points
  have a route to it, i.e. it is lost only when most of them (more than ``quorum``) lost it. The
  visible address space (IPv4 /24 equivalents; IPv6 /48 equivalents for IPv6-only targets) is
  compared with its *baseline*: its highest value over the last ``window`` seconds.
- **Events.** ``outage`` when the visible space falls below ``threshold`` of the baseline (default
  20%), ``partial_outage`` when it falls below ``partial`` (default 80%) but not below
  ``threshold``. The event lasts until the space is back to ``partial`` of the baseline it had
  (``end``, the recovery); the onset is the earliest withdrawal, by a vantage point, of a lost
  prefix in the ``min_duration`` before most of them had lost it. An event shorter than
  ``min_duration`` is a transient, reported apart.
- **Evidence.** Each vantage point's view: its address space before and at the worst, the
  prefixes it lost, its first withdrawal (file and byte offset) and when it saw them back.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from transitwatch.detect._common import flat_event_records, onset_end_fields
from transitwatch.detect.upstream_change import Evidence
from transitwatch.metrics.visibility import PrefixIndex, PrefixSpace
from transitwatch.observation import Observation
from transitwatch.state.liveness import DEFAULT_QUIET_AFTER, Liveness, LivenessTracker, Silence
from transitwatch.state.table import PeerKey
from transitwatch.state.target import Target
from transitwatch.state.view import RouteSpan, TargetView, target_view
from transitwatch.times import iso_local, iso_utc

__all__ = [
    "DEFAULT_MIN_DURATION",
    "DEFAULT_PARTIAL",
    "DEFAULT_QUORUM",
    "DEFAULT_SETTLE",
    "DEFAULT_THRESHOLD",
    "DEFAULT_WINDOW",
    "OutageEvent",
    "OutageReport",
    "PeerOutageView",
    "VantageLost",
    "outage_changes",
    "outages_of",
]

OUTAGE = "outage"
PARTIAL_OUTAGE = "partial_outage"
VANTAGE_POINT_LOST = "vantage_point_lost"
SESSION_DOWN = "session down"
COLLECTOR_QUIET = "collector quiet"

DEFAULT_THRESHOLD = 0.2
DEFAULT_PARTIAL = 0.8
DEFAULT_QUORUM = 0.5
DEFAULT_MIN_DURATION = 300.0
DEFAULT_WINDOW = 3600.0
DEFAULT_SETTLE = 300.0

_EPS = 1e-9


def _space_text(value: float, unit: str) -> str:
    return f"{value:g} {unit}"


@dataclass
class PeerOutageView:
    """One vantage point's view of an outage: its address space ``before`` the onset and at its
    lowest (``minimum``), whether it saw the drop, the prefixes it lost, its first withdrawal of
    one of them (``first_loss``) and when it had them all back (``recovered``, None if not)."""

    peer: PeerKey
    before: float
    minimum: float
    saw_drop: bool
    lost: list[str]
    first_loss: Evidence | None
    recovered: float | None

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.peer.to_dict(),
            "before": self.before,
            "minimum": self.minimum,
            "saw_drop": self.saw_drop,
            "lost": self.lost,
            "first_loss": self.first_loss.to_dict(tz) if self.first_loss else None,
            "recovered": iso_utc(self.recovered) if self.recovered is not None else None,
        }
        if tz and self.recovered is not None:
            out["recovered_local"] = iso_local(self.recovered, tz)
        return out


@dataclass
class OutageEvent:
    """An ``outage`` or ``partial_outage`` of ``target`` (see the module doc).

    ``onset`` the earliest withdrawal that led to it; ``quorum_at`` when most vantage points had
    lost the space; ``end`` the recovery (None: still down at the end of the input); ``baseline`` /
    ``minimum`` the visible space before and at the worst (``unit`` "/24" or "/48"),
    ``minimum_at`` when; ``prefixes_lost`` the prefixes most vantage points lost; ``peer_list``
    the vantage points that saw the drop; ``evidence`` every vantage point's view.
    """

    type: str
    target: Target
    onset: float
    quorum_at: float
    end: float | None
    baseline: float
    minimum: float
    minimum_at: float
    unit: str
    prefixes_lost: list[str]
    vantage_points: int
    peer_list: list[PeerKey] = field(default_factory=list)
    evidence: list[PeerOutageView] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    input_end: float | None = None

    @property
    def peers(self) -> int:
        return len(self.peer_list)

    @property
    def duration(self) -> float | None:
        """Seconds from onset to recovery; None while it lasts."""
        return self.end - self.onset if self.end is not None else None

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        """The event JSON shape shared with upstream events: ``type``, ``target``, ``onset``
        (``onset_local`` with ``tz``), ``end``, ``peers``, ``evidence``, plus the outage fields."""
        out = onset_end_fields(self.type, self.target, self.onset, self.end, tz)
        out.update({
            "duration": self.duration,
            "ongoing_at": iso_utc(self.input_end) if self.end is None and self.input_end else None,
            "quorum_at": iso_utc(self.quorum_at),
            "baseline": self.baseline,
            "minimum": self.minimum,
            "minimum_at": iso_utc(self.minimum_at),
            "unit": self.unit,
            "prefixes_lost": self.prefixes_lost,
            "vantage_points": self.vantage_points,
            "peers": self.peers,
            "peer_list": [p.to_dict() for p in self.peer_list],
            "evidence": [v.to_dict(tz) for v in self.evidence],
            "notes": self.notes,
        })
        return out


@dataclass
class VantageLost:
    """A view of the target went away: a peer's session went down (``reason`` "session down") or
    a collector went quiet ("collector quiet"); not an outage of the target. ``peer_list`` the
    vantage points lost (peers that had a route to the target then)."""

    target: Target
    onset: float
    end: float | None
    reason: str
    peer_list: list[PeerKey]
    collector: str
    routes: int
    type: str = VANTAGE_POINT_LOST

    @property
    def peers(self) -> int:
        return len(self.peer_list)

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        out = onset_end_fields(self.type, self.target, self.onset, self.end, tz)
        out.update({
            "duration": self.end - self.onset if self.end is not None else None,
            "reason": self.reason,
            "collector": self.collector,
            "peers": self.peers,
            "peer_list": [p.to_dict() for p in self.peer_list],
            "evidence": [{"reason": self.reason, "collector": self.collector,
                          "target_routes_held": self.routes}],
        })
        return out


@dataclass
class OutageReport:
    """What the detector found: ``events`` (outages, partial outages), ``transients`` (shorter
    than ``min_duration``), ``vantage_lost``, and the parameters used."""

    target: Target
    events: list[OutageEvent]
    transients: list[OutageEvent]
    vantage_lost: list[VantageLost]
    parameters: dict[str, float]
    notices: list[str] = field(default_factory=list)

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        return {
            "target": str(self.target),
            "events": [e.to_dict(tz) for e in self.events],
            "transients": [e.to_dict(tz) for e in self.transients],
            "vantage_lost": [v.to_dict(tz) for v in self.vantage_lost],
            "parameters": self.parameters,
            "notices": self.notices,
        }

    def to_records(self, tz: str | None = None) -> list[dict[str, Any]]:
        """One flat dict per event (no evidence) for pandas."""
        return flat_event_records(self.events, tz)


# -- the sweep ------------------------------------------------------------------------------------

# Pseudo-events, in the order they apply at one time.
_END, _DOWN, _QUIET, _AWAKE, _UP, _START, _TIMER = range(7)


@dataclass
class _Peer:
    key: PeerKey
    routes: Counter[str]
    space: PrefixSpace
    down: bool = False
    quiet: bool = False
    settle_until: float = float("-inf")
    empty_since: float | None = None   # when it last stopped holding any target route
    vantage: bool = False
    complete: bool = False             # its whole table is known (RIB dump, or session start)


class _RollingMax:
    """Highest value of a step function over the last ``window`` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.current = 0.0
        self.done: deque[tuple[float, float]] = deque()  # (value, until), values decreasing

    def set(self, value: float, time: float) -> None:
        if value == self.current:
            return
        previous = self.current
        while self.done and self.done[-1][0] <= previous:
            self.done.pop()
        self.done.append((previous, time))
        self.current = value

    def max(self, time: float) -> float:
        while self.done and self.done[0][1] < time - self.window:
            self.done.popleft()
        return max(self.current, self.done[0][0]) if self.done else self.current


@dataclass
class _Open:
    quorum_at: float
    baseline: float
    before: set[str]
    vantage: list[PeerKey]
    minimum: float
    minimum_at: float
    worst_ratio: float
    lost: set[str] = field(default_factory=set)
    peer_min: dict[PeerKey, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def outage_changes(
    view: TargetView,
    liveness: Liveness | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    partial: float = DEFAULT_PARTIAL,
    quorum: float = DEFAULT_QUORUM,
    min_duration: float = DEFAULT_MIN_DURATION,
    window: float = DEFAULT_WINDOW,
    settle: float = DEFAULT_SETTLE,
    require_table: bool = True,
) -> OutageReport:
    """Detect outages, partial outages and lost vantage points in ``view`` (module doc: rules)."""
    if not 0 < threshold <= partial <= 1:
        raise ValueError("need 0 < threshold <= partial <= 1")
    if not 0 < quorum < 1:
        raise ValueError("quorum must be between 0 and 1 (exclusive)")
    if not all(math.isfinite(x) for x in (threshold, partial, quorum, min_duration, window, settle)):
        raise ValueError("outage parameters must be finite numbers")
    if min_duration < 0 or window <= 0 or settle < 0:
        raise ValueError("min_duration and settle must not be negative, window must be positive")
    params = {"threshold": threshold, "partial": partial, "quorum": quorum, "min_duration": min_duration,
              "window": window, "settle": settle, "require_table": float(require_table),
              "quiet_after": liveness.quiet_after if liveness is not None else 0.0}
    target = view.target
    index = PrefixIndex.of_view(view)
    family = 4 if any(v == 4 for v in index.version.values()) else 6
    silences = list(liveness.silences) if liveness is not None else []

    seq = itertools.count()
    queue: list[tuple[float, int, int, Any]] = []
    for span in view.spans:
        queue.append((span.start, _START, next(seq), span))
        if span.end is not None:
            queue.append((span.end, _END, next(seq), span))
    for ev in view.sessions:
        queue.append((ev.time, _UP if ev.up else _DOWN, next(seq), ev.peer))
    for silence in silences:
        queue.append((silence.start, _QUIET, next(seq), silence.collector))
        if not silence.open:
            queue.append((silence.end, _AWAKE, next(seq), silence.collector))
    # A time that is not finite (NaN never equals itself) would never be popped below: leave it out.
    queue = [item for item in queue if math.isfinite(item[0])]
    heapq.heapify(queue)

    peers: dict[PeerKey, _Peer] = {}
    quiet: set[str] = set()
    # Collectors whose RIB dump was read: their peers' tables are complete from then on. Without
    # one (update files only), what a peer announced is not all it had: no baseline to fall from.
    dumped: set[str] = set()
    holders: Counter[str] = Counter()     # prefix -> vantage points holding it
    visible = PrefixSpace(index)
    baseline = _RollingMax(window)
    n_vantage = 0
    active: _Open | None = None
    events: list[OutageEvent] = []
    transients: list[OutageEvent] = []

    def peer_of(key: PeerKey) -> _Peer:
        p = peers.get(key)
        if p is None:
            p = peers[key] = _Peer(key, Counter(), PrefixSpace(index), quiet=key.collector in quiet,
                                   complete=not require_table)
        return p

    def is_vantage(p: _Peer, now: float) -> bool:
        if p.down or p.quiet or now < p.settle_until or not (p.complete or p.key.collector in dumped):
            return False
        if p.routes:
            return True
        if active is not None and p.key in active.vantage:
            return True
        return p.empty_since is not None and now - p.empty_since <= window

    def needed(prefix: str) -> bool:
        return n_vantage > 0 and holders[prefix] >= (1.0 - quorum) * n_vantage - _EPS

    while queue:
        # One time at once; timers pushed while handling it are later, so popping stays ordered.
        time = queue[0][0]
        items = [heapq.heappop(queue)]  # always progress, whatever the times compare as
        while queue and queue[0][0] == time:
            items.append(heapq.heappop(queue))
        touched: dict[PeerKey, float] = {}     # peer -> its space before this time
        dirty: set[str] = set()
        added: list[str] = []
        removed: list[str] = []
        for _, kind, _, payload in items:
            if kind in (_QUIET, _AWAKE):
                if kind == _QUIET:
                    quiet.add(payload)
                else:
                    quiet.discard(payload)
                for p in peers.values():
                    if p.key.collector == payload:
                        p.quiet = kind == _QUIET
                continue
            if kind == _TIMER:
                continue  # only re-evaluates vantage points (settle or window expiry)
            key = payload.peer if isinstance(payload, RouteSpan) else payload
            p = peer_of(key)
            touched.setdefault(key, p.space.space(family))
            if kind == _DOWN:
                p.down = True
            elif kind == _UP:
                p.down = False
                p.complete = True  # a session that comes up sends its whole table (after `settle`)
                p.settle_until = time + settle
                heapq.heappush(queue, (time + max(settle, _EPS), _TIMER, next(seq), None))
            elif kind == _START:
                p.down = False
                if payload.start_cause == "rib":
                    dumped.add(key.collector)  # its collector dumped every peer's table
                prefix = payload.prefix
                p.routes[prefix] += 1
                if p.routes[prefix] == 1:
                    p.space.add(prefix)
                    if p.vantage:
                        holders[prefix] += 1
                        dirty.add(prefix)
                p.empty_since = None
            else:  # _END
                prefix = payload.prefix
                if payload.end_cause == "down":
                    p.down = True
                p.routes[prefix] -= 1
                if p.routes[prefix] <= 0:
                    del p.routes[prefix]
                    p.space.discard(prefix)
                    if p.vantage:
                        holders[prefix] -= 1
                        dirty.add(prefix)
                    if not p.routes:
                        p.empty_since = time
                        heapq.heappush(queue, (time + window + _EPS, _TIMER, next(seq), None))
        # Who counts now; a change of the number of vantage points moves every prefix's bar.
        count = 0
        for p in peers.values():
            now_vantage = is_vantage(p, time)
            if now_vantage != p.vantage:
                p.vantage = now_vantage
                for prefix in p.routes:
                    holders[prefix] += 1 if now_vantage else -1
                    dirty.add(prefix)
            count += now_vantage
        if count != n_vantage:
            n_vantage = count
            dirty.update(index.size)
        for prefix in dirty:
            want = needed(prefix)
            if want and prefix not in visible:
                visible.add(prefix)
                added.append(prefix)
            elif not want and prefix in visible:
                visible.discard(prefix)
                removed.append(prefix)
        space = visible.space(family)

        if active is None:
            base = baseline.max(time)
            baseline.set(space, time)
            if n_vantage == 0 or base <= 0 or space >= partial * base - _EPS:
                continue
            before = (visible.members - set(added)) | set(removed)
            vantage = sorted(p.key for p in peers.values() if p.vantage)
            active = _Open(
                quorum_at=time, baseline=base, before=before, vantage=vantage, minimum=space,
                minimum_at=time, worst_ratio=space / base,
            )
            active.lost.update(before - visible.members)
            for k in vantage:
                active.peer_min[k] = peers[k].space.space(family)
            continue
        # An event is open: follow it until the space is back.
        active.lost.update(p for p in removed if p in active.before)
        for k in touched:
            if k in active.peer_min:
                active.peer_min[k] = min(active.peer_min[k], peers[k].space.space(family))
        if n_vantage == 0:
            if not active.notes or not active.notes[-1].startswith("no vantage point"):
                active.notes.append(f"no vantage point left at {iso_utc(time)}: the recovery may "
                                    "have happened unseen")
            continue
        if space < active.minimum:
            active.minimum, active.minimum_at = space, time
        active.worst_ratio = min(active.worst_ratio, space / active.baseline)
        if space >= partial * active.baseline - _EPS:
            _close(active, time, view, index, family, threshold, partial, min_duration, events, transients)
            active = None
            baseline.set(space, time)

    if active is not None:
        _close(active, None, view, index, family, threshold, partial, min_duration, events, transients)
    vantage_lost = _vantage_lost(view, silences, window)
    notices = list(view.notices)
    if view.spans and not any(p.complete or p.key.collector in dumped for p in peers.values()):
        notices.append("outages not assessed: no RIB dump and no session coming up in the input, so "
                       "the target's full visibility (the baseline) is unknown; read a RIB dump first")
    return OutageReport(target, events, transients, vantage_lost, params, notices)


def _close(active: _Open, end: float | None, view: TargetView, index: PrefixIndex, family: int,
           threshold: float, partial: float, min_duration: float,
           events: list[OutageEvent], transients: list[OutageEvent]) -> None:
    target = view.target
    unit = "/24" if family == 4 else "/48"
    lost = sorted(active.lost, key=_prefix_key)
    horizon = end if end is not None else view.end if view.end is not None else active.quorum_at
    # Onset: the earliest withdrawal of a lost prefix by a vantage point shortly before the quorum.
    vantage = set(active.vantage)
    withdrawals: dict[PeerKey, list[RouteSpan]] = {}
    returns: dict[PeerKey, float] = {}
    lost_set = set(lost)
    for span in view.spans:
        if span.peer not in vantage or span.prefix not in lost_set:
            continue
        if span.end is not None and active.quorum_at - min_duration <= span.end <= horizon:
            withdrawals.setdefault(span.peer, []).append(span)
    onset = min((s.end for spans in withdrawals.values() for s in spans if s.end is not None
                 and s.end <= active.quorum_at), default=active.quorum_at)
    # A peer is back when each prefix it lost has a route again (the first one after its loss).
    back_at: dict[tuple[PeerKey, str], float] = {}
    for span in view.spans:
        if span.peer in vantage and span.prefix in lost_set and span.start > onset:
            k = (span.peer, span.prefix)
            back_at[k] = min(back_at.get(k, span.start), span.start)
    for key, spans_lost in withdrawals.items():
        times = [back_at.get((key, s.prefix)) for s in spans_lost]
        if times and all(t is not None for t in times):
            returns[key] = max(t for t in times if t is not None)
    # Each vantage point's space just before the onset.
    held_before: dict[PeerKey, PrefixSpace] = {k: PrefixSpace(index) for k in vantage}
    for span in view.spans:
        if span.peer in vantage and span.start < onset and (span.end is None or span.end >= onset):
            held_before[span.peer].add(span.prefix)
    evidence: list[PeerOutageView] = []
    saw: list[PeerKey] = []
    for key in active.vantage:
        before = held_before[key].space(family)
        minimum = active.peer_min.get(key, before)
        spans = sorted(withdrawals.get(key, []), key=lambda s: (s.end or 0.0, s.prefix))
        dropped = bool(spans) and minimum < partial * before - _EPS
        if dropped:
            saw.append(key)
        first = spans[0] if spans else None
        evidence.append(PeerOutageView(
            peer=key, before=before, minimum=minimum, saw_drop=dropped,
            lost=sorted({s.prefix for s in spans}, key=_prefix_key),
            first_loss=Evidence.of_span_end(first) if first is not None else None,
            recovered=returns.get(key) if dropped else None,
        ))
    kind = OUTAGE if active.worst_ratio < threshold - _EPS else PARTIAL_OUTAGE
    event = OutageEvent(
        type=kind, target=target, onset=onset, quorum_at=active.quorum_at, end=end,
        baseline=active.baseline, minimum=active.minimum, minimum_at=active.minimum_at, unit=unit,
        prefixes_lost=lost, vantage_points=len(active.vantage), peer_list=saw, evidence=evidence,
        notes=list(active.notes), input_end=view.end,
    )
    lasted = horizon - active.quorum_at
    if lasted >= min_duration:
        events.append(event)
    else:
        if end is None:
            event.notes.append("the input ended before it lasted min_duration")
        transients.append(event)


def _vantage_lost(view: TargetView, silences: list[Silence], window: float) -> list[VantageLost]:
    """Session downs of peers that held target routes, and collector silences while their peers
    held some."""
    target = view.target
    out: list[VantageLost] = []
    by_peer: dict[PeerKey, list[RouteSpan]] = {}
    for span in view.spans:
        by_peer.setdefault(span.peer, []).append(span)
    ups = sorted((ev.time, ev.peer) for ev in view.sessions if ev.up)
    for ev in view.sessions:
        if ev.up:
            continue
        held = sum(1 for s in by_peer.get(ev.peer, ())
                   if s.start < ev.time and (s.end is None or s.end >= ev.time))
        recent = any(s.end is not None and ev.time - window <= s.end <= ev.time
                     for s in by_peer.get(ev.peer, ()))
        if not held and not recent:
            continue
        back = next((t for t, k in ups if k == ev.peer and t >= ev.time), None)
        out.append(VantageLost(target, ev.time, back, SESSION_DOWN, [ev.peer], ev.peer.collector, held))
    for silence in silences:
        lost = sorted({s.peer for s in view.spans if s.peer.collector == silence.collector
                       and s.start <= silence.start and (s.end is None or s.end > silence.start)})
        if not lost:
            continue
        held = sum(1 for s in view.spans if s.peer.collector == silence.collector
                   and s.start <= silence.start and (s.end is None or s.end > silence.start))
        out.append(VantageLost(target, silence.start, None if silence.open else silence.end,
                               COLLECTOR_QUIET, lost, silence.collector, held))
    out.sort(key=lambda v: (v.onset, v.collector, v.peer_list))
    return out


def _prefix_key(prefix: str) -> tuple[int, str]:
    return (6 if ":" in prefix else 4, prefix)


def outages_of(
    target: Target | str | int,
    observations: Iterable[Observation],
    *,
    quiet_after: float = DEFAULT_QUIET_AFTER,
    notices: Iterable[str] = (),
    **parameters: Any,
) -> OutageReport:
    """Replay ``observations`` for ``target`` (recording collector silences) and detect outages;
    ``parameters`` are those of :func:`outage_changes`."""
    tracker = LivenessTracker(quiet_after)
    view = target_view(target, tracker.watch(observations), notices=notices)
    return outage_changes(view, tracker.liveness(), **parameters)
