"""Live writing: observations from a feed (RIS Live, an archive backfill) into the store as they
arrive, in short transactions.

>>> writer = LiveWriter(store)                                             # doctest: +SKIP
>>> writer.begin_segment("ris-live:wss://ris-live.ripe.net/v1/ws/", started=time.time())
>>> writer.write(observations)        # one transaction: intervals, sessions, peers, provenance

The rows are the ones ``ingest`` writes (route intervals, sessions, peers, interned prefixes and
paths), so every query answers from live data as from files. Provenance: each *segment* (one
connection to the feed, or one backfill) is a row of the ``files`` table per collector, with a
path such as ``ris-live:ws://host/v1/ws/ 2026-11-30T09:00:00Z rrc00`` and its time range and
counts; intervals point at it as they point at a file.

Crash safety: a batch is one transaction, so a kill -9 loses at most the batch being written; a
restarted writer reads the open intervals it needs from the database (lazily, per route), so it
resumes where the last committed batch left off and never writes a route twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from transitwatch.observation import ANNOUNCE, ESTABLISHED, RIB, SAFI_UNICAST, STATE, WITHDRAW, Observation
from transitwatch.state.aspath import ASPathError, parse_as_path
from transitwatch.store.db import Store, StoreWriteError, file_id_of, stable_id, write_failure
from transitwatch.times import iso_utc

__all__ = ["LIVE_PREFIX", "BACKFILL_PREFIX", "LiveWriter", "WriteResult", "live_high_water"]

#: Path prefixes of the provenance rows of live segments and backfills in the ``files`` table.
LIVE_PREFIX = "ris-live:"
BACKFILL_PREFIX = "backfill:"

_KEYS = pa.schema([("peer_id", pa.uint64()), ("prefix_id", pa.uint64()), ("path_id", pa.int64())])
_CLOSES = pa.schema([
    ("peer_id", pa.uint64()), ("prefix_id", pa.uint64()), ("path_id", pa.int64()), ("t_end", pa.float64()),
    ("end_cause", pa.string()), ("end_file", pa.uint64()), ("end_offset", pa.int64()),
    ("last_seen", pa.float64()),
])
_ROUTES = pa.schema([
    ("peer_id", pa.uint64()), ("prefix_id", pa.uint64()), ("path_id", pa.int64()), ("aspath_id", pa.uint64()),
    ("t_start", pa.float64()), ("start_cause", pa.string()), ("start_file", pa.uint64()),
    ("start_offset", pa.int64()), ("last_seen", pa.float64()), ("t_end", pa.float64()),
    ("end_cause", pa.string()), ("end_file", pa.uint64()), ("end_offset", pa.int64()),
    ("safi", pa.uint8()),
])

_Key = tuple[int, int, int | None]


@dataclass
class WriteResult:
    """What one :meth:`LiveWriter.write` committed: observations, intervals opened and closed,
    session changes, and the collectors and time range touched."""

    observations: int = 0
    opened: int = 0
    closed: int = 0
    sessions: int = 0
    collectors: set[str] = field(default_factory=set)
    first_time: float | None = None
    last_time: float | None = None

    @property
    def changed(self) -> bool:
        return bool(self.opened or self.closed or self.sessions)

    def to_dict(self) -> dict[str, Any]:
        return {"observations": self.observations, "opened": self.opened, "closed": self.closed,
                "sessions": self.sessions, "collectors": sorted(self.collectors),
                "first_time": self.first_time, "last_time": self.last_time}


@dataclass
class _Open:
    """A stored interval still open: its path id, start and latest confirmation."""

    aspath_id: int
    t_start: float
    last_seen: float
    stored: bool  # already a row in the database (else created in this batch)


@dataclass
class _Segment:
    collector: str
    file_id: int
    path: str
    first_time: float | None = None
    last_time: float | None = None
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])  # obs, ann, wd, rib, state


def live_high_water(store: Store) -> dict[str, float]:
    """Per collector, the latest observation time written by live segments (restart: where the
    feed left off)."""
    rows = store.cursor().execute(
        "SELECT collector, max(last_time) FROM files WHERE starts_with(path, ?) AND last_time IS NOT NULL "
        "GROUP BY collector", [LIVE_PREFIX]).fetchall()
    return {str(c): float(t) for c, t in rows}


class LiveWriter:
    """Writes observations into ``store`` incrementally (see the module doc). One thread uses a
    writer; it holds its own cursor, so readers on other cursors see each committed batch."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cur = store.cursor()
        self._open: dict[_Key, _Open | None] = {}
        self._peers: dict[int, bool | None] = {}
        self._paths: set[int] = set()
        self._prefixes: set[int] = set()
        self._segments: dict[str, _Segment] = {}
        self._label = "live"

    # -- segments -------------------------------------------------------------------------------

    def begin_segment(self, label: str, started: float) -> None:
        """A new source of observations (a connection, a backfill): its rows in ``files`` are
        created per collector as its first observation arrives."""
        self._label = f"{label} {iso_utc(started)}"
        self._segments = {}

    def forget(self) -> None:
        """Drop the cached state (after another writer, e.g. a file ingest, changed the tables)."""
        self._open.clear()
        self._peers.clear()
        self._paths.clear()
        self._prefixes.clear()

    def _segment(self, collector: str) -> _Segment:
        seg = self._segments.get(collector)
        if seg is None:
            path = f"{self._label} {collector or '(unnamed)'}"
            sha = hashlib.sha256(path.encode()).hexdigest()
            seg = self._segments[collector] = _Segment(collector, file_id_of(sha), path)
            _run(self.cur, "DELETE FROM files WHERE file_id = ?", [seg.file_id])
            _run(self.cur,
                "INSERT INTO files VALUES (?, ?, ?, ?, 0, NULL, NULL, 0, 0, 0, 0, 0, '[]', ?)",
                [seg.file_id, sha, path, collector, datetime.now(UTC)])
        return seg

    # -- writing --------------------------------------------------------------------------------

    def write(self, observations: Iterable[Observation]) -> WriteResult:
        """Apply observations (time order) in one transaction; returns what was written."""
        batch = [o for o in observations]
        result = WriteResult()
        if not batch:
            return result
        cur = self.cur
        _run(cur, "BEGIN TRANSACTION")
        try:
            self._load_open(batch)
            pending = _Pending()
            for obs in batch:
                self._apply(obs, pending, result)
            self._flush(pending, result)
            self._update_segments()
            _run(cur, "COMMIT")
        except BaseException as exc:
            try:
                _run(cur, "ROLLBACK")
            except Exception:  # noqa: BLE001 - a failed COMMIT ends the transaction itself
                pass
            self.forget()  # the cache may hold what was rolled back
            why = write_failure(exc)
            if why is not None and not isinstance(exc, StoreWriteError):
                raise StoreWriteError(f"{self.store.path}: cannot write the database ({why}); "
                                      "this batch was not kept") from None
            raise
        result.observations = len(batch)
        return result

    def _load_open(self, batch: list[Observation]) -> None:
        """Fill the cache with the stored open intervals of the batch's route keys."""
        keys: set[_Key] = set()
        for o in batch:
            if o.kind in (ANNOUNCE, WITHDRAW, RIB) and o.prefix:
                key = (stable_id(f"{o.collector}|{o.peer_ip}"), stable_id(o.prefix), o.path_id)
                if key not in self._open:
                    keys.add(key)
        if not keys:
            return
        for key in keys:
            self._open[key] = None
        cols = list(zip(*keys, strict=True))
        table = pa.table([list(c) for c in cols], schema=_KEYS)
        self.cur.register("_live_keys", table)
        try:
            rows = _run(self.cur,
                """SELECT r.peer_id, r.prefix_id, r.path_id, r.aspath_id, r.t_start, r.last_seen
                   FROM routes r JOIN _live_keys k ON r.peer_id = k.peer_id AND r.prefix_id = k.prefix_id
                        AND r.path_id IS NOT DISTINCT FROM k.path_id
                   WHERE r.t_end IS NULL""")
        finally:
            self.cur.unregister("_live_keys")
        for pid, xid, path_id, aid, start, last in rows:
            self._open[(int(pid), int(xid), None if path_id is None else int(path_id))] = _Open(
                int(aid), float(start), float(last), True)

    def _peer(self, obs: Observation, established: bool | None = None) -> int:
        pid = stable_id(f"{obs.collector}|{obs.peer_ip}")
        if pid not in self._peers:
            found = _run(self.cur, "SELECT established FROM peers WHERE peer_id = ?", [pid])
            if not found:
                _run(self.cur, "INSERT INTO peers VALUES (?, ?, ?, ?, ?)",
                                 [pid, obs.collector, obs.peer_ip, obs.peer_asn, established])
                self._peers[pid] = established
                return pid
            self._peers[pid] = found[0][0]
        return pid

    def _set_established(self, pid: int, value: bool) -> None:
        if self._peers.get(pid) is not value:
            _run(self.cur, "UPDATE peers SET established = ? WHERE peer_id = ?", [value, pid])
            self._peers[pid] = value

    def _path(self, text: str) -> int:
        aid = stable_id(text)
        if aid not in self._paths:
            if _run(self.cur, "SELECT 1 FROM aspaths WHERE aspath_id = ?", [aid]) == []:
                try:
                    parsed = parse_as_path(text)
                    origin = parsed.origin if isinstance(parsed.origin, int) else None
                    asns = sorted(parsed.asns)
                except ASPathError:
                    origin, asns = None, []
                _run(self.cur, "INSERT INTO aspaths VALUES (?, ?, ?, ?)", [aid, text, origin, asns])
            self._paths.add(aid)
        return aid

    def _prefix(self, text: str) -> int:
        xid = stable_id(text)
        if xid not in self._prefixes:
            if _run(self.cur, "SELECT 1 FROM prefixes WHERE prefix_id = ?", [xid]) == []:
                _run(self.cur, "INSERT INTO prefixes VALUES (?, ?)", [xid, text])
            self._prefixes.add(xid)
        return xid

    def _apply(self, obs: Observation, pending: _Pending, result: WriteResult) -> None:
        seg = self._segment(obs.collector)
        t = float(obs.time)
        seg.first_time = t if seg.first_time is None else min(seg.first_time, t)
        seg.last_time = t if seg.last_time is None else max(seg.last_time, t)
        result.first_time = t if result.first_time is None else min(result.first_time, t)
        result.last_time = t if result.last_time is None else max(result.last_time, t)
        result.collectors.add(obs.collector)
        kind = obs.kind
        seg.counts[0] += 1
        seg.counts[{ANNOUNCE: 1, WITHDRAW: 2, RIB: 3, STATE: 4}[kind]] += 1
        if kind == STATE:
            pid = self._peer(obs)
            if obs.new_state == ESTABLISHED:
                if self._peers.get(pid) is not True:
                    self._set_established(pid, True)
                    pending.sessions.append((pid, t, True, seg.file_id, obs.offset))
                    result.sessions += 1
                return
            # Every route of the peer ends: write what is pending, then close them all in SQL.
            self._flush(pending, result)
            row = _run(self.cur,
                "UPDATE routes SET t_end = ?, end_cause = 'down', end_file = ?, end_offset = ? "
                "WHERE peer_id = ? AND t_end IS NULL", [t, seg.file_id, obs.offset, pid])
            closed = int(row[0][0]) if row else 0
            result.closed += closed
            for stale in [k for k in self._open if k[0] == pid]:
                self._open[stale] = None
            was = self._peers.get(pid)
            self._set_established(pid, False)
            if was is not False and (was or closed):  # as RoutingState: a session that was up
                _run(self.cur, "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                                 [pid, t, False, seg.file_id, obs.offset])
                result.sessions += 1
            return
        if not obs.prefix or obs.safi not in (None, SAFI_UNICAST):
            # the store holds the unicast table, as ingest does: a multicast route (a file fed
            # with safi=2/None) is counted above but never opens or closes a unicast interval
            return
        pid = self._peer(obs, True if kind == ANNOUNCE else None)
        xid = self._prefix(obs.prefix)
        key: _Key = (pid, xid, obs.path_id)
        current = self._open.get(key)
        if kind == WITHDRAW:
            if current is not None:
                pending.close(key, current, t, "withdraw", seg.file_id, obs.offset)
                self._open[key] = None
            return
        if self._peers.get(pid) is None and kind == ANNOUNCE:
            self._set_established(pid, True)
        aid = self._path(obs.as_path or "")
        if current is not None and current.aspath_id == aid:
            current.last_seen = max(current.last_seen, t)  # the same route again: a confirmation
            if current.stored:
                pending.seen[key] = current.last_seen
            else:
                pending.new[key][8] = current.last_seen
            return
        if current is not None:
            pending.close(key, current, t, kind, seg.file_id, obs.offset)
        pending.open(key, [pid, xid, obs.path_id, aid, t, kind, seg.file_id, obs.offset, t,
                           None, None, None, None, SAFI_UNICAST])
        self._open[key] = _Open(aid, t, t, False)

    def _flush(self, pending: _Pending, result: WriteResult) -> None:
        cur = self.cur
        if pending.closes:
            rows = list(pending.closes.values())
            for key, row in zip(pending.closes, rows, strict=True):
                row[7] = pending.seen.pop(key, row[7])
            cols = list(zip(*rows, strict=True))
            cur.register("_live_closes", pa.table([list(c) for c in cols], schema=_CLOSES))
            try:
                _run(cur,
                    """UPDATE routes SET t_end = c.t_end, end_cause = c.end_cause, end_file = c.end_file,
                              end_offset = c.end_offset, last_seen = greatest(routes.last_seen, c.last_seen)
                       FROM _live_closes c
                       WHERE routes.peer_id = c.peer_id AND routes.prefix_id = c.prefix_id
                         AND routes.path_id IS NOT DISTINCT FROM c.path_id AND routes.t_end IS NULL""")
            finally:
                cur.unregister("_live_closes")
            result.closed += len(rows)
        if pending.seen:
            items = [(k[0], k[1], k[2], None, None, None, None, v) for k, v in pending.seen.items()]
            cols = list(zip(*items, strict=True))
            cur.register("_live_seen", pa.table([list(c) for c in cols], schema=_CLOSES))
            try:
                _run(cur,
                    """UPDATE routes SET last_seen = greatest(routes.last_seen, c.last_seen) FROM _live_seen c
                       WHERE routes.peer_id = c.peer_id AND routes.prefix_id = c.prefix_id
                         AND routes.path_id IS NOT DISTINCT FROM c.path_id AND routes.t_end IS NULL""")
            finally:
                cur.unregister("_live_seen")
        rows = pending.done + list(pending.new.values())
        if rows:
            cols = list(zip(*rows, strict=True))
            cur.register("_live_routes", pa.table([list(c) for c in cols], schema=_ROUTES))
            try:
                _run(cur, "INSERT INTO routes SELECT * FROM _live_routes")
            finally:
                cur.unregister("_live_routes")
            result.opened += len(rows)
            for key in pending.new:
                state = self._open.get(key)
                if state is not None:
                    state.stored = True
        if pending.sessions:
            cur.executemany("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", pending.sessions)
        pending.clear()

    def _update_segments(self) -> None:
        for seg in self._segments.values():
            obs, ann, wd, rib, st = seg.counts
            _run(self.cur,
                "UPDATE files SET first_time = ?, last_time = ?, observations = ?, announcements = ?, "
                "withdrawals = ?, rib_entries = ?, state_changes = ? WHERE file_id = ?",
                [seg.first_time, seg.last_time, obs, ann, wd, rib, st, seg.file_id])

    def touch(self, t: float) -> None:
        """The feed is still connected at ``t``: the current segments cover up to it (a filtered
        feed is quiet while nothing changes; silence while connected is data, not a gap)."""
        if not self._segments:
            return
        _run(self.cur, "BEGIN TRANSACTION")
        try:
            for seg in self._segments.values():
                if seg.last_time is not None and t > seg.last_time:
                    seg.last_time = t
            self._update_segments()
            _run(self.cur, "COMMIT")
        except BaseException:
            _run(self.cur, "ROLLBACK")
            raise

    def note(self, collector: str, text: str) -> None:
        """Add a line to the notes of the current segment's row for ``collector``."""
        seg = self._segment(collector)
        row = _run(self.cur, "SELECT notes FROM files WHERE file_id = ?", [seg.file_id])
        notes = json.loads(row[0][0]) if row else []
        notes.append(text)
        _run(self.cur, "UPDATE files SET notes = ? WHERE file_id = ?", [json.dumps(notes), seg.file_id])


def _run(cur: Any, sql: str, params: Any = None) -> list[Any]:
    """Execute and fetch at once: the cursor is then free for the next statement."""
    return cur.execute(sql, params).fetchall() if params is not None else cur.execute(sql).fetchall()


class _Pending:
    """The batch's writes, applied together: intervals of stored rows to close (and their last
    confirmation), confirmations of stored open intervals, new intervals (open, or already closed
    within the batch) and session rows."""

    def __init__(self) -> None:
        self.closes: dict[_Key, list[Any]] = {}
        self.seen: dict[_Key, float] = {}
        self.new: dict[_Key, list[Any]] = {}
        self.done: list[list[Any]] = []
        self.sessions: list[tuple[Any, ...]] = []

    def close(self, key: _Key, current: _Open, t: float, cause: str, file_id: int,
        offset: int | None) -> None:
        if current.stored:
            self.closes[key] = [key[0], key[1], key[2], t, cause, file_id, offset, current.last_seen]
            self.seen.pop(key, None)
        else:
            row = self.new.pop(key)
            row[9], row[10], row[11], row[12] = t, cause, file_id, offset
            self.done.append(row)

    def open(self, key: _Key, row: list[Any]) -> None:
        self.new[key] = row

    def clear(self) -> None:
        self.closes.clear()
        self.seen.clear()
        self.new.clear()
        self.done.clear()
        self.sessions.clear()
