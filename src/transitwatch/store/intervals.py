"""Route intervals built columnar, a batch of observations at a time (the ingest's fast path).

The rules are :class:`~transitwatch.state.table.RoutingState`'s (announce / withdraw / RIB dump
replace / session down, RFC 4271 / RFC 6396 as a collector sees them) and the rows are exactly
those of the row-by-row reference (``ingestion._Deriver`` fed by ``RoutingState`` callbacks);
tests compare the two on every table. What differs is how: one collector's state is held in
numpy arrays (one *slot* per open interval: peer, route key, AS path, start, last seen) and each
batch is worked out with array operations, not a Python call per observation:

1. columns of the batch (kind, peer, route key, path, time, offset) come packed from the
   decoder's column mode (:class:`~transitwatch.sources.columns.RouteColumns`; a list of
   Observations is read field by field instead) and are interned (peers, route keys
   ``prefix[/ADD-PATH id]``, AS path texts) to ints in one C pass (``store._intern.columns_raw``,
   or ``columns`` for a list; the route keys without the GIL) through this builder's C hash
   tables, which also give each new key its store id and each new plain AS path its origin and
   ASNs;
2. the batch is cut at the few *barriers* whose effect depends on the whole state: a session
   state change, the close of RIB dumps (the stream moved past them), a peer's new dump while an
   older one of another file is open;
3. between barriers, events are sorted stably by route key; an event's previous holder is the
   event before it in its key's group (or the open slot), which classifies every event at once as
   a confirmation (same path again: ``last_seen``), a close, an open, or both;
4. intervals that ended are emitted as Arrow tables (route rows with numeric ids, the new prefix
   and AS path texts with their ids), and the slots are updated in bulk.

Ids are the store's stable ids (:func:`~transitwatch.store.db.stable_id`, MD5 in C), and the
ASNs and origins of plain AS paths are parsed in C; other paths (AS_SETs, confederations) go
through :func:`~transitwatch.state.aspath.parse_as_path` as before.

Memory is the open intervals (about 60 bytes each plus about 40 per interned key and its text)
and one batch: it does not grow with the input's length. Coverage-aware callers (time windows per
peer) can hook :meth:`IntervalBuilder.close_peer` (end every open interval of a peer at a time,
with a cause).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

import transitwatch.sources._mrt as _mrt
from transitwatch import native

try:
    import transitwatch.store._intern as _intern
except ModuleNotFoundError:  # a source tree updated without a rebuild: one line, not a traceback
    raise native.StaleExtensionError(
        "the compiled extension _intern (store/_intern.c) is missing; build it: `make .venv/.installed` "
        "(or `pip install -e .`)") from None
from transitwatch.observation import ESTABLISHED, Observation
from transitwatch.sources.columns import RouteColumns
from transitwatch.state.aspath import ASPathError, parse_as_path
from transitwatch.store import arrowcols
from transitwatch.store.arrowcols import column, numeric, strings
from transitwatch.store.db import CAUSES, stable_id

native.check(_intern, Path(__file__).with_name("_intern.c"))
_intern.bind(_mrt.ObservationBase)

__all__ = ["IntervalBuilder", "ROUTE_ID_SCHEMA"]

# Kind codes; for announce/withdraw/rib they are also the cause codes (db.CAUSES order).
_ANNOUNCE, _WITHDRAW, _RIB, _STATE = 0, 1, 2, 3
_RIB_REPLACE = CAUSES.index("rib_replace")
_DOWN = CAUSES.index("down")
assert CAUSES[:3] == ("announce", "withdraw", "rib")

_PEER_SHIFT = 40  # combined key: peer index << 40 | route key code
_NONE_OFFSET = -1  # offsets are >= 0; -1 stands for NULL
_CAUSE_TYPE = pa.dictionary(pa.int8(), pa.string())
_CAUSE_DICT = column(list(CAUSES), pa.string())

#: Route rows as the columnar builder emits them (ids, not texts).
ROUTE_ID_SCHEMA = pa.schema([
    ("peer_id", pa.uint64()), ("prefix_id", pa.uint64()), ("path_id", pa.int64()), ("aspath_id", pa.uint64()),
    ("t_start", pa.float64()), ("start_cause", _CAUSE_TYPE), ("start_file", pa.uint64()),
    ("start_offset", pa.int64()), ("last_seen", pa.float64()), ("t_end", pa.float64()),
    ("end_cause", _CAUSE_TYPE), ("end_file", pa.uint64()), ("end_offset", pa.int64()),
    ("safi", pa.uint8()),
])
PREFIX_SCHEMA = pa.schema([("prefix_id", pa.uint64()), ("prefix", pa.string())])
ASPATH_SCHEMA = pa.schema([
    ("aspath_id", pa.uint64()), ("as_path", pa.string()), ("origin", pa.int64()),
    ("asns", pa.list_(pa.int64())),
])
SESSION_SCHEMA = pa.schema([
    ("peer_id", pa.uint64()), ("time", pa.float64()), ("up", pa.bool_()), ("file_id", pa.uint64()),
    ("file_offset", pa.int64()),
])
PEER_SCHEMA = pa.schema([
    ("peer_id", pa.uint64()), ("collector", pa.string()), ("peer_ip", pa.string()),
    ("peer_asn", pa.int64()), ("established", pa.bool_()),
])

_I64 = npt.NDArray[np.int64]
_F64 = npt.NDArray[np.float64]
_FLUSH_ROWS = 262_144
_OPEN_CHUNK = 245_760  # open intervals written at the end a chunk at a time: two DuckDB row groups,
# which it writes straight to the file (smaller appends wait in memory until the commit)

Emit = Callable[[str, pa.Table], None]


class _Column:
    """A growable 1-D numpy column (capacity doubles: appends cost O(1) amortised)."""

    def __init__(self, dtype: Any) -> None:
        self.data = np.zeros(1024, dtype)
        self.size = 0

    def extend(self, values: Any) -> None:
        values = np.asarray(values, self.data.dtype)
        end = self.size + len(values)
        if end > len(self.data):
            grown = np.zeros(max(end, 2 * len(self.data)), self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size: end] = values
        self.size = end

    @property
    def view(self) -> np.ndarray:
        return self.data[: self.size]


class _Slots:
    """Open intervals, one per slot, in growable numpy columns; freed slots are reused."""

    def __init__(self) -> None:
        self.size = 0
        self.cap = 0
        self.free: list[int] = []
        self.peer = np.zeros(0, np.int32)
        self.rk = np.zeros(0, np.int64)
        self.path = np.zeros(0, np.int32)
        self.start = np.zeros(0, np.float64)
        self.scause = np.zeros(0, np.int8)
        self.sfile = np.zeros(0, np.uint64)
        self.sfile_ok = np.zeros(0, np.bool_)
        self.soff = np.zeros(0, np.int64)
        self.last = np.zeros(0, np.float64)
        self.lastseq = np.zeros(0, np.int64)
        self.used = np.zeros(0, np.bool_)

    _COLUMNS = ("peer", "rk", "path", "start", "scause", "sfile", "sfile_ok", "soff", "last",
                "lastseq",
                "used")

    def allocate(self, n: int) -> _I64:
        """``n`` free slots (reused first, then new ones at the end)."""
        reuse = self.free[-n:] if n and self.free else []
        if reuse:
            del self.free[-len(reuse):]
        fresh = n - len(reuse)
        if self.size + fresh > self.cap:
            cap = max(1024, self.cap * 2, self.size + fresh)
            for name in self._COLUMNS:
                old = getattr(self, name)
                new = np.zeros(cap, old.dtype)
                new[: self.size] = old[: self.size]
                setattr(self, name, new)
            self.cap = cap
        out = np.concatenate([np.asarray(reuse, np.int64),
                              np.arange(self.size, self.size + fresh, dtype=np.int64)])
        self.size += fresh
        return out

    def release(self, slots: _I64) -> None:
        self.used[slots] = False
        self.free.extend(slots.tolist())

    def of_peer(self, peer: int) -> _I64:
        n = self.size
        return np.flatnonzero(self.used[:n] & (self.peer[:n] == peer)).astype(np.int64)


class IntervalBuilder:
    """One collector's route intervals, sessions and peers, built from observation batches.

    ``emit(table, arrow_table)`` receives ``"prefixes"``, ``"aspaths"``, ``"routes"`` (ids, see
    :data:`ROUTE_ID_SCHEMA`), ``"sessions"`` and, at :meth:`finish`, ``"peers"``. ``file_ids``
    maps a source path to its file id (rows' start_file/end_file).
    """

    def __init__(self, collector: str, file_ids: dict[str, int], emit: Emit) -> None:
        self.collector = collector
        self.file_ids = file_ids
        self.emit = emit
        self.written = 0
        self._seq = 0  # observations seen so far: orders touches against dump opens
        # peers
        self._peer_index: dict[str, int] = {}
        self._peer_ip: list[str] = []
        self._peer_asn: list[int] = []
        self._peer_id: list[int] = []
        self._established: list[bool | None] = []
        # RIB dumps per peer: source, open seq (-1: closed), start time; until: latest rib time
        self._dump_src: list[str | None] = []
        self._dump_seq: list[int] = []
        self._dump_start: list[float] = []
        self._until: float | None = None
        # route keys: prefix or (prefix, ADD-PATH id) -> code, in C (texts kept there: prefix rows
        # are taken from it); per code the prefix id and path id
        self._keys = _intern.Interner()
        self._rk_prefix_id = _Column(np.uint64)
        # -1: no ADD-PATH id; None until a key has one (8 bytes a key saved on other feeds)
        self._rk_path_id: _Column | None = None
        self._rk_stored = _Column(np.bool_)  # its prefix row was emitted
        # AS path texts -> code (in C); per code the aspath id
        self._paths = _intern.Interner(paths=True)
        self._path_id = _Column(np.uint64)
        self._pending: list[pa.Table] = []  # aspaths rows, written before the routes
        # open intervals
        self._slots = _Slots()
        # per peer, route key code -> slot of its open interval (-1: none); 4 bytes a key, where
        # a dict of combined keys would take ~100
        self._slot_tab: list[npt.NDArray[np.int32]] = []
        # closed rows waiting for a flush (lists of column chunks)
        self._closed: list[dict[str, np.ndarray]] = []
        self._closed_rows = 0
        self._sessions: list[tuple[Any, ...]] = []

    # -- interning ----------------------------------------------------------------------------

    def _peer(self, ip: str, asn: int) -> int:
        index = self._peer_index.get(ip)
        if index is None:
            index = self._peer_index[ip] = len(self._peer_ip)
            self._register_peer(ip, asn)
        return index

    def _register_peer(self, ip: str, asn: int) -> None:
        """The lists of a peer just added to ``_peer_index``."""
        self._peer_ip.append(ip)
        self._peer_asn.append(asn)
        self._peer_id.append(stable_id(f"{self.collector}|{ip}"))
        self._established.append(None)
        self._dump_src.append(None)
        self._dump_seq.append(-1)
        self._dump_start.append(0.0)

    def _add_keys(self, added: _intern.Added | None) -> None:
        """Per-code columns of the route keys an interning pass added."""
        if added is None:
            return
        count, _, _, ids, path_ids = added[:5]
        pids = np.frombuffer(path_ids, np.int64)
        if self._rk_path_id is None and pids.max() >= 0:  # the first ADD-PATH key
            self._rk_path_id = _Column(np.int64)
            self._rk_path_id.extend(np.full(self._rk_prefix_id.size, -1, np.int64))
        if self._rk_path_id is not None:
            self._rk_path_id.extend(pids)
        self._rk_prefix_id.extend(np.frombuffer(ids, np.uint64))
        self._rk_stored.extend(np.zeros(count, np.bool_))

    def _emit_prefixes(self, rk: _I64, *, stored: bool = False) -> None:
        """Prefix rows for the route keys of rows about to be written, once each (only prefixes
        of stored intervals are stored, as before)."""
        stored_flags = self._rk_stored.view
        fresh = rk[~stored_flags[rk]]
        if not fresh.size:
            return
        mark = np.zeros(len(stored_flags), np.bool_)
        mark[fresh] = True
        todo = np.flatnonzero(mark)
        stored_flags[todo] = True
        if stored:  # restored from the database: the rows are there
            return
        ids = self._rk_prefix_id.view[todo]
        if self._rk_path_id is not None and self._rk_path_id.view[todo].max() >= 0:
            # ADD-PATH keys share prefixes: once each
            ids, first = np.unique(ids, return_index=True)
            todo = todo[first]
        texts = strings(len(todo), *self._keys.texts(todo.astype(np.int64)))
        self.emit("prefixes", pa.table([numeric(ids, pa.uint64()), texts], schema=PREFIX_SCHEMA))

    def _add_paths(self, added: _intern.Added | None, *, stored: bool = False) -> None:
        """Per-code ids of the AS paths an interning pass added, and their rows (written before the
        routes that use them; ``stored``: restored from the database, the rows are there)."""
        if added is None:
            return
        count, text_off, text, ids_b, _, slow_b, origin_b, asn_off, asns_b = added
        ids = np.frombuffer(ids_b, np.uint64)
        self._path_id.extend(ids)
        if stored:
            return
        texts = strings(count, text_off, text)
        slow = np.frombuffer(slow_b, np.bool_)
        offsets = np.frombuffer(asn_off, np.int32)
        values = np.frombuffer(asns_b, np.int64)  # ASNs are below 2**32 (checked): the same bits
        origin = np.frombuffer(origin_b, np.int64)
        null_origin = None
        if slow.any():  # AS_SETs, confederations, odd text: the reference parser decides
            at = np.flatnonzero(slow)
            starts = np.frombuffer(text_off, np.int32)
            parsed = [_parsed_path(text[starts[i]: starts[i + 1]].decode()) for i in at.tolist()]
            origin = origin.copy()
            origin[at] = [0 if p[0] is None else p[0] for p in parsed]
            null_origin = np.zeros(count, np.bool_)
            null_origin[at] = [p[0] is None for p in parsed]
            # a slow path has no ASNs from C: its own go in at its offset, the later ones move on
            lengths = np.asarray([len(p[1]) for p in parsed], np.int64)
            values = np.insert(values, np.repeat(offsets[at], lengths),
                               np.fromiter((a for p in parsed for a in p[1]), np.int64, int(lengths.sum())))
            grown = np.zeros(count + 1, np.int64)
            grown[at + 1] = lengths
            offsets = (offsets + np.cumsum(grown)).astype(np.int32)
        asns = pa.ListArray.from_arrays(numeric(offsets, pa.int32()), numeric(values, pa.int64()))
        origins = numeric(origin, pa.int64(), null=null_origin)
        rows = pa.table([numeric(ids, pa.uint64()), texts, origins, asns], schema=ASPATH_SCHEMA)
        self._pending.append(rows)

    # -- restore (append to a stored history) ---------------------------------------------------

    def restore(self, peers: Sequence[tuple[Any, ...]], routes: Sequence[tuple[Any, ...]]) -> None:
        """Start from a stored state: ``peers`` (peer_id, ip, asn, established) and open
        intervals (ip, peer_id, prefix, path_id, aspath_id, as_path, t_start, start_cause,
        start_file, start_offset, last_seen)."""
        for peer_id, ip, asn, established in peers:
            index = self._peer(ip, asn)
            self._peer_id[index] = peer_id
            self._established[index] = established
        if not routes:
            return
        cols = list(zip(*routes, strict=True))
        # (the stored aspath ids, cols[4], are the ids interning gives their texts)
        ips, prefixes, path_ids, as_paths = cols[0], cols[2], cols[3], cols[5]
        key_codes, added_keys = self._keys.intern(list(prefixes),
                                                  [None if p is None else int(p) for p in path_ids])
        self._add_keys(added_keys)
        keys = np.frombuffer(key_codes, np.int64)
        path_codes, added_paths = self._paths.intern(list(as_paths))
        self._add_paths(added_paths, stored=True)
        paths = np.frombuffer(path_codes, np.int64).astype(np.int32)
        peer_codes = np.asarray([self._peer_index[ip] for ip in ips], np.int64)
        combined = (peer_codes << _PEER_SHIFT) | keys
        s = self._slots
        slots = s.allocate(len(routes))
        s.peer[slots] = peer_codes
        s.rk[slots] = keys
        s.path[slots] = paths
        s.start[slots] = np.asarray(cols[6], np.float64)
        s.scause[slots] = np.asarray([CAUSES.index(c) for c in cols[7]], np.int8)
        sfile = [0 if f is None else f for f in cols[8]]
        s.sfile[slots] = np.asarray(sfile, np.uint64)
        s.sfile_ok[slots] = np.asarray([f is not None for f in cols[8]], np.bool_)
        s.soff[slots] = np.asarray([_NONE_OFFSET if o is None else o for o in cols[9]], np.int64)
        s.last[slots] = np.asarray(cols[10], np.float64)
        s.lastseq[slots] = -1
        s.used[slots] = True
        self._set_slots(combined, slots)
        self._emit_prefixes(keys, stored=True)

    # -- a batch --------------------------------------------------------------------------------

    def add(self, batch: Sequence[Observation] | RouteColumns) -> tuple[np.ndarray, _F64]:
        """Apply a batch of one collector's observations, in stream order (a list, or a file's
        rows as packed columns); returns the batch's kind codes (0 announce, 1 withdraw, 2 rib,
        3 state) and times, for counting."""
        if not batch:
            return np.zeros(0, np.int8), np.zeros(0, np.float64)
        if isinstance(batch, RouteColumns):
            return self._add_columns(batch)
        source = batch[0].source
        if batch[-1].source != source:
            parts = []
            start = 0
            for i in range(1, len(batch)):  # several files in one batch (not from read_files): split
                if batch[i].source != batch[start].source:
                    parts.append(self.add(batch[start:i]))
                    start = i
            parts.append(self.add(batch[start:]))
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        # one pass in C: the columns, with peers, route keys and paths interned
        kind_b, time_b, off_b, peer_b, key_b, path_b, new_peers, new_keys, new_paths = _intern.columns(
            batch, self._peer_index, self._keys, self._paths)
        kind = np.frombuffer(kind_b, np.int8)
        times = np.frombuffer(time_b, np.float64)
        offsets = np.frombuffer(off_b, np.int64)
        peers = np.frombuffer(peer_b, np.int64)
        keys = np.frombuffer(key_b, np.int64)
        paths = np.frombuffer(path_b, np.int32)
        for ip in new_peers:
            self._register_peer(ip, batch[int(np.argmax(peers == self._peer_index[ip]))].peer_asn)
        return self._apply(batch, source, kind, times, offsets, peers, keys, paths, new_keys, new_paths)

    def _add_columns(self, batch: RouteColumns) -> tuple[np.ndarray, _F64]:
        """A batch the decoder packed as columns (no Observation per route)."""
        peer_b, key_b, path_b, new_peers, new_keys, new_paths = _intern.columns_raw(
            batch.kind, batch.peer, batch.peers, batch.prefix_offsets, batch.prefix_text, batch.path_id,
            batch.path, batch.paths, self._peer_index, self._keys, self._paths)
        if new_peers:
            asn_of = {ip: asn for ip, asn in batch.peers}
            for ip in new_peers:
                self._register_peer(ip, asn_of[ip])
        return self._apply(batch, batch.source, batch.kind, batch.time, batch.offset,
                           np.frombuffer(peer_b, np.int64), np.frombuffer(key_b, np.int64),
                           np.frombuffer(path_b, np.int32), new_keys, new_paths)

    def _apply(self, batch: Sequence[Observation] | RouteColumns, source: str, kind: np.ndarray, times: _F64,
               offsets: _I64, peers: _I64, keys: _I64, paths: np.ndarray, new_keys: _intern.Added | None,
               new_paths: _intern.Added | None) -> tuple[np.ndarray, _F64]:
        n = len(kind)
        self._add_keys(new_keys)
        self._add_paths(new_paths)
        combined = (peers << _PEER_SHIFT) | keys
        file_id = self.file_ids.get(source)
        seq = self._seq + np.arange(n, dtype=np.int64)
        self._seq += n
        cols = _Batch(batch, kind, times, offsets, peers, keys, paths, combined, seq, source, file_id)

        states = np.flatnonzero(kind == _STATE)
        rib = kind == _RIB
        pos = 0
        while pos < n:
            stop = n
            if states.size:
                later = states[states >= pos]
                if later.size:
                    stop = int(later[0])
            # the stream moves past the open dumps: a non-RIB record later than the latest RIB time
            if self._until is not None or rib[pos:stop].any():
                until0 = -np.inf if self._until is None else self._until
                rt = np.where(rib[pos:stop], times[pos:stop], -np.inf)
                before = np.maximum.accumulate(np.concatenate([[until0], rt]))[:-1]
                past = np.flatnonzero(~rib[pos:stop] & (times[pos:stop] > before) & (before > -np.inf))
                if past.size:
                    stop = pos + int(past[0])
            # a peer's first RIB record of this file while its dump of another file is open
            reopen = [p for p, (src, dseq) in enumerate(zip(self._dump_src, self._dump_seq, strict=True))
                      if dseq >= 0 and src != source]
            if reopen:
                hit = np.flatnonzero(rib[pos:stop] & np.isin(peers[pos:stop], reopen))
                if hit.size:
                    stop = pos + int(hit[0])
            if stop > pos:
                self._run(cols, pos, stop)
                pos = stop
                continue
            # a barrier at pos
            k = int(kind[pos])
            if k != _RIB and self._until is not None and times[pos] > self._until:
                self._close_dumps(None)
                if k != _STATE:
                    continue
            if k == _STATE:
                obs = batch[pos]
                assert isinstance(obs, Observation)
                self._state(obs, int(peers[pos]), file_id)
                pos += 1
                continue
            if k == _RIB:  # its peer's older dump (another file) closes first
                self._close_dumps(int(peers[pos]))
                self._run(cols, pos, pos + 1)
                pos += 1
                continue
            raise AssertionError("no progress at a barrier")  # pragma: no cover
        if self._closed_rows >= _FLUSH_ROWS:
            self.flush()
        return kind, times

    def _run(self, c: _Batch, a: int, b: int) -> None:
        """Events [a, b) of the batch: announcements, withdrawals and RIB records only."""
        kind = c.kind[a:b]
        key = c.combined[a:b]
        n = b - a
        if (n > 1 and not (kind == _WITHDRAW).any() and (np.diff(key) > 0).all()
                and (self._lookup(key) < 0).all()):
            # A table loading: every route new, each once (keys in increasing order: distinct), so
            # every event opens an interval and none closes one.
            self._open_all(c, a, b)
            self._run_tail(c, a, b)
            return
        order = np.argsort(key, kind="stable")
        ks = key[order]
        kd = kind[order]
        ps = c.paths[a:b][order]
        ts = c.times[a:b][order]
        offs = c.offsets[a:b][order]
        seqs = c.seq[a:b][order]
        gstart = np.empty(n, np.bool_)
        gstart[0] = True
        np.not_equal(ks[1:], ks[:-1], out=gstart[1:])
        gid = np.cumsum(gstart) - 1
        uniq = ks[gstart]
        init_slot = self._lookup(uniq)
        has_init = init_slot >= 0
        s = self._slots
        init_path = np.full(len(uniq), -1, np.int32)
        init_path[has_init] = s.path[init_slot[has_init]]

        is_w = kd == _WITHDRAW
        prev = np.empty(n, np.int32)
        prev[1:] = ps[:-1]
        prev[gstart] = init_path
        is_conf = ~is_w & (prev == ps)
        closes = (prev >= 0) & ~is_conf
        opens = ~is_w & ~is_conf
        # holder after each event: an open's own index, -1 none, -2 the slot open before the run
        idx = np.arange(n, dtype=np.int64)
        value = np.where(opens, idx, np.where(is_w, -1, -2))
        reset = opens | is_w | gstart
        last_reset = np.maximum.accumulate(np.where(reset, idx, 0))
        after = value[last_reset]
        before = np.empty(n, np.int64)
        before[1:] = after[:-1]
        before[gstart] = np.where(has_init, -2, -1)

        # last seen / last touch of every segment
        last = np.where(opens, ts, 0.0)
        lastseq = np.where(opens, seqs, -1)
        conf_idx = np.flatnonzero(is_conf)
        init_last = np.full(len(uniq), np.nan)
        init_lastseq = np.full(len(uniq), -1, np.int64)
        if conf_idx.size:
            h = before[conf_idx]
            own = h >= 0
            # later confirmations overwrite earlier ones (fancy assignment keeps the last)
            last[h[own]] = ts[conf_idx[own]]
            lastseq[h[own]] = seqs[conf_idx[own]]
            ini = conf_idx[~own]
            init_last[gid[ini]] = ts[ini]
            init_lastseq[gid[ini]] = seqs[ini]
        touched_init = ~np.isnan(init_last)
        if touched_init.any():
            sl = init_slot[touched_init]
            s.last[sl] = init_last[touched_init]
            s.lastseq[sl] = init_lastseq[touched_init]

        cause = kd  # announce/withdraw/rib codes are their causes
        file_id = c.file_id
        close_idx = np.flatnonzero(closes)
        end_of = np.full(n, -1, np.int64)
        closed_init = np.zeros(0, np.int64)
        closed_init_by = np.zeros(0, np.int64)
        if close_idx.size:
            h = before[close_idx]
            own = h >= 0
            end_of[h[own]] = close_idx[own]
            closed_init_by = close_idx[~own]
            closed_init = init_slot[gid[closed_init_by]]
        # rows of intervals that opened and closed in this run
        done = np.flatnonzero(opens & (end_of >= 0))
        if done.size:
            e = end_of[done]
            self._add_closed(
                peer=c.peers[a:b][order][done], rk=c.keys[a:b][order][done], path=ps[done], start=ts[done],
                scause=cause[done], sfile_ok=np.full(done.size, file_id is not None), sfile=file_id or 0,
                soff=offs[done], last=last[done], end=ts[e], ecause=cause[e], efile_ok=file_id is not None,
                efile=file_id or 0, eoff=offs[e])
        # rows of intervals open before the run that closed in it
        if closed_init.size:
            sl = closed_init
            self._add_closed(
                peer=s.peer[sl], rk=s.rk[sl], path=s.path[sl], start=s.start[sl], scause=s.scause[sl],
                sfile_ok=s.sfile_ok[sl], sfile=s.sfile[sl], soff=s.soff[sl], last=s.last[sl],
                end=ts[closed_init_by], ecause=cause[closed_init_by], efile_ok=file_id is not None,
                efile=file_id or 0, eoff=offs[closed_init_by])
        # the state at the end of the run, per key
        glast = np.empty(len(uniq), np.int64)
        glast[gid] = idx  # last event of each group
        final = after[glast]
        keep_new = final >= 0
        gone = (final == -1) & has_init
        if gone.any():
            sl = init_slot[gone]
            s.release(sl)
            self._set_slots(uniq[gone], None)
        if keep_new.any():
            j = final[keep_new]
            reuse = init_slot[keep_new]
            fresh = reuse < 0
            if fresh.any():
                got = s.allocate(int(fresh.sum()))
                reuse[fresh] = got
                self._set_slots(uniq[keep_new][fresh], got)
            sl = reuse
            s.peer[sl] = c.peers[a:b][order][j]
            s.rk[sl] = c.keys[a:b][order][j]
            s.path[sl] = ps[j]
            s.start[sl] = ts[j]
            s.scause[sl] = cause[j]
            s.sfile[sl] = file_id or 0
            s.sfile_ok[sl] = file_id is not None
            s.soff[sl] = offs[j]
            s.last[sl] = last[j]
            s.lastseq[sl] = lastseq[j]
            s.used[sl] = True

        self._run_tail(c, a, b)

    def _open_all(self, c: _Batch, a: int, b: int) -> None:
        """Events [a, b), all announcements or RIB records of routes with no open interval, each
        route once: each opens its interval (what _run works out for them, without sorting)."""
        s = self._slots
        sl = s.allocate(b - a)
        s.peer[sl] = c.peers[a:b]
        s.rk[sl] = c.keys[a:b]
        s.path[sl] = c.paths[a:b]
        s.start[sl] = c.times[a:b]
        s.scause[sl] = c.kind[a:b]
        s.sfile[sl] = c.file_id or 0
        s.sfile_ok[sl] = c.file_id is not None
        s.soff[sl] = c.offsets[a:b]
        s.last[sl] = c.times[a:b]
        s.lastseq[sl] = c.seq[a:b]
        s.used[sl] = True
        self._set_slots(c.combined[a:b], sl)

    def _run_tail(self, c: _Batch, a: int, b: int) -> None:
        """What every run ends with: sessions marked established, RIB dumps opened."""
        kind = c.kind[a:b]
        # peers: an announcement marks an unknown session as established
        ann_peers = np.flatnonzero(np.bincount(c.peers[a:b][kind == _ANNOUNCE])).tolist()
        for p in ann_peers:
            if self._established[p] is None:
                self._established[p] = True
        # RIB dumps: a peer's first RIB record opens its dump; the latest RIB time is remembered
        rib = kind == _RIB
        if rib.any():
            rib_peers = c.peers[a:b][rib]
            first_peers, first_at = np.unique(rib_peers, return_index=True)
            rib_pos = np.flatnonzero(rib)
            for p, at in zip(first_peers.tolist(), first_at.tolist(), strict=True):
                if self._dump_seq[p] < 0 or self._dump_src[p] != c.source:
                    i = a + int(rib_pos[at])
                    self._dump_src[p] = c.source
                    self._dump_seq[p] = int(c.seq[i])
                    self._dump_start[p] = float(c.times[i])
            top = float(c.times[a:b][rib].max())
            if self._until is None or top > self._until:
                self._until = top

    _CLOSED_TYPES: dict[str, Any] = {
        "peer": np.int32, "rk": np.int64, "path": np.int32, "start": np.float64, "scause": np.int8,
        "sfile_ok": np.bool_, "sfile": np.uint64, "soff": np.int64, "last": np.float64, "end": np.float64,
        "ecause": np.int8, "efile_ok": np.bool_, "efile": np.uint64, "eoff": np.int64}

    def _table(self, peer: int) -> npt.NDArray[np.int32]:
        """The peer's key -> slot table, grown to cover every route key code."""
        while len(self._slot_tab) <= peer:
            self._slot_tab.append(np.full(0, -1, np.int32))
        tab = self._slot_tab[peer]
        if len(tab) < len(self._keys):
            grown = np.full(max(len(self._keys), 2 * len(tab)), -1, np.int32)
            grown[: len(tab)] = tab
            tab = self._slot_tab[peer] = grown
        return tab

    def _lookup(self, combined: _I64) -> _I64:
        """Slots of the open intervals of (peer, route key) ``combined`` keys, -1 where none."""
        out = np.full(len(combined), -1, np.int64)
        peers = combined >> _PEER_SHIFT
        rks = combined & ((1 << _PEER_SHIFT) - 1)
        for p in np.flatnonzero(np.bincount(peers)).tolist():  # peer indices: small ints
            mine = peers == p
            out[mine] = self._table(p)[rks[mine]]
        return out

    def _set_slots(self, combined: _I64, slots: _I64 | None) -> None:
        """Record (or, with None, forget) the slots of ``combined`` keys."""
        peers = combined >> _PEER_SHIFT
        rks = combined & ((1 << _PEER_SHIFT) - 1)
        for p in np.flatnonzero(np.bincount(peers)).tolist():  # peer indices: small ints
            mine = peers == p
            self._table(p)[rks[mine]] = -1 if slots is None else slots[mine]

    def _add_closed(self, **cols: Any) -> None:
        n = len(cols["peer"])
        # fixed dtypes: concatenating uint64 with int64 chunks would give float64 (and lose ids)
        chunk: dict[str, np.ndarray] = {name: (np.full(n, v, self._CLOSED_TYPES[name]) if np.ndim(v) == 0
                        else np.asarray(v, self._CLOSED_TYPES[name])) for name, v in cols.items()}
        self._closed.append(chunk)
        self._closed_rows += n

    def _close_slots(self, sl: _I64, end: float, cause: int, file_id: int | None, offset: int | None) -> None:
        if not sl.size:
            return
        s = self._slots
        self._add_closed(
            peer=s.peer[sl], rk=s.rk[sl], path=s.path[sl], start=s.start[sl], scause=s.scause[sl],
            sfile_ok=s.sfile_ok[sl], sfile=s.sfile[sl], soff=s.soff[sl], last=s.last[sl],
            end=np.full(sl.size, end), ecause=np.full(sl.size, cause, np.int8), efile_ok=file_id is not None,
            efile=file_id or 0, eoff=_NONE_OFFSET if offset is None else offset)
        self._set_slots((s.peer[sl].astype(np.int64) << _PEER_SHIFT) | s.rk[sl], None)
        s.release(sl)

    def close_peer(self, peer_ip: str, end: float, cause: str, obs: Observation | None = None) -> None:
        """End every open interval of a peer at ``end`` (``cause`` one of the store's causes),
        with the file/offset of ``obs`` when given."""
        index = self._peer_index.get(peer_ip)
        if index is None:
            return
        file_id = self.file_ids.get(obs.source) if obs is not None else None
        self._close_slots(self._slots.of_peer(index), end, CAUSES.index(cause), file_id,
                          obs.offset if obs is not None else None)

    def _close_dumps(self, only: int | None) -> None:
        """Close the open RIB dumps (all, or one peer's): routes their peers had that the dump did
        not contain and that were not updated while it was read end at the dump's start."""
        s = self._slots
        closing = [p for p, dseq in enumerate(self._dump_seq) if dseq >= 0 and (only is None or p == only)]
        if closing:
            n = s.size
            open_seq = np.full(len(self._dump_seq), np.iinfo(np.int64).min, np.int64)
            open_seq[closing] = np.asarray([self._dump_seq[p] for p in closing], np.int64)
            stale = s.used[:n] & (s.lastseq[:n] < open_seq[s.peer[:n]])
            sl = np.flatnonzero(stale).astype(np.int64)
            if sl.size:
                owners = s.peer[sl]
                for p in closing:
                    self._close_slots(sl[owners == p], self._dump_start[p], _RIB_REPLACE, None, None)
            for p in closing:
                self._dump_seq[p] = -1
        if only is None:
            self._until = None

    def _state(self, obs: Observation, peer: int, file_id: int | None) -> None:
        if obs.new_state == ESTABLISHED:
            was = self._established[peer]
            self._established[peer] = True
            if not was:
                self._sessions.append((self._peer_id[peer], obs.time, True, file_id, obs.offset))
            return
        sl = self._slots.of_peer(peer)
        established = self._established[peer]
        was_up = established is not False and bool(established or sl.size)
        self._established[peer] = False
        self._close_slots(sl, obs.time, _DOWN, file_id, obs.offset)
        if was_up:
            self._sessions.append((self._peer_id[peer], obs.time, False, file_id, obs.offset))

    # -- output -----------------------------------------------------------------------------------

    def flush(self) -> None:
        """Emit the closed intervals and session changes gathered so far."""
        if self._closed:
            chunks = self._closed
            self._closed, self._closed_rows = [], 0
            cols = {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
            self._emit_routes(cols, closed=True)
        if self._sessions:
            columns = [list(x) for x in zip(*self._sessions, strict=True)]
            self.emit("sessions", arrowcols.table(columns, SESSION_SCHEMA))
            self._sessions = []

    def _emit_paths(self) -> None:
        """The AS path rows gathered since the last write, as one table (one insert)."""
        if self._pending:
            self.emit("aspaths", pa.concat_tables(self._pending))
            self._pending = []

    def _emit_routes(self, cols: dict[str, np.ndarray], *, closed: bool) -> None:
        n = len(cols["peer"])
        if not n:
            return
        rk = cols["rk"].astype(np.int64)
        self._emit_paths()
        self._emit_prefixes(rk)
        path_id = self._rk_path_id.view[rk] if self._rk_path_id is not None else np.full(n, -1, np.int64)
        peer_ids = np.asarray(self._peer_id, np.uint64)[cols["peer"].astype(np.int64)]
        sfile_ok = np.asarray(cols["sfile_ok"], np.bool_)
        soff = np.asarray(cols["soff"], np.int64)
        arrays = [
            numeric(peer_ids, pa.uint64()),
            numeric(self._rk_prefix_id.view[rk], pa.uint64()),
            numeric(path_id, pa.int64(), null=path_id < 0),
            numeric(self._path_id.view[cols["path"].astype(np.int64)], pa.uint64()),
            numeric(cols["start"], pa.float64()),
            _causes(cols["scause"]),
            numeric(np.asarray(cols["sfile"], np.uint64), pa.uint64(), null=~sfile_ok),
            numeric(soff, pa.int64(), null=soff < 0),
            numeric(cols["last"], pa.float64()),
        ]
        if closed:
            efile_ok = np.asarray(cols["efile_ok"], np.bool_)
            eoff = np.asarray(cols["eoff"], np.int64)
            arrays += [
                numeric(cols["end"], pa.float64()),
                _causes(cols["ecause"]),
                numeric(np.asarray(cols["efile"], np.uint64), pa.uint64(), null=~efile_ok),
                numeric(eoff, pa.int64(), null=eoff < 0),
            ]
        else:
            arrays += [pa.nulls(n, pa.float64()), pa.nulls(n, _CAUSE_TYPE), pa.nulls(n, pa.uint64()),
                       pa.nulls(n, pa.int64())]
        # every route here is unicast: ingest reads with read_files' default (SAFI 1 only)
        arrays.append(numeric(np.ones(n, np.uint8), pa.uint8()))
        self.emit("routes", pa.table(arrays, schema=ROUTE_ID_SCHEMA))
        self.written += n

    def finish(self) -> None:
        """End of the stream: close the open RIB dumps, emit every row (open intervals with
        ``t_end`` NULL) and the peers."""
        self._close_dumps(None)
        self.flush()
        # no key is looked up from here on: the hash indexes go before the peak of writing
        self._keys.seal()
        self._paths.seal()
        self._slot_tab = []
        s = self._slots
        sl = np.flatnonzero(s.used[: s.size]).astype(np.int64)
        for lo in range(0, sl.size, _OPEN_CHUNK):
            part = sl[lo: lo + _OPEN_CHUNK]
            self._emit_routes({"peer": s.peer[part], "rk": s.rk[part], "path": s.path[part],
                               "start": s.start[part], "scause": s.scause[part], "sfile": s.sfile[part],
                               "sfile_ok": s.sfile_ok[part], "soff": s.soff[part], "last": s.last[part]},
                              closed=False)
        self._emit_paths()
        if self._peer_ip:
            self.emit("peers", arrowcols.table(
                [self._peer_id, [self.collector] * len(self._peer_ip), self._peer_ip, self._peer_asn,
                 self._established], PEER_SCHEMA))


class _Batch:
    """The columns of one batch (numpy arrays over its observations)."""

    __slots__ = ("batch", "kind", "times", "offsets", "peers", "keys", "paths", "combined", "seq", "source",
                 "file_id")

    def __init__(self, batch: Sequence[Observation] | RouteColumns, kind: np.ndarray, times: _F64,
                 offsets: _I64, peers: _I64, keys: _I64, paths: np.ndarray, combined: _I64, seq: _I64,
                 source: str, file_id: int | None) -> None:
        self.batch = batch
        self.kind = kind
        self.times = times
        self.offsets = offsets
        self.peers = peers
        self.keys = keys
        self.paths = paths
        self.combined = combined
        self.seq = seq
        self.source = source
        self.file_id = file_id


def _causes(codes: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(numeric(np.asarray(codes, np.int8), pa.int8()), _CAUSE_DICT)


def _parsed_path(text: str) -> tuple[int | None, list[int]]:
    """Origin and sorted ASNs of a path the SQL fast path does not cover (as the reference)."""
    try:
        parsed = parse_as_path(text)
    except ASPathError:
        return None, []
    origin = parsed.origin
    return (origin if isinstance(origin, int) else None), sorted(parsed.asns)
