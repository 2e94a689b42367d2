"""Full routing tables in bounded memory: interned prefixes and AS paths, one array per peer.

>>> state = CompactRoutingState().replay(read_files(["bview.20171001.0800.gz"]))   # doctest: +SKIP
>>> state.table(("rrc00", "192.0.2.1")).get("175.45.176.0/24")                    # doctest: +SKIP
'3356 4837 131279'

The same replay rules and the same results as :class:`~transitwatch.state.table.RoutingState`
without a target (every route of every peer kept; the tests compare them route for route and
change for change), stored differently: a full table of ~1M prefixes x 40 peers is 40M routes,
and one dict entry per route (about 42 bytes, plus a set entry per route while a RIB dump is
open) puts RoutingState above 3 GB. Here:

- every prefix text is stored once and numbered (a dict and a list shared by all peers);
- every AS path text is stored once and numbered;
- a peer's table is an ``array('I')`` indexed by prefix number holding path number + 1 (0: no
  route), 4 bytes per prefix; ADD-PATH routes, rare, go to a small dict per peer;
- an open RIB dump marks what it has seen in a ``bytearray`` (1 byte per prefix), not a set.

So a route costs 4 bytes plus its share of the interned texts (see bench/memory.py and
docs/scaling.md). Use it for snapshots of everything (the ``countries`` ranking); for one target,
``RoutingState(select=target)`` keeps only the target's routes and is smaller still.

Differences from RoutingState, none of them in the routes held: changes closed together (routes
absent from a RIB dump, or dropped when a session goes down) come in prefix-number order rather
than insertion order, and so do ``items()`` and ``to_records()``.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from transitwatch.observation import ESTABLISHED, Observation
from transitwatch.state.aspath import ASPath, parse_as_path
from transitwatch.state.table import PeerKey, PeerTables, RibDumps, RouteChange, RouteKey, SessionChange

__all__ = ["CompactPeerTable", "CompactRoutingState"]

ANNOUNCE_CAUSE = "announce"
WITHDRAW_CAUSE = "withdraw"
RIB_CAUSE = "rib"
RIB_REPLACE_CAUSE = "rib_replace"
DOWN_CAUSE = "down"


class _Interner:
    """Texts numbered from 0 in order of first appearance."""

    __slots__ = ("ids", "texts")

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.texts: list[str] = []

    def id(self, text: str) -> int:
        found = self.ids.get(text)
        if found is None:
            found = self.ids[text] = len(self.texts)
            self.texts.append(text)
        return found


class _Routes(Mapping[RouteKey, str]):
    """A read-only dict-like view of a compact table (what ``PeerTable.routes`` is)."""

    __slots__ = ("_table",)

    def __init__(self, table: CompactPeerTable) -> None:
        self._table = table

    def __getitem__(self, key: RouteKey) -> str:
        found = self._table._get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[RouteKey]:
        return (k for k, _ in self._table.items())

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str | tuple) and self._table._get(key) is not None  # type: ignore[arg-type]


class CompactPeerTable:
    """One peer's routes, as :class:`~transitwatch.state.table.PeerTable` offers them."""

    __slots__ = ("peer", "established", "updated", "_state", "_paths", "_addpath", "_count",
                 "_dump", "_seen", "_seen_addpath", "_dump_start")

    def __init__(self, peer: PeerKey, state: CompactRoutingState) -> None:
        self.peer = peer
        #: True after the session entered Established, False after it left it, None when unknown.
        self.established: bool | None = None
        #: Time of the last observation that changed this table.
        self.updated: float | None = None
        self._state = state
        self._paths = array("I")  # prefix number -> path number + 1 (0: no route)
        self._addpath: dict[tuple[int, int], int] = {}
        self._count = 0
        self._dump: str | None = None
        self._seen: bytearray | None = None
        self._seen_addpath: set[tuple[int, int]] = set()
        self._dump_start = 0.0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str | tuple) and self._get(key) is not None  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"CompactPeerTable({self.peer}, {self._count} routes)"

    @property
    def routes(self) -> Mapping[RouteKey, str]:
        return _Routes(self)

    def get(self, prefix: str, path_id: int | None = None) -> str | None:
        """The AS path text of a route, or None."""
        return self._get(prefix if path_id is None else (prefix, path_id))

    def path(self, prefix: str, path_id: int | None = None) -> ASPath | None:
        """The cleaned :class:`ASPath` of a route, or None."""
        text = self.get(prefix, path_id)
        return parse_as_path(text) if text is not None else None

    def items(self) -> Iterator[tuple[RouteKey, str]]:
        prefixes, paths = self._state._prefixes.texts, self._state._paths.texts
        for pid, value in enumerate(self._paths):
            if value:
                yield prefixes[pid], paths[value - 1]
        for (pid, path_id), value in self._addpath.items():
            yield (prefixes[pid], path_id), paths[value]

    # -- storage ------------------------------------------------------------------------------
    def _get(self, key: RouteKey) -> str | None:
        state = self._state
        if isinstance(key, str):
            pid = state._prefixes.ids.get(key)
            if pid is None or pid >= len(self._paths):
                return None
            value = self._paths[pid]
            return state._paths.texts[value - 1] if value else None
        pid = state._prefixes.ids.get(key[0])
        if pid is None:
            return None
        found = self._addpath.get((pid, key[1]))
        return state._paths.texts[found] if found is not None else None

    def _mark(self, pid: int, path_id: int | None) -> None:
        seen = self._seen
        if seen is None:
            return
        if path_id is not None:
            self._seen_addpath.add((pid, path_id))
            return
        if pid >= len(seen):
            seen.extend(bytes(max(pid + 1 - len(seen), len(seen) // 2)))
        seen[pid] = 1

    def _set(self, pid: int, path_id: int | None, path: int) -> int | None:
        """Store path number ``path``; return the old path number or None."""
        if path_id is not None:
            old = self._addpath.get((pid, path_id))
            self._addpath[(pid, path_id)] = path
            if old is None:
                self._count += 1
            return old
        paths = self._paths
        if pid >= len(paths):
            # grow by half again (amortised), zero-filled: no route
            paths.extend(array("I", bytes(4 * max(pid + 1 - len(paths), len(paths) // 2))))
        value = paths[pid]
        paths[pid] = path + 1
        if not value:
            self._count += 1
            return None
        return value - 1

    def _pop(self, pid: int, path_id: int | None) -> int | None:
        if path_id is not None:
            old = self._addpath.pop((pid, path_id), None)
            if old is not None:
                self._count -= 1
            return old
        paths = self._paths
        if pid >= len(paths) or not paths[pid]:
            return None
        value = paths[pid]
        paths[pid] = 0
        self._count -= 1
        return value - 1

    def _keys(self) -> list[tuple[int, int | None]]:
        out: list[tuple[int, int | None]] = [(pid, None) for pid, v in enumerate(self._paths) if v]
        out.extend(self._addpath)
        return out


class CompactRoutingState(PeerTables[CompactPeerTable]):
    """Every (collector, peer)'s full table, replayed from observations in time order, compactly.

    Same API and rules as :class:`~transitwatch.state.table.RoutingState` without ``select``:
    ``on_change`` / ``on_session`` callbacks, ``start``/``time``/``observations``, ``peers()``,
    ``tables()``, ``table()``, ``routes(prefix)``, ``to_records()``, ``replay()``, ``apply()``,
    ``finish()``.
    """

    def __init__(
        self,
        *,
        on_change: Callable[[RouteChange], Any] | None = None,
        on_session: Callable[[SessionChange], Any] | None = None,
    ) -> None:
        self.select = None
        self.on_change = on_change
        self.on_session = on_session
        self.start: float | None = None
        self.time: float | None = None
        self.observations = 0
        self._tables: dict[tuple[str, str], CompactPeerTable] = {}
        self._prefixes = _Interner()
        self._paths = _Interner()
        self._dumps: RibDumps[CompactPeerTable] = RibDumps(self._close_dump)

    # -- reading the state ------------------------------------------------------------------
    @property
    def interned(self) -> dict[str, int]:
        """How many distinct prefixes and AS paths are stored."""
        return {"prefixes": len(self._prefixes.texts), "paths": len(self._paths.texts)}

    # -- replay -----------------------------------------------------------------------------
    def apply(self, obs: Observation) -> None:
        self.replay((obs,), finish=False)

    def replay(
        self, observations: Iterable[Observation], *, until: float | None = None, finish: bool = True
    ) -> CompactRoutingState:
        """Apply observations (in time order) up to and including ``until``; returns self."""
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
        dumps = self._dumps
        dumps_open = bool(dumps)
        count = 0
        obs: Observation | None = None
        for obs in it:
            kind = obs.kind
            if dumps_open and kind != "rib":
                dumps_open = dumps.moved_past(obs.collector, obs.time)
            if kind == "announce":
                self._set(self._table_for(obs), obs, ANNOUNCE_CAUSE)
            elif kind == "withdraw":
                self._withdraw(obs)
            elif kind == "rib":
                self._rib(obs)
                dumps_open = True
            elif kind == "state":
                self._state(obs)
            count += 1
        if obs is not None:
            self.time = obs.time if self.time is None else max(self.time, obs.time)
        self.observations += count
        if finish:
            self.finish()
        return self

    def finish(self) -> None:
        """Close open RIB dumps (remove the routes they did not contain)."""
        self._dumps.close()

    # -- rules (as in RoutingState) -----------------------------------------------------------
    def _table_for(self, obs: Observation) -> CompactPeerTable:
        key = (obs.collector, obs.peer_ip)
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = CompactPeerTable(PeerKey(key[0], key[1], obs.peer_asn), self)
        return table

    def _key(self, pid: int, path_id: int | None) -> RouteKey:
        prefix = self._prefixes.texts[pid]
        return prefix if path_id is None else (prefix, path_id)

    def _set(self, table: CompactPeerTable, obs: Observation, cause: str) -> None:
        pid = self._prefixes.id(obs.prefix)
        path_id = obs.path_id
        table._mark(pid, path_id)
        path_no = self._paths.id(obs.as_path or "")
        old = table._set(pid, path_id, path_no)
        table.updated = obs.time
        if table.established is None and cause == ANNOUNCE_CAUSE:
            table.established = True
        if self.on_change is not None:
            prefix = self._prefixes.texts[pid]
            self.on_change(RouteChange(
                table.peer, self._key(pid, path_id), prefix,
                self._paths.texts[old] if old is not None else None, self._paths.texts[path_no],
                True, obs.time, cause, obs,
            ))

    def _withdraw(self, obs: Observation) -> None:
        table = self._table_for(obs)
        pid = self._prefixes.id(obs.prefix)
        path_id = obs.path_id
        table._mark(pid, path_id)
        old = table._pop(pid, path_id)
        if old is None:
            return
        table.updated = obs.time
        if self.on_change is not None:
            self.on_change(RouteChange(
                table.peer, self._key(pid, path_id), self._prefixes.texts[pid], self._paths.texts[old], None,
                False, obs.time, WITHDRAW_CAUSE, obs,
            ))

    def _rib(self, obs: Observation) -> None:
        table = self._table_for(obs)
        source = obs.source or ""
        if table._dump != source or table._seen is None:
            if table._seen is not None:
                self._close_dump(table)
            table._dump, table._dump_start = source, obs.time
            table._seen = bytearray(len(self._prefixes.texts))
            table._seen_addpath = set()
            self._dumps.opened(obs.collector, table)
        self._dumps.saw_rib(obs.collector, obs.time)
        self._set(table, obs, RIB_CAUSE)

    def _close_dump(self, table: CompactPeerTable) -> None:
        seen, seen_addpath = table._seen, table._seen_addpath
        table._seen = None
        table._seen_addpath = set()
        if seen is None:
            return
        paths = table._paths
        limit = len(seen)
        gone: list[tuple[int, int | None]] = [
            (pid, None) for pid, value in enumerate(paths) if value and (pid >= limit or not seen[pid])
        ]
        gone.extend(k for k in table._addpath if k not in seen_addpath)
        for pid, path_id in gone:
            old = table._pop(pid, path_id)
            if self.on_change is not None and old is not None:
                self.on_change(RouteChange(
                    table.peer, self._key(pid, path_id), self._prefixes.texts[pid], self._paths.texts[old],
                    None, False, table._dump_start, RIB_REPLACE_CAUSE, None,
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
        was_up = table.established is not False and (table.established or len(table) > 0)
        table.established = False
        for pid, path_id in table._keys():
            old = table._pop(pid, path_id)
            if self.on_change is not None and old is not None:
                self.on_change(RouteChange(
                    table.peer, self._key(pid, path_id), self._prefixes.texts[pid], self._paths.texts[old],
                    None, False, obs.time, DOWN_CAUSE, obs,
                ))
        if was_up:
            table.updated = obs.time
            if self.on_session is not None:
                self.on_session(SessionChange(table.peer, obs.time, False, obs))
