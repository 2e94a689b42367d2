"""Every peer's routes at one moment as arrays, built from the decoder's batches without a Python
step per route.

>>> snap = route_snapshot(read_files(["updates.et-header.2015.gz"]), until=None)   # doctest: +SKIP
>>> len(snap), len(snap.prefixes), len(snap.paths)                                # doctest: +SKIP
(577740, 577706, 76819)

The routes are those a :class:`~transitwatch.state.table.RoutingState` (or
:class:`~transitwatch.state.compact.CompactRoutingState`) replayed over the same stream with the
same ``until`` holds at the end (the tests compare them route for route), by the same rules,
computed differently. Each batch goes through a C pass (``_table.route_columns``: peer, route key
and AS path as numbers, a canonical IPv4 prefix as its own number); a route is then the last event
of its (peer, key) — kept when it is an announcement or a RIB entry not older than the peer's last
*clear point*: the start of its last RIB dump (closing a dump drops the routes it did not touch,
and every dump is closed by the end of a replay) or its last session-down. The clear points come
from one sequential C pass over the kinds (``_table.clear_points``), the last events from one
sort.

What the country view needs is here: the peers (:class:`~transitwatch.state.table.PeerKey`, AS
from the peer's first observation, as a table's), each route's peer, prefix and AS path as
numbers into :attr:`RouteSnapshot.prefixes` / :attr:`RouteSnapshot.paths`, ``start``/``time``
as a replay sets them. A ``counter`` (an object with ``add(observations)``, such as the
inference's ``PairCounter``) is fed the same observations, batch by batch: one read of the input
for both.

Assumes what :func:`~transitwatch.sources.files.read_files` gives: each batch from one file (a
batch mixing collectors or files is split first).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transitwatch import native
from transitwatch.observation import ESTABLISHED, Observation
from transitwatch.state import _table
from transitwatch.state.aspath import origin_of
from transitwatch.state.table import PeerKey

native.check(_table, Path(__file__).with_name("_table.c"))

__all__ = ["PrefixTexts", "RouteSnapshot", "origins_of_paths", "route_snapshot"]

_ANNOUNCE, _WITHDRAW, _RIB, _STATE, _DOWN = 0, 1, 2, 3, 4
#: accumulated route events before they are reduced to the last one per (peer, key)
_REDUCE_AT = 1 << 22
#: route keys below _table.OTHER_KEY (2**40) are IPv4 prefixes (address << 6 | length)
_PEER_SHIFT = 41


class PrefixTexts(Sequence[str]):
    """A snapshot's prefix texts, IPv4 ones formatted from their numbers only when asked: a
    question about one country reads a few of a table's 580k (formatting them all costs ~0.04 s
    and 35 MB of strings). Many single reads, iteration or comparison format them all once."""

    __slots__ = ("_asked", "_list", "_others", "_v4")
    #: single reads before the whole list is formatted (then reads are list indexing)
    _SINGLE_READS = 2048

    def __init__(self, v4_keys: np.ndarray, others: list[str]) -> None:
        self._v4 = v4_keys
        self._others = others
        self._list: list[str] | None = None
        self._asked = 0

    def __len__(self) -> int:
        return int(self._v4.size) + len(self._others)

    def _all(self) -> list[str]:
        if self._list is None:
            out: list[str] = _table.format_v4(self._v4)
            out.extend(self._others)
            self._list = out
        return self._list

    def __getitem__(self, i: Any) -> Any:
        if self._list is not None:
            return self._list[i]
        n4 = int(self._v4.size)
        if isinstance(i, slice):
            r = range(len(self))[i]
            if r.step != 1:
                return self._all()[i]
            out: list[str] = _table.format_v4(self._v4[min(r.start, n4):min(r.stop, n4)])
            out.extend(self._others[max(r.start - n4, 0):max(r.stop - n4, 0)])
            return out
        i = range(len(self))[i]  # IndexError out of range, negative indices counted from the end
        self._asked += 1
        if self._asked > self._SINGLE_READS:
            return self._all()[i]
        if i < n4:
            return _table.format_v4(self._v4[i:i + 1])[0]
        return self._others[i - n4]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PrefixTexts):
            other = other._all()
        return isinstance(other, Sequence) and not isinstance(other, str) and self._all() == list(other)

    # unhashable, as a list
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PrefixTexts({len(self)} prefixes)"


@dataclass
class RouteSnapshot:
    """Routes as arrays (one row per route, grouped by peer): ``peer`` indexes :attr:`peers`,
    ``pid`` :attr:`prefixes`, ``path`` :attr:`paths`; ``path_id`` the ADD-PATH id (-1: none)."""

    peers: list[PeerKey]
    prefixes: Sequence[str]  # a PrefixTexts (formatted when read) or a list
    paths: list[str]
    peer: np.ndarray
    pid: np.ndarray
    path: np.ndarray
    path_id: np.ndarray
    start: float | None = None
    time: float | None = None
    observations: int = 0
    first_time: float | None = None
    #: the first ``v4_keys.size`` prefixes are IPv4 as numbers: address << 6 | length
    v4_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self.peer.size)

    def only_peers(self, keep: np.ndarray) -> RouteSnapshot:
        """The routes of the peers where ``keep`` (a bool per :attr:`peers`) is True, prefixes
        and paths renumbered densely (as a snapshot built from those peers alone has them)."""
        rows = keep[self.peer]
        peer_used = np.flatnonzero(keep)
        peer_new = np.cumsum(keep) - 1
        pid, path = self.pid[rows], self.path[rows]
        used_p = np.unique(pid)
        used_a = np.unique(path)
        n4 = self.v4_keys.size
        prefixes: Sequence[str]
        if isinstance(self.prefixes, PrefixTexts):
            # still numbers: the kept IPv4 keys, and the other texts kept
            others = self.prefixes[n4:]
            prefixes = PrefixTexts(self.v4_keys[used_p[used_p < n4]],
                                   [others[i] for i in (used_p[used_p >= n4] - n4).tolist()])
        else:
            prefixes = [self.prefixes[i] for i in used_p.tolist()]
        return RouteSnapshot(
            peers=[self.peers[i] for i in peer_used.tolist()],
            prefixes=prefixes,
            paths=[self.paths[i] for i in used_a.tolist()],
            peer=peer_new[self.peer[rows]].astype(np.int64),
            pid=np.searchsorted(used_p, pid).astype(np.int64),
            path=np.searchsorted(used_a, path).astype(np.int64), path_id=self.path_id[rows],
            start=self.start, time=self.time, observations=self.observations, first_time=self.first_time,
            v4_keys=self.v4_keys[used_p[used_p < n4]])

    def to_records(self) -> list[dict[str, Any]]:
        """All routes as flat dicts, as :meth:`RoutingState.to_records` gives them."""
        out = []
        for p, x, a, i in zip(self.peer.tolist(), self.pid.tolist(), self.path.tolist(),
                              self.path_id.tolist(), strict=True):
            out.append({**self.peers[p].to_dict(), "prefix": self.prefixes[x],
                        "path_id": None if i < 0 else i, "as_path": self.paths[a]})
        return out


def _batches(stream: Iterable[Observation]) -> Iterator[list[Observation]]:
    inner = getattr(stream, "batches", None)
    chunks: Iterator[list[Observation]]
    if inner is not None:
        chunks = inner()
    else:
        it = iter(stream)
        chunks = iter(lambda: list(itertools.islice(it, 4096)), [])
    for batch in chunks:
        if not batch:
            continue
        head, tail = batch[0], batch[-1]
        if head.collector == tail.collector and head.source == tail.source and (
                inner is not None or all(o.collector == head.collector and o.source == head.source
                                         for o in batch)):
            yield batch
            continue
        start = 0
        for i in range(1, len(batch)):
            if batch[i].collector != batch[start].collector or batch[i].source != batch[start].source:
                yield batch[start:i]
                start = i
        yield batch[start:]


class _Builder:
    def __init__(self, until: float | None, counter: Any) -> None:
        self.until = until
        self.counter = counter
        self.local_peers: dict[str, dict[Any, int]] = {}  # collector -> peer ip -> local code
        self.local_to_global: dict[str, list[int]] = {}
        self.collectors: dict[str, int] = {}
        self.sources: dict[Any, int] = {}
        self.keys: dict[Any, int] = {}
        self.key_texts: list[Any] = []
        self.path_codes: dict[Any, int] = {}
        self.path_texts: list[str] = []
        self.peers: list[PeerKey] = []
        self.peer_coll = np.zeros(0, np.int32)
        self.open_src = np.zeros(0, np.int64)
        self.clear = np.zeros(0, np.int64)
        self.until_c = np.zeros(0, np.float64)
        self.chunks: list[tuple[np.ndarray, ...]] = []  # (peer, key, path, seq, kind)
        self.pending = 0
        self.seq = 0
        self.start: float | None = None
        self.time: float | None = None
        self.done = False

    def add(self, batch: list[Observation]) -> None:
        head = batch[0]
        collector = head.collector
        local = self.local_peers.setdefault(collector, {})
        l2g = self.local_to_global.setdefault(collector, [])
        kind_b, time_b, peer_b, key_b, path_b, _asn, new_peers, new_keys, new_paths = _table.route_columns(
            batch, local, self.keys, self.path_codes, False)
        self.key_texts.extend(new_keys)
        self.path_texts.extend(new_paths)
        kind = np.frombuffer(kind_b, np.int8).copy()
        times = np.frombuffer(time_b, np.float64)
        lpeer = np.frombuffer(peer_b, np.int64)
        n = kind.size
        if self.until is not None and (times > self.until).any():
            # the replay stops at the first record past `until` (takewhile), whatever follows
            n = int(np.argmax(times > self.until))
            self.done = True
            if n == 0:
                return
            kind, times, lpeer = kind[:n], times[:n], lpeer[:n]
        if self.counter is not None:
            self.counter.add(batch if n == len(batch) else batch[:n])
        if self.start is None:
            self.start = float(times[0])
        self.time = float(times[n - 1])
        for ip in new_peers:
            code = local[ip]
            at = int(np.argmax(lpeer == code))
            if lpeer[at] != code:  # only past the cut: no table
                continue
            while len(l2g) <= code:
                l2g.append(-1)
            l2g[code] = len(self.peers)
            self.peers.append(PeerKey(collector, ip, batch[at].peer_asn))
            coll = self.collectors.setdefault(collector, len(self.collectors))
            if coll >= self.until_c.size:
                self.until_c = np.append(self.until_c, np.nan)
            self.peer_coll = np.append(self.peer_coll, np.int32(coll))
            self.open_src = np.append(self.open_src, np.int64(-1))
            self.clear = np.append(self.clear, np.int64(-1))
        gpeer = np.asarray(l2g, np.int64)[lpeer]
        for i in np.flatnonzero(kind == _STATE).tolist():
            if batch[i].new_state != ESTABLISHED:
                kind[i] = _DOWN
        source = self.sources.setdefault(head.source, len(self.sources))
        _table.clear_points(kind, gpeer, np.full(n, source, np.int64), np.ascontiguousarray(times), self.seq,
                            self.peer_coll, self.open_src, self.until_c, self.clear)
        route = np.flatnonzero(kind <= _RIB)
        seq = self.seq + route
        keys = np.frombuffer(key_b, np.int64)[:n][route]
        paths = np.frombuffer(path_b, np.int64)[:n][route]
        self.chunks.append((gpeer[route].astype(np.int32), keys, paths.astype(np.int32), seq, kind[route]))
        self.pending += route.size
        self.seq += n
        if self.pending >= _REDUCE_AT:
            # keep the last event of each route, and of those only the ones that can still be
            # held: a withdrawal, or an event older than its peer's clear point, stays dead
            # (a later event of the same route would replace it anyway)
            peer, key, path, seq, kind = self._last_events()
            live = (kind != _WITHDRAW) & (seq >= self.clear[peer])
            self.chunks = [(peer[live], key[live], path[live], seq[live], kind[live])]
            self.pending = int(live.sum())

    def _last_events(self) -> tuple[np.ndarray, ...]:
        """The last event of each (peer, key) so far, in (peer, key) order."""
        if not self.chunks:
            empty = np.zeros(0, np.int64)
            return empty.astype(np.int32), empty, empty.astype(np.int32), empty, np.zeros(0, np.int8)
        peer, key, path, seq, kind = (np.concatenate(c) for c in zip(*self.chunks, strict=True))
        combined = (peer.astype(np.int64) << _PEER_SHIFT) + key
        if combined.size < 2 or bool((combined[1:] > combined[:-1]).all()):
            # one RIB dump of one peer comes in prefix order, each route once: nothing to sort
            return peer, key, path, seq, kind
        order = np.argsort(combined, kind="stable")  # stable: events of a key stay in stream order
        ordered = combined[order]
        last = np.ones(order.size, dtype=bool)
        last[:-1] = ordered[1:] != ordered[:-1]
        keep = order[last]
        return peer[keep], key[keep], path[keep], seq[keep], kind[keep]

    def finish(self) -> RouteSnapshot:
        peer, key, path, seq, kind = self._last_events()
        alive = (kind != _WITHDRAW) & (seq >= self.clear[peer]) if peer.size else np.zeros(0, bool)
        peer, key, path = peer[alive].astype(np.int64), key[alive], path[alive]
        # prefixes and paths of the routes held, numbered densely
        if key.size and (peer[0] == peer[-1]) and bool((key[1:] > key[:-1]).all()):
            ukeys, key_inverse = key, np.arange(key.size)  # one peer: sorted and distinct already
        else:
            ukeys, key_inverse = np.unique(key, return_inverse=True)
        other = int(np.searchsorted(ukeys, _table.OTHER_KEY))
        texts = self.key_texts
        others: list[Any] = [texts[k - _table.OTHER_KEY] for k in ukeys[other:].tolist()]
        path_id = np.full(key.size, -1, np.int64)
        v4_keys = ukeys[:other]
        prefixes: Sequence[str]
        if all(t.__class__ is str for t in others):
            prefixes = PrefixTexts(v4_keys, others)
            pid = key_inverse.astype(np.int64)
        else:
            chosen: list[Any] = _table.format_v4(v4_keys)
            chosen.extend(others)
            v4_keys = v4_keys[:0]
            ids: dict[str, int] = {}
            key_pid = np.empty(len(chosen), np.int64)
            key_path_id = np.full(len(chosen), -1, np.int64)
            for i, t in enumerate(chosen):
                prefix = t if t.__class__ is str else t[0]
                key_pid[i] = ids.setdefault(prefix, len(ids))
                if t.__class__ is not str:
                    key_path_id[i] = t[1]
            prefixes = list(ids)
            pid = key_pid[key_inverse]
            path_id = key_path_id[key_inverse]
        # path codes are dense (< number of texts seen): renumber the used ones without a sort
        used = np.zeros(len(self.path_texts), dtype=bool)
        used[path] = True
        upaths = np.flatnonzero(used)
        path_inverse = (np.cumsum(used) - 1)[path]
        path_texts = self.path_texts
        snap = RouteSnapshot(
            peers=self.peers, prefixes=prefixes, paths=[path_texts[p] for p in upaths.tolist()],
            peer=peer, pid=pid, path=path_inverse.astype(np.int64), path_id=path_id,
            start=self.start, time=self.time, observations=self.seq, first_time=self.start, v4_keys=v4_keys)
        return snap


def route_snapshot(stream: Iterable[Observation], until: float | None = None, *,
                   counter: Any = None) -> RouteSnapshot:
    """The routes every peer holds after ``stream`` (up to and including ``until``), as a replay
    would leave them; ``counter.add()`` gets the same observations (see the module's doc)."""
    builder = _Builder(until, counter)
    for batch in _batches(stream):
        builder.add(batch)
        if builder.done:
            break
    return builder.finish()


def origins_of_paths(paths: list[str]) -> np.ndarray:
    """:func:`~transitwatch.state.aspath.origin_of` of each path text (-1: None), in C for plain
    paths (a numeric last token) and through ``origin_of`` for the rest."""
    out = np.frombuffer(_table.origins(paths), np.int64).copy()
    for i in np.flatnonzero(out == -2).tolist():
        found = origin_of(paths[i])
        out[i] = found if found is not None and 0 <= found < 1 << 63 else -1  # (no such AS in MRT)
    return out
