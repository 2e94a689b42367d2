"""Per-(collector, peer) routing tables, replayed from observations in time order.

>>> state = RoutingState().replay(read_files(["bview.20171001.0800.gz", "updates.20171001.0805.gz"]))
>>> state.table(peer).get("175.45.176.0/24")                       # doctest: +SKIP
'3356 4837 131279'

Rules (RFC 4271 / RFC 6396 semantics, as a collector sees them):

- ``announce`` sets the route of (peer, prefix[, ADD-PATH id]); ``withdraw`` removes it.
- A RIB dump *replaces* the peer's table at the dump time: routes the peer had that are neither in
  the dump nor updated while it was being read are removed (cause ``"rib_replace"``). A dump is one
  source file's ``rib`` observations; it is closed when the stream moves past its last record time
  (or at :meth:`RoutingState.finish`). A peer with no route in a dump keeps its table.
- A session leaving Established (a ``state`` observation with ``new_state != 6``) drops all of
  that peer's routes (cause ``"down"``) until it re-announces them.

With ``select`` (a :class:`~transitwatch.state.target.Target`), only the target's routes are
kept: that is the fast path for watching one network over a full feed (one dict lookup per route
on a cache of AS path strings). ``on_change`` receives a :class:`RouteChange` for every change of
a kept route, ``on_session`` a :class:`SessionChange` when a session comes up or goes down. Each
(collector, peer) is independent, so streams of different peers can be replayed separately (in
parallel) and their results merged.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from transitwatch.observation import ESTABLISHED, Observation
from transitwatch.state.aspath import ASPath, parse_as_path
from transitwatch.state.target import Target

__all__ = [
    "PeerKey", "PeerTable", "PeerTables", "RibDumps", "RouteChange", "RouteKey", "RoutingState",
    "SessionChange",
]

_T = TypeVar("_T")

#: A route's key in a peer table: the prefix, or (prefix, ADD-PATH path id).
RouteKey = str | tuple[str, int]

# Causes of a route change.
ANNOUNCE_CAUSE = "announce"
WITHDRAW_CAUSE = "withdraw"
RIB_CAUSE = "rib"
RIB_REPLACE_CAUSE = "rib_replace"
DOWN_CAUSE = "down"


class PeerKey(NamedTuple):
    """Who saw it: the collector (``""`` when unknown), the peer's address and AS."""

    collector: str
    ip: str
    asn: int

    def __str__(self) -> str:
        return f"{self.collector + ' ' if self.collector else ''}{self.ip} AS{self.asn}"

    def to_dict(self) -> dict[str, Any]:
        return {"collector": self.collector, "peer_ip": self.ip, "peer_asn": self.asn}


class RouteChange(NamedTuple):
    """One change of a kept route. ``old_path``/``new_path`` are None when absent; ``selected``
    says whether the new route belongs to the target (always True without a target)."""

    peer: PeerKey
    key: RouteKey
    prefix: str
    old_path: str | None
    new_path: str | None
    selected: bool
    time: float
    cause: str
    obs: Observation | None


class SessionChange(NamedTuple):
    """A peer's BGP session came up (entered Established) or went down (left it)."""

    peer: PeerKey
    time: float
    up: bool
    obs: Observation | None


class RibDumps(Generic[_T]):
    """The RIB dumps being read, per collector: a dump closes when its own collector's stream
    moves past its last record time; records of other collectors merged in between do not close
    it (a dump's records may span several seconds). ``close_table`` is the state's own rule for
    what closing one peer's dump means (drop the routes the dump did not contain)."""

    def __init__(self, close_table: Callable[[_T], None]) -> None:
        self._close_table = close_table
        self._open: list[tuple[str, _T]] = []
        self._until: dict[str, float] = {}

    def __bool__(self) -> bool:
        return bool(self._open)

    def opened(self, collector: str, table: _T) -> None:
        self._open.append((collector, table))

    def saw_rib(self, collector: str, time: float) -> None:
        if time > self._until.get(collector, float("-inf")):
            self._until[collector] = time

    def moved_past(self, collector: str, time: float) -> bool:
        """A non-RIB record of ``collector`` at ``time``: close that collector's dumps when it is
        past them. Returns whether any dump is still open."""
        if time > self._until.get(collector, time):
            self.close(collector)
        return bool(self._open)

    def close(self, collector: str | None = None) -> None:
        """Close the open dumps of ``collector`` (all when None)."""
        keep = []
        for owner, table in self._open:
            if collector is None or owner == collector:
                self._close_table(table)
            else:
                keep.append((owner, table))
        self._open = keep
        if collector is None:
            self._until.clear()
        else:
            self._until.pop(collector, None)


class PeerTable:
    """One peer's routes: route key (prefix, or (prefix, path id)) -> AS path text (interned)."""

    __slots__ = ("peer", "routes", "established", "updated", "_dump", "_dump_seen", "_dump_start")

    def __init__(self, peer: PeerKey) -> None:
        self.peer = peer
        self.routes: dict[RouteKey, str] = {}
        #: True after the session entered Established, False after it left it, None when unknown.
        self.established: bool | None = None
        #: Time of the last observation that changed this table.
        self.updated: float | None = None
        self._dump: str | None = None
        self._dump_seen: set[RouteKey] | None = None
        self._dump_start = 0.0

    def __len__(self) -> int:
        return len(self.routes)

    def __contains__(self, key: object) -> bool:
        return key in self.routes

    def __repr__(self) -> str:
        return f"PeerTable({self.peer}, {len(self.routes)} routes)"

    def get(self, prefix: str, path_id: int | None = None) -> str | None:
        """The AS path text of a route, or None."""
        return self.routes.get(prefix if path_id is None else (prefix, path_id))

    def path(self, prefix: str, path_id: int | None = None) -> ASPath | None:
        """The cleaned :class:`ASPath` of a route, or None."""
        text = self.get(prefix, path_id)
        return parse_as_path(text) if text is not None else None

    def items(self) -> Iterator[tuple[RouteKey, str]]:
        return iter(self.routes.items())


class _Table(Protocol):
    peer: PeerKey

    def get(self, prefix: str, path_id: int | None = None) -> str | None: ...

    def items(self) -> Iterator[tuple[RouteKey, str]]: ...


_TableT = TypeVar("_TableT", bound=_Table)


class PeerTables(Generic[_TableT]):
    """Reading the per-peer tables of a routing state (shared by :class:`RoutingState` and
    :class:`~transitwatch.state.compact.CompactRoutingState`): ``_tables`` maps (collector, ip)
    to a table with ``peer``, ``get(prefix)`` and ``items()``."""

    _tables: dict[tuple[str, str], _TableT]

    def peers(self) -> list[PeerKey]:
        """Every peer seen so far."""
        return [t.peer for t in self._tables.values()]

    def tables(self) -> list[_TableT]:
        """Every peer's table."""
        return list(self._tables.values())

    def table(self, peer: PeerKey | tuple[str, str] | str) -> _TableT | None:
        """A peer's table by :class:`PeerKey`, (collector, ip), or ip (first match)."""
        if isinstance(peer, str):
            return next((t for (_, ip), t in self._tables.items() if ip == peer), None)
        return self._tables.get((peer[0], peer[1]))

    def routes(self, prefix: str) -> dict[PeerKey, str]:
        """Every peer's AS path for ``prefix`` (no ADD-PATH id)."""
        out = {}
        for t in self._tables.values():
            path = t.get(prefix)
            if path is not None:
                out[t.peer] = path
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """All routes as flat dicts (collector, peer_ip, peer_asn, prefix, path_id, as_path)."""
        out = []
        for t in self._tables.values():
            for key, path in t.items():
                prefix, path_id = (key, None) if isinstance(key, str) else key
                out.append({**t.peer.to_dict(), "prefix": prefix, "path_id": path_id, "as_path": path})
        return out


class OwnSpace:
    """The prefixes a target's ASNs originate, learnt from the routes as they arrive, and whether
    a prefix lies inside one of them (the address space an AS target watches: a more-specific or
    the same prefix from another origin is a possible hijack)."""

    def __init__(self, asns: Iterable[int]) -> None:
        self.origins = frozenset(str(a) for a in asns)
        self.prefixes: set[str] = set()
        self._nets: dict[int, dict[int, set[int]]] = {4: {}, 6: {}}
        self._heads: set[str] = set()  # first octet (IPv4) / group (IPv6): a cheap first test

    def __len__(self) -> int:
        return len(self.prefixes)

    @property
    def heads(self) -> frozenset[str]:
        """First octets (IPv4) / groups (IPv6) of the learnt prefixes: a prefix starting with
        none of them is inside none (a cheap pre-filter, e.g. in SQL)."""
        return frozenset(self._heads)

    def heads_of(self, version: int) -> list[str]:
        """:attr:`heads` of one IP version's learnt prefixes."""
        return sorted({_head(p) for p in self.prefixes if (":" in p) == (version == 6)})

    def nets(self, version: int) -> dict[int, set[int]]:
        """Per prefix length, the learnt networks of one IP version as integers shifted right to
        that length (what a query can join on)."""
        return {length: set(nets) for length, nets in self._nets[version].items()}

    def learn(self, prefix: str, path: str | None) -> bool:
        """Add ``prefix`` when ``path``'s origin is one of the ASNs; whether it was new."""
        if not path or prefix in self.prefixes or path.rpartition(" ")[2] not in self.origins:
            return False
        key = _net_key(prefix)
        if key is None:
            return False
        version, net, length = key
        self.prefixes.add(prefix)
        self._nets[version].setdefault(length, set()).add(net)
        self._heads.add(_head(prefix))
        return True

    def covers(self, prefix: str) -> bool:
        """Whether ``prefix`` is one of the learnt prefixes or inside one."""
        if prefix in self.prefixes:
            return True
        if not self._heads or _head(prefix) not in self._heads:
            return False
        key = _net_key(prefix)
        if key is None:
            return False
        version, net, length = key
        bits = 32 if version == 4 else 128
        full = net << (bits - length)
        for size, nets in self._nets[version].items():
            if size <= length and (full >> (bits - size)) in nets:
                return True
        return False


def _head(prefix: str) -> str:
    cut = prefix.find(".")
    return prefix[:cut] if cut > 0 else prefix[: prefix.find(":")]


def _net_key(prefix: str) -> tuple[int, int, int] | None:
    """(IP version, network bits as an int shifted right to its length, length), or None."""
    addr, _, length = prefix.partition("/")
    parts = addr.split(".")
    if len(parts) == 4 and length.isdigit():
        # IPv4 without ipaddress (the store checks every candidate prefix of a large AS)
        try:
            a, b, c, d = (int(x) for x in parts)
        except ValueError:
            return None
        plen = int(length)
        if plen <= 32 and 0 <= a < 256 and 0 <= b < 256 and 0 <= c < 256 and 0 <= d < 256:
            return 4, ((a << 24) | (b << 16) | (c << 8) | d) >> (32 - plen), plen
        return None
    try:
        net = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return None
    return net.version, int(net.network_address) >> (net.max_prefixlen - net.prefixlen), net.prefixlen


class RoutingState(PeerTables[PeerTable]):
    """Routing tables of every (collector, peer), replayed from observations in time order.

    ``select``: keep only this target's routes (fast). ``on_change`` / ``on_session``: callbacks
    for each change of a kept route / each session up or down. ``start``/``time``: first and last
    observation times replayed.
    """

    def __init__(
        self,
        select: Target | None = None,
        *,
        on_change: Callable[[RouteChange], Any] | None = None,
        on_session: Callable[[SessionChange], Any] | None = None,
        own_space: bool = False,
    ) -> None:
        self.select = select
        # An AS target's own address space, learnt as read: routes to it (or inside it) from
        # another origin are kept as the target's too (``own_space``).
        self.own: OwnSpace | None = (
            OwnSpace(select.asns) if own_space and select is not None and select.asns else None)
        self.on_change = on_change
        self.on_session = on_session
        self.start: float | None = None
        self.time: float | None = None
        self.observations = 0
        self._tables: dict[tuple[str, str], PeerTable] = {}
        self._path_selected: dict[str, bool] = {}
        self._paths: dict[str, str] = {}
        self._prefixes: dict[str, str] = {}
        # prefix -> number of peer tables holding a route for it (only with `select`): lets the
        # hot loop skip withdrawals and foreign announcements of prefixes nobody holds.
        self._held: dict[str, int] = {}
        self._dumps: RibDumps[PeerTable] = RibDumps(self._close_dump)

    # -- replay -----------------------------------------------------------------------------

    def apply(self, obs: Observation) -> None:
        """Apply one observation (slow path: prefer :meth:`replay` for many)."""
        self.replay((obs,), finish=False)

    def replay(
        self, observations: Iterable[Observation], *, until: float | None = None, finish: bool = True
    ) -> RoutingState:
        """Apply observations (in time order) up to and including ``until``; returns self.

        ``finish`` closes open RIB dumps at the end (pass False when more of the same stream
        follows in another call).
        """
        it: Iterator[Observation] = iter(observations)
        first = next(it, None)
        if first is None:
            if finish:
                self.finish()
            return self
        if until is not None and first.time > until:
            return self
        if self.start is None or first.time < self.start:
            self.start = first.time
        it = itertools.chain((first,), it)
        if until is not None:
            limit = until
            it = itertools.takewhile(lambda o: o.time <= limit, it)
        select = self.select
        full = select is None
        path_selected = self._path_selected
        hints = select.prefix_hints if select is not None else ()
        needles = select.path_needles if select is not None else ()
        # One ASN (the usual target): a substring test rejects almost every path before the cache.
        needle = needles[0] if len(needles) == 1 else None
        held = self._held
        own = self.own
        announce, withdraw, rib, state = self._announce, self._withdraw, self._rib, self._state
        dumps = self._dumps
        dumps_open = bool(dumps)
        count = 0
        obs: Observation | None = None
        # A full state with no callbacks (the country view, the ranking): announcements inlined,
        # the same effect as _announce/_set without two calls and the old-route look-up per route.
        plain = full and self.own is None and self.on_change is None
        tables, new_table = self._tables, self._table_for
        intern_prefix, intern_path = self._prefixes.setdefault, self._paths.setdefault
        last_peer: tuple[str, str] | None = None
        table: PeerTable | None = None
        for count, obs in enumerate(it, 1):  # noqa: B007 (count and obs are used after the loop)
            kind = obs.kind
            if dumps_open and kind != "rib":
                dumps_open = dumps.moved_past(obs.collector, obs.time)
            if kind == "announce":
                if plain:
                    peer = (obs.collector, obs.peer_ip)
                    if peer != last_peer or table is None:
                        table = tables.get(peer) or new_table(obs)
                        last_peer = peer
                    prefix = intern_prefix(obs.prefix, obs.prefix)
                    key: RouteKey = prefix if obs.path_id is None else (prefix, obs.path_id)
                    if table._dump_seen is not None:
                        table._dump_seen.add(key)
                    new_path = obs.as_path or ""
                    table.routes[key] = intern_path(new_path, new_path)
                    table.updated = obs.time
                    if table.established is None:
                        table.established = True
                    continue
                if full:
                    announce(obs, True)
                    continue
                path = obs.as_path
                sel: bool | None = False
                if needle is None or (path and needle in path):
                    sel = path_selected.get(path)
                    if sel is None:
                        sel = self._cache_selected(path)
                if sel:
                    announce(obs, True)
                else:
                    prefix = obs.prefix
                    if hints and prefix.startswith(hints) and select.selects_prefix(prefix):  # type: ignore[union-attr]
                        announce(obs, True)
                    elif own is not None and own.covers(prefix):
                        announce(obs, True)
                    elif prefix in held:
                        announce(obs, False)
            elif kind == "withdraw":
                if full or obs.prefix in held:
                    withdraw(obs)
            elif kind == "rib":
                rib(obs)
                dumps_open = True
            elif kind == "state":
                state(obs)
        if obs is not None:
            self.time = obs.time if self.time is None else max(self.time, obs.time)
        self.observations += count
        if finish:
            self.finish()
        return self

    def finish(self) -> None:
        """Close open RIB dumps (remove the routes they did not contain)."""
        self._dumps.close()

    # -- slow paths (one call per kept route change) -----------------------------------------

    def _cache_selected(self, path: str) -> bool:
        # Only paths that contain a target ASN's text (or all, for multi-ASN targets) are cached,
        # so the cache stays small on a full feed.
        sel = self.select.selects_path(path) if self.select is not None else True
        if len(self._path_selected) < 1 << 18:
            self._path_selected[path] = sel
        return sel

    def _table_for(self, obs: Observation) -> PeerTable:
        collector, ip = obs.collector, obs.peer_ip
        table = self._tables.get((collector, ip))
        if table is None:
            table = self._tables[(collector, ip)] = PeerTable(PeerKey(collector, ip, obs.peer_asn))
        return table

    def _set(self, table: PeerTable, obs: Observation, selected: bool, cause: str) -> None:
        prefix = obs.prefix
        prefix = self._prefixes.setdefault(prefix, prefix)
        key: RouteKey = prefix if obs.path_id is None else (prefix, obs.path_id)
        routes = table.routes
        old = routes.get(key)
        if table._dump_seen is not None:
            table._dump_seen.add(key)
        new_path = obs.as_path or ""
        if selected:
            new_path = self._paths.setdefault(new_path, new_path)
            if self.own is not None:
                self.own.learn(prefix, new_path)
            routes[key] = new_path
            if old is None and self.select is not None:
                self._held[prefix] = self._held.get(prefix, 0) + 1
        elif old is not None:
            del routes[key]
            self._release(prefix)
        else:
            return
        table.updated = obs.time
        if table.established is None and cause == ANNOUNCE_CAUSE:
            table.established = True
        if self.on_change is not None:
            self.on_change(
                RouteChange(table.peer, key, prefix, old, new_path, selected, obs.time, cause, obs)
            )

    def _release(self, prefix: str) -> None:
        if self.select is None:
            return
        left = self._held[prefix] - 1
        if left:
            self._held[prefix] = left
        else:
            del self._held[prefix]

    def _announce(self, obs: Observation, selected: bool) -> None:
        self._set(self._table_for(obs), obs, selected, ANNOUNCE_CAUSE)

    def _withdraw(self, obs: Observation) -> None:
        table = self._table_for(obs)
        prefix = obs.prefix
        key: RouteKey = prefix if obs.path_id is None else (prefix, obs.path_id)
        if table._dump_seen is not None:
            table._dump_seen.add(key)
        old = table.routes.pop(key, None)
        if old is None:
            return
        self._release(prefix)
        table.updated = obs.time
        if self.on_change is not None:
            self.on_change(
                RouteChange(table.peer, key, prefix, old, None, False, obs.time, WITHDRAW_CAUSE, obs)
            )

    def _rib(self, obs: Observation) -> None:
        table = self._table_for(obs)
        source = obs.source or ""
        if table._dump != source or table._dump_seen is None:
            if table._dump_seen is not None:
                self._close_dump(table)
            table._dump, table._dump_seen, table._dump_start = source, set(), obs.time
            self._dumps.opened(obs.collector, table)
        self._dumps.saw_rib(obs.collector, obs.time)
        select = self.select
        if select is None:
            selected = True
        else:
            path = obs.as_path
            sel = self._path_selected.get(path)
            if sel is None:
                sel = self._cache_selected(path)
            selected = sel or select.selects_prefix(obs.prefix) or (
                self.own is not None and self.own.covers(obs.prefix))
            if not selected and obs.prefix not in self._held:
                table._dump_seen.add(obs.prefix if obs.path_id is None else (obs.prefix, obs.path_id))
                return
        self._set(table, obs, selected, RIB_CAUSE)

    def _close_dump(self, table: PeerTable) -> None:
        seen = table._dump_seen
        table._dump_seen = None
        if seen is None:
            return
        gone = [k for k in table.routes if k not in seen]
        for key in gone:
            old = table.routes.pop(key)
            prefix = key if isinstance(key, str) else key[0]
            self._release(prefix)
            if self.on_change is not None:
                self.on_change(RouteChange(
                    table.peer, key, prefix, old, None, False, table._dump_start, RIB_REPLACE_CAUSE, None
                ))
        if gone:
            table.updated = table._dump_start


    def _state(self, obs: Observation) -> None:
        table = self._table_for(obs)
        if obs.new_state == ESTABLISHED:
            was = table.established
            table.established = True
            if not was and self.on_session is not None:
                self.on_session(SessionChange(table.peer, obs.time, True, obs))
            return
        was_up = table.established is not False and bool(table.established or table.routes)
        table.established = False
        for key, old in list(table.routes.items()):
            prefix = key if isinstance(key, str) else key[0]
            del table.routes[key]
            self._release(prefix)
            if self.on_change is not None:
                self.on_change(
                    RouteChange(table.peer, key, prefix, old, None, False, obs.time, DOWN_CAUSE, obs)
                )
        if was_up:
            table.updated = obs.time
            if self.on_session is not None:
                self.on_session(SessionChange(table.peer, obs.time, False, obs))
