"""Origin changes of a target's prefixes: MOAS (another origin AS) and more-specifics (possible hijacks).

>>> view = target_view("AS131279,175.45.176.0/22", read_files(paths))     # doctest: +SKIP
>>> [(e.type, e.prefix, e.origin, e.peers) for e in origin_events(view)]  # doctest: +SKIP
[('more_specific', '175.45.178.0/25', 666, 3)]

A pure function of a :class:`~transitwatch.state.view.TargetView`. The rules:

- **Usual origins.** A prefix's usual origins are the origin ASes of its routes in the baseline
  (the first ``baseline`` seconds from the first target route; with the default 0, the first
  moment: the whole RIB dump when the input starts with one). For an AS target, the target's own
  ASNs are always usual for the prefixes they originate. A prefix first seen later, and not inside
  a prefix seen before, gets its first origin as usual.
- ``origin_change``: a route to a prefix with usual origins whose origin is none of them (MOAS)
  and whose path does not pass through one of them (a usual origin carrying the route is handing
  the prefix to a customer, not losing it). For an AS target the view keeps routes through the
  target only; a peer that *replaced* the target's route with one from another origin still shows
  it (the route that ended the span).
- ``more_specific``: a route to a prefix strictly inside a prefix with usual origins, with none of
  those origins on its path (a provider's customer announcing space it was given is routed
  through the provider), and not itself a prefix seen in the baseline: a possible sub-prefix
  hijack. An AS target's view also holds the routes to the address space its ASNs originate
  (learnt from the RIB and as prefixes appear: ``view.foreign``), so a more-specific or the
  same prefix from another origin is seen without listing the prefixes (as BGPalerter does for a
  monitored AS).
- One event per (type, prefix, origin): the peers that saw it, ``onset`` (first time), ``end``
  (the last route of it ended; None when one was still held at the end of the input), and one
  :class:`~transitwatch.detect.upstream_change.Evidence` per peer (path, file, byte offset).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from transitwatch.detect._common import onset_end_fields
from transitwatch.detect.upstream_change import Evidence
from transitwatch.metrics.visibility import PrefixIndex
from transitwatch.observation import Observation
from transitwatch.state.aspath import origin_of
from transitwatch.state.table import PeerKey
from transitwatch.state.target import Target
from transitwatch.state.view import RouteSpan, TargetView, target_view
from transitwatch.times import iso_utc

__all__ = ["MORE_SPECIFIC", "ORIGIN_CHANGE", "OriginEvent", "origin_events", "origin_changes_of", "origin_of"]

ORIGIN_CHANGE = "origin_change"
MORE_SPECIFIC = "more_specific"


@dataclass
class OriginEvent:
    """A prefix announced by an unusual origin (see the module doc).

    ``covering`` the target prefix it lies in (more-specifics) or the prefix itself; ``usual`` the
    origins expected for it; ``onset`` / ``end`` first and last time seen (``end`` None: still seen
    at the end of the input); ``last_seen`` the latest time a peer had it.
    """

    type: str
    target: Target
    prefix: str
    origin: int
    covering: str
    usual: list[int]
    onset: float
    end: float | None
    last_seen: float
    peer_list: list[PeerKey] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def peers(self) -> int:
        return len(self.peer_list)

    @property
    def duration(self) -> float | None:
        return self.end - self.onset if self.end is not None else None

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        """The event JSON shape shared with upstream events, plus prefix/origin fields."""
        out = onset_end_fields(self.type, self.target, self.onset, self.end, tz)
        out.update({
            "duration": self.duration,
            "last_seen": iso_utc(self.last_seen),
            "prefix": self.prefix,
            "origin": self.origin,
            "covering": self.covering,
            "usual_origins": self.usual,
            "peers": self.peers,
            "peer_list": [p.to_dict() for p in self.peer_list],
            "evidence": [e.to_dict(tz) for e in self.evidence],
        })
        return out


@dataclass
class _Sighting:
    peer: PeerKey
    prefix: str
    origin: int
    start: float
    end: float | None
    path: str
    source: str
    offset: int | None
    cause: str


def _through(path: str, origins: set[int]) -> bool:
    """Whether one of ``origins`` is on ``path`` before its origin (it carries the route)."""
    tokens = path.split()[:-1]
    return any(t.isdigit() and int(t) in origins for t in tokens)


def _sightings(view: TargetView) -> list[_Sighting]:
    """Every (peer, prefix, origin) interval in the view: spans, the routes inside an AS target's
    own address space from other origins (``view.foreign``), plus the foreign routes that
    replaced a target route and are not among those (they end the span; they last until the
    peer's next span)."""
    out: list[_Sighting] = []
    by_key: dict[tuple[PeerKey, str, int | None], list[RouteSpan]] = {}
    foreign_starts = {(s.peer, s.prefix, s.path_id, s.start) for s in view.foreign}
    for span in view.foreign:
        origin = origin_of(span.path)
        if origin is not None:
            out.append(_Sighting(span.peer, span.prefix, origin, span.start, span.end, span.path,
                                 span.source, span.offset, span.start_cause))
    for span in view.spans:
        by_key.setdefault((span.peer, span.prefix, span.path_id), []).append(span)
        origin = origin_of(span.path)
        if origin is not None:
            out.append(_Sighting(span.peer, span.prefix, origin, span.start, span.end, span.path,
                                 span.source, span.offset, span.start_cause))
    for spans in by_key.values():
        spans.sort(key=lambda s: s.start)
        for i, span in enumerate(spans):
            if span.end is None or span.end_cause != "announce" or not span.end_path:
                continue
            if (span.peer, span.prefix, span.path_id, span.end) in foreign_starts:
                continue  # the replacing route is in view.foreign, with its own end
            origin = origin_of(span.end_path)
            if origin is None or origin == origin_of(span.path):
                continue
            following = spans[i + 1].start if i + 1 < len(spans) else None
            out.append(_Sighting(span.peer, span.prefix, origin, span.end, following, span.end_path,
                                 span.end_source or "", span.end_offset, "announce"))
    out.sort(key=lambda s: (s.start, s.peer, s.prefix))
    return out


def origin_events(
    view: TargetView, *, baseline: float = 0.0, min_peers: int = 1, max_evidence: int = 5
) -> list[OriginEvent]:
    """Detect ``origin_change`` and ``more_specific`` events in ``view`` (module doc: rules)."""
    if min_peers < 1:
        raise ValueError("min_peers must be at least 1")
    if baseline < 0:
        raise ValueError("baseline must not be negative")
    target = view.target
    sightings = _sightings(view)
    if not sightings:
        return []
    baseline_end = sightings[0].start + baseline
    usual: dict[str, set[int]] = {}
    for s in sightings:
        if s.start > baseline_end:
            break
        usual.setdefault(s.prefix, set()).add(s.origin)
    if target.asns:
        # An AS target's own ASNs are the usual origins of the prefixes they originate.
        for s in sightings:
            if s.origin in target.asns:
                usual.setdefault(s.prefix, set()).update(target.asns & {s.origin})
        for origins in usual.values():
            if origins & target.asns:
                origins.intersection_update(target.asns)
    # Nearest covering prefix of the target's own with usual origins: walk up the index of every
    # prefix seen. The target's own prefixes: inside its networks, or usually originated by its
    # ASNs (an AS target's view also holds the routes it carries for others: not its prefixes).
    # sightings are of the spans' prefixes (and the foreign routes')
    index = PrefixIndex.of_view(view) if not view.foreign else PrefixIndex(
        [s.prefix for s in view.spans] + [s.prefix for s in view.foreign])

    def own(prefix: str) -> bool:
        return target.selects_prefix(prefix) or not usual[prefix].isdisjoint(target.asns)

    def covering(prefix: str) -> str | None:
        return next((p for p in index.covering(prefix) if p in usual and own(p)), None)

    groups: dict[tuple[str, str, int], list[_Sighting]] = {}
    cover_of: dict[tuple[str, str, int], str] = {}
    for s in sightings:
        known = usual.get(s.prefix)
        if known is not None:
            if s.origin not in known and not _through(s.path, known) and own(s.prefix):
                key = (ORIGIN_CHANGE, s.prefix, s.origin)
                groups.setdefault(key, []).append(s)
                cover_of[key] = s.prefix
            continue
        parent = covering(s.prefix)
        if parent is None or s.origin in usual[parent] or _through(s.path, usual[parent]):
            # A new prefix, a deaggregate by the usual origin, or space the usual origin gave a
            # customer (announced through it): its first origin is its usual one.
            usual[s.prefix] = {s.origin}
            continue
        key = (MORE_SPECIFIC, s.prefix, s.origin)
        groups.setdefault(key, []).append(s)
        cover_of[key] = parent

    events: list[OriginEvent] = []
    for key, items in groups.items():
        kind, prefix, origin = key
        peers: list[PeerKey] = []
        evidence: list[Evidence] = []
        for s in items:
            if s.peer not in peers:
                peers.append(s.peer)
                if len(evidence) < max_evidence:
                    evidence.append(Evidence(peer=s.peer, time=s.start, prefix=s.prefix, as_path=s.path,
                                             source=s.source, offset=s.offset, cause=s.cause))
        if len(peers) < min_peers:
            continue
        still = any(s.end is None for s in items)
        last = max((s.end for s in items if s.end is not None), default=None)
        events.append(OriginEvent(
            type=kind, target=target, prefix=prefix, origin=origin, covering=cover_of[key],
            usual=sorted(usual.get(cover_of[key], set())), onset=min(s.start for s in items),
            end=None if still else last,
            last_seen=(view.end if still and view.end is not None else (last or items[-1].start)),
            peer_list=peers, evidence=evidence,
        ))
    events.sort(key=lambda e: (e.onset, e.type, e.prefix, e.origin))
    return events


def origin_changes_of(
    target: Target | str | int,
    observations: Iterable[Observation],
    *,
    baseline: float = 0.0,
    min_peers: int = 1,
    notices: Iterable[str] = (),
) -> list[OriginEvent]:
    """Replay ``observations`` for ``target`` and detect its origin changes."""
    view = target_view(target, observations, notices=notices)
    return origin_events(view, baseline=baseline, min_peers=min_peers)
