"""Every detector's events for a target's view, as the API pages them: the ``events --json``
shape, with ``vantage_lost`` entries in the one ``events`` list too (the dashboard draws and lists
every type together), filtered by type and onset window."""

from __future__ import annotations

from typing import Any

from transitwatch.detect.events import DETECTORS, DetectedEvents, detect_events
from transitwatch.state.view import TargetView

__all__ = ["all_events", "events_page"]


def all_events(view: TargetView, min_peers: int, min_duration: float) -> DetectedEvents:
    """Every detector over ``view`` (upstream, outage, origin and more-specific)."""
    return detect_events(view, None, detectors=DETECTORS,
                         upstream={"min_peers": min_peers, "min_duration": min_duration},
                         outage={"min_duration": min_duration})


def events_page(found: DetectedEvents, types: set[str] | None, lo: float, hi: float, limit: int,
                offset: int, tz: str | None) -> tuple[dict[str, Any], int]:
    """(answer, total before paging): events of ``types`` (None: all) with onset in [lo, hi]."""
    chosen = [e for e in [*found.events, *found.vantage_lost]
              if lo <= e.onset <= hi and (types is None or e.type in types)]
    chosen.sort(key=lambda e: (e.onset, e.type))
    transients = [t for t in found.transients if lo <= t.onset <= hi and (types is None or t.type in types)]
    out = {
        "target": str(found.target),
        "detectors": list(found.detectors),
        "types": sorted({e.type for e in chosen}),
        "events": [e.to_dict(tz) for e in chosen[offset:offset + limit]],
        "transients": [t.to_dict(tz) for t in transients[:1000]],
        "notices": found.notices,
    }
    return out, len(chosen)
