"""Upstreams that mean what users think: the target's own address space, and what each upstream is.

A network engineer reads "upstream" as provider. Two things make the answer true for every AS,
not only for stub networks:

* *Own address space* (:func:`own_space`). For an AS target, only routes to the prefixes it
  originates and to those of its customer cone count: in ``... 45896 4837 4134 4812`` AS4837 is
  transit for China Telecom's customer, and 45896 is not AS4837's upstream for that route.
  (``--transit`` keeps every route crossing the target, the old behaviour.)
* *Relationship* (:func:`relationship_of`): what the upstream is to the AS it hands the route to
  -- ``provider``, ``peer``, ``customer``, ``sibling`` or ``unknown`` -- from a CAIDA file or
  from relationships inferred from the same input; every answer names the source.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from transitwatch.registry.relationships import Relationships
from transitwatch.state.aspath import ASPathError, parse_as_path
from transitwatch.state.target import Target
from transitwatch.state.view import TargetView

__all__ = ["annotate_country", "annotate_events", "annotate_report", "cone_of", "own_space",
           "relationship_of"]


def cone_of(target: Target, rels: Relationships | None) -> set[int]:
    """The target's ASes and their customer cone (just the ASes when no relationships)."""
    cone = set(target.asns)
    if rels is not None:
        for asn in target.asns:
            cone |= rels.customer_cone(asn)
    return cone


def own_space(view: TargetView, rels: Relationships | None) -> TargetView:
    """``view`` with only the routes to the target's own address space: for an AS target the
    routes whose origin is the target or in its customer cone; prefix targets are unchanged."""
    target = view.target
    if not target.asns:
        return view
    cone = cone_of(target, rels)
    keep = []
    for span in view.spans:
        if target.networks and target.selects_prefix(span.prefix):
            keep.append(span)
            continue
        try:
            origin = parse_as_path(span.path).origin
        except ASPathError:
            continue
        if isinstance(origin, int) and origin in cone:
            keep.append(span)
    return replace(view, spans=keep)


def relationship_of(upstream: int, path: str, rels: Relationships | None,
                    target: Target | None = None) -> str:
    """What ``upstream`` is to the AS after it in ``path`` (the target AS it hands the route to, or
    for a country the first domestic AS): ``provider``, ``peer``, ``customer``, ``sibling`` or
    ``unknown``."""
    if rels is None:
        return "unknown"
    try:
        hops = parse_as_path(path).hops
    except ASPathError:
        return "unknown"
    for i in range(len(hops) - 1):
        if hops[i] == upstream:
            nxt = hops[i + 1]
            if isinstance(nxt, int):
                return rels.relationship(nxt, upstream)
    if target is not None:
        for asn in sorted(target.asns):
            found = rels.relationship(asn, upstream)
            if found != "unknown":
                return found
    return "unknown"


def annotate_report(report: Any, view: TargetView, rels: Relationships | None, info: dict[str, Any] | None,
                    scope: str | None = None) -> None:
    """Set each upstream's ``relationship`` in an :class:`~transitwatch.metrics.upstreams.
    UpstreamReport` (the most common answer over its routes in ``view``), and where it came from."""
    for up in report.upstreams:
        up.relationship = _most_common(
            relationship_of(up.asn, s.path, rels, view.target) for s in view.spans if s.upstream == up.asn
        ) if rels is not None else "unknown"
    report.relationships = info if info is not None else {"source": None}
    if scope is not None:
        report.scope = scope


def annotate_events(events: Iterable[Any], view: TargetView, rels: Relationships | None) -> None:
    """Set ``relationship`` on upstream events (``new_upstream``/``lost_upstream``)."""
    if rels is None:
        return
    for event in events:
        paths = [e.as_path for e in getattr(event, "evidence", ()) if getattr(e, "as_path", None)]
        if event.type == "lost_upstream":
            paths = [s.path for s in view.spans if s.upstream == event.upstream] or paths
        event.relationship = _most_common(
            relationship_of(event.upstream, p, rels, view.target) for p in paths)


def _most_common(values: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    known = {k: n for k, n in counts.items() if k != "unknown"}
    if not known:
        return "unknown"
    return max(sorted(known), key=lambda k: known[k])


def annotate_country(report: Any, rels: Relationships | None, info: dict[str, Any] | None) -> None:
    """Set each international upstream's ``relationship`` in a
    :class:`~transitwatch.metrics.country.CountryUpstreams`: what it is to the domestic AS it hands
    the routes to (the most common over its routes; ``unknown`` for a foreign origin)."""
    for up in report.upstreams:
        votes: dict[str, int] = {}
        if rels is not None:
            for nxt, n in up.handed_to.items():
                rel = rels.relationship(nxt, up.asn)
                votes[rel] = votes.get(rel, 0) + n
        known = {k: n for k, n in votes.items() if k != "unknown"}
        up.relationship = max(sorted(known), key=lambda k: known[k]) if known else "unknown"
    report.relationships = info if info is not None else {"source": None}
