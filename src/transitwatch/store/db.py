"""The database file: schema, connection, deterministic ids.

One DuckDB file holds what the questions need, not a copy of every update:

``files``     one row per ingested MRT file: content hash, path, collector, time range, counts (provenance)
``peers``     (collector, peer) streams and whether each session was Established at the end of the input
``prefixes``  prefix texts, interned
``aspaths``   AS path texts, interned, with their origin AS and their ASNs (for target queries)
``routes``    route intervals: peer ``peer_id`` held ``prefix_id`` (ADD-PATH ``path_id``) with AS path
              ``aspath_id`` over [t_start, t_end) (t_end NULL: still held), with the causes and the
              file/offset of the observations that started and ended it, ``last_seen``, and
              ``safi`` (1 unicast: ingest and the live feed store the unicast table only)
``sessions``  a peer's session going down or coming up
``watch``     targets whose events are kept in ``events``
``events``    every detector's events of the watched targets (``new_upstream``, ``lost_upstream``,
              ``outage``, ``partial_outage``, ``origin_change``, ``more_specific``,
              ``vantage_lost``): onset, confirmation, ``end_time`` (recovery or end; NULL while it
              lasts), ``subject`` (the upstream, prefix or collector it is about), evidence (JSON)
``meta``      schema version, pending work

Ids are 64-bit hashes of what they stand for (a file's SHA-256, a prefix, a path, collector and
peer address), so the same inputs give the same rows whatever order they were ingested in. Every
(collector, peer) stream is independent: its rows can be derived apart and merged.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from transitwatch import dirs

__all__ = [
    "SCHEMA_VERSION", "SQL_STABLE_ID", "TABLES", "Store", "StoreError",
    "default_db_path", "file_id_of", "stable_id",
]

SCHEMA_VERSION = "1"

#: The file that marks a folder as a partitioned export of a store (see store.export).
PARTITIONED_MARKER = "_transitwatch.json"

#: Tables in dependency order, with the columns that identify a row (for exports and comparisons).
TABLES = ("meta", "files", "peers", "prefixes", "aspaths", "routes", "sessions", "watch", "events")

CAUSES = ("announce", "withdraw", "rib", "rib_replace", "down")

_SCHEMA = [
    "CREATE TYPE IF NOT EXISTS cause AS ENUM ('announce', 'withdraw', 'rib', 'rib_replace', 'down')",
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR NOT NULL, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS files (
        file_id UBIGINT NOT NULL,         -- first 8 bytes of sha256
        sha256 VARCHAR NOT NULL,          -- of its bytes (a file without records: bytes+collector+name)
        path VARCHAR NOT NULL,            -- as given when first ingested
        collector VARCHAR NOT NULL,
        bytes BIGINT NOT NULL,
        first_time DOUBLE,                -- epoch seconds; NULL when the file held no observation
        last_time DOUBLE,
        observations BIGINT NOT NULL,
        announcements BIGINT NOT NULL,
        withdrawals BIGINT NOT NULL,
        rib_entries BIGINT NOT NULL,
        state_changes BIGINT NOT NULL,
        notes VARCHAR NOT NULL,           -- JSON list of reader notices (damaged records...)
        ingested_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS peers (
        peer_id UBIGINT NOT NULL, collector VARCHAR NOT NULL, peer_ip VARCHAR NOT NULL,
        peer_asn BIGINT NOT NULL, established BOOLEAN
    )""",
    # Stored uncompressed, as DuckDB would choose after trying every method on each segment: the
    # ids of prefixes and AS paths (random 64-bit hashes) and prefix texts (unique and short;
    # FSST would save 7 MB a million prefixes at three times the cost of inserting them).
    """CREATE TABLE IF NOT EXISTS prefixes (
        prefix_id UBIGINT USING COMPRESSION uncompressed NOT NULL,
        prefix VARCHAR USING COMPRESSION uncompressed NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS aspaths (
        aspath_id UBIGINT USING COMPRESSION uncompressed NOT NULL, as_path VARCHAR NOT NULL, origin BIGINT,
        asns BIGINT[] NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS routes (
        peer_id UBIGINT NOT NULL, prefix_id UBIGINT USING COMPRESSION uncompressed NOT NULL, path_id BIGINT,
        aspath_id UBIGINT NOT NULL,
        t_start DOUBLE NOT NULL, start_cause cause NOT NULL, start_file UBIGINT, start_offset BIGINT,
        last_seen DOUBLE NOT NULL,
        t_end DOUBLE, end_cause cause, end_file UBIGINT, end_offset BIGINT,
        safi UTINYINT NOT NULL DEFAULT 1  -- 1 unicast (what the readers yield by default), 2 multicast
    )""",
    """CREATE TABLE IF NOT EXISTS sessions (
        peer_id UBIGINT NOT NULL, time DOUBLE NOT NULL, up BOOLEAN NOT NULL,
        file_id UBIGINT, file_offset BIGINT
    )""",
    """CREATE TABLE IF NOT EXISTS watch (
        target VARCHAR NOT NULL, min_peers INTEGER NOT NULL, min_duration DOUBLE NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS events (
        target VARCHAR NOT NULL, type VARCHAR NOT NULL, upstream BIGINT,
        onset DOUBLE NOT NULL, confirmed DOUBLE, peers INTEGER NOT NULL, data JSON NOT NULL,
        end_time DOUBLE, subject VARCHAR
    )""",
]


class StoreError(Exception):
    """A database that cannot be used (missing, locked, from another version): one line."""


class StoreWriteError(StoreError):
    """The database could not be written (disk full, read-only file system, I/O error): the
    transaction was rolled back, nothing of it is kept. One line naming the database."""


#: What DuckDB says when the file system refuses a write (its messages carry the OS error).
_WRITE_FAILURES = ("no space left", "could not write", "read-only file system", "permission denied",
                   "disk quota", "input/output error", "failed to commit", "database has been invalidated",
                   "could not truncate", "could not fsync", "file too large")


def write_failure(exc: BaseException) -> str | None:
    """A one-line reason when ``exc`` means the database could not be written, else None."""
    if isinstance(exc, StoreWriteError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        import errno

        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.EIO, errno.EFBIG):
            return exc.strerror or str(exc)
    if isinstance(exc, duckdb.Error | StoreError):
        text = _first_line(exc)
        if any(marker in text.lower() for marker in _WRITE_FAILURES):
            return text
    return None


def _rollback_quietly(con: Any) -> None:
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass  # no transaction left (a failed COMMIT ends it), or the database is invalidated


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/transitwatch/transitwatch.duckdb`` (``~/.local/share/...`` by default)."""
    return dirs.default_db_path()


def stable_id(text: str) -> int:
    """An unsigned 64-bit id for ``text``, the same in every process and version: the low 64 bits
    of its MD5 (not for security; :data:`SQL_STABLE_ID` computes the same inside DuckDB)."""
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "little")


#: :func:`stable_id` as a DuckDB expression of a column ``{}``; md5_number reads the digest
#: little-endian, so its low 64 bits are the first 8 bytes (masked with ``&``: a modulo of the
#: 128-bit number is twenty times slower).
SQL_STABLE_ID = "CAST(md5_number({}) & 18446744073709551615 AS UBIGINT)"


def file_id_of(sha256_hex: str) -> int:
    """A file's id: the first 8 bytes of its SHA-256, as an unsigned 64-bit integer."""
    return int.from_bytes(bytes.fromhex(sha256_hex[:16]), "big")


class Store:
    """An open transitwatch database. ``Store(path)`` creates it (and its folder) when missing;
    ``Store(path, read_only=True)`` needs it to exist and never writes.

    Use as a context manager, or call :meth:`close`. One process may write at a time; readers in
    other processes open it read-only (DuckDB's rule: not while a writer has it open).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise StoreError(f"{self.path}: no database here; create it with "
                             f"'transitwatch ingest FILES... --db {self.path}'")
        if self.path.is_dir():
            self._open_partitioned()
            return
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            raise StoreError(f"{self.path}: cannot open the database ({_first_line(exc)})") from None
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: not a transitwatch database ({_first_line(exc)})") from None
        if read_only:
            self._check_version()
        else:
            self._create()

    def _open_partitioned(self) -> None:
        """A folder written by ``transitwatch export --partitioned``: its Parquet files as the
        tables of an in-memory database (views; nothing is loaded), so every query of the store
        runs on it unchanged. Read-only."""
        marker = self.path / PARTITIONED_MARKER
        if not marker.is_file():
            raise StoreError(f"{self.path}: is a directory, not a database file nor a partitioned export "
                             "('transitwatch export --partitioned DIR' writes one)")
        if not self.read_only:
            raise StoreError(f"{self.path}: a partitioned export is read-only; ingest into a database file")
        try:
            info = json.loads(marker.read_text())
            tables = {str(k): int(v) for k, v in info["tables"].items()}
            partitioned = set(info.get("partitioned", ()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(f"{marker}: not a transitwatch export marker ({exc})") from None
        self.con = duckdb.connect()
        for statement in _SCHEMA:
            self.con.execute(statement)
        root = str(self.path).replace("'", "''")
        try:
            for table, rows in tables.items():
                if not rows or not table.isidentifier():
                    continue  # empty: the schema's empty table stands
                if table in partitioned:
                    source = f"read_parquet('{root}/{table}/**/*.parquet', hive_partitioning = false)"
                else:
                    source = f"read_parquet('{root}/{table}.parquet')"
                schema = self.con.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                    "ORDER BY column_index", [table]).fetchall()
                if schema:  # one of ours: the same columns and types as in a database file
                    present = {r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
                    # a column the export predates: the route SAFI is unicast (all it held), others NULL
                    columns = ", ".join(
                        f'CAST({_quoted(name) if name in present else ("1" if name == "safi" else "NULL")} '
                        f'AS {"cause" if kind.startswith("ENUM") else kind}) AS "{name}"'
                        for name, kind in schema)
                    self.con.execute(f'DROP TABLE "{table}"')
                else:
                    columns = "*"
                self.con.execute(f'CREATE VIEW "{table}" AS SELECT {columns} FROM {source}')
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: cannot read the export ({_first_line(exc)})") from None
        self._check_version()

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self.con.close()  # a checkpoint: may fail on a full disk; the WAL then stays consistent
        except duckdb.Error as exc:
            why = write_failure(exc)
            if why is None:
                raise
            raise StoreWriteError(f"{self.path}: cannot write the database ({why}); the committed "
                                  "data is kept (its log is replayed on the next open)") from None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reader(self) -> Store:
        """Another handle on this open database for reading threads, with its own connection
        (one process owns the file; ``serve`` reads through this while the live feed writes)."""
        other = object.__new__(Store)
        other.path, other.read_only = self.path, True
        other.con = self.con.cursor()
        return other

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one thread (DuckDB connections are not shared between threads)."""
        return self.con.cursor()

    def _create(self) -> None:
        with self.transaction():
            columns = {r[0] for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'").fetchall()}
            if columns and "end_time" not in columns:
                # Events of an older database (upstream events only): derived data, so computed
                # again, with every detector, at the next ingest or refresh.
                self.con.execute("DROP TABLE events")
                self.con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR NOT NULL, value VARCHAR)")
                self.set_meta("events_dirty", "1")
            routes = {r[0] for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'routes' "
                "AND table_catalog = current_database()").fetchall()}
            if routes and "safi" not in routes:
                # A database from before the SAFI column: it holds the unicast table only.
                self.con.execute("ALTER TABLE routes ADD COLUMN safi UTINYINT DEFAULT 1")
            for statement in _SCHEMA:
                self.con.execute(statement)
            if self.meta("schema_version") is None:
                self.set_meta("schema_version", SCHEMA_VERSION)
        self._check_version()

    def _check_version(self) -> None:
        try:
            version = self.meta("schema_version")
        except duckdb.Error:
            raise StoreError(f"{self.path}: not a transitwatch database (no meta table)") from None
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: database schema version {version}, this transitwatch needs {SCHEMA_VERSION}; "
                "re-ingest the files into a new database")

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises: all or nothing, also on a crash."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
            self.con.execute("COMMIT")
        except BaseException as exc:
            _rollback_quietly(self.con)
            why = write_failure(exc)
            if why is not None and not isinstance(exc, StoreWriteError):
                raise StoreWriteError(f"{self.path}: cannot write the database ({why}); "
                                      "nothing of this transaction was kept") from None
            raise

    # -- small helpers ------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str | None) -> None:
        self.con.execute("DELETE FROM meta WHERE key = ?", [key])
        if value is not None:
            self.con.execute("INSERT INTO meta VALUES (?, ?)", [key, value])

    def route_safi(self) -> str:
        """The SQL of a route row's SAFI (alias ``r``): ``r.safi``, or 1 for a database from before
        the column opened read-only (it was never migrated; it holds the unicast table only)."""
        row = self.con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'routes' AND column_name = 'safi' "
            "AND database_name = current_database()").fetchone()
        return "r.safi" if row and row[0] else "CAST(1 AS UTINYINT)"

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        out = {}
        for table in TABLES:
            row = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()  # table names are constants
            out[table] = int(row[0]) if row else 0
        return out

    def summary(self) -> dict[str, Any]:
        """What the database holds: files, collectors, peers, routes, time range, watched targets."""
        row = self.con.execute(
            "SELECT count(*), min(first_time), max(last_time), coalesce(sum(observations), 0) FROM files"
        ).fetchone()
        assert row is not None
        collectors = [r[0] for r in self.con.execute(
            "SELECT DISTINCT collector FROM files ORDER BY 1").fetchall()]
        counts = self.counts()
        return {
            "path": str(self.path),
            "files": int(row[0]),
            "observations": int(row[3]),
            "first_time": row[1],
            "last_time": row[2],
            "collectors": collectors,
            "peers": counts["peers"],
            "prefixes": counts["prefixes"],
            "aspaths": counts["aspaths"],
            "route_intervals": counts["routes"],
            "sessions": counts["sessions"],
            "watched": [r[0] for r in self.con.execute("SELECT target FROM watch ORDER BY 1").fetchall()],
            "events": counts["events"],
        }


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
