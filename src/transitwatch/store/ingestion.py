"""Ingest MRT files into the store: incremental, idempotent, crash-safe.

>>> with Store("kp.duckdb") as store:                                     # doctest: +SKIP
...     report = ingest(store, ["rrc00/bview.20171001.0800.gz", "rrc00/updates.20171001.0805.gz"])

- A file is known by its SHA-256: ingesting it again is a no-op.
- Files are grouped by collector; each collector's (collector, peer) streams are derived apart
  from every other collector's, in one transaction per collector. A crash (even SIGKILL) loses at
  most the uncommitted collector; running the same command again finishes the work, and the
  database is then exactly what an uninterrupted run gives.
- New files that all start after everything the collector already has are *appended*: the
  routing state at the end of the stored history is restored from the open route intervals and
  the peers' session flags, and the new files are replayed from there. A file that arrives late
  (starting at or before the collector's last stored time) makes the collector *rebuilt*: its
  intervals are derived again from all its files in time order (paths from this call when given
  again, else the stored paths, checked by hash). Either way the result equals ingesting every
  file at once, in order.
- Collectors are independent (a peer belongs to one), so ``workers``/``scheduler`` derive them in
  parallel: a worker replays one collector's files into rows (Arrow tables) and this process, the
  only writer, commits each collector in its own transaction as it arrives; the same database.
- Upstream events of the watched targets (``watch``) are recomputed after every change, from the
  intervals, by :func:`transitwatch.detect.upstream_change.upstream_changes`.

How rows are derived (``method``): ``"columnar"`` (the default) hands each decoded batch to
:class:`~transitwatch.store.intervals.IntervalBuilder`, which works out a batch's intervals with
array operations and emits Arrow tables of ids; ``"reference"`` is the original row-by-row path
(:class:`~transitwatch.state.table.RoutingState` callbacks into ``_Deriver``), kept as the
specification the columnar path is tested against: both give the same database.
"""

from __future__ import annotations

import hashlib
import json
import os
import time as _time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from transitwatch.observation import Observation
from transitwatch.sources.columns import RouteColumns
from transitwatch.sources.files import collector_and_time_from_name, read_files
from transitwatch.sources.mrt import MrtError, MrtReader
from transitwatch.state.aspath import ASPathError, parse_as_path
from transitwatch.state.table import RouteChange, RouteKey, RoutingState, SessionChange
from transitwatch.state.target import Target
from transitwatch.store import arrowcols
from transitwatch.store.db import SQL_STABLE_ID, Store, StoreError, file_id_of, stable_id
from transitwatch.store.intervals import IntervalBuilder

__all__ = [
    "METHODS", "CollectorJob", "CollectorRows", "FileResult", "IngestProgress", "IngestReport",
    "derive_collector", "identity_of", "ingest", "refresh_events", "sha256_of", "watch",
]

#: How intervals are derived: columnar (fast, the default) or the row-by-row reference.
METHODS = ("columnar", "reference")

#: Progress callback: (collector, observations replayed so far in this collector, files in it).
IngestProgress = Callable[[str, int, int], None]

_FLUSH_ROWS = 200_000
# The SAFI of every stored route: ingest reads with read_files' default, which yields unicast only
# (RoutingState keys routes by prefix, so multicast must never reach it mixed with unicast).
_UNICAST = 1
_GROUP = 65_536  # observations per columnar batch

# Route rows carry the prefix text: DuckDB derives prefix ids (SQL_STABLE_ID) and interns the
# texts itself, vectorised (a full table has a million distinct prefixes).
_ROUTE_SCHEMA = pa.schema([
    ("peer_id", pa.uint64()), ("prefix", pa.string()), ("path_id", pa.int64()), ("aspath_id", pa.uint64()),
    ("t_start", pa.float64()), ("start_cause", pa.string()), ("start_file", pa.uint64()),
    ("start_offset", pa.int64()), ("last_seen", pa.float64()), ("t_end", pa.float64()),
    ("end_cause", pa.string()), ("end_file", pa.uint64()), ("end_offset", pa.int64()),
    ("safi", pa.uint8()),
])
_SESSION_SCHEMA = pa.schema([
    ("peer_id", pa.uint64()), ("time", pa.float64()), ("up", pa.bool_()), ("file_id", pa.uint64()),
    ("file_offset", pa.int64()),
])
_PEER_SCHEMA = pa.schema([
    ("peer_id", pa.uint64()), ("collector", pa.string()), ("peer_ip", pa.string()),
    ("peer_asn", pa.int64()), ("established", pa.bool_()),
])
_ASPATH_SCHEMA = pa.schema([
    ("aspath_id", pa.uint64()), ("as_path", pa.string()), ("origin", pa.int64()),
    ("asns", pa.list_(pa.int64())),
])
_PREFIX_ID = SQL_STABLE_ID.format("b.prefix")
_INSERT_PREFIXES = (
    f"INSERT INTO prefixes SELECT DISTINCT {_PREFIX_ID}, b.prefix FROM _batch b "
    f"WHERE NOT EXISTS (SELECT 1 FROM prefixes x WHERE x.prefix_id = {_PREFIX_ID})")
_INSERT_ROUTES = (
    f"INSERT INTO routes SELECT b.peer_id, {_PREFIX_ID}, b.path_id, b.aspath_id, b.t_start, b.start_cause, "
    "b.start_file, b.start_offset, b.last_seen, b.t_end, b.end_cause, b.end_file, b.end_offset, b.safi "
    "FROM _batch b")


@dataclass
class FileResult:
    """What happened to one file: ``status`` is ``"ingested"``, ``"skipped"`` (same content
    already in the database) or ``"replayed"`` (already there, read again for a rebuild)."""

    path: str
    sha256: str
    collector: str
    status: str
    observations: int = 0
    first_time: float | None = None
    last_time: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "collector": self.collector, "status": self.status,
                "observations": self.observations, "first_time": self.first_time, "last_time": self.last_time}


@dataclass
class IngestReport:
    """The outcome of :func:`ingest`: each file, each collector's mode (``"append"`` or
    ``"rebuild"``; ``"failed"`` when a parallel run could not derive it), observations replayed,
    route intervals written, events recomputed, seconds, and ``failures`` (one line each)."""

    files: list[FileResult] = field(default_factory=list)
    collectors: dict[str, str] = field(default_factory=dict)
    observations: int = 0
    route_intervals: int = 0
    events: int | None = None
    seconds: float = 0.0
    notices: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ingested(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "ingested"]

    @property
    def skipped(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "skipped"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [f.to_dict() for f in self.files],
            "ingested": len(self.ingested),
            "skipped": len(self.skipped),
            "collectors": self.collectors,
            "observations": self.observations,
            "route_intervals": self.route_intervals,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "notices": self.notices,
            "failures": self.failures,
        }


def sha256_of(path: str) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


#: A compressed MRT file this small may hold no record at all (an empty gzip is 20 bytes, bz2 14).
_QUIET_FILE_BYTES = 4096


def identity_of(path: str, collector: str) -> str:
    """What ingest knows a file by: the SHA-256 of its bytes, so that the same file given twice (or
    renamed) is read once. A file that holds no record (a quiet 5-minute interval) is the exception:
    every such file of a compression has the same bytes, yet each covers its own interval, so its
    identity is the SHA-256 of its bytes, collector and name (else all but one interval would be
    dropped as duplicates and become gaps in the stored coverage)."""
    return _identity(path, collector)[0]


_UNREAD = -1.0  # _identity's first time when it did not need to read the file's records


def _identity(path: str, collector: str) -> tuple[str, float | None]:
    """identity_of, and the first record's time when finding it took reading it (a small file:
    ``_UNREAD`` otherwise), so that ingest does not read it twice."""
    sha = sha256_of(path)
    if os.path.getsize(path) > _QUIET_FILE_BYTES:
        return sha, _UNREAD
    first = _first_time(path, collector)
    if first is not None:
        return sha, first
    return hashlib.sha256(f"{sha}|{collector}|{os.path.basename(path)}".encode()).hexdigest(), None


# -- deriving intervals from one collector's stream ------------------------------------------------


class _Deriver:
    """RoutingState callbacks that turn route changes into intervals and write them in batches."""

    def __init__(self, con: Any, collector: str, file_ids: dict[str, int]) -> None:
        # con None: keep the tables in ``batches`` (a worker; the main process writes them).
        self.con = con
        self.batches: list[tuple[str, pa.Table]] = []
        self.collector = collector
        self.file_ids = file_ids
        # (peer ip, route key) -> [peer_id, prefix, path_id, aspath_id, path, t_start,
        #                          start_cause, start_file, start_offset, last_seen]
        self.open: dict[tuple[str, RouteKey], list[Any]] = {}
        self.closed: list[tuple[Any, ...]] = []
        self.sessions: list[tuple[Any, ...]] = []
        self.peer_ids: dict[str, int] = {}
        self.path_ids: dict[str, int] = {}
        self.new_paths: list[str] = []
        self.written = 0

    def peer_id(self, ip: str) -> int:
        pid = self.peer_ids.get(ip)
        if pid is None:
            pid = self.peer_ids[ip] = stable_id(f"{self.collector}|{ip}")
        return pid

    def aspath_id(self, path: str) -> int:
        aid = self.path_ids.get(path)
        if aid is None:
            aid = self.path_ids[path] = stable_id(path)
            self.new_paths.append(path)
        return aid

    def route(self, ch: RouteChange) -> None:
        key = (ch.peer.ip, ch.key)
        rec = self.open.get(key)
        new = ch.new_path
        obs = ch.obs
        if rec is not None:
            if new is not None and new == rec[4]:
                rec[9] = ch.time  # the same path again: a confirmation, not a new interval
                return
            self.closed.append((rec[0], rec[1], rec[2], rec[3], rec[5], rec[6], rec[7], rec[8], rec[9],
                                ch.time, ch.cause, self.file_ids.get(obs.source) if obs else None,
                                obs.offset if obs else None, _UNICAST))
            del self.open[key]
            if len(self.closed) >= _FLUSH_ROWS:
                self.flush()
        if new is not None:
            self.open[key] = [
                self.peer_id(ch.peer.ip), ch.prefix,
                None if isinstance(ch.key, str) else ch.key[1], self.aspath_id(new), new, ch.time, ch.cause,
                self.file_ids.get(obs.source) if obs else None, obs.offset if obs else None, ch.time,
            ]

    def session(self, ch: SessionChange) -> None:
        obs = ch.obs
        self.sessions.append((self.peer_id(ch.peer.ip), ch.time, ch.up,
                              self.file_ids.get(obs.source) if obs else None, obs.offset if obs else None))

    def flush(self, *, final: bool = False) -> None:
        """Write closed intervals (and, when ``final``, the still-open ones) and new interned texts."""
        rows = self.closed
        if final:
            rows = rows + [(r[0], r[1], r[2], r[3], r[5], r[6], r[7], r[8], r[9], None, None, None, None,
                            _UNICAST) for r in self.open.values()]
        if self.new_paths:
            origins: list[int | None] = []
            asns: list[list[int]] = []
            for text in self.new_paths:
                try:
                    parsed = parse_as_path(text)
                except ASPathError:
                    origins.append(None)
                    asns.append([])
                    continue
                origin = parsed.origin
                origins.append(origin if isinstance(origin, int) else None)
                asns.append(sorted(parsed.asns))
            self._emit("aspaths", arrowcols.table(
                [[self.path_ids[p] for p in self.new_paths], self.new_paths, origins, asns], _ASPATH_SCHEMA))
            self.new_paths = []
        if rows:
            columns = list(zip(*rows, strict=True))
            self._emit("routes", arrowcols.table(columns, _ROUTE_SCHEMA))
            self.written += len(rows)
        self.closed = []
        if self.sessions:
            columns = list(zip(*self.sessions, strict=True))
            self._emit("sessions", arrowcols.table(columns, _SESSION_SCHEMA))
            self.sessions = []

    def _emit(self, table: str, data: pa.Table) -> None:
        if self.con is None:
            self.batches.append((table, data))
        else:
            _write_batch(self.con, table, data)


def _write_batch(con: Any, table: str, data: pa.Table) -> None:
    """Insert one batch of derived rows (``table``: prefixes, aspaths, routes, sessions or peers)."""
    if table == "aspaths":
        _insert_new(con, "aspaths", "aspath_id", data)
    elif table == "prefixes":
        _insert_new(con, "prefixes", "prefix_id", data)
    elif table == "routes" and "prefix_id" in data.schema.names:
        _insert(con, "routes", data)  # the columnar builder's rows: ids only
    elif table == "routes":
        con.register("_batch", data)
        try:
            con.execute(_INSERT_PREFIXES)
            con.execute(_INSERT_ROUTES)
        finally:
            con.unregister("_batch")
    else:
        _insert(con, table, data)


def _insert(con: Any, table: str, data: pa.Table) -> None:
    con.register("_batch", data)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _batch")  # table: a constant of this module
    finally:
        con.unregister("_batch")


def _insert_new(con: Any, table: str, id_column: str, data: pa.Table) -> None:
    # Interned texts: insert those the table does not have yet (ids are content hashes).
    con.register("_batch", data)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _batch b "
                    f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{id_column} = b.{id_column})")
    finally:
        con.unregister("_batch")


# -- the ingest --------------------------------------------------------------------------------------


@dataclass
class _NewFile:
    path: str
    sha256: str
    collector: str
    size: int
    name_time: float | None
    first_time: float | None


def _first_time(path: str, collector: str) -> float | None:
    for batch in MrtReader(path, collector=collector).batches():
        if batch:
            return float(batch[0].time)
    return None


def _order_key(f: _NewFile) -> tuple[float, str, str]:
    # Canonical order handed to read_files (it breaks ties between equal first times by it).
    return (f.name_time if f.name_time is not None else float("inf"), os.path.basename(f.path), f.sha256)


def ingest(
    store: Store,
    paths: Iterable[str | os.PathLike[str]],
    *,
    collector: str | None = None,
    watch_targets: Iterable[str] = (),
    min_peers: int = 2,
    min_duration: float = 300.0,
    progress: IngestProgress | None = None,
    workers: int | None = 1,
    scheduler: str | Any | None = None,
    pool: Any = None,
    method: str = "columnar",
) -> IngestReport:
    """Ingest MRT files into ``store`` (see the module doc). ``collector`` overrides the collector
    named by the paths. ``watch_targets`` adds targets whose upstream events are kept (with
    ``min_peers`` / ``min_duration`` as in ``transitwatch events``).

    Collectors are derived in parallel with ``workers`` > 1 (None: all cores) when several have
    new files, or on a Dask ``scheduler`` (an address, or ``"local"``), or on an open
    :class:`~transitwatch.engine.parallel.WorkPool` ``pool``: each worker replays one collector's files
    into rows and this process, the only writer, commits each collector in its own transaction as
    it arrives. The database is the same as with ``workers=1`` (one process). A collector whose
    files fail in a worker is not written; the failure is in :attr:`IngestReport.failures` and the
    other collectors go on.

    ``method`` is ``"columnar"`` (default) or ``"reference"``, the row-by-row derivation the
    columnar one is tested against (same database; see the module doc).

    Raises FileNotFoundError / MrtError (one line naming the file) for unreadable input and
    :class:`StoreError` when a rebuild needs a file that is no longer where it was.
    """
    if method not in METHODS:
        raise ValueError(f"unknown ingest method {method!r}; use one of {', '.join(METHODS)}")
    started = _time.perf_counter()
    _remove_spilled(store)  # rows a killed parallel ingest of this database left behind
    report = IngestReport()
    path_list = [os.fspath(p) for p in paths]
    for p in path_list:
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p}: no such file")
        if os.path.isdir(p):
            raise IsADirectoryError(f"{p}: is a directory, not an MRT file")
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    con = store.con
    known = {sha: (fid, path) for sha, fid, path in con.execute(
        "SELECT sha256, file_id, path FROM files").fetchall()}
    given_by_hash: dict[str, str] = {}
    new_files: list[_NewFile] = []
    for p in path_list:
        named_collector, name_time = collector_and_time_from_name(p)
        coll = collector or named_collector or ""
        sha, first = _identity(p, coll)
        if sha in given_by_hash:
            report.notices.append(f"{p}: same content as {given_by_hash[sha]}; read once")
            continue
        given_by_hash[sha] = p
        if sha in known:
            report.files.append(FileResult(p, sha, coll, "skipped"))
            continue
        new_files.append(_NewFile(p, sha, coll, os.path.getsize(p), name_time,
                                  _first_time(p, coll) if first == _UNREAD else first))

    if watch_targets:
        watch(store, watch_targets, min_peers=min_peers, min_duration=min_duration)

    by_collector: dict[str, list[_NewFile]] = {}
    for f in new_files:
        by_collector.setdefault(f.collector, []).append(f)
    plans = [_plan_collector(store, coll, by_collector[coll], given_by_hash, report)
             for coll in sorted(by_collector)]
    if pool is not None or scheduler is not None or (workers != 1 and len(plans) > 1):
        from transitwatch.engine.parallel import default_workers, open_pool

        if pool is None and scheduler is None and (workers or default_workers()) == 1:
            for plan in plans:
                _ingest_collector(store, plan, collector, report, progress, method)
        else:
            work = pool if pool is not None else open_pool(workers, scheduler)
            try:
                _ingest_in_parallel(store, plans, collector, report, progress, work, method)
            finally:
                if pool is None:
                    work.close()
    else:
        for plan in plans:
            _ingest_collector(store, plan, collector, report, progress, method)

    if store.meta("events_dirty"):
        report.events = refresh_events(store)
    report.seconds = _time.perf_counter() - started
    return report


@dataclass
class _Plan:
    """One collector's part of an ingest: its new files, the files to replay (in order) and
    whether they are appended to the stored history or the history is derived again."""

    collector: str
    files: list[_NewFile]
    replay: list[_NewFile]
    append: bool

    @property
    def file_ids(self) -> dict[str, int]:
        return {f.path: file_id_of(f.sha256) for f in self.replay}


def _plan_collector(
    store: Store, coll: str, files: list[_NewFile], given_by_hash: dict[str, str], report: IngestReport
) -> _Plan:
    con = store.con
    row = con.execute("SELECT max(last_time) FROM files WHERE collector = ?", [coll]).fetchone()
    stored_last = row[0] if row else None
    firsts = [f.first_time for f in files if f.first_time is not None]
    append = stored_last is None or not firsts or min(firsts) > stored_last
    report.collectors[coll or "(unnamed)"] = "append" if append else "rebuild"

    replay: list[_NewFile] = [f for f in files if f.first_time is not None]
    if not append:
        for sha, path, size in con.execute(
                "SELECT sha256, path, bytes FROM files WHERE collector = ? AND first_time IS NOT NULL",
                [coll]).fetchall():
            source = given_by_hash.get(sha) or path
            if not os.path.exists(source) or os.path.getsize(source) != size or sha256_of(source) != sha:
                raise StoreError(
                    f"collector {coll or '(unnamed)'}: a file arrived out of time order, so its history is "
                    f"derived again from all its files, but {path} is missing or changed; "
                    "give it again on the command line")
            replay.append(_NewFile(source, sha, coll, size, collector_and_time_from_name(source)[1], None))
            report.files.append(FileResult(source, sha, coll, "replayed"))
    replay.sort(key=_order_key)
    return _Plan(coll, files, replay, append)


@dataclass
class _Snapshot:
    """A collector's routing state at the end of its stored history: its peers and open
    intervals, as read from the database (what an append starts from)."""

    peers: list[tuple[Any, ...]]
    routes: list[tuple[Any, ...]]


@dataclass(frozen=True)
class CollectorJob:
    """What a worker needs to derive one collector's rows: the files to replay in order, their
    file ids, the collector override and, when appending, the stored state to start from."""

    collector: str
    paths: tuple[str, ...]
    file_ids: dict[str, int]
    override: str | None
    snapshot: _Snapshot | None
    method: str = "columnar"
    #: A folder on the writer's machine: the worker leaves its rows there as Arrow IPC files and
    #: returns their paths (a local process pool: no pickling of ~70 MB a full table through a
    #: pipe, the writer memory-maps them). None: the rows travel back in the result (Dask).
    spill: str | None = None


@dataclass
class CollectorRows:
    """A collector's derived rows (Arrow tables per database table, in write order; or the paths
    of Arrow IPC files holding them, see ``CollectorJob.spill``), per-file counts, the reader's
    notices, or ``error`` when its files could not be replayed."""

    collector: str
    batches: list[tuple[str, pa.Table | str]] = field(default_factory=list)
    stats: dict[str, list[Any]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    written: int = 0
    error: str | None = None
    cpu: float = 0.0
    pid: int = 0


def derive_collector(job: CollectorJob) -> CollectorRows:
    """Replay one collector's files into rows without touching the database (runs in a worker).
    Never raises for unreadable input: the one-line error is returned."""
    started = _time.process_time()
    rows = CollectorRows(job.collector, pid=os.getpid())
    batches: list[tuple[str, pa.Table]] = []
    try:
        rows.stats, rows.notices, rows.written = _derive_with(
            job, None, lambda table, data: batches.append((table, data)), None)
    except (MrtError, OSError) as exc:
        rows.error = str(exc)
    except Exception as exc:  # a bug must not kill the other collectors' work: report it
        rows.error = f"collector {job.collector or '(unnamed)'}: {type(exc).__name__}: {exc}"
    if rows.error is None and job.spill is not None:
        try:
            for table, data in batches:
                rows.batches.append((table, _spilled(data, job.spill)))
        except OSError as exc:  # the spill folder's disk is full: this collector fails, in one line
            _unlink_spilled(rows.batches)
            rows.batches = []
            rows.error = (f"collector {job.collector or '(unnamed)'}: cannot write its rows to "
                          f"{job.spill}: {exc}")
    elif rows.error is None:
        rows.batches = list(batches)
    rows.cpu = _time.process_time() - started
    return rows


def _spilled(data: pa.Table, folder: str) -> str:
    """``data`` written to a new Arrow IPC file in ``folder``; its path."""
    import tempfile

    handle, path = tempfile.mkstemp(dir=folder, suffix=".arrow")
    os.close(handle)
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, data.schema) as writer:
        writer.write_table(data)
    return path


def _unspilled(data: pa.Table | str) -> pa.Table:
    """A table, or the table in a spilled file (memory-mapped: not copied)."""
    if isinstance(data, str):
        return pa.ipc.open_file(pa.memory_map(data)).read_all()
    return data


def _unlink_spilled(batches: list[tuple[str, pa.Table | str]]) -> None:
    for _, data in batches:
        if isinstance(data, str):
            try:
                os.unlink(data)
            except OSError:
                pass


def _derive_with(
    job: CollectorJob, con: Any, emit: Callable[[str, pa.Table], None], progress: IngestProgress | None
) -> tuple[dict[str, list[Any]], list[str], int]:
    """Derive a job's rows by its method, handing each table to ``emit`` (or, for the reference
    with a connection ``con``, writing them there); returns per-file counts, notices, rows written."""
    if job.method == "reference":
        deriver = _Deriver(con, job.collector, job.file_ids)
        stats, notices = _derive(job, deriver, progress)
        for table, data in deriver.batches:
            emit(table, data)
        return stats, notices, deriver.written
    return _derive_columnar(job, emit, progress)


def _derive_columnar(
    job: CollectorJob, emit: Callable[[str, pa.Table], None], progress: IngestProgress | None
) -> tuple[dict[str, list[Any]], list[str], int]:
    """The columnar path: each decoded batch (one file's records) goes to the builder whole."""
    builder = IntervalBuilder(job.collector, job.file_ids, emit)
    if job.snapshot is not None:
        builder.restore(job.snapshot.peers, job.snapshot.routes)
    stats: dict[str, list[Any]] = {p: [0, 0, 0, 0, 0, None, None] for p in job.paths}
    notices: list[str] = []
    total = 0
    nfiles = len(job.paths)
    if job.paths:
        stream = read_files(list(job.paths), collector=job.override, notices=notices, columns=True)
        for batch in _read_ahead(_grouped(stream.batches())):
            kinds, times = builder.add(batch)
            s = stats[batch.source]
            counts = np.bincount(kinds, minlength=4)
            s[0] += len(batch)
            for i in range(4):
                s[i + 1] += int(counts[i])
            lo, hi = float(times.min()), float(times.max())
            s[5] = lo if s[5] is None else min(s[5], lo)
            s[6] = hi if s[6] is None else max(s[6], hi)
            total += len(batch)
            del batch  # before the next group is decoded: one group in memory at a time
            if progress is not None:
                progress(job.collector, total, nfiles)
    builder.finish()
    return stats, notices, builder.written


def _read_ahead(batches: Iterator[RouteColumns], depth: int = 1) -> Iterator[RouteColumns]:
    """``batches`` decoded in a thread, up to ``depth`` ahead of the caller (one: memory stays
    a batch or two): the builder interns a batch's route keys without the GIL
    (``_intern.columns_raw``) and numpy's array passes release it too, so on two cores the next
    batch is decoded meanwhile. An error of the reader is raised here, in order; when the caller
    stops early the thread stops at its next batch."""
    import queue
    import threading

    done = object()
    ahead: queue.Queue[Any] = queue.Queue(depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        ahead.put((batch, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put((done, None))
        except BaseException as exc:  # re-raised in the caller's thread
            ahead.put((done, exc))

    reader = threading.Thread(target=read, name="transitwatch-ingest-reader", daemon=True)
    reader.start()
    try:
        while True:
            item, error = ahead.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting to hand over a batch
            try:
                ahead.get_nowait()
            except queue.Empty:
                reader.join(0.05)
        reader.join()


def _grouped(batches: Iterable[RouteColumns]) -> Iterator[RouteColumns]:
    """Consecutive decoded batches of the same file joined up to ``_GROUP`` rows: fewer, larger
    array operations (the builder's fixed cost per batch is a few database calls)."""
    group: list[RouteColumns] = []
    rows = 0
    for batch in batches:
        if group and (rows >= _GROUP or batch.source != group[0].source):
            yield RouteColumns.concat(group)
            group, rows = [], 0
        group.append(batch)
        rows += len(batch)
    if group:
        yield RouteColumns.concat(group)


def _derive(
    job: CollectorJob, deriver: _Deriver, progress: IngestProgress | None
) -> tuple[dict[str, list[Any]], list[str]]:
    """Replay the job's files through ``deriver`` (intervals, sessions, then peers); returns the
    per-file counts and the reader's notices."""
    state = RoutingState()
    if job.snapshot is not None:
        _restore(job.snapshot, job.collector, state, deriver)
    state.on_change = deriver.route
    state.on_session = deriver.session
    stats: dict[str, list[Any]] = {p: [0, 0, 0, 0, 0, None, None] for p in job.paths}
    notices: list[str] = []
    if job.paths:
        stream = read_files(list(job.paths), collector=job.override, notices=notices)
        state.replay(_counted(stream, stats, job.collector, len(job.paths), progress))
    deriver.flush(final=True)
    peer_rows = [(deriver.peer_id(t.peer.ip), job.collector, t.peer.ip, t.peer.asn, t.established)
                 for t in state.tables()]
    if peer_rows:
        columns = [list(c) for c in zip(*peer_rows, strict=True)]
        deriver._emit("peers", arrowcols.table(columns, _PEER_SCHEMA))
    return stats, notices


def _ingest_collector(
    store: Store, plan: _Plan, override: str | None, report: IngestReport, progress: IngestProgress | None,
    method: str = "columnar",
) -> None:
    """One collector in this process: rows are written as they are derived (bounded batches)."""
    con = store.con
    coll = plan.collector
    with store.transaction():
        snapshot = _read_snapshot(con, coll) if plan.append else None
        _clear_collector(con, coll, plan.append)
        job = CollectorJob(coll, tuple(f.path for f in plan.replay), plan.file_ids, override, snapshot,
                           method)
        stats, notices, written = _derive_with(job, con, lambda table, data: _write_batch(con, table, data),
                                               progress)
        _record_files(store, plan, stats, notices, written, report)


def _ingest_in_parallel(
    store: Store, plans: list[_Plan], override: str | None, report: IngestReport,
    progress: IngestProgress | None, work: Any, method: str = "columnar",
) -> None:
    """Collectors derived on ``work`` (a WorkPool), each committed here in its own transaction as
    it arrives. The largest collectors go first; a few are in flight at a time, so the stored
    state each append starts from is read just before its job is sent. Local worker processes
    leave their rows in a temporary folder (``CollectorJob.spill``), removed at the end."""
    import shutil

    spill = _spill_folder(store) if getattr(work, "backend", None) in ("processes", "dask-local") else None
    try:
        _ingest_arrivals(store, plans, override, report, progress, work, method, spill)
    finally:
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)


def _spill_path(store: Store) -> str:
    """The workers' temporary folder for this database's ingest, named after the database, so that
    the next ingest of it removes what a killed one left (one writer per database: no other ingest
    uses it)."""
    import tempfile

    name = hashlib.sha256(os.fsencode(os.path.abspath(store.path))).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"transitwatch-ingest-{name}")


def _remove_spilled(store: Store) -> None:
    folder = _spill_path(store)
    if os.path.isdir(folder) and not os.path.islink(folder):
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _spill_folder(store: Store) -> str:
    """A new temporary folder for the workers' rows (see _spill_path)."""
    import tempfile

    folder = _spill_path(store)
    _remove_spilled(store)
    try:
        os.mkdir(folder, 0o700)
    except OSError:  # still there (not ours, or a link): a fresh one, removed at the end
        return tempfile.mkdtemp(prefix="transitwatch-ingest-")
    return folder


def _ingest_arrivals(
    store: Store, plans: list[_Plan], override: str | None, report: IngestReport,
    progress: IngestProgress | None, work: Any, method: str, spill: str | None,
) -> None:
    con = store.con
    queue = sorted(plans, key=lambda p: sum(f.size for f in p.replay))  # popped from the end
    in_flight: dict[Any, _Plan] = {}

    def send() -> None:
        while queue and len(in_flight) < work.in_flight:
            plan = queue.pop()
            snapshot = _read_snapshot(con, plan.collector) if plan.append else None
            job = CollectorJob(plan.collector, tuple(f.path for f in plan.replay), plan.file_ids, override,
                               snapshot, method, spill)
            in_flight[work.submit(derive_collector, job)] = plan

    send()
    while in_flight:
        done, _ = work.wait_any(set(in_flight))
        arrived: list[tuple[_Plan, CollectorRows]] = []
        for future in done:
            plan = in_flight.pop(future)
            try:
                rows = future.result()
            except Exception as exc:  # the worker process died (killed, out of memory)
                rows = CollectorRows(plan.collector, error=f"collector {plan.collector or '(unnamed)'}: "
                                                           f"worker failed: {exc}")
            arrived.append((plan, rows))
        send()  # keep the workers busy while this process writes
        for plan, rows in arrived:
            name = plan.collector or "(unnamed)"
            if rows.error is not None:
                report.collectors[name] = "failed"
                report.failures.append(f"{rows.error} (collector {name} not ingested; its files are "
                                       "retried by the next ingest)")
                continue
            try:
                with store.transaction():
                    _clear_collector(con, plan.collector, plan.append)
                    for table, data in rows.batches:
                        _write_batch(con, table, _unspilled(data))
                    _record_files(store, plan, rows.stats, rows.notices, rows.written, report)
            finally:
                _unlink_spilled(rows.batches)
            if progress is not None:
                progress(plan.collector, sum(s[0] for s in rows.stats.values()), len(plan.replay))


def _record_files(
    store: Store, plan: _Plan, stats: dict[str, list[Any]], notices: list[str], written: int,
    report: IngestReport,
) -> None:
    """The files rows of a collector's new files (inside its transaction), and the report."""
    con = store.con
    now = datetime.now(UTC)
    for f in plan.files:
        n, ann, wd, rib, st, first, last = stats.get(f.path, [0, 0, 0, 0, 0, None, None])
        notes = [line for line in notices if line.startswith(f.path + ":")
                 and ("damaged" in line or "no observations" in line)]
        con.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [file_id_of(f.sha256), f.sha256, os.path.abspath(f.path), plan.collector, f.size, first, last, n,
             ann, wd, rib, st, json.dumps(notes), now])
        report.files.append(FileResult(f.path, f.sha256, plan.collector, "ingested", n, first, last))
    report.observations += sum(s[0] for s in stats.values())
    report.route_intervals += written
    store.set_meta("events_dirty", "1")
    report.notices.extend(n for n in notices if "damaged" in n)


def _counted(
    stream: Iterator[Observation], stats: dict[str, list[Any]], coll: str, nfiles: int,
    progress: IngestProgress | None,
) -> Iterator[Observation]:
    # Per-file counts and time ranges for the files table, and progress every 64k observations.
    index = {"announce": 1, "withdraw": 2, "rib": 3, "state": 4}
    total = 0
    for obs in stream:
        s = stats[obs.source]
        s[0] += 1
        s[index[obs.kind]] += 1
        t = obs.time
        if s[5] is None or t < s[5]:
            s[5] = t
        if s[6] is None or t > s[6]:
            s[6] = t
        total += 1
        if progress is not None and not total & 0xFFFF:
            progress(coll, total, nfiles)
        yield obs
    if progress is not None:
        progress(coll, total, nfiles)


def _read_snapshot(con: Any, coll: str) -> _Snapshot:
    """The collector's peers and open intervals at the end of its stored history."""
    peers = con.execute(
        "SELECT peer_id, peer_ip, peer_asn, established FROM peers WHERE collector = ?", [coll]).fetchall()
    routes = con.execute(
        """SELECT p.peer_ip, r.peer_id, x.prefix, r.path_id, r.aspath_id, a.as_path,
                  r.t_start, CAST(r.start_cause AS VARCHAR), r.start_file, r.start_offset, r.last_seen
           FROM routes r JOIN peers p ON r.peer_id = p.peer_id
           JOIN prefixes x ON x.prefix_id = r.prefix_id JOIN aspaths a ON a.aspath_id = r.aspath_id
           WHERE p.collector = ? AND r.t_end IS NULL""", [coll]).fetchall()
    return _Snapshot(peers, routes)


def _clear_collector(con: Any, coll: str, append: bool) -> None:
    """Remove the rows the collector's ingest writes again: when appending, its open intervals
    and peers (restored from the snapshot, written again closed or still open); when rebuilding,
    all its intervals, sessions and peers."""
    peers = "SELECT peer_id FROM peers WHERE collector = ?"
    if append:
        con.execute(f"DELETE FROM routes WHERE t_end IS NULL AND peer_id IN ({peers})", [coll])
    else:
        con.execute(f"DELETE FROM routes WHERE peer_id IN ({peers})", [coll])
        con.execute(f"DELETE FROM sessions WHERE peer_id IN ({peers})", [coll])
    con.execute("DELETE FROM peers WHERE collector = ?", [coll])


def _restore(snapshot: _Snapshot, coll: str, state: RoutingState, deriver: _Deriver) -> None:
    """Put the collector's stored state back into ``state`` (open intervals -> tables, session
    flags) and ``deriver`` (open intervals)."""
    for peer_id, ip, asn, established in snapshot.peers:
        deriver.peer_ids[ip] = peer_id
        # A session-up observation creates the peer's table (callbacks are not attached yet).
        state.apply(Observation(time=0.0, kind="state", peer_ip=ip, peer_asn=asn, collector=coll,
                                old_state=5, new_state=6))
        table = state.table((coll, ip))
        assert table is not None
        table.established = established
    tables = {t.peer.ip: t for t in state.tables()}
    for ip, peer_id, prefix, path_id, aspath_id, as_path, start, cause, sfile, soff, last in snapshot.routes:
        key: RouteKey = prefix if path_id is None else (prefix, int(path_id))
        tables[ip].routes[key] = as_path
        deriver.path_ids[as_path] = aspath_id
        deriver.open[(ip, key)] = [peer_id, prefix, path_id, aspath_id, as_path, start, cause, sfile, soff,
                                   last]


# -- watched targets and their events -----------------------------------------------------------------


def watch(
    store: Store, targets: Iterable[str], *, min_peers: int = 2, min_duration: float = 300.0
) -> list[str]:
    """Keep upstream events for ``targets`` (AS or prefix texts, as for ``Target.parse``); returns
    their canonical labels. Events are computed at the next :func:`ingest` or :func:`refresh_events`."""
    labels = []
    with store.transaction() as con:
        for text in targets:
            label = Target.parse(text).label
            con.execute("DELETE FROM watch WHERE target = ?", [label])
            con.execute("INSERT INTO watch VALUES (?, ?, ?)", [label, min_peers, min_duration])
            labels.append(label)
        store.set_meta("events_dirty", "1")
    return labels


def refresh_events(store: Store) -> int:
    """Recompute the events of every watched target from the stored intervals (one transaction):
    every detector (upstream changes, outages with their recovery, origin changes and
    more-specifics, lost vantage points), gaps in the stored coverage taken into account."""
    with store.transaction() as con:
        con.execute("DELETE FROM events")
        total = 0
        targets = con.execute("SELECT target, min_peers, min_duration FROM watch ORDER BY target").fetchall()
        if targets:  # the detectors are imported when there is something to detect (0.05 s)
            from transitwatch.detect.events import DETECTORS, detect_events, with_coverage_gaps
            from transitwatch.store.query import target_view
        for label, min_peers, min_duration in targets:
            view = target_view(store, label)
            # Collector silences as a replay of the files records them: the coverage's gaps.
            found = detect_events(view, with_coverage_gaps(view, None), detectors=DETECTORS,
                                  upstream={"min_peers": min_peers, "min_duration": min_duration})
            for event in [*found.events, *found.vantage_lost]:
                data = event.to_dict()
                con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [label, event.type, getattr(event, "upstream", None), event.onset,
                             getattr(event, "confirmed", None), len(event.peer_list),
                             json.dumps(data, sort_keys=True), getattr(event, "end", None),
                             event_subject(event)])
                total += 1
        store.set_meta("events_dirty", None)
    return total


def event_subject(event: Any) -> str:
    """What an event is about, as text: its upstream (``AS4837``), prefix, or collector; the
    target itself for outages."""
    if isinstance(getattr(event, "upstream", None), int):
        return f"AS{event.upstream}"
    if getattr(event, "prefix", None):
        return str(event.prefix)
    if getattr(event, "collector", None) is not None and event.type == "vantage_lost":
        return str(event.collector)
    return str(event.target)
