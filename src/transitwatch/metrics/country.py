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
reachable through several. ``countries_ranking`` orders countries by how much they hang on one
foreign network (largest share first, then the Herfindahl index of the upstreams' shares), in
the spirit of CAIDA's Country-level Transit Influence.

Everything here is a pure function of a :class:`~transitwatch.state.table.RoutingState` (a
snapshot) or of a :class:`~transitwatch.state.view.TargetView` (routes over time), plus a
:class:`~transitwatch.registry.Registry`.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from transitwatch.observation import Observation
from transitwatch.registry import Registry, normalise_country
from transitwatch.state.aspath import ASPathError, Hop, origin_of, parse_as_path
from transitwatch.state.table import PeerKey, RouteChange, RouteKey, RoutingState, SessionChange
from transitwatch.state.target import Target
from transitwatch.state.view import RouteSpan, SessionEvent, TargetView

__all__ = [
    "CountryConcentration",
    "CountryNetwork",
    "CountryPrefix",
    "CountryUpstream",
    "CountryUpstreams",
    "country_upstreams",
    "country_upstreams_from_view",
    "country_view",
    "countries_ranking",
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

    def to_dict(self) -> dict[str, Any]:
        return {"asn": self.asn, "name": self.name, "country": self.country,
                "prefixes": self.prefixes, "addresses": self.addresses,
                "share": round(self.share, 6), "peers": self.peers,
                "peer_list": [p.to_dict() for p in self.peer_list]}


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

    def to_dict(self) -> dict[str, Any]:
        from transitwatch.times import iso_utc

        return {
            "country": self.country, "name": self.name, "timezone": self.timezone,
            "time": iso_utc(self.time) if self.time is not None else None,
            "addresses": self.addresses, "address_family": self.address_family,
            "upstreams": [u.to_dict() for u in self.upstreams],
            "networks": [n.to_dict() for n in self.networks],
            "prefixes": [p.to_dict() for p in self.prefixes],
            "unattributed_routes": self.unattributed,
        }


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

    def to_dict(self) -> dict[str, Any]:
        return {"country": self.country, "name": self.name, "upstreams": self.upstreams,
                "top_upstream": self.top_upstream, "top_name": self.top_name,
                "top_share": round(self.top_share, 6), "hhi": round(self.hhi, 6),
                "prefixes": self.prefixes, "addresses": self.addresses,
                "address_family": self.address_family}


# -- building blocks ------------------------------------------------------------------------------
def feed_origins(registry: Registry, state: RoutingState) -> None:
    """Tell the registry which AS originates which prefix, from every route in ``state`` (AS
    countries and names that no registry file gives are derived from these)."""
    pairs: set[tuple[int, str]] = set()
    for table in state.tables():
        for key, path in table.items():
            origin = origin_of(path)
            if origin is not None:
                pairs.add((origin, key if isinstance(key, str) else key[0]))
    registry.add_origins(pairs)


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
               *, detail: bool = True) -> CountryUpstreams:
    """The country's upstreams from its routes; ``detail=False`` skips the per-prefix and
    per-network lists (the ranking needs only the upstreams)."""
    zone = registry.timezone_of(cc)
    prefix_source: dict[str, str] = {}
    origins: dict[str, set[int]] = defaultdict(set)
    carried: dict[int, set[str]] = defaultdict(set)
    seen_by: dict[int, set[PeerKey]] = defaultdict(set)
    prefix_ups: dict[str, set[int]] = defaultdict(set)
    domestic_asns: dict[int, set[str]] = defaultdict(set)
    unattributed = 0
    # Paths repeat across prefixes and peers: walk each distinct path once.
    walked: dict[str, tuple[tuple[int, ...], Hop | None]] = {}
    for route in routes:
        if route.prefix not in prefix_source:
            prefix_source[route.prefix] = registry.country_of_prefix(route.prefix)[1] or "?"
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
            known = walked[route.path] = (inside, up)
        inside, up = known
        for asn in inside:
            domestic_asns[asn].add(route.prefix)
        if not isinstance(up, int):
            unattributed += 1
            continue
        carried[up].add(route.prefix)
        seen_by[up].add(route.peer)
        prefix_ups[route.prefix].add(up)
    family = _family(prefix_source)
    total = _union_size(prefix_source, family)
    upstreams = []
    for asn, prefixes in carried.items():
        info = registry.as_info(asn)
        size = _union_size(prefixes, family)
        upstreams.append(CountryUpstream(
            asn=asn, name=info.name, country=info.country,
            prefixes=sorted(prefixes, key=_sort_key) if detail else [],
            addresses=size, share=size / total if total else 0.0, peers=len(seen_by[asn]),
            peer_list=sorted(seen_by[asn]),
        ))
    upstreams.sort(key=lambda u: (-u.share, -u.peers, u.asn))
    networks = [
        CountryNetwork(asn, registry.as_info(asn).name, registry.as_info(asn).country_source,
                       sorted(prefixes, key=_sort_key))
        for asn, prefixes in sorted(domestic_asns.items())
    ]
    domestic = [
        CountryPrefix(p, prefix_source[p], sorted(origins[p]), sorted(prefix_ups[p]))
        for p in sorted(prefix_source, key=_sort_key)
    ] if detail else []
    return CountryUpstreams(
        country=cc, name=registry.country_name(cc), timezone=str(zone) if zone else None, time=time,
        addresses=total, address_family=f"ipv{family}", prefixes=domestic, networks=networks,
        upstreams=upstreams, unattributed=unattributed,
    )


def _sort_key(prefix: str) -> tuple[int, int, int]:
    iv = _interval(prefix)
    if iv is None:
        return (9, 0, 0)
    return (iv[0], iv[1], -iv[2])  # by address, shorter prefix (larger last address) first


def _routes_by_country(state: RoutingState, registry: Registry,
                       wanted: str | None = None) -> dict[str, list[_Route]]:
    by_country: dict[str, list[_Route]] = defaultdict(list)
    for table in state.tables():
        for key, path in table.items():
            prefix = key if isinstance(key, str) else key[0]
            cc = registry.country_of_prefix(prefix)[0]
            if cc is not None and (wanted is None or cc == wanted):
                by_country[cc].append(_Route(table.peer, prefix, path))
    return by_country


def country_upstreams(state: RoutingState, country: str, registry: Registry) -> CountryUpstreams:
    """The country's networks and international upstreams in ``state`` (its routes at the time
    it was replayed to). Raises :class:`~transitwatch.registry.UnknownCountryError` for a code
    that is not ISO 3166."""
    cc = normalise_country(country)
    feed_origins(registry, state)
    routes = _routes_by_country(state, registry, cc).get(cc, [])
    return _summarise(cc, routes, registry, state.time)


def countries_ranking(state: RoutingState, registry: Registry) -> list[CountryConcentration]:
    """Every country seen in ``state``, most dependent on a single foreign network first."""
    feed_origins(registry, state)
    rows = []
    for cc, routes in _routes_by_country(state, registry).items():
        summary = _summarise(cc, routes, registry, state.time, detail=False)
        ups = summary.upstreams
        weight = sum(u.share for u in ups)
        hhi = sum((u.share / weight) ** 2 for u in ups) if weight else 0.0
        top = ups[0] if ups else None
        rows.append(CountryConcentration(
            country=cc, name=summary.name, upstreams=len(ups),
            top_upstream=top.asn if top else None, top_name=top.name if top else None,
            top_share=top.share if top else 0.0, hhi=hhi, prefixes=len({r.prefix for r in routes}),
            addresses=summary.addresses, address_family=summary.address_family,
        ))
    rows.sort(key=lambda r: (r.upstreams == 0, -r.top_share, -r.hhi, r.upstreams, r.country))
    return rows


# -- one country over time ------------------------------------------------------------------------
class _CountryRecorder:
    """RoutingState callbacks that keep every change of a domestic route (the upstream of each is
    computed after the replay, once every AS's originated prefixes are known)."""

    def __init__(self, cc: str, registry: Registry) -> None:
        self.cc = cc
        self.registry = registry
        self.changes: list[RouteChange] = []
        self.sessions: list[SessionEvent] = []
        self.origins: set[tuple[int, str]] = set()

    def route(self, change: RouteChange) -> None:
        if change.new_path is not None:
            origin = origin_of(change.new_path)
            if origin is not None:
                self.origins.add((origin, change.prefix))
        if self.registry.country_of_prefix(change.prefix)[0] == self.cc:
            self.changes.append(change)

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
    routes = [
        _Route(s.peer, s.prefix, s.path) for s in view.spans
        if (s.end is None if at is None else s.active_at(at))
    ]
    return _summarise(cc, routes, registry, when)
