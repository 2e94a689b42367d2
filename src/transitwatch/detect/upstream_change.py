"""New and lost upstreams of a target, with onset, confirmation, peers and evidence.

>>> view = target_view("AS131279", read_files(paths))                      # doctest: +SKIP
>>> [e.to_dict("Asia/Pyongyang") for e in upstream_events(view)]           # doctest: +SKIP
[{'type': 'new_upstream', 'target': 'AS131279', 'upstream': 20485,
  'onset': '2017-10-01T09:08:00Z', 'onset_local': '2017-10-01T17:38:00+08:30', ...}]

A pure function of a :class:`~transitwatch.state.view.TargetView` (merge views of separate
streams first). The rules:

- **Baseline.** The upstreams seen at the first target observation (the whole RIB dump when the
  input starts with one; plus ``baseline`` seconds) are the starting state: no events for them.
  A peer's own first view, when it comes from a RIB dump or right after its session came up
  (within ``min_duration``), is that peer's baseline too.
- **Per peer.** A peer *gains* an upstream when its routes to the target start going through it,
  and *loses* it when none does any more. A session reset is not a change: the peer's upstreams
  are kept as *stale* while it is down and matched against what it re-announces; those it has not
  re-announced ``min_duration`` after the session came back are lost then. The same holds when a
  peer loses *every* route to the target (all withdrawn): that is an outage as this peer sees it
  (:mod:`~transitwatch.detect.outage`), not an upstream change, and the target coming back
  through the same upstream is no event. A RIB dump that
  refreshes a table changes the state silently (it says what is, not when it changed).
- **Onset and confirmation.** ``new_upstream``: the onset is the first gain of an upstream that
  no peer had; it is confirmed when ``min_peers`` peers have seen it, or when it has stayed
  visible ``min_duration`` after the onset. ``lost_upstream``: an upstream vanishes when the last
  peer loses it; the onset is the earliest loss among the peers that lost it within
  ``min_duration`` before; confirmed when ``min_peers`` peers lost it, or it stays absent
  ``min_duration``. A candidate that ends before it is confirmed is a *transient*, reported apart.
- **Gaps.** ``min_duration`` is observed time: when the view knows its coverage
  (:mod:`~transitwatch.state.coverage`), time in which the collectors of the candidate's peers
  have no data (a missing update file, a disconnected feed) does not count, so a change is never
  "confirmed by duration" across hours with no data; a candidate whose data ends first stays a
  transient ("input ended before it was confirmed"), in file mode and store mode alike.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from transitwatch.detect._common import flat_event_records
from transitwatch.observation import Observation
from transitwatch.state.table import PeerKey
from transitwatch.state.target import Target
from transitwatch.state.view import RouteSpan, TargetView, target_view
from transitwatch.times import iso_local, iso_utc

__all__ = [
    "DEFAULT_MIN_DURATION",
    "DEFAULT_MIN_PEERS",
    "Evidence",
    "Transient",
    "UpstreamChanges",
    "UpstreamEvent",
    "upstream_changes",
    "upstream_events",
]

NEW_UPSTREAM = "new_upstream"
LOST_UPSTREAM = "lost_upstream"
DEFAULT_MIN_PEERS = 2
DEFAULT_MIN_DURATION = 300.0
STALE_CAUSE = "not re-announced after session reset"


@dataclass(frozen=True)
class Evidence:
    """One observation that shows a change: who saw which path when, and where it was read.

    ``as_path`` is the path through the new upstream (new) or the path that went away (lost);
    ``new_as_path`` what replaced it (None for a withdrawal); ``cause`` the kind of observation.
    """

    peer: PeerKey
    time: float
    prefix: str
    as_path: str
    source: str
    offset: int | None
    cause: str
    new_as_path: str | None = None

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.peer.to_dict(),
            "time": iso_utc(self.time),
            "prefix": self.prefix,
            "as_path": self.as_path,
            "cause": self.cause,
            "source": self.source,
            "offset": self.offset,
        }
        if self.cause != "announce" or self.new_as_path is not None:
            out["new_as_path"] = self.new_as_path
        if tz:
            out["time_local"] = iso_local(self.time, tz)
        return out

    @classmethod
    def of_span_end(cls, span: RouteSpan) -> Evidence:
        """The observation that ended ``span`` (a withdrawal, a replacing path, a session down)."""
        return cls(
            peer=span.peer, time=span.end if span.end is not None else span.start, prefix=span.prefix,
            as_path=span.path, source=span.end_source or "", offset=span.end_offset,
            cause=span.end_cause or "", new_as_path=span.end_path,
        )


@dataclass
class UpstreamEvent:
    """A confirmed ``new_upstream`` or ``lost_upstream`` of ``target``.

    ``onset`` the earliest observation of the change, ``confirmed`` when the rules accepted it
    (``confirmed_by`` ``"peers"`` or ``"duration"``), ``peer_list`` the peers that saw it,
    ``evidence`` example observations (one per peer first), ``relationship`` what the upstream
    is to the target (``provider``... ``unknown``; a new provider is news, a new peer less so).
    """

    type: str
    target: Target
    upstream: int
    onset: float
    confirmed: float
    confirmed_by: str
    peer_list: list[PeerKey] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    relationship: str = "unknown"
    #: when the change was undone: the onset of the next confirmed event of the opposite type for
    #: the same upstream (a new upstream lost again, a lost one regained); None while it lasts,
    #: or when the input does not say when (a RIB dump without it)
    end: float | None = None
    #: its end is itself an event (the reverse change), alerted as such: no separate "end" alert
    ends_as_event: ClassVar[bool] = True

    @property
    def peers(self) -> int:
        return len(self.peer_list)

    @property
    def duration(self) -> float | None:
        """Seconds from onset to ``end`` (None while the change lasts), as for outages."""
        return self.end - self.onset if self.end is not None else None

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        """The JSON shape: ``{"type", "target", "upstream", "onset", "confirmed", "peers",
        "evidence", ...}``; with ``tz`` also ``onset_local`` / ``confirmed_local``."""
        out: dict[str, Any] = {
            "type": self.type,
            "target": str(self.target),
            "upstream": self.upstream,
            "relationship": self.relationship,
            "onset": iso_utc(self.onset),
        }
        if tz:
            out["onset_local"] = iso_local(self.onset, tz)
        out["confirmed"] = iso_utc(self.confirmed)
        if tz:
            out["confirmed_local"] = iso_local(self.confirmed, tz)
        out["confirmed_by"] = self.confirmed_by
        # the keys outages use for their end
        out["end"] = iso_utc(self.end) if self.end is not None else None
        if tz and self.end is not None:
            out["end_local"] = iso_local(self.end, tz)
        out["duration"] = self.duration
        out["peers"] = self.peers
        out["peer_list"] = [p.to_dict() for p in self.peer_list]
        out["evidence"] = [e.to_dict(tz) for e in self.evidence]
        return out


@dataclass
class Transient:
    """A candidate change that ended before it was confirmed (or the input ended first)."""

    type: str
    upstream: int
    onset: float
    ended: float | None
    peer_list: list[PeerKey]
    reason: str

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "upstream": self.upstream,
            "onset": iso_utc(self.onset),
            "ended": iso_utc(self.ended) if self.ended is not None else None,
            "peers": len(self.peer_list),
            "peer_list": [p.to_dict() for p in self.peer_list],
            "reason": self.reason,
        }
        if tz:
            out["onset_local"] = iso_local(self.onset, tz)
        return out


@dataclass
class UpstreamChanges:
    """Everything the detector found: ``events`` (confirmed), ``transients``, the ``baseline``
    upstreams, the parameters used and the readers' ``notices``."""

    target: Target
    events: list[UpstreamEvent]
    transients: list[Transient]
    baseline: list[int]
    baseline_time: float | None
    min_peers: int
    min_duration: float
    notices: list[str] = field(default_factory=list)

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        """``{"target", "events": [...], "transients": [...], "baseline": [...], ...}``."""
        return {
            "target": str(self.target),
            "events": [e.to_dict(tz) for e in self.events],
            "transients": [t.to_dict(tz) for t in self.transients],
            "baseline": self.baseline,
            "baseline_time": iso_utc(self.baseline_time) if self.baseline_time is not None else None,
            "min_peers": self.min_peers,
            "min_duration": self.min_duration,
            "notices": self.notices,
        }

    def to_records(self, tz: str | None = None) -> list[dict[str, Any]]:
        """One flat dict per event (no evidence) for pandas."""
        return flat_event_records(self.events, tz)


# -- per-peer changes --------------------------------------------------------------------------


@dataclass
class _Delta:
    time: float
    peer: PeerKey
    gained: dict[int, RouteSpan]
    lost: dict[int, Evidence | None]
    gains_count: bool
    losses_count: bool


def _expire(
    deltas: list[_Delta], peer: PeerKey, stale: dict[int, Evidence | None], current: Counter[int], when: float
) -> None:
    # Upstreams a peer had before its session reset and did not re-announce: lost, at the deadline.
    gone: dict[int, Evidence | None] = {}
    for up, ev in stale.items():
        if current[up] == 0:
            gone[up] = Evidence(peer, when, ev.prefix if ev else "", ev.as_path if ev else "",
                                ev.source if ev else "", ev.offset if ev else None, STALE_CAUSE)
    if gone:
        deltas.append(_Delta(when, peer, {}, gone, False, True))


def _peer_deltas(view: TargetView, baseline_end: float, grace: float) -> list[_Delta]:
    # Per peer, group span starts/ends and session events by time, then diff its upstream set.
    points: dict[PeerKey, dict[float, dict[str, list[Any]]]] = defaultdict(dict)

    def at(peer: PeerKey, time: float) -> dict[str, list[Any]]:
        return points[peer].setdefault(time, {"start": [], "end": [], "down": [], "up": []})

    for span in view.spans:
        at(span.peer, span.start)["start"].append(span)
        if span.end is not None:
            at(span.peer, span.end)["end"].append(span)
    for ev in view.sessions:
        at(ev.peer, ev.time)["up" if ev.up else "down"].append(ev)

    deltas: list[_Delta] = []
    for peer, by_time in points.items():
        current: Counter[int] = Counter()
        stale: dict[int, Evidence | None] = {}
        stale_deadline: float | None = None
        dark = False
        known = False
        own_baseline_until = float("-inf")
        for time in sorted(by_time):
            group = by_time[time]
            if stale_deadline is not None and time >= stale_deadline:
                _expire(deltas, peer, stale, current, stale_deadline)
                stale, stale_deadline = {}, None
            before = {up for up, n in current.items() if n > 0}
            ending: dict[int, RouteSpan] = {}
            for span in group["end"]:
                if isinstance(span.upstream, int):
                    current[span.upstream] -= 1
                    ending.setdefault(span.upstream, span)
            starting: dict[int, RouteSpan] = {}
            for span in group["start"]:
                if isinstance(span.upstream, int):
                    current[span.upstream] += 1
                    starting.setdefault(span.upstream, span)
            after = {up for up, n in current.items() if n > 0}
            session_down = bool(group["down"] or any(s.end_cause == "down" for s in group["end"]))
            # The peer lost every route to the target (withdrawn, not a session reset): that is the
            # target's visibility (the outage detector's question), not a change of upstream. Its
            # upstreams become stale like after a session reset, and are matched against what
            # comes back: the same upstream returning is no event, another one is a change.
            went_dark = bool(before) and not after and not session_down
            if session_down or went_dark:
                for up in before - after:
                    stale.setdefault(up, Evidence.of_span_end(ending[up]) if up in ending else None)
                stale_deadline = None
            if went_dark:
                dark = True
            if group["up"]:
                if stale:
                    stale_deadline = time + grace
                if not known:
                    own_baseline_until = time + grace
            if dark and after and not session_down:
                dark = False
                if stale:
                    stale_deadline = time + grace
            for up in after & set(stale):
                del stale[up]  # re-announced after the reset: restored, not gained
            gained = {up: starting[up] for up in after - before - set(stale) if up in starting}
            lost: dict[int, Evidence | None] = {
                up: Evidence.of_span_end(ending[up]) for up in before - after if up in ending
            }
            if session_down or went_dark:
                lost = {}
            if gained or lost:
                first_view = not known and not before
                from_rib = all(s.start_cause == "rib" for s in gained.values())
                gains_count = not (
                    time <= baseline_end or from_rib or (first_view and time <= own_baseline_until)
                )
                losses_count = all(ending[up].end_cause in ("announce", "withdraw") for up in lost)
                deltas.append(_Delta(time, peer, gained, lost, gains_count, losses_count))
            if after:
                known = True
        if stale_deadline is not None and view.end is not None and view.end >= stale_deadline:
            _expire(deltas, peer, stale, current, stale_deadline)
    deltas.sort(key=lambda d: (d.time, d.peer))
    return deltas


# -- aggregation over peers --------------------------------------------------------------------


@dataclass
class _Candidate:
    type: str
    upstream: int
    onset: float
    vanish: float
    peers: list[PeerKey]
    evidence: list[Evidence]


def _add_evidence(evidence: list[Evidence], item: Evidence, limit: int) -> None:
    # One example per peer first, then more up to the limit.
    if len(evidence) < limit and all(e.peer != item.peer for e in evidence):
        evidence.append(item)


def _gain_evidence(span: RouteSpan) -> Evidence:
    return Evidence(peer=span.peer, time=span.start, prefix=span.prefix, as_path=span.path,
                    source=span.source, offset=span.offset, cause=span.start_cause)


def upstream_changes(
    view: TargetView,
    *,
    min_peers: int = DEFAULT_MIN_PEERS,
    min_duration: float = DEFAULT_MIN_DURATION,
    baseline: float = 0.0,
    max_evidence: int = 5,
) -> UpstreamChanges:
    """Detect new and lost upstreams in ``view`` (see the module doc for the rules)."""
    if min_peers < 1:
        raise ValueError("min_peers must be at least 1")
    if min_duration < 0 or baseline < 0:
        raise ValueError("min_duration and baseline must not be negative")
    target = view.target
    first = min((s.start for s in view.spans), default=None)
    baseline_end = first + baseline if first is not None else float("-inf")
    deltas = _peer_deltas(view, baseline_end, min_duration)

    present: set[int] = set()
    seen_by: dict[int, set[PeerKey]] = defaultdict(set)
    pending_new: dict[int, _Candidate] = {}
    pending_lost: dict[int, _Candidate] = {}
    recent_losses: dict[int, list[Evidence]] = defaultdict(list)
    open_new: dict[int, UpstreamEvent] = {}
    events: list[UpstreamEvent] = []
    transients: list[Transient] = []
    baseline_set: set[int] = set()

    def confirm(cand: _Candidate, when: float, by: str) -> None:
        event = UpstreamEvent(cand.type, target, cand.upstream, cand.onset, when, by,
                              list(cand.peers), list(cand.evidence))
        events.append(event)
        if cand.type == NEW_UPSTREAM:
            present.add(cand.upstream)
            open_new[cand.upstream] = event
            pending_new.pop(cand.upstream, None)
        else:
            present.discard(cand.upstream)
            open_new.pop(cand.upstream, None)
            pending_lost.pop(cand.upstream, None)
            recent_losses.pop(cand.upstream, None)

    coverage = view.coverage if view.coverage is not None and view.coverage.windows else None

    def deadline(cand: _Candidate, start: float) -> float | None:
        # Confirmed by duration when it lasted min_duration of *observed* time: hours with no
        # data from the collectors of the peers that saw it do not count (None: data ends first).
        if coverage is None:
            return start + min_duration
        return coverage.reach({p.collector for p in cand.peers}, start, min_duration)

    def due(now: float) -> None:
        for cand in sorted(pending_new.values(), key=lambda c: c.onset):
            when = deadline(cand, cand.onset)
            if when is not None and when <= now:
                confirm(cand, when, "duration")
        for cand in sorted(pending_lost.values(), key=lambda c: c.vanish):
            when = deadline(cand, cand.vanish)
            if when is not None and when <= now:
                confirm(cand, when, "duration")

    for d in deltas:
        due(d.time)
        for up, span in sorted(d.gained.items()):
            seen_by[up].add(d.peer)
            if up in pending_lost:
                cand = pending_lost.pop(up)
                transients.append(Transient(LOST_UPSTREAM, up, cand.onset, d.time, cand.peers,
                                            "seen again before the loss was confirmed"))
            if up in present:
                event = open_new.get(up)
                if event is not None and d.peer not in event.peer_list:
                    event.peer_list.append(d.peer)
                    _add_evidence(event.evidence, _gain_evidence(span), max_evidence)
            elif up in pending_new:
                cand = pending_new[up]
                if d.peer not in cand.peers:
                    cand.peers.append(d.peer)
                    _add_evidence(cand.evidence, _gain_evidence(span), max_evidence)
                if len(cand.peers) >= min_peers:
                    confirm(cand, d.time, "peers")
            elif not d.gains_count:
                present.add(up)
            else:
                cand = _Candidate(NEW_UPSTREAM, up, d.time, d.time, [d.peer], [_gain_evidence(span)])
                pending_new[up] = cand
                if min_peers <= 1:
                    confirm(cand, d.time, "peers")
        for up, evidence in sorted(d.lost.items()):
            seen_by[up].discard(d.peer)
            if up in pending_new:
                if not seen_by[up]:
                    cand = pending_new.pop(up)
                    transients.append(Transient(NEW_UPSTREAM, up, cand.onset, d.time, cand.peers,
                                                "gone before it was confirmed"))
                continue
            if up not in present:
                continue
            if evidence is not None:
                recent_losses[up].append(evidence)
            if seen_by[up]:
                continue
            if not d.losses_count:
                present.discard(up)  # a RIB dump said it is gone; not when: no event
                open_new.pop(up, None)
                continue
            window = [e for e in recent_losses[up] if e.time >= d.time - min_duration]
            peers: list[PeerKey] = []
            for e in window:
                if e.peer not in peers:
                    peers.append(e.peer)
            if d.peer not in peers:
                peers.append(d.peer)
            sample: list[Evidence] = []
            for e in window:
                _add_evidence(sample, e, max_evidence)
            onset = min((e.time for e in window), default=d.time)
            cand = _Candidate(LOST_UPSTREAM, up, onset, d.time, peers, sample)
            if len(peers) >= min_peers:
                confirm(cand, d.time, "peers")
            else:
                pending_lost[up] = cand
        if d.time <= baseline_end:
            baseline_set.update(d.gained)

    if view.end is not None:
        due(view.end)
    for cand in pending_new.values():
        transients.append(Transient(NEW_UPSTREAM, cand.upstream, cand.onset, None, cand.peers,
                                    "input ended before it was confirmed"))
    for cand in pending_lost.values():
        transients.append(Transient(LOST_UPSTREAM, cand.upstream, cand.onset, None, cand.peers,
                                    "input ended before it was confirmed"))
    events.sort(key=lambda e: (e.onset, e.type, e.upstream))
    _link_ends(events)
    transients.sort(key=lambda t: (t.onset, t.type, t.upstream))
    return UpstreamChanges(
        target=target, events=events, transients=transients, baseline=sorted(baseline_set),
        baseline_time=first, min_peers=min_peers, min_duration=min_duration, notices=list(view.notices),
    )


def _link_ends(events: list[UpstreamEvent]) -> None:
    """Each event's ``end``: the onset of the next event (by onset) that undoes it, the opposite
    type for the same upstream."""
    following: dict[tuple[str, int], float] = {}
    for event in reversed(events):
        undo = LOST_UPSTREAM if event.type == NEW_UPSTREAM else NEW_UPSTREAM
        event.end = following.get((undo, event.upstream))
        following[(event.type, event.upstream)] = event.onset


def upstream_events(
    view: TargetView,
    *,
    min_peers: int = DEFAULT_MIN_PEERS,
    min_duration: float = DEFAULT_MIN_DURATION,
    baseline: float = 0.0,
) -> list[UpstreamEvent]:
    """The confirmed events of :func:`upstream_changes`."""
    return upstream_changes(view, min_peers=min_peers, min_duration=min_duration, baseline=baseline).events


def changes_of(
    target: Target | str | int,
    observations: Iterable[Observation],
    *,
    min_peers: int = DEFAULT_MIN_PEERS,
    min_duration: float = DEFAULT_MIN_DURATION,
    baseline: float = 0.0,
    notices: Iterable[str] = (),
) -> UpstreamChanges:
    """Replay ``observations`` for ``target`` and detect its upstream changes."""
    view = target_view(target, observations, notices=notices)
    return upstream_changes(view, min_peers=min_peers, min_duration=min_duration, baseline=baseline)
