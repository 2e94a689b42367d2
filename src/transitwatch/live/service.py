"""The observatory as one process: ``transitwatch serve --db FILE --live TARGETS``.

>>> service = LiveService(store, [WatchTarget.parse("AS131279")], url=RIS_LIVE_URL)   # doctest: +SKIP
>>> service.start()            # a thread: RIS Live -> the store -> events -> alerts and listeners
>>> app = create_app(db, store=store, live=service)       # the API reads the same database

One process owns the database. The service follows RIS Live for the watched targets and writes
what arrives with a :class:`~transitwatch.store.live.LiveWriter`, one short transaction per batch
(a kill -9 loses at most the batch in flight). After each batch, and every ``check_every`` seconds
while the feed is quiet, it runs the detectors of ``transitwatch events`` on each target's view of
the store and sends an alert when an event is first seen (its onset) and when it ends (an outage's
recovery, the end of an origin change...), for changes from the first live data on (history from
seed files or an ``ingest`` of old files is stored and shown, not alerted). Each alert is recorded
in the ``alerts_sent`` table in
the same transaction that decides to send it, so a restart never repeats one.

**Gaps.** A dropped connection, and the time transitwatch was not running (from the last live
observation stored to the first of the new run), are gaps: recorded in ``live_gaps`` per
collector, then backfilled from the RIS update archives (``--archive-url`` mirrors) when they are
reachable: the update files covering the gap are fetched, and their observations in the gap for
the watched targets are written as a ``backfill:`` segment. A route the live feed already changed
after the gap is left as the feed wrote it (the backfill only fills what it alone knows). Files
not yet published are tried again until ``backfill_wait`` seconds after the gap; a gap that could
not be filled stays recorded as such (``status`` ``unfilled``, with the reason).

**Clock.** The service's clock is the latest observation time plus the wall time since it
arrived (as for ``watch``), so changes are confirmed by duration on time while the feed is quiet.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transitwatch.detect.events import detect_events
from transitwatch.live.watch import (
    Notice,
    WatchEvent,
    WatchSettings,
    WatchTarget,
    event_key,
    subscriptions_of,
    upstream_names,
)
from transitwatch.observation import ANNOUNCE, RIB, STATE, WITHDRAW, Observation
from transitwatch.sources.rislive import RIS_LIVE_URL, LiveGap, LiveStats, RisLiveError, ris_live_stream
from transitwatch.state.target import Target
from transitwatch.store.db import Store, write_failure
from transitwatch.store.live import BACKFILL_PREFIX, LIVE_PREFIX, LiveWriter, live_high_water
from transitwatch.times import iso_utc

__all__ = [
    "Broadcast", "LiveService", "ServerLock", "lock_path", "read_lock", "LIVE_TABLES",
]

LIVE_TABLES = [
    """CREATE TABLE IF NOT EXISTS alerts_sent (
        key VARCHAR NOT NULL, phase VARCHAR NOT NULL, target VARCHAR NOT NULL, type VARCHAR NOT NULL,
        subject VARCHAR NOT NULL, onset DOUBLE NOT NULL, sent_at DOUBLE NOT NULL, data JSON NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS live_gaps (
        collector VARCHAR NOT NULL, start DOUBLE NOT NULL, "end" DOUBLE NOT NULL, reason VARCHAR NOT NULL,
        status VARCHAR NOT NULL, detail VARCHAR NOT NULL
    )""",
]

#: Live batches wait at most this long (seconds) for more messages before being written.
BATCH_WAIT = 0.2
#: Readers' caches are dropped at most this often (seconds) while the feed writes.
CHANGE_EVERY = 1.0
#: Seconds between detector runs while no new data arrives (confirmations by duration).
IDLE_CHECK = 5.0


# -- listeners (the dashboard's stream) -----------------------------------------------------------


class Broadcast:
    """Fan-out of small JSON messages to listeners (the SSE stream): each gets ``put(message)``
    calls from any thread; a listener that cannot keep up loses messages, never the service."""

    def __init__(self, max_listeners: int = 256) -> None:
        self.max_listeners = max_listeners
        self._lock = threading.Lock()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def add(self, listener: Callable[[dict[str, Any]], None]) -> bool:
        with self._lock:
            if len(self._listeners) >= self.max_listeners:
                return False
            self._listeners.append(listener)
            return True

    def remove(self, listener: Callable[[dict[str, Any]], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def publish(self, message: dict[str, Any]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(message)
            except Exception:  # a listener's failure (a closed loop) is the listener's
                self.remove(listener)

    def __len__(self) -> int:
        with self._lock:
            return len(self._listeners)


# -- the lock file: who owns a database, and how to reach it ---------------------------------------


def lock_path(db: str | os.PathLike[str]) -> Path:
    """``<db>.serve.json``: written by a running ``serve``, read by ``ingest``."""
    return Path(f"{os.fspath(db)}.serve.json")


def read_lock(db: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The running server's lock record for ``db`` (pid, url, token), or None when there is none
    or its process is gone (a server killed with -9 leaves a stale file behind)."""
    path = lock_path(db)
    try:
        record = json.loads(path.read_text())
        pid = int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: alive
    return record if isinstance(record, dict) else None


class ServerLock:
    """The lock file of a serving process: created (0600, it holds the ingest token) on
    :meth:`acquire`, removed on :meth:`release`."""

    def __init__(self, db: str | os.PathLike[str], url: str, *, read_only: bool = False) -> None:
        self.path = lock_path(db)
        self.token = secrets.token_urlsafe(24)
        self.record = {"pid": os.getpid(), "url": url, "token": self.token, "db": os.fspath(db),
                       "read_only": read_only, "started": iso_utc(time.time())}

    def acquire(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.record, handle)
        os.replace(tmp, self.path)

    def release(self) -> None:
        try:
            current = json.loads(self.path.read_text())
            if current.get("pid") == os.getpid():
                self.path.unlink()
        except (OSError, ValueError):
            pass


# -- the service ------------------------------------------------------------------------------------


@dataclass
class ServiceStatus:
    started: float = field(default_factory=time.time)
    connected: bool = False
    observations: int = 0
    batches: int = 0
    alerts: int = 0
    gaps: int = 0
    backfilled: int = 0
    last_observation: float | None = None
    last_error: str | None = None
    #: why the database cannot be written now (disk full...); None while writes succeed
    write_error: str | None = None
    #: observations received but not stored while the database could not be written
    not_stored: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"started": iso_utc(self.started), "connected": self.connected,
                "observations": self.observations, "batches": self.batches, "alerts": self.alerts,
                "gaps": self.gaps, "backfilled": self.backfilled,
                "last_observation": iso_utc(self.last_observation) if self.last_observation else None,
                "last_error": self.last_error, "writable": self.write_error is None,
                "write_error": self.write_error, "not_stored": self.not_stored}


class LiveService:
    """Follows RIS Live into ``store`` for ``targets``; detects, alerts and tells listeners.

    ``settings``: detector parameters (``detectors`` default: all). ``dispatcher``: an
    :class:`~transitwatch.live.alerts.AlertDispatcher` (None: no alert channel). ``archive_urls``:
    mirrors for backfills (as ``fetch --archive-url``); ``backfill=False`` records gaps without
    trying. ``log``: one line at a time for the operator (stderr).
    """

    def __init__(
        self,
        store: Store,
        targets: Sequence[WatchTarget],
        *,
        url: str = RIS_LIVE_URL,
        settings: WatchSettings | None = None,
        registry: Any = None,
        dispatcher: Any = None,
        archive_urls: dict[str, str] | None = None,
        cache_dir: Path | None = None,
        backfill: bool = True,
        backfill_wait: float = 1200.0,
        backfill_retry: float = 60.0,
        check_every: float = 1.0,
        backoff: float = 1.0,
        tz: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.targets = list(targets)
        self.url = url
        self.settings = settings or WatchSettings(detectors=("upstream", "outage", "origin"))
        self.registry = registry
        self.dispatcher = dispatcher
        self.archive_urls = archive_urls or {}
        self.cache_dir = cache_dir
        self.backfill = backfill
        self.backfill_wait = backfill_wait
        self.backfill_retry = backfill_retry
        self.check_every = check_every
        self.backoff = backoff
        self.tz = tz
        self.log = log or (lambda line: None)
        self.broadcast = Broadcast()
        self.status = ServiceStatus()
        self.stats = LiveStats()
        self.write_lock = threading.RLock()
        self._writer = LiveWriter(store)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backfills: list[threading.Thread] = []
        self._dirty = True
        self._clock_obs: float | None = None
        self._clock_wall = 0.0
        self._restart_gap_from: dict[str, float] = {}
        self._last_check = 0.0
        self._unwritable_since: dict[str, float] | None = None  # collector -> first unstored time
        self._last_changed = 0.0
        self._check_seconds = 0.0
        self._last_touch = 0.0
        self._change_pending = False
        #: Told when the database changed (True: drop cached answers now, e.g. after an ingest;
        #: False: a live batch, cached answers may be given stale while recomputed).
        self.on_change: list[Callable[[bool], None]] = []
        cur = store.cursor()
        for statement in LIVE_TABLES:
            cur.execute(statement).fetchall()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Follow the feed in a background thread (until :meth:`stop`)."""
        self._restart_gap_from = live_high_water(self.store)
        self._thread = threading.Thread(target=self._thread_main, name="transitwatch-live", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for t in self._backfills:
            t.join(timeout)
        if self.dispatcher is not None:
            self.dispatcher.close(timeout)

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._follow())
        except RisLiveError as exc:
            self.status.last_error = str(exc)
            self.log(f"error: {exc}")
        except Exception as exc:  # keep serving the API; say what stopped the feed
            self.status.last_error = f"{type(exc).__name__}: {exc}"
            self.log(f"error: live feed stopped: {type(exc).__name__}: {exc}")

    # -- the clock ----------------------------------------------------------------------------------

    def clock(self) -> float | None:
        if self._clock_obs is None:
            return None
        return self._clock_obs + max(0.0, time.monotonic() - self._clock_wall)

    # -- the feed -----------------------------------------------------------------------------------

    def subscriptions(self) -> tuple[list[str], list[str]]:
        return subscriptions_of(self.targets)

    async def _follow(self) -> None:
        prefixes, paths = self.subscriptions()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=100_000)
        connected_at = time.time()
        self._writer.begin_segment(f"{LIVE_PREFIX}{self.url}", connected_at)

        async def pump() -> None:
            try:
                async for obs in ris_live_stream(
                        self.url, prefixes=prefixes, paths=paths, follow_prefixes=bool(paths),
                        on_gap=lambda g: queue.put_nowait(g),
                        on_problem=lambda text: queue.put_nowait(("problem", text)),
                        stats=self.stats, backoff=self.backoff, max_attempts=None, max_backoff=30.0):
                    await queue.put(obs)
            except RisLiveError as exc:
                await queue.put(exc)
            finally:
                await queue.put(None)

        task = asyncio.create_task(pump())
        try:
            while not self._stop.is_set():
                try:
                    item = await asyncio.wait_for(queue.get(), self.check_every)
                except TimeoutError:
                    self._maybe_check()
                    continue
                items = [item]
                deadline = time.monotonic() + BATCH_WAIT
                while time.monotonic() < deadline and len(items) < 5000:
                    try:
                        items.append(queue.get_nowait())
                    except asyncio.QueueEmpty:
                        await asyncio.sleep(0.02)  # a few more: fewer, larger transactions
                batch: list[Observation] = []
                for it in items:
                    if isinstance(it, Observation):
                        batch.append(it)
                        continue
                    if batch:
                        self._write(batch)
                        batch = []
                    if isinstance(it, LiveGap):
                        try:
                            self._connection_gap(it)
                        except Exception as exc:
                            why = write_failure(exc)
                            if why is None:
                                raise
                            self._cannot_write([], why)
                    elif isinstance(it, tuple):
                        self.status.connected = "reconnecting" not in it[1]
                        self.log(f"warning: {it[1]}")
                    elif isinstance(it, BaseException):
                        raise it
                    elif it is None:
                        return
                if batch:
                    self._write(batch)
                self._maybe_check()
        finally:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, RisLiveError):
                pass

    def _write(self, batch: list[Observation]) -> None:
        self.status.connected = True
        first_by_collector: dict[str, float] = {}
        for o in batch:
            first_by_collector.setdefault(o.collector, o.time)
        try:
            with self.write_lock:
                result = self._writer.write(batch)
        except Exception as exc:
            why = write_failure(exc)
            if why is None:
                raise
            self._cannot_write(batch, why)
            return
        if self._unwritable_since is not None:
            self._written_again(first_by_collector)
        self.status.observations += result.observations
        self.status.batches += 1
        latest = result.last_time
        if latest is not None and (self._clock_obs is None or latest >= self._clock_obs):
            self._clock_obs, self._clock_wall = latest, time.monotonic()
            self.status.last_observation = latest
        # The first data of a run after a previous run: the time between is a gap.
        for coll, first in first_by_collector.items():
            last = self._restart_gap_from.pop(coll, None)
            if last is not None and first > last:
                self._gap(coll, last, first, "transitwatch was not running")
        self._dirty = True
        self._changed()
        self.broadcast.publish({"type": "observations", "count": result.observations,
                                "collectors": sorted(result.collectors),
                                "time": iso_utc(latest) if latest is not None else None})

    def _cannot_write(self, batch: list[Observation], why: str) -> None:
        """The database refused a batch (disk full...): nothing of it was kept. Keep following
        and serving what is stored; say so once; the unstored time becomes a gap when writing
        works again (and is backfilled from the archive then)."""
        self.status.not_stored += len(batch)
        if self._unwritable_since is None:
            self._unwritable_since = {}
            self.status.write_error = why
            self.log(f"error: cannot write the database ({why}): still serving what is stored; "
                     "new data is not kept until it can be written again")
            self.broadcast.publish({"type": "status", "writable": False, "write_error": why})
        for o in batch:
            self._unwritable_since.setdefault(o.collector, o.time)

    def _written_again(self, first_by_collector: dict[str, float]) -> None:
        lost, self._unwritable_since = self._unwritable_since or {}, None
        self.status.write_error = None
        self.log(f"note: the database is writable again ({self.status.not_stored:,} observations were "
                 "not kept)")
        self.broadcast.publish({"type": "status", "writable": True})
        for collector, start in lost.items():
            end = first_by_collector.get(collector, start)
            try:
                self._gap(collector, start, max(start, end), "the database could not be written")
            except Exception as exc:  # noqa: BLE001 - full again: the next success records it
                if write_failure(exc) is None:
                    raise

    def _connection_gap(self, gap: LiveGap) -> None:
        # The stored data of each collector ends at its last observation before the drop.
        self._writer.begin_segment(f"{LIVE_PREFIX}{self.url}", gap.reconnected_at)
        last = live_high_water(self.store)
        for coll, t in sorted(last.items()):
            self._gap(coll, min(t, gap.disconnected_at), gap.reconnected_at, gap.reason)
        if not last:
            self._gap("", gap.disconnected_at, gap.reconnected_at, gap.reason)

    def _gap(self, collector: str, start: float, end: float, reason: str) -> None:
        self.status.gaps += 1
        with self.write_lock:
            self.store.cursor().execute(
                "INSERT INTO live_gaps VALUES (?, ?, ?, ?, 'open', '')", [collector, start, end,
                    reason]).fetchall()
        text = (f"gap in {collector or 'the feed'} {iso_utc(start)} - {iso_utc(end)} ({reason}): "
                "changes in it were not seen"
                + ("; backfilling from the archive" if self.backfill and collector
                                                 else ""))
        self.log(f"warning: {text}")
        notice = Notice("gap", text, end, {"collector": collector, "start": iso_utc(start),
            "end": iso_utc(end)})
        if self.dispatcher is not None:
            self.dispatcher.notice(notice)
        self.broadcast.publish({"type": "gap", "collector": collector, "start": iso_utc(start),
                                "end": iso_utc(end), "reason": reason})
        if self.backfill and collector:
            t = threading.Thread(target=self._backfill, args=(collector, start, end), daemon=True,
                                 name=f"transitwatch-backfill-{collector}")
            self._backfills.append(t)
            t.start()
        else:
            self._set_gap(collector, start, end, "unfilled", "no backfill" if collector else
                          "no collector known")

    def _set_gap(self, collector: str, start: float, end: float, status: str, detail: str) -> None:
        with self.write_lock:
            self.store.cursor().execute(
                "UPDATE live_gaps SET status = ?, detail = ? "
                "WHERE collector = ? AND start = ? AND \"end\" = ?",
                [status, detail, collector, start, end]).fetchall()
        self._changed(force=True)

    # -- backfill ---------------------------------------------------------------------------------

    def _backfill(self, collector: str, start: float, end: float) -> None:
        from datetime import UTC, datetime

        from transitwatch.sources import archive

        first = datetime.fromtimestamp(start, tz=UTC)
        last = datetime.fromtimestamp(end, tz=UTC)
        while not self._stop.is_set():
            try:
                files = [f for f in archive.resolve([collector], first, last, archive_urls=self.archive_urls,
                                                    cache_dir=self.cache_dir, bridge=False)
                         if f.kind == "updates"]
                report = archive.fetch(files, workers=2, timeout=10.0, retries=1)
            except (archive.ArchiveError, ValueError, OSError) as exc:
                self._unfilled(collector, start, end, str(exc))
                return
            missing = [o for o in report.failed if o.status == "missing"]
            failed = [o for o in report.failed if o.status != "missing"]
            if failed:
                self._unfilled(collector, start, end, f"archive unreachable: {failed[0].reason}")
                return
            if missing and time.time() < end + self.backfill_wait:
                self._stop.wait(self.backfill_retry)  # not yet published: try again later
                continue
            try:
                written, skipped = self._apply_backfill(collector, start, end, [str(p) for p in report.paths])
            except Exception as exc:  # a damaged archive file: the gap stays, with why
                self._unfilled(collector, start, end, f"{type(exc).__name__}: {exc}")
                return
            detail = (f"{len(report.paths)} update file(s), {written} observation(s) written"
                      + (f", {skipped} left as the live feed wrote them" if skipped else "")
                      + (f"; {len(missing)} file(s) missing: {missing[0].file.url}" if missing else ""))
            self._set_gap(collector, start, end, "partial" if missing else "backfilled", detail)
            self.status.backfilled += 1
            self.log(f"note: backfilled {collector} {iso_utc(start)} - {iso_utc(end)}: {detail}")
            self.broadcast.publish({"type": "backfill", "collector": collector, "start": iso_utc(start),
                                    "end": iso_utc(end), "detail": detail})
            return

    def _unfilled(self, collector: str, start: float, end: float, why: str) -> None:
        self._set_gap(collector, start, end, "unfilled", why)
        self.log(f"warning: gap in {collector} {iso_utc(start)} - {iso_utc(end)} not backfilled: {why}")

    def _relevant(self) -> tuple[list[Target], set[str]]:
        selects = [t.target for t in self.targets if t.target is not None]
        prefixes: set[str] = set()
        from transitwatch.store.query import target_view

        for t in selects:
            prefixes.update(s.prefix for s in target_view(self.store, t).spans)
        for w in self.targets:
            if w.country:
                prefixes.update(w.prefixes)
        return selects, prefixes

    def _apply_backfill(self, collector: str, start: float, end: float, paths: list[str]) -> tuple[int, int]:
        from transitwatch.sources.files import read_files
        from transitwatch.store.db import stable_id

        selects, prefixes = self._relevant()
        origins = {a for w in self.targets for a in w.asns}
        cur = self.store.cursor()
        # Routes the live feed changed after the gap: the feed's word is newer.
        touched = {(int(p), int(x), None if i is None else int(i)) for p, x, i in cur.execute(
            "SELECT DISTINCT peer_id, prefix_id, path_id FROM routes WHERE t_start >= ? OR t_end >= ?",
            [end, end]).fetchall()}
        keep: list[Observation] = []
        skipped = 0
        for o in read_files(paths, collector=collector):
            if not (start < o.time < end):
                continue
            if o.kind == STATE:
                keep.append(o)
                continue
            if o.kind in (ANNOUNCE, RIB):
                path = o.as_path or ""
                if any(t.selects(o.prefix, path) for t in selects) or (
                        origins and path.rsplit(" ", 1)[-1].isdigit() and int(path.rsplit(" ",
                            1)[-1]) in origins):
                    prefixes.add(o.prefix)
                elif o.prefix not in prefixes:
                    continue
            elif o.kind == WITHDRAW and o.prefix not in prefixes:
                continue
            key = (stable_id(f"{o.collector}|{o.peer_ip}"), stable_id(o.prefix), o.path_id)
            if key in touched:
                skipped += 1
                continue
            keep.append(o)
        writer = LiveWriter(self.store)
        writer.begin_segment(f"{BACKFILL_PREFIX}{collector} {iso_utc(start)} -", end)
        written = 0
        with self.write_lock:
            for i in range(0, len(keep), 5000):
                written += writer.write(keep[i:i + 5000]).observations
            self._writer.forget()  # its cached open intervals may have been closed by the backfill
        self._dirty = True
        self._changed(force=True)
        return written, skipped

    # -- files handed over by `transitwatch ingest` -------------------------------------------------------

    def ingest_files(self, paths: Iterable[str], **options: Any) -> dict[str, Any]:
        """Ingest MRT files as ``transitwatch ingest`` would, serialised with the live writes."""
        from transitwatch.sources.files import collector_and_time_from_name
        from transitwatch.store import StoreError, ingest

        paths = list(paths)
        live = live_high_water(self.store)
        for p in paths:
            # A collector's history is derived in time order: files older than what the live feed
            # wrote for it would need the feed replayed, which RIS Live cannot do.
            named, name_time = collector_and_time_from_name(p)
            coll = options.get("collector") or named or ""
            if coll in live and (name_time is None or name_time < live[coll]):
                raise StoreError(
                    f"{p}: the live feed has written collector {coll} up to {iso_utc(live[coll])}; older "
                    "files of it cannot be merged into that history: ingest them into another database "
                    "(or under another --collector name)")
        with self.write_lock:
            report = ingest(self.store, paths, workers=1, **options)
            self._writer.forget()
        self._dirty = True
        self._changed(force=True)
        self.broadcast.publish({"type": "ingest", "files": len(report.ingested)})
        self._maybe_check(force=True)
        with self.write_lock:
            summary = self.store.summary()
        return {**report.to_dict(), "database": summary}

    # -- detection and alerts ---------------------------------------------------------------------

    def _changed(self, force: bool = False) -> None:
        """Tell the readers (the API's caches) that the database changed: at once when ``force``,
        else at most once a second (a busy feed must not make every read start from scratch)."""
        now = time.monotonic()
        # Answers are recomputed after a change, which costs about what a detector run costs:
        # while that is long, readers are told less often (their answers stay a little older).
        if not force and now - self._last_changed < max(CHANGE_EVERY, 4 * self._check_seconds):
            self._change_pending = True
            return
        self._last_changed, self._change_pending = now, False
        for callback in self.on_change:
            callback(force)

    def _maybe_check(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._change_pending and now - self._last_changed >= max(CHANGE_EVERY, 4 * self._check_seconds):
            self._changed()
        # New data is looked at within a second; without new data, the clock still confirms
        # changes by duration, so the detectors run every few seconds anyway.
        clock = self.clock()
        if self.status.connected and clock is not None and now - self._last_touch >= IDLE_CHECK:
            self._last_touch = now
            try:
                with self.write_lock:
                    self._writer.touch(clock)  # connected and quiet: still covered
            except Exception as exc:  # not stored (disk full...): said with the next write
                self.log(f"warning: the feed's coverage was not extended: {exc}")
        wait = max(self.check_every, 1.0) if self._dirty else max(self.check_every, IDLE_CHECK)
        wait = max(wait, 4 * self._check_seconds)  # detection gets at most a fifth of the time
        if not force and now - self._last_check < wait:
            return
        self._last_check = now
        self._dirty = False
        try:
            self.check()
            self._check_seconds = time.monotonic() - now
        except Exception as exc:  # detection must not stop the feed; say it
            self.status.last_error = f"detection: {type(exc).__name__}: {exc}"
            self.log(f"error: detection failed: {type(exc).__name__}: {exc}")

    def views(self) -> list[tuple[WatchTarget, Any]]:
        from transitwatch.metrics.country import country_view  # noqa: F401  (countries below)
        from transitwatch.store import query as q

        out = []
        now = self.clock()
        for w in self.targets:
            if w.target is not None:
                view = q.target_view(self.store, w.target)
            elif w.country and self.registry is not None:
                view = q.country_view(self.store, w.country, self.registry)
            else:
                continue
            if now is not None and (view.end is None or now > view.end):
                view.end = now
            out.append((w, view))
        return out

    def check(self) -> list[dict[str, Any]]:
        """Run the detectors on every target's stored view; alert what is new (onset or end)."""
        s = self.settings
        sent: list[dict[str, Any]] = []
        horizon = self._alert_horizon()
        for watched, view in self.views():
            found = detect_events(
                view, None, detectors=s.detectors,
                upstream={"min_peers": s.min_peers, "min_duration": s.min_duration, "baseline": s.baseline},
                outage={"min_duration": s.min_duration}, origin={"baseline": s.baseline})
            events = list(found.events) + list(getattr(found, "vantage_lost", []) or [])
            for event in events:
                phases = ["onset"]
                if getattr(event, "end", None) is not None and not getattr(event, "ends_as_event", False):
                    phases.append("end")   # (an upstream change's end is the reverse change's onset alert)
                for phase in phases:
                    if (event.onset if phase == "onset" else event.end) < horizon:
                        continue  # history (seed files, an ingest of old files): stored, not alerted
                    alert = self._alert_once(watched, event, phase)
                    if alert is not None:
                        sent.append(alert)
        if sent:
            self._refresh_stored_events()
        return sent

    def _alert_horizon(self) -> float:
        """Alerts are for what happens while the feed is followed: from the first live data this
        database holds (or now, before any)."""
        row = self.store.cursor().execute(
            "SELECT min(first_time) FROM files WHERE starts_with(path, ?)", [LIVE_PREFIX]).fetchone()
        if row and row[0] is not None:
            return float(row[0])
        return self.status.started

    def _alert_once(self, watched: WatchTarget, event: Any, phase: str) -> dict[str, Any] | None:
        kind, label, subject, onset = event_key(watched.label, event)
        key = f"{kind}|{label}|{subject}|{onset!r}"
        now = self.clock() or time.time()
        data = event.to_dict(self.tz)
        with self.write_lock:
            cur = self.store.cursor()
            if cur.execute("SELECT 1 FROM alerts_sent WHERE key = ? AND phase = ?", [key, phase]).fetchall():
                return None
            cur.execute("INSERT INTO alerts_sent VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [key, phase, label, kind, subject, onset, now, json.dumps(data,
                            default=str)]).fetchall()
        wev = WatchEvent(event, label, now, target_name=watched.name, phase=phase,
                         names=upstream_names(self.registry, event))
        self.status.alerts += 1
        if self.dispatcher is not None:
            self.dispatcher.send(wev)
        message = {"type": "event", "phase": phase, "summary": wev.summary(self.tz),
            "event": wev.to_dict(self.tz)}
        self.log(f"{'event' if phase == 'onset' else 'event end'}: {wev.summary(self.tz)}")
        self.broadcast.publish(message)
        return message

    def _refresh_stored_events(self) -> None:
        from transitwatch.store import refresh_events

        with self.write_lock:
            try:
                refresh_events(self.store)
            except Exception as exc:  # the events table is a cache of the detectors: say, go on
                self.log(f"warning: stored events not refreshed: {exc}")
        self._changed()

    def gaps(self, start: float | None = None, end: float | None = None) -> list[dict[str, Any]]:
        lo = start if start is not None else float("-inf")
        hi = end if end is not None else float("inf")
        rows = self.store.cursor().execute(
            "SELECT collector, start, \"end\", reason, status, detail FROM live_gaps "
            "WHERE \"end\" >= ? AND start <= ? ORDER BY start, collector", [lo, hi]).fetchall()
        return [{"collector": c, "start": iso_utc(s), "end": iso_utc(e), "reason": r, "status": st,
                 "detail": d} for c, s, e, r, st, d in rows]

    def to_dict(self) -> dict[str, Any]:
        prefixes, paths = self.subscriptions()
        return {"url": self.url, "targets": [t.label for t in self.targets], "subscriptions":
                {"prefixes": len(prefixes), "paths": len(paths)}, "listeners": len(self.broadcast),
                **self.status.to_dict(), "stats": self.stats.to_dict()}
