"""Every detector over one view: upstream changes, outages, origin changes, lost vantage points.

>>> tracker = LivenessTracker()
>>> view = target_view("AS131279", tracker.watch(read_files(paths)))       # doctest: +SKIP
>>> found = detect_events(view, tracker.liveness())                        # doctest: +SKIP
>>> [(e.type, iso_utc(e.onset)) for e in found.events]                     # doctest: +SKIP
[('new_upstream', '2014-12-22T10:02:00Z'), ('outage', '2014-12-22T16:40:12Z')]

``events`` holds every confirmed event of the chosen detectors about the target, by onset; each
has ``type``, ``onset`` and ``to_dict(tz)`` with the shared keys (``type``, ``target``,
``onset``, ``onset_local`` with a zone, ``peers``, ``evidence``; outages and origin changes also
``end``). Lost vantage points (a peer's session down, a collector quiet) are not events of the
target: they are listed apart in ``vantage_lost``. A pure function of the view (and the
collector liveness recorded with it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from transitwatch.detect._common import flat_event_records
from transitwatch.detect.origin_change import OriginEvent, origin_events
from transitwatch.detect.outage import OutageReport, VantageLost, outage_changes
from transitwatch.detect.upstream_change import UpstreamChanges, upstream_changes
from transitwatch.observation import Observation
from transitwatch.state.liveness import DEFAULT_QUIET_AFTER, Liveness, LivenessTracker, Silence
from transitwatch.state.target import Target
from transitwatch.state.view import TargetView, target_view

__all__ = [
    "DETECTORS", "DetectedEvents", "detect_events", "events_of", "parse_detectors", "with_coverage_gaps",
]

#: Detector names, as ``--detect`` takes them.
DETECTORS = ("upstream", "outage", "origin")


class _Event(Protocol):
    type: str
    onset: float

    def to_dict(self, tz: str | None = None) -> dict[str, Any]: ...


def parse_detectors(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"upstream,outage"`` (or a list, or None/"all" for all) -> validated names, in
    :data:`DETECTORS` order. ValueError naming an unknown one."""
    if text is None:
        return DETECTORS
    parts = [p.strip().lower() for p in (text.split(",") if isinstance(text, str) else text)]
    if parts == ["all"]:
        return DETECTORS
    unknown = [p for p in parts if p not in DETECTORS]
    if unknown or not parts:
        raise ValueError(f"unknown detector {unknown[0] if unknown else ''!r}: "
                         f"choose from {', '.join(DETECTORS)} (comma-separated) or all")
    return tuple(d for d in DETECTORS if d in parts)


@dataclass
class DetectedEvents:
    """What the chosen detectors found in one view: ``events`` (all types, by onset),
    ``transients`` (candidates that did not last), ``vantage_lost`` (views of the target that went
    away), and each detector's own result."""

    target: Target
    detectors: tuple[str, ...]
    events: list[Any] = field(default_factory=list)
    transients: list[Any] = field(default_factory=list)
    vantage_lost: list[VantageLost] = field(default_factory=list)
    upstream: UpstreamChanges | None = None
    outages: OutageReport | None = None
    origins: list[OriginEvent] = field(default_factory=list)
    liveness: Liveness | None = None
    notices: list[str] = field(default_factory=list)

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        """``{"target", "detectors", "events": [...], "transients": [...], "vantage_lost": [...],
        "silences": [...], "notices"}``: events of every type in one list, each with its ``type``."""
        return {
            "target": str(self.target),
            "detectors": list(self.detectors),
            "events": [e.to_dict(tz) for e in self.events],
            "transients": [t.to_dict(tz) for t in self.transients],
            "vantage_lost": [v.to_dict(tz) for v in self.vantage_lost],
            "silences": [s.to_dict() for s in self.liveness.silences] if self.liveness else [],
            "notices": self.notices,
        }

    def to_records(self, tz: str | None = None) -> list[dict[str, Any]]:
        """One flat dict per event (no evidence or peer lists) for pandas."""
        return flat_event_records(self.events, tz)


def with_coverage_gaps(
    view: TargetView, liveness: Liveness | None, min_gap: float = DEFAULT_QUIET_AFTER
) -> Liveness | None:
    """``liveness`` plus the view's coverage gaps of ``min_gap`` seconds or more as collector
    silences (what a :class:`LivenessTracker` records from a replay of the same files: the store
    keeps no replay, so its events use these). Without such gaps, ``liveness`` unchanged."""
    cov = view.coverage
    gaps = [g for g in cov.gaps() if g.end is not None and g.end - g.start >= min_gap] \
        if cov is not None and cov.windows else []
    if not gaps:
        return liveness
    out = Liveness(liveness.quiet_after if liveness is not None else DEFAULT_QUIET_AFTER)
    if liveness is not None:
        out.first, out.last = dict(liveness.first), dict(liveness.last)
        out.start, out.end = liveness.start, liveness.end
        out.silences = list(liveness.silences)
    assert cov is not None
    for coll in cov.collectors:
        spans = cov.merged(coll)
        out.first.setdefault(coll, spans[0][0])
        out.last[coll] = max(out.last.get(coll, spans[-1][1]), spans[-1][1])
    span = cov.span()
    if out.start is None and span is not None:
        out.start, out.end = span
    for g in gaps:
        assert g.end is not None
        known = (s.collector == g.collector and s.start <= g.start and g.end <= s.end for s in out.silences)
        if not any(known):
            out.silences.append(Silence(g.collector, g.start, g.end))
    out.silences.sort(key=lambda s: (s.start, s.collector))
    return out


def detect_events(
    view: TargetView,
    liveness: Liveness | None = None,
    *,
    detectors: Sequence[str] = DETECTORS,
    upstream: dict[str, Any] | None = None,
    outage: dict[str, Any] | None = None,
    origin: dict[str, Any] | None = None,
) -> DetectedEvents:
    """Run the chosen ``detectors`` over ``view``; ``upstream`` / ``outage`` / ``origin`` are
    keyword arguments for :func:`upstream_changes`, :func:`outage_changes`, :func:`origin_events`."""
    chosen = parse_detectors(list(detectors))
    found = DetectedEvents(view.target, chosen, liveness=liveness, notices=list(view.notices))
    events: list[_Event] = []
    transients: list[_Event] = []
    if "upstream" in chosen:
        found.upstream = upstream_changes(view, **(upstream or {}))
        events.extend(found.upstream.events)
        transients.extend(found.upstream.transients)
    if "outage" in chosen:
        found.outages = outage_changes(view, liveness, **(outage or {}))
        events.extend(found.outages.events)
        found.vantage_lost = list(found.outages.vantage_lost)
        transients.extend(found.outages.transients)
    if "origin" in chosen:
        found.origins = origin_events(view, **(origin or {}))
        events.extend(found.origins)
    found.events = sorted(events, key=lambda e: (e.onset, e.type))
    found.transients = sorted(transients, key=lambda e: (e.onset, e.type))
    return found


def events_of(
    target: Target | str | int,
    observations: Iterable[Observation],
    *,
    detectors: Sequence[str] = DETECTORS,
    quiet_after: float = DEFAULT_QUIET_AFTER,
    notices: Iterable[str] = (),
    **parameters: Any,
) -> DetectedEvents:
    """Replay ``observations`` for ``target`` (recording collector silences) and run the chosen
    detectors; ``parameters``: ``upstream=``, ``outage=``, ``origin=`` dicts as for
    :func:`detect_events`."""
    tracker = LivenessTracker(quiet_after)
    view = target_view(target, tracker.watch(observations), notices=notices)
    return detect_events(view, tracker.liveness(), detectors=detectors, **parameters)
