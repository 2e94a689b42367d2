"""AS hegemony: how much a target depends on each AS its routes cross (Fontugne et al., 2018).

>>> hegemony_at(view, at)                                                        # doctest: +SKIP
[HegemonyScore(asn=4837, score=1.0, peers=5), ...]

"AS Hegemony: a robust metric for AS centrality" (Fontugne, Shah, Aben; SIGCOMM CCR 2018), the
metric the Internet Health Report publishes as "AS dependency":

1. For every vantage point (a peer of a collector), take its routes to the target at time ``T``.
   The target's routes are the paths to its own address space: for an AS, the prefixes it
   originates; for a prefix or a country, the prefixes inside it.
2. For every AS on those paths, the vantage point's score is the share of its target routes that
   cross the AS -- each route counting once (an AS), or by the addresses it covers (a country
   or a set of prefixes, as IHR weights country dependency by address space).
3. The hegemony of the AS is the mean of those scores over the vantage points, after dropping
   10 % at each end (a trimmed mean: one odd vantage point does not make or hide a dependency).
   A vantage point never scores its own AS (it trivially crosses it: IHR removes that bias), and
   the target's own ASes are not listed (they trivially score 1).

A score of 1.0 means every vantage point reaches the target only through that AS.
"""

from __future__ import annotations

import ipaddress
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from transitwatch.state.aspath import ASPathError, parse_as_path, parsed_origin
from transitwatch.state.table import PeerKey
from transitwatch.state.view import RouteSpan, TargetView

__all__ = ["HegemonyScore", "TRIM", "hegemony_at", "target_routes_at", "trimmed_mean", "route_weight"]

#: The share dropped at each end of the sorted vantage-point scores (IHR's value).
TRIM = 0.1


@dataclass(frozen=True, slots=True)
class HegemonyScore:
    """The hegemony ``score`` of ``asn`` for the target; ``peers`` the vantage points that scored
    it (all those seeing the target, minus those inside the AS itself)."""

    asn: int
    score: float
    peers: int


def trimmed_mean(values: list[float], trim: float = TRIM) -> float:
    """The mean after dropping ``floor(n * trim)`` values at each end of the sorted list."""
    if not values:
        return 0.0
    ordered = sorted(values)
    cut = int(math.floor(len(ordered) * trim + 1e-9))
    kept = ordered[cut:len(ordered) - cut] if len(ordered) > 2 * cut else ordered
    return sum(kept) / len(kept)


def route_weight(prefix: str, by_addresses: bool) -> float:
    """1 per route, or the number of addresses of the prefix (IPv6 in /64s, so that a country's
    IPv6 routes do not drown its IPv4 ones)."""
    if not by_addresses:
        return 1.0
    try:
        net = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return 0.0
    if net.version == 4:
        return float(net.num_addresses)
    return float(2 ** max(0, 64 - net.prefixlen))


def target_routes_at(view: TargetView, at: float, *, own_space: bool = True) -> list[RouteSpan]:
    """The spans held at ``at`` that lead to the target's own address space: for an AS target the
    routes it originates (``own_space=False``: every route crossing it); for prefix and country
    targets every span of the view (they are selected by prefix). Only spans known then
    (:meth:`TargetView.known_at`: their collector's data covers ``at`` and carries them there), as
    ``upstreams`` counts them: a route last seen before a long gap is unknown, not present."""
    target = view.target
    out: list[RouteSpan] = []
    for span in view.spans:
        if not span.active_at(at) or not view.known_at(span, at):
            continue
        if own_space and target.asns and not target.selects_prefix(span.prefix):
            origin = parsed_origin(span.path)
            if origin is None or origin not in target.asns:
                continue
        out.append(span)
    return out


def hegemony_at(
    view: TargetView,
    at: float,
    *,
    by_addresses: bool | None = None,
    trim: float = TRIM,
    routes: list[RouteSpan] | None = None,
    include_target: bool = False,
) -> tuple[list[HegemonyScore], int]:
    """The hegemony of every AS on the target's routes at ``at``, highest first, and the number
    of vantage points that saw the target. ``by_addresses`` defaults to True for targets without
    ASNs (countries, prefixes). ``routes`` overrides :func:`target_routes_at`."""
    target = view.target
    weighted = (not target.asns) if by_addresses is None else by_addresses
    spans = routes if routes is not None else target_routes_at(view, at)
    per_peer: dict[PeerKey, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    totals: dict[PeerKey, float] = defaultdict(float)
    for span in spans:
        try:
            path = parse_as_path(span.path)
        except ASPathError:
            continue
        w = route_weight(span.prefix, weighted)
        if w <= 0:
            continue
        totals[span.peer] += w
        scores = per_peer[span.peer]
        for asn in path.asns:
            scores[asn] += w
    peers = [p for p in totals if totals[p] > 0]
    candidates = {a for p in peers for a in per_peer[p]}
    out: list[HegemonyScore] = []
    for asn in candidates:
        if not include_target and asn in target.asns:
            continue
        values = [per_peer[p].get(asn, 0.0) / totals[p] for p in peers if p.asn != asn]
        if not values:
            continue
        score = trimmed_mean(values, trim)
        if score > 0:
            out.append(HegemonyScore(asn, min(1.0, score), len(values)))
    out.sort(key=lambda s: (-s.score, s.asn))
    return out, len(peers)


def hegemony_series(
    view: TargetView, times: list[float], **kwargs: object
) -> list[tuple[float, list[HegemonyScore], int]]:
    """:func:`hegemony_at` at each of ``times``."""
    return [(t, *hegemony_at(view, t, **kwargs)) for t in times]  # type: ignore[arg-type]


NameOf = Callable[[int], str | None]
