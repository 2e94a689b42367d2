"""Country-level upstreams: which foreign networks connect a country, and how concentrated that is.

A prefix is *domestic* when the registry puts it in the country (bundled geolocation by default,
RIR registration when asked; every prefix records which source placed it). An AS is domestic when
the registry gives it the country (RIR registration, else ``asn.txt``, else the country most of
its originated address space maps to). On each path towards a domestic prefix, the country's
*international upstream* is the first AS outside the country, walking from the origin towards the
peer: the hop before the run of domestic ASes at the end of the path, or the origin itself when
the origin is foreign (China Unicom's AS9929 originating a prefix that geolocates to North Korea
is then that prefix's upstream).

``share`` is the part of the country's address space (IPv4 when it has any, else IPv6) that is
reachable through an upstream: the union of the domestic prefixes it carries, divided by the
union of all domestic prefixes seen. Shares of different upstreams overlap when a prefix is
reachable through several. ``share_ipv4`` and ``share_ipv6`` give the same per address family
(IPv4 addresses; IPv6 counted in /48s), None when the country has no space of that family, so an
IPv6-only upstream is no longer 0%. ``countries_ranking`` orders countries by how much they hang
on one foreign network: ``dependence`` is the largest upstream share averaged over the families
the country has (IPv4 and IPv6 alike), then the Herfindahl index of the upstreams' shares, in the
spirit of CAIDA's Country-level Transit Influence.

Prefixes are placed in countries in bulk (one vectorised pass of the registry over every prefix
of the table, ``Registry.place_prefixes``), and the registry data used is the one nearest the
data's time (``Registry.use_time``): every result carries ``registry``, which snapshot that was
(date, source, distance, flagged beyond a year).

Everything here is a pure function of a :class:`~transitwatch.state.table.RoutingState` (a
snapshot) or of a :class:`~transitwatch.state.view.TargetView` (routes over time), plus a
:class:`~transitwatch.registry.Registry`.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transitwatch.observation import Observation
from transitwatch.registry import Registry, geo, normalise_country
from transitwatch.state import _table
from transitwatch.state.aspath import ASPathError, Hop, origin_of, parse_as_path
from transitwatch.state.snapshot import RouteSnapshot, origins_of_paths
from transitwatch.state.table import PeerKey, RouteChange, RouteKey, RoutingState, SessionChange
from transitwatch.state.target import Target
from transitwatch.state.view import RouteSpan, SessionEvent, TargetView

__all__ = [
    "CountriesRanking",
    "CountryConcentration",
    "CountryNetwork",
    "CountryPrefix",
    "CountryUpstream",
    "CountryUpstreams",
    "country_upstreams",
    "country_upstreams_from_view",
    "country_view",
    "countries_ranking",
    "countries_report",
    "country_upstream_of_path",
    "feed_origins",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# -- result types ---------------------------------------------------------------------------------
@dataclass
class CountryPrefix:
    """A domestic prefix, who originates it, and which registry source put it in the country."""

    prefix: str
    source: str
    origins: list[int]
    upstreams: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "source": self.source, "origins": self.origins,
                "upstreams": self.upstreams}


@dataclass
class CountryNetwork:
    """A domestic AS: one the registry places in the country and that appears on its routes."""

    asn: int
    name: str | None
    country_source: str | None
    prefixes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"asn": self.asn, "name": self.name, "country_source": self.country_source,
                "prefixes": self.prefixes}


@dataclass
class CountryUpstream:
    """One international upstream of a country: what it carries, and who sees it."""

    asn: int
    name: str | None
    country: str | None
    prefixes: list[str]
    addresses: int
    share: float
    peers: int
    peer_list: list[PeerKey] = field(default_factory=list)
    #: share of the country's IPv4 addresses / IPv6 /48s it carries (None: no such space)
    share_ipv4: float | None = None
    share_ipv6: float | None = None
    addresses_ipv4: int = 0
    ipv6_48s: float = 0.0
    name_source: str | None = None
    name_hint: str | None = None
    #: what it is to the domestic AS it hands the routes to (provider, peer, ... unknown), and
    #: those ASes with the number of routes (filled by transitwatch.metrics.relationship_view)
    relationship: str = "unknown"
    handed_to: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"asn": self.asn, "relationship": self.relationship, "name": self.name,
                "name_source": self.name_source,
                "name_hint": self.name_hint, "country": self.country,
                "prefixes": self.prefixes, "addresses": self.addresses,
                "share": round(self.share, 6), "share_ipv4": _round(self.share_ipv4),
                "share_ipv6": _round(self.share_ipv6), "addresses_ipv4": self.addresses_ipv4,
                "ipv6_48s": round(self.ipv6_48s, 6), "peers": self.peers,
                "peer_list": [p.to_dict() for p in self.peer_list]}


def _round(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None


@dataclass
class CountryUpstreams:
    """A country's networks, domestic prefixes and international upstreams at one moment."""

    country: str
    name: str | None
    timezone: str | None
    time: float | None
    addresses: int
    address_family: str
    prefixes: list[CountryPrefix]
    networks: list[CountryNetwork]
    upstreams: list[CountryUpstream]
    #: routes to domestic prefixes with no international upstream (a peer inside the country,
    #: or a foreign AS_SET hop), counted, not guessed at
    unattributed: int = 0
    addresses_ipv4: int = 0
    ipv6_48s: float = 0.0
    #: the registry data that answered (SnapshotChoice.to_dict(): date, source, flagged...)
    registry: dict[str, Any] | None = None
    #: where each upstream's relationship came from (None: not asked)
    relationships: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        from transitwatch.times import iso_utc

        out = {
            "country": self.country, "name": self.name, "timezone": self.timezone,
            "time": iso_utc(self.time) if self.time is not None else None,
            "addresses": self.addresses, "address_family": self.address_family,
            "addresses_ipv4": self.addresses_ipv4, "ipv6_48s": round(self.ipv6_48s, 6),
            "registry": self.registry,
            "upstreams": [u.to_dict() for u in self.upstreams],
            "networks": [n.to_dict() for n in self.networks],
            "prefixes": [p.to_dict() for p in self.prefixes],
            "unattributed_routes": self.unattributed,
        }
        if self.relationships is not None:
            out["relationships"] = self.relationships
        return out


@dataclass
class CountryConcentration:
    """How concentrated a country's international connectivity is (one row of the ranking)."""

    country: str
    name: str | None
    upstreams: int
    top_upstream: int | None
    top_name: str | None
    top_share: float
    hhi: float
    prefixes: int
    addresses: int
    address_family: str
    #: the largest upstream share per family (None: no such space) and their mean: the rank
    top_share_ipv4: float | None = None
    top_share_ipv6: float | None = None
    dependence: float = 0.0
    top_name_hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"country": self.country, "name": self.name, "upstreams": self.upstreams,
                "top_upstream": self.top_upstream, "top_name": self.top_name,
                "top_name_hint": self.top_name_hint,
                "top_share": round(self.top_share, 6), "top_share_ipv4": _round(self.top_share_ipv4),
                "top_share_ipv6": _round(self.top_share_ipv6), "dependence": round(self.dependence, 6),
                "hhi": round(self.hhi, 6), "prefixes": self.prefixes, "addresses": self.addresses,
                "address_family": self.address_family}


@dataclass
class CountriesRanking:
    """Every country's concentration at one moment, and the registry data that placed them."""

    rows: list[CountryConcentration]
    time: float | None
    registry: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        from transitwatch.times import iso_utc

        return {"time": iso_utc(self.time) if self.time is not None else None,
                "registry": self.registry, "countries": [r.to_dict() for r in self.rows]}


# -- building blocks ------------------------------------------------------------------------------
def feed_origins(registry: Registry, state: RoutingState) -> None:
    """Tell the registry which AS originates which prefix, from every route in ``state`` (AS
    countries and names that no registry file gives are derived from these)."""
    _TableIndex.of(state, registry, per_route=False)


class _TableIndex:
    """Every route of a state, indexed once: the distinct prefixes (parsed and placed by the
    registry in one bulk pass), each route's prefix id, and the (origin AS, prefix) pairs fed to
    the registry as arrays. One Python pass over the routes; the rest is numpy."""

    def __init__(self, state: RoutingState | RouteSnapshot, registry: Registry,
                 progress: Callable[[str], None] | None = None, *, per_route: bool = True,
                 wanted: str | None = None) -> None:
        """``per_route=False`` (one country's view) keeps only prefix ids and origins; the
        country's routes are then picked in a second pass (:meth:`routes_by_country`). A
        :class:`~transitwatch.state.snapshot.RouteSnapshot` is already arrays: no pass at all."""
        self.state = state
        if isinstance(state, RouteSnapshot):
            self._of_snapshot(state, registry, progress, wanted)
            return
        prefix_ids: dict[str, int] = {}
        origin_cache: dict[str, int] = {}  # paths repeat across prefixes; -1: no single origin
        path_ids: dict[str, int] = {}
        peers: list[PeerKey] = []
        tables: list[int] = []
        route_path: list[int] = []
        paths: list[str] = []
        pids: list[int] = []
        origins: list[int] = []
        sizes: list[int] = []  # routes per table, in the order of state.tables()
        # the hot loop of the country view: locals only
        add_pid, add_origin = pids.append, origins.append
        add_path, add_path_id = paths.append, route_path.append
        get_pid, get_origin = prefix_ids.get, origin_cache.get
        for number, table in enumerate(state.tables()):
            start = len(pids)
            for key, path in table.items():
                prefix = key if key.__class__ is str else key[0]
                pid = get_pid(prefix)
                if pid is None:
                    pid = prefix_ids[prefix] = len(prefix_ids)
                origin = get_origin(path)
                if origin is None:
                    found = origin_of(path)
                    origin = origin_cache[path] = found if found is not None else -1
                    path_ids[path] = len(path_ids)
                add_pid(pid)
                add_origin(origin)
                if per_route:
                    add_path(path)
                    add_path_id(path_ids[path])
            sizes.append(len(pids) - start)
            if per_route:
                peers.extend([table.peer] * (len(pids) - start))
                tables.extend([number] * (len(pids) - start))
        self.per_route = per_route
        self.table_sizes = sizes
        self.prefixes: Sequence[str] = list(prefix_ids)
        self.peers, self.paths = peers, paths
        self.distinct_paths = list(path_ids)
        self.pid = np.array(pids, dtype=np.int64)
        self.path_id = np.array(route_path, dtype=np.int64)
        self.peer_id = np.array(tables, dtype=np.int64)
        self.snapshot: RouteSnapshot | None = None
        self._place(registry, np.array(origins, dtype=np.int64), prefix_ids, progress)

    def _of_snapshot(self, snap: RouteSnapshot, registry: Registry,
                     progress: Callable[[str], None] | None, wanted: str | None = None) -> None:
        self.snapshot = snap
        self.per_route = True
        self.prefixes = snap.prefixes
        self.distinct_paths = snap.paths
        self.pid, self.path_id, self.peer_id = snap.pid, snap.path, snap.peer
        self.peers, self.paths, self.table_sizes = [], [], []
        path_origin = origins_of_paths(snap.paths)
        # IPv4 prefixes are numbers already: only the others are parsed
        n4 = snap.v4_keys.size
        parsed = geo.ipv4_arrays(snap.v4_keys >> 6, snap.v4_keys & 63)
        if n4 < len(snap.prefixes):
            parsed = geo.concat_arrays(parsed, geo.parse_prefixes(snap.prefixes[n4:]))
        self._place(registry, path_origin[snap.path], None, progress, parsed, wanted)

    def _place(self, registry: Registry, origin_arr: np.ndarray, prefix_ids: dict[str, int] | None,
               progress: Callable[[str], None] | None, parsed: geo.PrefixArrays | None = None,
               wanted: str | None = None) -> None:
        if progress is not None:
            progress(f"placing {len(self.prefixes):,} prefixes in countries")
        self.parsed = parsed if parsed is not None else geo.parse_prefixes(self.prefixes)
        has = origin_arr >= 0
        if wanted is not None and registry.use_geo and not registry.rir:
            # One country, placed by geolocation alone: only the prefixes that overlap its blocks
            # can be placed in it; the others stay unplaced here (None) and the registry places
            # an AS's own prefixes when its country is asked.
            candidates = geo.overlapping(self.parsed, wanted)
            rows = candidates.tolist()
            sub = geo.PrefixArrays(*(getattr(self.parsed, f)[candidates]
                                     for f in ("version", "length", "first", "last")))
            placed, sources = registry.place_prefixes((), sub)  # (placed from `sub`: no texts read)
            countries: list[str | None] = [None] * len(self.prefixes)
            placed_by: list[str | None] = [None] * len(self.prefixes)
            for i, cc, source in zip(rows, placed, sources, strict=True):
                countries[i], placed_by[i] = cc, source
            self.countries, self.sources = countries, placed_by
            self.candidates: list[int] | None = rows
            self.country_codes: tuple[np.ndarray, list[str]] | None = None
            self.wanted = wanted
            registry.add_origin_ids(origin_arr[has], self.pid[has], self.prefixes, prefix_ids, self.parsed)
            return
        self.candidates = None
        self.countries, self.sources, self.country_codes = registry.place_prefixes_coded(
            self.prefixes, self.parsed)
        registry.add_origin_ids(origin_arr[has], self.pid[has], self.prefixes, prefix_ids,
                                self.parsed, self.countries, self.country_codes)

    @classmethod
    def of(cls, state: RoutingState | RouteSnapshot, registry: Registry,
           progress: Callable[[str], None] | None = None, *, per_route: bool = True,
           wanted: str | None = None) -> _TableIndex:
        """``wanted``: only that country's prefixes are needed (a snapshot's index then places
        only the prefixes that can be in it)."""
        return cls(state, registry, progress, per_route=per_route, wanted=wanted)

    def routes_by_country(self, wanted: str | None = None
                          ) -> tuple[dict[str, list[_Route]], dict[str, str | None]]:
        """Domestic routes per country (only ``wanted``'s when given) and what placed each."""
        countries, sources, prefixes = self.countries, self.sources, self.prefixes
        if self.candidates is not None:  # placed for one country only
            if wanted != self.wanted:
                raise ValueError(f"this index placed prefixes for {self.wanted} only")
            chosen = [i for i in self.candidates if countries[i] == wanted]
        else:
            placed = np.array(countries, dtype=object)
            chosen = np.flatnonzero(placed == wanted if wanted is not None else placed != None).tolist()  # noqa: E711
        placed_by = {prefixes[i]: sources[i] for i in chosen}
        by_country: dict[str, list[_Route]] = defaultdict(list)
        if self.snapshot is not None:
            snap = self.snapshot
            picked = np.array(chosen, dtype=np.int64)
            rows = np.nonzero(np.isin(self.pid, picked))[0] if picked.size else np.zeros(0, dtype=np.int64)
            for p, x, a in zip(self.peer_id[rows].tolist(), self.pid[rows].tolist(),
                               self.path_id[rows].tolist(), strict=True):
                by_country[countries[x]].append(  # type: ignore[index]
                    _Route(snap.peers[p], prefixes[x], snap.paths[a]))
            return by_country, placed_by
        if not self.per_route and not isinstance(self.state, RouteSnapshot):
            # The chosen prefixes' routes, found by position: the index walked the same tables in
            # the same order, so a route's row is its table's offset plus its place in the table
            # (only tables holding one are listed again; the order is the walk's order).
            picked = np.array(chosen, dtype=np.int64)
            rows = np.nonzero(np.isin(self.pid, picked))[0] if picked.size else np.zeros(0, dtype=np.int64)
            bounds = np.cumsum([0, *self.table_sizes])
            table_of = np.searchsorted(bounds, rows, side="right") - 1
            all_tables = self.state.tables()
            pid = self.pid
            for t in np.unique(table_of).tolist():
                table = all_tables[t]
                items = list(table.items())
                base = int(bounds[t])
                for row in rows[table_of == t].tolist():
                    key, path = items[row - base]
                    prefix = key if key.__class__ is str else key[0]
                    by_country[countries[int(pid[row])]].append(  # type: ignore[index]
                        _Route(table.peer, prefix, path))  # type: ignore[arg-type]
            return by_country, placed_by
        picked = np.array(chosen, dtype=np.int64)
        rows = np.nonzero(np.isin(self.pid, picked))[0] if picked.size else np.zeros(0, dtype=np.int64)
        peers, paths, pid = self.peers, self.paths, self.pid
        for row in rows.tolist():
            p = int(pid[row])
            by_country[countries[p]].append(_Route(peers[row], prefixes[p], paths[row]))  # type: ignore[index]
        return by_country, placed_by


def country_upstream_of_path(path: str, cc: str, registry: Registry) -> Hop | None:
    """The first AS outside ``cc`` on ``path``, walking from the origin towards the peer.

    None when every hop is domestic (the peer is inside the country). An AS_SET hop whose members
    are all domestic is walked through; otherwise it is returned as is.
    """
    try:
        hops = parse_as_path(path).hops
    except ASPathError:
        return None
    for hop in reversed(hops):
        members = hop if isinstance(hop, frozenset) else (hop,)
        if all(registry.as_country(asn) == cc for asn in members):
            continue
        return hop
    return None


def _network(prefix: str) -> Network | None:
    try:
        return ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1 << 20)
def _interval(prefix: str) -> tuple[int, int, int] | None:
    """(IP version, first address, last address) as ints, cached: every route is sorted and
    measured, and ipaddress objects are too slow for a full table."""
    address, _, length_text = prefix.partition("/")
    try:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        raw = int.from_bytes(socket.inet_pton(family, address), "big")
        bits = 128 if family == socket.AF_INET6 else 32
        length = int(length_text) if length_text else bits
    except (OSError, ValueError):
        return None
    if not 0 <= length <= bits:
        return None
    host = (1 << (bits - length)) - 1
    return (6 if bits == 128 else 4, raw & ~host, (raw & ~host) | host)


def _union_size(prefixes: Iterable[str], version: int) -> int:
    """Addresses covered by the prefixes of one IP version (overlaps counted once)."""
    spans = sorted(iv[1:] for iv in map(_interval, prefixes) if iv is not None and iv[0] == version)
    total, reach = 0, -1
    for first, last in spans:
        if last <= reach:
            continue
        total += last - max(first, reach + 1) + 1
        reach = last
    return total


def _family(prefixes: Iterable[str]) -> int:
    return 4 if any(":" not in p for p in prefixes) else 6


# -- one country at one moment --------------------------------------------------------------------
@dataclass
class _Route:
    peer: PeerKey
    prefix: str
    path: str


def _summarise(cc: str, routes: list[_Route], registry: Registry, time: float | None,
               *, detail: bool = True, sources: dict[str, str | None] | None = None) -> CountryUpstreams:
    """The country's upstreams from its routes; ``detail=False`` skips the per-prefix and
    per-network lists (the ranking needs only the upstreams). ``sources``: what placed each
    prefix, when the caller placed them in bulk."""
    zone = registry.timezone_of(cc)
    prefix_source: dict[str, str] = {}
    origins: dict[str, set[int]] = defaultdict(set)
    carried: dict[int, set[str]] = defaultdict(set)
    seen_by: dict[int, set[PeerKey]] = defaultdict(set)
    prefix_ups: dict[str, set[int]] = defaultdict(set)
    domestic_asns: dict[int, set[str]] = defaultdict(set)
    unattributed = 0
    # Paths repeat across prefixes and peers: walk each distinct path once.
    walked: dict[str, tuple[tuple[int, ...], Hop | None, int | None]] = {}
    handed: dict[int, dict[int, int]] = defaultdict(dict)
    for route in routes:
        if route.prefix not in prefix_source:
            placed = sources.get(route.prefix) if sources is not None else None
            prefix_source[route.prefix] = placed or registry.country_of_prefix(route.prefix)[1] or "?"
        if detail:
            origin = origin_of(route.path)
            if origin is not None:
                origins[route.prefix].add(origin)
        known = walked.get(route.path)
        if known is None:
            try:
                hops = parse_as_path(route.path).hops
            except ASPathError:
                hops = ()
            inside = tuple(h for h in hops if isinstance(h, int) and registry.as_country(h) == cc) \
                if detail else ()
            up = country_upstream_of_path(route.path, cc, registry) if hops else None
            nxt: int | None = None
            if isinstance(up, int) and up in hops:
                i = hops.index(up)
                after = hops[i + 1] if i + 1 < len(hops) else None
                nxt = after if isinstance(after, int) else None
            known = (inside, up, nxt)
            walked[route.path] = known
        inside, up, nxt = known
        for asn in inside:
            domestic_asns[asn].add(route.prefix)
        if not isinstance(up, int):
            unattributed += 1
            continue
        carried[up].add(route.prefix)
        seen_by[up].add(route.peer)
        if nxt is not None:
            handed[up][nxt] = handed[up].get(nxt, 0) + 1
        prefix_ups[route.prefix].add(up)
    family = _family(prefix_source)
    total4 = _union_size(prefix_source, 4)
    total6 = _union_size(prefix_source, 6)
    total = total4 if family == 4 else total6
    # A large country (US: ~200k prefixes in ~30k networks' lists): every prefix's sort key once.
    order = {p: i for i, p in enumerate(sorted(prefix_source, key=_sort_key))}
    by_address = order.__getitem__
    # ... and the name hints of its upstreams and networks in one bulk pass, not one per AS.
    registry.prefetch_hints([*carried, *domestic_asns] if detail else carried)
    upstreams = []
    for asn, prefixes in carried.items():
        info = registry.as_info(asn)
        size4 = _union_size(prefixes, 4) if total4 else 0
        size6 = _union_size(prefixes, 6) if total6 else 0
        size = size4 if family == 4 else size6
        upstreams.append(CountryUpstream(
            asn=asn, name=info.name, country=info.country,
            prefixes=sorted(prefixes, key=by_address) if detail else [],
            addresses=size, share=size / total if total else 0.0, peers=len(seen_by[asn]),
            peer_list=sorted(seen_by[asn]),
            share_ipv4=size4 / total4 if total4 else None,
            share_ipv6=size6 / total6 if total6 else None,
            addresses_ipv4=size4, ipv6_48s=size6 / _V6_48,
            name_source=info.name_source, name_hint=info.name_hint, handed_to=dict(handed.get(asn, {})),
        ))
    upstreams.sort(key=lambda u: (-u.share, -u.peers, u.asn))
    networks = []
    for asn, prefixes in sorted(domestic_asns.items()):
        info = registry.as_info(asn)
        networks.append(CountryNetwork(asn, info.name, info.country_source, sorted(prefixes, key=by_address)))
    domestic = [
        CountryPrefix(p, prefix_source[p], sorted(origins[p]), sorted(prefix_ups[p]))
        for p in order
    ] if detail else []
    snapshot = registry.snapshot
    return CountryUpstreams(
        country=cc, name=registry.country_name(cc), timezone=str(zone) if zone else None, time=time,
        addresses=total, address_family=f"ipv{family}", prefixes=domestic, networks=networks,
        upstreams=upstreams, unattributed=unattributed, addresses_ipv4=total4,
        ipv6_48s=total6 / _V6_48, registry=snapshot.to_dict() if snapshot is not None else None,
    )


#: addresses in an IPv6 /48 (IPv6 space is counted in /48s)
_V6_48 = float(1 << 80)


def _sort_key(prefix: str) -> tuple[int, int, int]:
    iv = _interval(prefix)
    if iv is None:
        return (9, 0, 0)
    return (iv[0], iv[1], -iv[2])  # by address, shorter prefix (larger last address) first


def country_upstreams(state: RoutingState | RouteSnapshot, country: str,
                      registry: Registry) -> CountryUpstreams:
    """The country's networks and international upstreams in ``state`` (its routes at the time
    it was replayed to), with the registry data nearest that time. Raises
    :class:`~transitwatch.registry.UnknownCountryError` for a code that is not ISO 3166."""
    cc = normalise_country(country)
    with registry.pinned(state.time):
        index = _TableIndex.of(state, registry, per_route=False, wanted=cc)
        by_country, sources = index.routes_by_country(cc)
        return _summarise(cc, by_country.get(cc, []), registry, state.time, sources=sources)


def countries_ranking(state: RoutingState | RouteSnapshot, registry: Registry,
                      progress: Callable[[str], None] | None = None) -> list[CountryConcentration]:
    """Every country seen in ``state``, most dependent on a single foreign network first (the
    rows of :func:`countries_report`)."""
    return countries_report(state, registry, progress).rows


def countries_report(state: RoutingState | RouteSnapshot, registry: Registry,
                     progress: Callable[[str], None] | None = None) -> CountriesRanking:
    """Every country seen in ``state``, most dependent on a single foreign network first
    (``dependence``: the top upstream's share, averaged over the IPv4 and IPv6 space the country
    has), with the registry data nearest the state's time. Computed over arrays: one upstream
    walk per distinct (path, country), unions of address space per group in numpy."""
    with registry.pinned(state.time) as snapshot:
        index = _TableIndex.of(state, registry, progress)
        if progress is not None:
            progress("ranking countries")
        rows = _ranking_rows(index, registry)
    rows.sort(key=_rank_key)
    return CountriesRanking(rows, state.time, snapshot.to_dict())


def _rank_key(r: CountryConcentration) -> tuple[bool, float, float, int, str]:
    return (r.upstreams == 0, -r.dependence, -r.hhi, r.upstreams, r.country)


@dataclass
class _UpShares:
    asn: int
    share: float
    share_ipv4: float | None
    share_ipv6: float | None
    peers: int


def _weighted_top(ups: list[_UpShares], total4: int, total6: int
                  ) -> tuple[list[str], dict[int, float], _UpShares | None]:
    """The families the country has, each upstream's weight (its share averaged over them) and
    the top upstream (largest weight, then share, peers, lowest ASN)."""
    families = [f for f, total in (("v4", total4), ("v6", total6)) if total]
    # each family's share (None: 0), averaged over the families (sum(shares) / len(shares), the
    # same floats: 0 + a + b, 0 + a), per family pair without a call per upstream
    if len(families) == 2:
        weights = {u.asn: ((u.share_ipv4 or 0.0) + (u.share_ipv6 or 0.0)) / 2 for u in ups}
    elif families == ["v4"]:
        weights = {u.asn: u.share_ipv4 or 0.0 for u in ups}
    elif families == ["v6"]:
        weights = {u.asn: u.share_ipv6 or 0.0 for u in ups}
    else:
        weights = {u.asn: 0.0 for u in ups}
    top = max(ups, key=lambda u: (weights[u.asn], u.share, u.peers, -u.asn)) if ups else None
    return families, weights, top


def _concentration(cc: str, registry: Registry, ups: list[_UpShares], *, prefixes: int, addresses: int,
                   family: int, total4: int, total6: int,
                   weighted: tuple[list[str], dict[int, float], _UpShares | None] | None = None
                   ) -> CountryConcentration:
    """One ranking row from the country's upstreams' shares (the slow and fast paths share it;
    ``weighted``: :func:`_weighted_top` of the same arguments, when already computed)."""
    families, weights, top = weighted if weighted is not None else _weighted_top(ups, total4, total6)
    total_weight = sum(weights.values())
    hhi = sum((w / total_weight) ** 2 for w in weights.values()) if total_weight else 0.0
    tops = {f: max(((u.share_ipv4 if f == "v4" else u.share_ipv6) or 0.0 for u in ups), default=0.0)
            for f in families}
    info = registry.as_info(top.asn) if top else None
    return CountryConcentration(
        country=cc, name=registry.country_name(cc), upstreams=len(ups),
        top_upstream=top.asn if top else None, top_name=info.name if info else None,
        top_share=top.share if top else 0.0, hhi=hhi, prefixes=prefixes,
        addresses=addresses, address_family=f"ipv{family}",
        top_share_ipv4=tops.get("v4"), top_share_ipv6=tops.get("v6"),
        dependence=sum(tops.values()) / len(tops) if tops else 0.0,
        top_name_hint=info.name_hint if info else None,
    )


def _ranking_by_summaries(state: RoutingState, registry: Registry) -> list[CountryConcentration]:
    """The ranking route by route through :func:`_summarise` (the reference the array path is
    tested against)."""
    registry.use_time(state.time)
    by_country, sources = _TableIndex.of(state, registry).routes_by_country()
    rows = []
    for cc, routes in by_country.items():
        summary = _summarise(cc, routes, registry, state.time, detail=False, sources=sources)
        ups = [_UpShares(u.asn, u.share, u.share_ipv4, u.share_ipv6, u.peers) for u in summary.upstreams]
        rows.append(_concentration(cc, registry, ups, prefixes=len({r.prefix for r in routes}),
                                   addresses=summary.addresses, family=int(summary.address_family[-1]),
                                   total4=summary.addresses_ipv4, total6=int(summary.ipv6_48s * _V6_48)))
    rows.sort(key=_rank_key)
    return rows


def _lexsort(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """``np.lexsort(keys)`` (the last key primary, stable), as one stable argsort of the keys
    packed into one integer when they are non-negative and fit in 63 bits together: the same
    permutation, 3-5x faster on a full table's rows."""
    if not keys or not keys[0].size:
        return np.lexsort(keys)
    widths = []
    for k in keys:
        if k.dtype.kind not in "iu" or (k.dtype.kind == "i" and int(k.min()) < 0):
            return np.lexsort(keys)
        widths.append(max(int(k.max()).bit_length(), 1))
    if sum(widths) > 63:
        return np.lexsort(keys)
    packed = np.zeros(keys[0].size, dtype=np.int64)
    shift = 0
    for k, w in zip(keys, widths, strict=True):  # the first key is the least significant
        packed |= k.astype(np.int64) << shift
        shift += w
    return np.argsort(packed, kind="stable")


def _stable_argsort(keys: np.ndarray, bits: int) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` of non-negative int64 ``keys`` below ``2**bits``:
    one plain sort of each key with its position in the low bits (equal keys stay in position
    order: the same permutation), ~40% cheaper than numpy's stable argsort on 577k shuffled
    rows (numpy's stable sort wins where keys come in long ordered runs: :func:`_lexsort`'s).
    Keys already in order are left to the stable sort (its run detection is ~free)."""
    n = keys.size
    low = max((n - 1).bit_length(), 1)
    if n < 2 or bits + low > 63 or bool((keys[1:] >= keys[:-1]).all()):
        return np.argsort(keys, kind="stable")
    mixed = (keys << low) | np.arange(n, dtype=np.int64)
    mixed.sort()
    return mixed & ((1 << low) - 1)


def _unique_inverse(keys: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` of non-negative int64 ``keys`` below
    ``2**bits``, through :func:`_stable_argsort` (numpy's own sorts with a stable argsort)."""
    if not keys.size:
        return np.unique(keys, return_inverse=True)
    order = _stable_argsort(keys, bits)
    ordered = keys[order]
    new = np.empty(ordered.size, dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    inverse = np.empty(keys.size, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse


def _pair_codes(path: np.ndarray, cc: np.ndarray, paths: int, ncodes: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(path * ncodes + cc, return_inverse=True)`` for non-negative ``path`` below
    ``paths`` and ``cc`` below ``ncodes``, with no sort of the rows. Most paths carry prefixes of
    one country (on the 2015 table 5,681 of 76,814 carry more): their pair is the path's lowest
    (= highest) country; the others' pairs are marked in a (path, country) grid."""
    if not path.size:
        return np.unique(path * ncodes + cc, return_inverse=True)
    lo = np.full(paths, ncodes, dtype=np.int64)
    hi = np.full(paths, -1, dtype=np.int64)
    np.minimum.at(lo, path, cc)
    np.maximum.at(hi, path, cc)
    several = hi > lo
    single = np.flatnonzero(hi == lo)  # paths seen, with one country
    multi = np.flatnonzero(several)  # paths with several (ascending)
    mixed = several[path]  # the rows on those
    if multi.size * ncodes <= 1 << 24:
        slot = np.zeros(paths, dtype=np.int64)
        slot[multi] = np.arange(multi.size)
        cell = slot[path[mixed]] * ncodes + cc[mixed]
        grid = np.zeros(multi.size * ncodes, dtype=bool)
        grid[cell] = True
        cells = np.flatnonzero(grid)  # in (path, country) order: the pairs' order
        mixed_uniq = multi[cells // ncodes] * ncodes + cells % ncodes
        mixed_inverse = (np.cumsum(grid) - 1)[cell]
    else:
        combo = path[mixed] * ncodes + cc[mixed]
        mixed_uniq, mixed_inverse = _unique_inverse(combo, max(int(combo.max()).bit_length(), 1))
    single_pairs = single * ncodes + lo[single]
    # two sorted runs of distinct pairs (different paths): the stable sort merges them
    uniq = np.sort(np.concatenate([single_pairs, mixed_uniq]), kind="stable")
    at_path = np.zeros(paths, dtype=np.int64)
    at_path[single] = np.searchsorted(uniq, single_pairs)
    inverse = at_path[path]
    inverse[mixed] = np.searchsorted(uniq, mixed_uniq)[mixed_inverse]
    return uniq, inverse


def _by_country(pids: np.ndarray, pcc: np.ndarray, ncodes: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``pids`` and their countries (``pcc[pid]``), by (country, pid): what a
    lexsort of the (country, pid) pairs and a group pass give, with no sort of the routes."""
    seen = np.zeros(pcc.size, dtype=bool)
    seen[pids] = True
    dom_pid = np.flatnonzero(seen)
    dom_cc = pcc[dom_pid]
    small = dom_cc.astype(np.int16) if ncodes < 1 << 15 else dom_cc  # (a radix sort for int16)
    order = np.argsort(small, kind="stable")
    return dom_pid[order], dom_cc[order]


def _group_starts(*keys: np.ndarray) -> np.ndarray:
    """Positions where any key changes (the keys sorted together)."""
    n = keys[0].size
    new = np.ones(n, dtype=bool)
    if n:
        new[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in keys])
    return np.nonzero(new)[0]


def _union_v4(group: np.ndarray, first: np.ndarray, last: np.ndarray, groups: int) -> np.ndarray:
    """Addresses covered per group by IPv4 intervals (overlaps once); inputs sorted by
    (group, first). A running maximum of ``group * 2**33 + last`` stays inside each group: at a
    group's first row the previous maximum, less ``group * 2**33``, is negative (nothing
    reached yet)."""
    out = np.zeros(groups, dtype=np.int64)
    if not group.size:
        return out
    base = group.astype(np.int64) << 33
    last_i = last.astype(np.int64)
    run = np.maximum.accumulate(base + last_i)
    start = np.empty(run.size, dtype=np.int64)  # first address not reached by earlier rows
    start[0] = 0
    np.subtract(run[:-1], base[1:], out=start[1:])
    start[1:] += 1
    np.maximum(start, first.astype(np.int64), out=start)
    contrib = last_i - start
    contrib += 1
    np.maximum(contrib, 0, out=contrib)
    np.add.at(out, group, contrib)
    return out


def _first_foreign_hops(path_numbers: np.ndarray, cc_codes: np.ndarray, paths: list[str], codes: list[str],
                        registry: Registry) -> np.ndarray:
    """Per (path, country) pair, the first AS outside the country walking from the origin (-1:
    none, or an AS_SET hop), as :func:`country_upstream_of_path` finds it. Plain paths are walked
    together in numpy (their hops as numbers, each AS's country once); the others one by one."""
    up_of = np.full(path_numbers.size, -1, dtype=np.int64)
    if not path_numbers.size:
        return up_of
    involved, local = _unique_inverse(path_numbers, max(int(path_numbers.max()).bit_length(), 1))
    texts = [paths[i] for i in involved.tolist()]
    kind_b, off_b, hops_b = _table.path_tokens(texts)
    kind = np.frombuffer(kind_b, np.int8)
    offsets = np.frombuffer(off_b, np.int64)
    hops = np.frombuffer(hops_b, np.int64)
    # each AS's country as a code into `codes` (-1: None or a country with no prefix here)
    if hops.size:
        asns, hop_as = _unique_inverse(hops, max(int(hops.max()).bit_length(), 1))
    else:
        asns, hop_as = hops, np.zeros(0, np.int64)
    code_of = {c: i for i, c in enumerate(codes)}
    as_code = np.array([code_of.get(c, -1) if c is not None else -1  # type: ignore[arg-type]
                        for c in registry.as_countries(asns.tolist())], dtype=np.int64)
    hop_code = as_code[hop_as]
    pair_kind = kind[local]
    plain = np.flatnonzero(pair_kind == 1)
    if plain.size:
        start, stop = offsets[local[plain]], offsets[local[plain] + 1]
        length = stop - start
        # every hop of every plain pair, in path order; keep the last one outside the country
        pair_of = np.repeat(np.arange(plain.size), length)
        first = np.cumsum(length) - length
        pos = start[pair_of] + (np.arange(pair_of.size) - first[pair_of])
        foreign = hop_code[pos] != cc_codes[plain][pair_of]
        last = np.maximum.reduceat(np.where(foreign, pos + 1, 0), first)
        up_of[plain] = np.where(last > 0, hops[np.maximum(last - 1, 0)], -1)
    for i in np.flatnonzero(pair_kind == 0).tolist():  # AS_SETs, confederations, odd text
        up = country_upstream_of_path(texts[int(local[i])], codes[int(cc_codes[i])], registry)
        up_of[i] = up if isinstance(up, int) else -1
    return up_of


def _ranking_rows(index: _TableIndex, registry: Registry) -> list[CountryConcentration]:
    coded = index.country_codes
    if coded is not None:  # the placement's codes: the countries present, in the same order
        labels = coded[0].astype(np.int64)
        placed = labels >= 0
        present = np.bincount(labels[placed], minlength=len(coded[1])) > 0
        codes = [coded[1][u] for u in np.flatnonzero(present).tolist()]
        pcc = np.where(placed, (np.cumsum(present) - 1)[np.where(placed, labels, 0)], -1)
    else:
        codes = sorted({c for c in index.countries if c is not None})
        code_of: dict[str | None, int] = {c: i for i, c in enumerate(codes)}
        code_of[None] = -1
        pcc = np.fromiter(map(code_of.__getitem__, index.countries), np.int64, len(index.countries))
    if not codes:
        return []
    rcc = pcc[index.pid]
    rows = np.nonzero(rcc >= 0)[0]
    cc_r, pid_r, path_r, peer_r = rcc[rows], index.pid[rows], index.path_id[rows], index.peer_id[rows]
    # The international upstream depends on the path and the country only: walk each pair once.
    uniq, inverse = _pair_codes(path_r, cc_r, len(index.distinct_paths), len(codes))
    paths = index.distinct_paths
    up_of = _first_foreign_hops(uniq // len(codes), uniq % len(codes), paths, codes, registry)
    parsed = index.parsed
    v4 = parsed.version == 4
    # per country: its domestic space per family, over every route's prefix (a prefix has one
    # country: the distinct (country, prefix) pairs are the distinct prefixes, by country)
    dom_pid, dom_cc = _by_country(pid_r, pcc, len(codes))
    prefixes_per_cc = np.bincount(dom_cc, minlength=len(codes))
    has_v4 = np.bincount(dom_cc, weights=v4[dom_pid], minlength=len(codes)) > 0
    m4 = v4[dom_pid]
    o4 = _lexsort((parsed.first[dom_pid[m4]], dom_cc[m4]))
    d4 = dom_pid[m4][o4]
    total4 = _union_v4(dom_cc[m4][o4], parsed.first[d4], parsed.last[d4], len(codes))
    total6 = np.zeros(len(codes), dtype=object)
    v6_by_cc: dict[int, list[str]] = defaultdict(list)
    for c, p in zip(dom_cc[~m4].tolist(), dom_pid[~m4].tolist(), strict=True):
        v6_by_cc[c].append(index.prefixes[p])
    for c, items in v6_by_cc.items():
        total6[c] = _union_size(items, 6)
    # per (country, upstream): the prefixes carried and the peers that see them. The groups are
    # numbered from the distinct (path, country) pairs, in (country, upstream) order.
    with_up = up_of >= 0
    group_key = (uniq[with_up] % len(codes)) * (1 << 32) + up_of[with_up]
    group_keys, pair_group_of = _unique_inverse(group_key, max(int(group_key.max(initial=0)).bit_length(), 1))
    g_cc, g_up = group_keys >> 32, group_keys & 0xFFFFFFFF
    ngroups = group_keys.size
    pair_group = np.full(uniq.size, -1, dtype=np.int64)
    pair_group[with_up] = pair_group_of
    route_group = pair_group[inverse]
    att = route_group >= 0
    ga, pa, pe = route_group[att], pid_r[att], peer_r[att]
    if ngroups <= 1 << 16 and bool((pa[1:] >= pa[:-1]).all()):
        # rows in prefix order (one peer's table): one radix sort of the 16-bit group numbers
        order = np.argsort(ga.astype(np.uint16), kind="stable")
    else:
        order = _lexsort((pa, ga))
    ga, pa = ga[order], pa[order]
    starts = _group_starts(ga, pa)
    group_of, pa = ga[starts], pa[starts]  # distinct (group, prefix), by group then prefix
    m4 = v4[pa]
    o4 = _lexsort((parsed.first[pa[m4]], group_of[m4]))
    size4 = _union_v4(group_of[m4][o4], parsed.first[pa[m4]][o4], parsed.last[pa[m4]][o4], ngroups)
    size6: dict[int, int] = {}
    v6_groups: dict[int, list[str]] = defaultdict(list)
    for g, p in zip(group_of[~m4].tolist(), pa[~m4].tolist(), strict=True):
        v6_groups[g].append(index.prefixes[p])
    for g, items in v6_groups.items():
        size6[g] = _union_size(items, 6)
    if pe.size and pe.min() == pe.max():  # one peer's table: one peer sees each (cc, up)
        peer_counts = np.ones(ngroups, dtype=np.int64)
    else:  # distinct (group, peer), counted per group
        ga = route_group[att]
        order = _lexsort((pe, ga))
        pg = ga[order][_group_starts(ga[order], pe[order])]
        peer_counts = np.bincount(pg, minlength=ngroups)
    ups_by_cc: dict[int, list[_UpShares]] = {}
    totals4, totals6 = total4.tolist(), [int(t or 0) for t in total6]
    # IPv4 shares in numpy: addresses < 2**53 convert exactly, so a float64 division is Python's
    # int / int (the same correctly rounded quotient); IPv6 counts may not: Python divides them
    t4g = total4[g_cc]
    share4 = np.divide(size4, t4g, out=np.zeros(ngroups), where=t4g > 0).tolist()
    has4 = (t4g > 0).tolist()
    family4_of, peers_of = has_v4.tolist(), peer_counts.tolist()
    bounds = np.flatnonzero(np.diff(g_cc)) + 1
    for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), ngroups], strict=True):
        if lo == hi:
            continue
        c = int(g_cc[lo])
        t6, family4 = totals6[c], family4_of[c]
        ups = ups_by_cc[c] = []
        for g, up in enumerate(g_up[lo:hi].tolist(), lo):
            s4 = share4[g] if has4[g] else None
            s6 = size6.get(g, 0) / t6 if t6 else None
            ups.append(_UpShares(up, (s4 or 0.0) if family4 else (s6 or 0.0), s4, s6, peers_of[g]))
    # the top upstreams' name hints in one bulk pass (each row asks for its top's)
    weighted = {c: _weighted_top(ups, totals4[c], totals6[c]) for c, ups in ups_by_cc.items()}
    registry.prefetch_hints(w[2].asn for w in weighted.values() if w[2] is not None)
    out = []
    for c, code in enumerate(codes):
        if not prefixes_per_cc[c]:
            continue
        t4, t6 = int(total4[c]), int(total6[c] or 0)
        family = 4 if has_v4[c] else 6
        out.append(_concentration(code, registry, ups_by_cc.get(c, []), prefixes=int(prefixes_per_cc[c]),
                                  addresses=t4 if family == 4 else t6, family=family, total4=t4, total6=t6,
                                  weighted=weighted.get(c)))
    return out


# -- one country over time ------------------------------------------------------------------------
class _CountryRecorder:
    """RoutingState callbacks that keep every change of a domestic route (the upstream of each is
    computed after the replay, once every AS's originated prefixes are known).

    Changes are buffered and their new prefixes placed in bulk every ``BATCH`` changes (a
    per-change look-up would cost a Python call per prefix of a full table); memory stays
    bounded by the batch and the domestic changes kept."""

    BATCH = 1 << 16

    def __init__(self, cc: str, registry: Registry) -> None:
        self.cc = cc
        self.registry = registry
        self.changes: list[RouteChange] = []
        self.sessions: list[SessionEvent] = []
        self.origins: set[tuple[int, str]] = set()
        self._pending: list[RouteChange] = []
        self._domestic: dict[str, bool] = {}
        self._origin_of: dict[str, int | None] = {}  # paths repeat: parse each once

    def route(self, change: RouteChange) -> None:
        path = change.new_path
        if path is not None:
            origin = self._origin_of.get(path, -1)
            if origin == -1:
                origin = self._origin_of[path] = origin_of(path)
                if len(self._origin_of) > 1 << 20:  # bounded on long streams
                    self._origin_of.clear()
            if origin is not None:
                self.origins.add((origin, change.prefix))
        known = self._domestic.get(change.prefix)
        if known is None or self._pending:
            self._pending.append(change)  # keeps the order of changes
            if len(self._pending) >= self.BATCH:
                self.flush()
        elif known:
            self.changes.append(change)

    def flush(self) -> None:
        """Place the buffered changes' new prefixes (one bulk pass) and keep the domestic ones."""
        if not self._pending:
            return
        if self.registry.snapshot is None:
            self.registry.use_time(self._pending[0].time)
        new = list({c.prefix: None for c in self._pending if c.prefix not in self._domestic})
        if new:
            countries, _ = self.registry.place_prefixes(new)
            for prefix, cc in zip(new, countries, strict=True):
                self._domestic[prefix] = cc == self.cc
        domestic = self._domestic
        self.changes.extend(c for c in self._pending if domestic[c.prefix])
        self._pending = []

    def session(self, change: SessionChange) -> None:
        self.sessions.append(SessionEvent(change.peer, change.time, change.up))


def country_view(
    country: str,
    observations: Iterable[Observation],
    registry: Registry,
    *,
    until: float | None = None,
    notices: Iterable[str] = (),
) -> TargetView:
    """Replay ``observations`` and return the country's routes over time as a
    :class:`~transitwatch.state.view.TargetView` whose spans' ``upstream`` is the country's
    international upstream, so the AS-level detectors and metrics apply unchanged. The view's
    target lists the domestic prefixes seen, labelled with the country code."""
    cc = normalise_country(country)
    recorder = _CountryRecorder(cc, registry)
    state = RoutingState(on_change=recorder.route, on_session=recorder.session)
    state.replay(observations, until=until)
    recorder.flush()
    registry.use_time(state.time)
    registry.add_origins(recorder.origins)
    feed_origins(registry, state)
    spans: list[RouteSpan] = []
    open_spans: dict[tuple[PeerKey, RouteKey], RouteSpan] = {}
    prefixes: set[str] = set()
    for change in recorder.changes:
        prefixes.add(change.prefix)
        key = (change.peer, change.key)
        span = open_spans.get(key)
        new_path = change.new_path if change.selected else None
        holds = new_path is not None
        upstream = country_upstream_of_path(new_path, cc, registry) if new_path is not None else None
        obs = change.obs
        if span is not None:
            if holds and upstream == span.upstream:
                span.last_seen = change.time
                continue
            span.end, span.end_cause, span.end_path = change.time, change.cause, change.new_path
            if obs is not None:
                span.end_source, span.end_offset = obs.source, obs.offset
            del open_spans[key]
        if holds:
            new = RouteSpan(
                peer=change.peer, prefix=change.prefix, upstream=upstream, start=change.time,
                start_cause=change.cause, path=change.new_path or "",
                source=obs.source if obs is not None else "", offset=obs.offset if obs is not None else 0,
                last_seen=change.time, path_id=None if isinstance(change.key, str) else change.key[1],
            )
            spans.append(new)
            open_spans[key] = new
    networks = tuple(n for n in (_network(p) for p in sorted(prefixes, key=_sort_key)) if n is not None)
    target = Target(asns=frozenset(), networks=networks, label=cc) if networks else Target(
        asns=frozenset({0}), label=cc)  # a Target needs something; AS0 never appears in a path
    return TargetView(
        target=target,
        spans=sorted(spans, key=lambda s: (s.start, s.peer, s.prefix)),
        sessions=sorted(recorder.sessions, key=lambda e: (e.time, e.peer)),
        start=state.start, end=state.time, notices=list(notices),
    )


def country_upstreams_from_view(view: TargetView, registry: Registry,
                                at: float | None = None) -> CountryUpstreams:
    """The country's upstreams at time ``at`` (default: the end of the view), from the spans of
    :func:`country_view`."""
    cc = normalise_country(view.target.label)
    when = at if at is not None else view.end
    with registry.pinned(when):
        return _from_view(cc, view, registry, at, when)


def _from_view(cc: str, view: TargetView, registry: Registry, at: float | None,
               when: float | None) -> CountryUpstreams:
    routes = [
        _Route(s.peer, s.prefix, s.path) for s in view.spans
        if (s.end is None if at is None else s.active_at(at))
    ]
    return _summarise(cc, routes, registry, when)
