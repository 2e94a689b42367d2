"""Export the store for pandas / polars / Spark: one Parquet or CSV file per table, by DuckDB COPY.

>>> with Store("kp.duckdb", read_only=True) as store:                       # doctest: +SKIP
...     export(store, "out", "parquet")
[PosixPath('out/route_intervals.parquet'), ...]
>>> pandas.read_parquet("out/route_intervals.parquet")                       # doctest: +SKIP

Route intervals and sessions are exported flat (collector, peer, prefix and AS path as text, times
as epoch seconds and as UTC timestamps), so they are usable without joins.
"""

from __future__ import annotations

import os
from pathlib import Path

from transitwatch.store.db import PARTITIONED_MARKER, Store

__all__ = ["EXPORTS", "FORMATS", "MARKER", "PARTITIONED", "export", "export_partitioned"]

FORMATS = ("parquet", "csv")

#: File name -> the query that produces it (constants; nothing from the caller goes in).
EXPORTS: dict[str, str] = {
    "route_intervals": """
        SELECT p.collector, p.peer_ip, p.peer_asn, x.prefix, r.path_id, a.as_path, a.origin,
               r.t_start AS start, to_timestamp(r.t_start) AS start_utc,
               CAST(r.start_cause AS VARCHAR) AS start_cause,
               r.t_end AS "end", to_timestamp(r.t_end) AS end_utc, CAST(r.end_cause AS VARCHAR) AS end_cause,
               r.last_seen, fs.path AS start_file, r.start_offset, fe.path AS end_file, r.end_offset,
               {safi} AS safi
        FROM routes r JOIN peers p ON p.peer_id = r.peer_id JOIN prefixes x ON x.prefix_id = r.prefix_id
        JOIN aspaths a ON a.aspath_id = r.aspath_id
        LEFT JOIN files fs ON fs.file_id = r.start_file LEFT JOIN files fe ON fe.file_id = r.end_file
        ORDER BY p.collector, p.peer_ip, x.prefix, r.path_id, r.t_start""",
    "sessions": """
        SELECT p.collector, p.peer_ip, p.peer_asn, s.time, to_timestamp(s.time) AS time_utc, s.up,
               f.path AS file, s.file_offset
        FROM sessions s JOIN peers p ON p.peer_id = s.peer_id LEFT JOIN files f ON f.file_id = s.file_id
        ORDER BY s.time, p.collector, p.peer_ip""",
    "files": """SELECT sha256, path, collector, bytes, first_time, last_time, observations, announcements,
                       withdrawals, rib_entries, state_changes, notes, ingested_at
                FROM files ORDER BY first_time""",
    "peers": "SELECT collector, peer_ip, peer_asn, established FROM peers ORDER BY collector, peer_ip",
    "events": """SELECT target, type, subject, upstream, onset, to_timestamp(onset) AS onset_utc, confirmed,
                        to_timestamp(confirmed) AS confirmed_utc, end_time, to_timestamp(end_time) AS end_utc,
                        peers, data AS json
                 FROM events ORDER BY onset, target, type""",
}


def export(store: Store, outdir: str | os.PathLike[str], fmt: str = "parquet",
           tables: list[str] | None = None) -> list[Path]:
    """Write each of ``tables`` (default: all of :data:`EXPORTS`) to ``outdir/<name>.<fmt>``;
    returns the paths written. ``fmt`` is ``"parquet"`` or ``"csv"`` (with a header)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    names = list(EXPORTS) if tables is None else tables
    unknown = [n for n in names if n not in EXPORTS]
    if unknown:
        raise ValueError(f"unknown table {unknown[0]!r}; use some of {', '.join(EXPORTS)}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
    written = []
    cur = store.cursor()
    cur.execute("SET TimeZone = 'UTC'")
    for name in names:
        target = out / f"{name}.{fmt}"
        # COPY takes its file name as a literal: quote it (it is the user's own output path).
        literal = "'" + str(target).replace("'", "''") + "'"
        query = EXPORTS[name].replace("{safi}", store.route_safi())  # a column or a constant
        cur.execute(f"COPY ({query}) TO {literal} ({options})")
        written.append(target)
    return written


# -- the history as partitioned Parquet ---------------------------------------------------------------

#: The file that marks a folder as a partitioned export (and says what is in it).
MARKER = PARTITIONED_MARKER

#: Tables partitioned by collector and day (of the interval's start / the session change); the
#: others are one Parquet file each.
PARTITIONED = {
    "routes": """
        SELECT coalesce(nullif(p.collector, ''), '_') AS collector,
               strftime(to_timestamp(r.t_start), '%Y-%m-%d') AS day,
               p.peer_ip, p.peer_asn, x.prefix, a.as_path, a.origin,
               to_timestamp(r.t_start) AS start_utc, to_timestamp(r.t_end) AS end_utc,
               r.peer_id, r.prefix_id, r.path_id, r.aspath_id, r.t_start,
               CAST(r.start_cause AS VARCHAR) AS start_cause, r.start_file, r.start_offset, r.last_seen,
               r.t_end, CAST(r.end_cause AS VARCHAR) AS end_cause, r.end_file, r.end_offset,
               {safi} AS safi
        FROM routes r JOIN peers p ON p.peer_id = r.peer_id JOIN prefixes x ON x.prefix_id = r.prefix_id
        JOIN aspaths a ON a.aspath_id = r.aspath_id
        ORDER BY collector, day, r.peer_id, r.prefix_id, r.path_id, r.t_start""",
    "sessions": """
        SELECT coalesce(nullif(p.collector, ''), '_') AS collector,
               strftime(to_timestamp(s.time), '%Y-%m-%d') AS day, p.peer_ip, p.peer_asn,
               to_timestamp(s.time) AS time_utc, s.*
        FROM sessions s JOIN peers p ON p.peer_id = s.peer_id
        ORDER BY collector, day, s.time, s.peer_id""",
}


def export_partitioned(store: Store, outdir: str | os.PathLike[str]) -> list[Path]:
    """Write the whole store as Parquet under ``outdir`` in the Hive layout engines read as is:
    ``routes/collector=rrc00/day=2017-10-01/*.parquet`` (route intervals, flat: peer, prefix, AS
    path and UTC times beside the store's ids and epoch seconds), ``sessions/collector=.../day=...``
    and one ``<table>.parquet`` per other table. Days are UTC days of an interval's start; the
    unnamed collector is ``_``. ``outdir`` is made; a previous export there is replaced, any other
    content is refused. Returns the paths written (folders for partitioned tables).

    Read it with ``duckdb.read_parquet('DIR/routes/**/*.parquet', hive_partitioning=true)``,
    ``dask.dataframe.read_parquet('DIR/routes')``, ``polars.scan_parquet('DIR/routes/**/*.parquet',
    hive_partitioning=True)`` or Spark's ``spark.read.parquet('DIR/routes')``, or give ``DIR`` to
    ``transitwatch upstreams/events --db DIR`` (:func:`open_partitioned`)."""
    import json
    import shutil

    from transitwatch.store.db import SCHEMA_VERSION

    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise ValueError(f"{out}: not empty and not a transitwatch export; give a new folder")
        for child in out.iterdir():  # our own previous export: replaced whole
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    cur = store.cursor()
    cur.execute("SET TimeZone = 'UTC'")
    # tables and views: a store opened from a partitioned folder holds views (exported again as is)
    tables = [r[0] for r in cur.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = 'main' ORDER BY table_name").fetchall()]
    written: list[Path] = []
    counts: dict[str, int] = {}
    for table in tables:
        row = cur.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # names from the catalog
        counts[table] = int(row[0]) if row else 0
        if table in PARTITIONED:
            target = out / table
            if not counts[table]:
                continue  # no folder: readers see no files, `--db DIR` an empty table
            query = PARTITIONED[table].replace("{safi}", store.route_safi())
            cur.execute(f"COPY ({query}) TO {_literal(target)} "
                        "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (collector, day))")
        else:
            target = out / f"{table}.parquet"
            schema = cur.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                                 "AND database_name = current_database() ORDER BY column_index",
                                 [table]).fetchall()
            # enums and JSON as text: every engine reads that
            text = [str(kind).startswith(("ENUM", "JSON")) for _, kind in schema]
            columns = ", ".join(f'CAST("{name}" AS VARCHAR) AS "{name}"' if as_text else f'"{name}"'
                                for (name, _), as_text in zip(schema, text, strict=True))
            cur.execute(f'COPY (SELECT {columns} FROM "{table}") TO {_literal(target)} '
                        "(FORMAT parquet, COMPRESSION zstd)")
        written.append(target)
    (out / MARKER).write_text(json.dumps({
        "format": "transitwatch partitioned store", "schema_version": SCHEMA_VERSION,
        "partitioned": sorted(PARTITIONED), "tables": counts}, indent=2) + "\n")
    return written


def _literal(path: Path) -> str:
    # COPY takes its file name as a literal: quote it (it is the user's own output path).
    return "'" + str(path).replace("'", "''") + "'"
