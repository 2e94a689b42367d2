"""What if ASes fail: which of a target's prefixes stay reachable, and through whom.

Two models, named in every answer:

``observed``
    A prefix survives when some vantage point holds, at ``T``, a route to it whose path avoids
    every failed AS. It only knows the routes the vantage points chose (their best paths): a
    backup link nobody prefers is invisible, so it errs towards "cut off" -- exactly what the
    reports of 2017 said of North Korea before 09:08 UTC.
``valley-free``
    A prefix survives when, over the AS relationship graph with the failed ASes removed, some
    vantage point's AS has a policy-compliant path to the prefix's origin: up through providers
    (and siblings), across at most one peering, then down through customers (Gao-Rexford). It
    sees backup links the relationships know about, whether in use or not.

``via`` names the target's neighbours that the surviving paths go through (the upstream hop of
each surviving observed route; in the valley-free model, the origin's neighbours from which a
vantage point is reached). ``reachable_share`` is by addresses, IPv4 and IPv6 apart.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from transitwatch.registry.relationships import Relationships
from transitwatch.state.aspath import ASPathError, parse_as_path, parsed_origin
from transitwatch.state.view import RouteSpan

__all__ = [
    "asns_on", "spof_asns",
    "MODELS", "PrefixFate", "Outcome", "address_share", "observed_outcome", "valley_free_outcome",
    "reach_from",
]

MODELS = ("observed", "valley-free")


@dataclass
class PrefixFate:
    """One target prefix under the failure: ``reachable``, ``via`` whom, seen by how many
    ``peers`` (vantage points) after the failure (``peers_before``: before it)."""

    prefix: str
    reachable: bool
    via: list[int]
    peers: int
    peers_before: int
    origin: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "reachable": self.reachable, "via": self.via,
                "peers": self.peers, "peers_before": self.peers_before, "origin": self.origin}


@dataclass
class Outcome:
    """Every target prefix's fate, and the reachable share of the address space per family."""

    prefixes: list[PrefixFate] = field(default_factory=list)
    share: dict[str, float] = field(default_factory=dict)   # "ipv4"/"ipv6" -> reachable share

    @property
    def reachable_share(self) -> float:
        """IPv4's share when the target has IPv4 space, else IPv6's (0.0 when it has none)."""
        if "ipv4" in self.share:
            return self.share["ipv4"]
        return self.share.get("ipv6", 0.0)


def _net(prefix: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return None


def _union(nets: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> int:
    total = 0
    end = -1
    for lo, hi in sorted((int(n.network_address), int(n.broadcast_address)) for n in nets):
        if lo > end:
            total += hi - lo + 1
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return total


def address_share(fates: list[PrefixFate]) -> dict[str, float]:
    """Reachable addresses over all addresses of the prefixes, per family present."""
    out: dict[str, float] = {}
    for version, name in ((4, "ipv4"), (6, "ipv6")):
        nets = [(f, n) for f in fates if (n := _net(f.prefix)) is not None and n.version == version]
        if not nets:
            continue
        total = _union(n for _, n in nets)
        kept = _union(n for f, n in nets if f.reachable)
        out[name] = kept / total if total else 0.0
    return out


def _avoids(path: str, failed: frozenset[int]) -> bool:
    try:
        hops = parse_as_path(path).hops
    except ASPathError:
        return False
    for hop in hops:
        if isinstance(hop, int):
            if hop in failed:
                return False
        elif hop & failed:   # an AS_SET that may contain a failed AS: cannot be trusted
            return False
    return True


def observed_outcome(routes: list[RouteSpan], failed: frozenset[int]) -> Outcome:
    """The observed model over the target ``routes`` held at the moment asked about."""
    by_prefix: dict[str, list[RouteSpan]] = defaultdict(list)
    for span in routes:
        by_prefix[span.prefix].append(span)
    fates: list[PrefixFate] = []
    for prefix, spans in by_prefix.items():
        alive = [s for s in spans if _avoids(s.path, failed)]
        via = sorted({s.upstream for s in alive if isinstance(s.upstream, int)})
        origin = next((o for s in spans if (o := parsed_origin(s.path)) is not None), None)
        fates.append(PrefixFate(prefix, bool(alive), via, len({s.peer for s in alive}),
                                len({s.peer for s in spans}), origin))
    fates.sort(key=lambda f: _sort_key(f.prefix))
    return Outcome(fates, address_share(fates))


def reach_from(rels: Relationships, start: int, failed: frozenset[int], *, climb: bool = True) -> set[int]:
    """The ASes that can receive a route announced by ``start`` along valley-free paths avoiding
    ``failed``: ``start``'s providers (and siblings) up to the top, their peers, then everything
    below by provider-to-customer links. ``climb=False``: a route ``start`` got from a customer
    only... no: a route it may only pass down (learnt from a provider or peer)."""
    if start in failed:
        return set()
    up = {start}
    if climb:
        todo = [start]
        while todo:
            a = todo.pop()
            for b in (*rels.providers.get(a, ()), *rels.siblings.get(a, ())):
                if b not in up and b not in failed:
                    up.add(b)
                    todo.append(b)
        tops = set(up)
        for a in up:
            tops.update(b for b in rels.peers.get(a, ()) if b not in failed)
    else:
        tops = up
    reached = set(tops)
    todo = list(tops)
    while todo:
        a = todo.pop()
        for b in rels.customers.get(a, ()):
            if b not in reached and b not in failed:
                reached.add(b)
                todo.append(b)
    return reached


def valley_free_outcome(
    routes: list[RouteSpan], failed: frozenset[int], rels: Relationships, target_asns: frozenset[int],
    announced_via: dict[str, set[int]] | None = None,
) -> Outcome:
    """The valley-free model: a prefix of the target ``routes`` survives when a vantage point's AS
    (of those that saw the target) is reached from the prefix's origin avoiding ``failed``.

    ``announced_via`` (prefix -> the origin's neighbours seen carrying it, up to the moment):
    export is per prefix (North Korea announced only three of its four /24s to TransTelecom), so
    a neighbour seen carrying some of the origin's prefixes but never this one does not count
    for it. Neighbours never seen carrying any are judged by the relationships alone."""
    seen_carrying: set[int] = set()
    for ups in (announced_via or {}).values():
        seen_carrying |= ups
    by_prefix: dict[str, list[RouteSpan]] = defaultdict(list)
    for span in routes:
        by_prefix[span.prefix].append(span)
    peers_by_as: dict[int, set[Any]] = defaultdict(set)
    for span in routes:
        peers_by_as[span.peer.asn].add(span.peer)
    cache: dict[tuple[int, frozenset[int]], tuple[list[int], set[int]]] = {}

    def fate_of(origin: int, excluded: frozenset[int]) -> tuple[list[int], set[int]]:
        if (origin, excluded) in cache:
            return cache[(origin, excluded)]
        via: list[int] = []
        seen_vps: set[int] = set()
        if origin not in failed:
            group = rels.customer_cone(origin) & target_asns if origin in target_asns else {origin}
            neighbours: dict[int, bool] = {}
            for a in group | {origin}:
                for b in rels.providers.get(a, ()):
                    neighbours[b] = True
                for b in (*rels.peers.get(a, ()), *rels.customers.get(a, ())):
                    neighbours.setdefault(b, False)
            neighbours = {b: c for b, c in neighbours.items() if b not in group}
            vps = set(peers_by_as)
            # A vantage point inside the target sees it directly.
            seen_vps |= {v for v in vps if v in group and v not in failed}
            for b, climb in sorted(neighbours.items()):
                if b in failed or b in excluded:
                    continue
                hit = reach_from(rels, b, failed, climb=climb) & vps
                if hit:
                    via.append(b)
                    seen_vps |= hit
        cache[(origin, excluded)] = (via, seen_vps)
        return via, seen_vps

    fates: list[PrefixFate] = []
    for prefix, spans in by_prefix.items():
        origin = next((o for s in spans if (o := parsed_origin(s.path)) is not None), None)
        before = len({s.peer for s in spans})
        if origin is None:
            fates.append(PrefixFate(prefix, False, [], 0, before, None))
            continue
        carried = (announced_via or {}).get(prefix, set())
        via, seen = fate_of(origin, frozenset(seen_carrying - carried))
        peers = len({p for v in seen for p in peers_by_as[v]})
        fates.append(PrefixFate(prefix, bool(via) or bool(seen), via, peers, before, origin))
    fates.sort(key=lambda f: _sort_key(f.prefix))
    return Outcome(fates, address_share(fates))


def _sort_key(prefix: str) -> tuple[int, int, int]:
    net = _net(prefix)
    if net is None:
        return (9, 0, 0)
    return (net.version, int(net.network_address), net.prefixlen)


def asns_on(spans: Iterable[RouteSpan]) -> set[int]:
    """Every AS on the paths of ``spans`` (unparsable paths skipped): the failure candidates."""
    out: set[int] = set()
    for span in spans:
        try:
            out |= parse_as_path(span.path).asns
        except ASPathError:
            continue
    return out


def spof_asns(routes: list[RouteSpan], target_asns: frozenset[int]) -> list[int]:
    """Under the observed model, every AS on ``routes`` (the target's own excluded) whose failure
    alone leaves less than half of the address space reachable."""
    return [a for a in sorted(asns_on(routes) - target_asns)
            if observed_outcome(routes, frozenset({a})).reachable_share < 0.5]
