"""New and lost international upstreams of a country: the AS-level detector on the country view.

>>> changes = country_changes("KP", read_files(paths), Registry())           # doctest: +SKIP
>>> country_changes_dict(changes, Registry(), "Asia/Pyongyang")["events"][0]   # doctest: +SKIP
{'type': 'new_upstream', 'target': 'KP', 'upstream': 20485, 'onset': '2017-10-01T09:08:00Z',
 ..., 'country': 'KP', 'upstream_name': 'TRANSTELECOM', 'upstream_country': 'RU'}

:func:`~transitwatch.metrics.country.country_view` gives the country's domestic routes over time
with each span's upstream set to the country's international upstream, so
:func:`~transitwatch.detect.upstream_change.upstream_changes` applies unchanged (same rules,
evidence and JSON shape as for an AS); this module adds the country code and the upstreams' names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from transitwatch.detect.upstream_change import (
    DEFAULT_MIN_DURATION,
    DEFAULT_MIN_PEERS,
    UpstreamChanges,
    upstream_changes,
)
from transitwatch.metrics.country import country_view
from transitwatch.observation import Observation
from transitwatch.registry import Registry

__all__ = ["country_changes", "country_changes_dict"]


def country_changes(
    country: str,
    observations: Iterable[Observation],
    registry: Registry,
    *,
    min_peers: int = DEFAULT_MIN_PEERS,
    min_duration: float = DEFAULT_MIN_DURATION,
    baseline: float = 0.0,
    notices: Iterable[str] = (),
) -> UpstreamChanges:
    """Replay ``observations`` and detect the country's new and lost international upstreams.
    The result's ``target`` is labelled with the country code."""
    view = country_view(country, observations, registry, notices=notices)
    return upstream_changes(view, min_peers=min_peers, min_duration=min_duration, baseline=baseline)


def country_changes_dict(changes: UpstreamChanges, registry: Registry,
                         tz: str | None = None) -> dict[str, Any]:
    """``changes.to_dict(tz)`` plus ``"country"`` at the top and in every event and transient,
    and each upstream's ``upstream_name`` (AS-level sources only; ``upstream_name_hint`` from
    geolocation otherwise) / ``upstream_country`` from the registry, and ``registry``: which
    registry snapshot answered."""
    cc = changes.target.label
    out = changes.to_dict(tz)
    out["country"] = cc
    for item in [*out["events"], *out["transients"]]:
        info = registry.as_info(item["upstream"])
        item["country"] = cc
        item["upstream_name"] = info.name
        item["upstream_name_hint"] = info.name_hint
        item["upstream_country"] = info.country
    out["baseline_upstreams"] = [
        {"asn": asn, "name": registry.as_info(asn).name, "name_hint": registry.as_info(asn).name_hint,
         "country": registry.as_info(asn).country}
        for asn in changes.baseline
    ]
    snapshot = registry.snapshot
    out["registry"] = snapshot.to_dict() if snapshot is not None else None
    return out
