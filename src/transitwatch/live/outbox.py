"""A durable outbox for alerts: what a webhook has not accepted yet survives a crash or a restart.

One SQLite file (by default beside the alert config: ``alerts.toml`` -> ``alerts.outbox.sqlite``)
holds every alert per channel with its state. An alert is added once (its id is derived from the
channel and what the alert is about, so a restarted watch that finds the same event again does not
send it again), retried with exponential backoff across runs until the channel accepts it or it
expires, and then kept (delivered or expired) for a week so that it is still not sent twice.

Each POST carries the id as ``Idempotency-Key``: a receiver that answered but whose answer was
lost can recognise the retry.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["KEEP_DONE", "Outbox", "OutboxError", "Pending", "alert_id"]

#: Delivered and expired alerts are remembered this long (seconds), so they are never resent.
KEEP_DONE = 7 * 86400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    summary TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,
    last_error TEXT,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | delivered | expired | refused
    done_at REAL,
    lease_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS alerts_due ON alerts (channel, state, next_try);
"""


class OutboxError(Exception):
    """The outbox file cannot be used (one line naming it)."""


def alert_id(channel: str, alert: dict[str, Any]) -> str:
    """What makes two alerts the same: the channel, the record kind, and the event's identity
    (type, target, subject, onset) or, for notices, their time and text."""
    event = alert.get("event") or {}
    parts = [channel, alert.get("record"), alert.get("type"), alert.get("target"), alert.get("subject"),
             event.get("onset") if isinstance(event, dict) else None]
    if alert.get("record") != "alert":
        parts += [alert.get("time"), alert.get("summary")]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Pending:
    """An alert not delivered yet."""

    id: str
    channel: str
    alert: dict[str, Any]
    attempts: int
    next_try: float
    expires: float
    last_error: str | None

    @property
    def summary(self) -> str:
        return str(self.alert.get("summary", ""))


class Outbox:
    """The outbox file at ``path`` (created when missing); thread-safe, and safe for two processes
    (a row being sent is leased to one of them)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._db.execute("DELETE FROM alerts WHERE state != 'pending' AND done_at < ?",
                             [time.time() - KEEP_DONE])
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"{self.path}: cannot use the alert outbox: {exc}") from None

    def add(self, channel: str, alert: dict[str, Any], *, expire: float) -> bool:
        """Queue ``alert`` for ``channel`` unless the same alert is already there (pending or
        done); True when it was added."""
        now = time.time()
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO alerts (id, channel, payload, summary, created, expires, next_try) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [alert_id(channel, alert), channel, json.dumps(alert), str(alert.get("summary", "")),
                 now, now + expire, now])
            return cur.rowcount == 1

    def due(self, channel: str, *, lease: float = 60.0, limit: int = 50) -> list[Pending]:
        """The oldest pending alerts of ``channel`` up to the first whose retry time has not come,
        leased to the caller for ``lease`` seconds (another process skips them meanwhile);
        expired ones are marked."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("UPDATE alerts SET state = 'expired', done_at = ? "
                                 "WHERE channel = ? AND state = 'pending' AND expires <= ?",
                                 [now, channel, now])
                # In order: an alert waits for the ones before it (a loss is not reported before
                # the gain it follows), so the due ones are those before the first not due.
                rows = []
                for row in self._db.execute(
                        "SELECT id, channel, payload, attempts, next_try, expires, last_error, lease_until "
                        "FROM alerts WHERE channel = ? AND state = 'pending' ORDER BY created, rowid LIMIT ?",
                        [channel, limit]).fetchall():
                    if row[4] > now or row[7] > now:
                        break
                    rows.append(row[:7])
                self._db.executemany("UPDATE alerts SET lease_until = ? WHERE id = ?",
                                     [(now + lease, r[0]) for r in rows])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return [Pending(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def retry_now(self, channel: str) -> int:
        """Make every pending alert of ``channel`` due now (a new run: the receiver may be back
        whatever the backoff said); returns how many are pending."""
        with self._lock:
            cur = self._db.execute("UPDATE alerts SET next_try = ? WHERE channel = ? AND state = 'pending'",
                                   [time.time(), channel])
            return int(cur.rowcount)

    def delivered(self, item: Pending) -> None:
        with self._lock:
            self._db.execute("UPDATE alerts SET state = 'delivered', done_at = ?, attempts = attempts + 1, "
                             "lease_until = 0 WHERE id = ?", [time.time(), item.id])

    def refused(self, item: Pending, error: str) -> None:
        """The channel refused it for good (HTTP 4xx): kept, not retried."""
        with self._lock:
            self._db.execute("UPDATE alerts SET state = 'refused', done_at = ?, attempts = attempts + 1, "
                             "last_error = ?, lease_until = 0 WHERE id = ?", [time.time(), error, item.id])

    def release(self, items: list[Pending]) -> None:
        """Give back leased alerts that were not tried (they wait behind a failed one)."""
        with self._lock:
            self._db.executemany("UPDATE alerts SET lease_until = 0 WHERE id = ?", [(i.id,) for i in items])

    def retry(self, item: Pending, error: str, delay: float) -> None:
        with self._lock:
            self._db.execute("UPDATE alerts SET attempts = attempts + 1, last_error = ?, next_try = ?, "
                             "lease_until = 0 WHERE id = ?", [error, time.time() + delay, item.id])

    def pending(self, channel: str | None = None) -> list[Pending]:
        """Every alert not delivered yet (of ``channel``, or all), oldest first."""
        query = ("SELECT id, channel, payload, attempts, next_try, expires, last_error FROM alerts "
                 "WHERE state = 'pending' AND expires > ?")
        args: list[Any] = [time.time()]
        if channel is not None:
            query += " AND channel = ?"
            args.append(channel)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created", args).fetchall()
        return [Pending(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def next_due(self, channel: str) -> float | None:
        """When the next pending alert of ``channel`` may be tried (epoch seconds), if any."""
        with self._lock:
            row = self._db.execute("SELECT max(next_try, lease_until) FROM alerts "
                                   "WHERE channel = ? AND state = 'pending' ORDER BY created, rowid LIMIT 1",
                                   [channel]).fetchone()
        return float(row[0]) if row and row[0] is not None else None  # the head of the line

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT state, count(*) FROM alerts GROUP BY state").fetchall())

    def close(self) -> None:
        with self._lock:
            self._db.close()
