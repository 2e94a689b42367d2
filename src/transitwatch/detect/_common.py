"""JSON shapes the detectors share: the opening keys of an event that has an onset and an end,
and the flat per-event records for pandas."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from transitwatch.state.target import Target
from transitwatch.times import iso_local, iso_utc


class _HasToDict(Protocol):
    def to_dict(self, tz: str | None = None) -> dict[str, Any]: ...


def onset_end_fields(
    type: str, target: Target, onset: float, end: float | None, tz: str | None
) -> dict[str, Any]:
    """``{"type", "target", "onset", "end"}`` in that order, with ``onset_local`` (and
    ``end_local`` when there is an end) after each time when a zone ``tz`` is given."""
    out: dict[str, Any] = {"type": type, "target": str(target), "onset": iso_utc(onset)}
    if tz:
        out["onset_local"] = iso_local(onset, tz)
    out["end"] = iso_utc(end) if end is not None else None
    if tz and end is not None:
        out["end_local"] = iso_local(end, tz)
    return out


def flat_event_records(events: Iterable[_HasToDict], tz: str | None = None) -> list[dict[str, Any]]:
    """One flat dict per event, its ``to_dict(tz)`` without ``evidence`` and ``peer_list``."""
    return [{k: v for k, v in e.to_dict(tz).items() if k not in ("evidence", "peer_list")}
            for e in events]
