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

from transitwatch.store.db import Store

__all__ = ["EXPORTS", "FORMATS", "export"]

FORMATS = ("parquet", "csv")

#: File name -> the query that produces it (constants; nothing from the caller goes in).
EXPORTS: dict[str, str] = {
    "route_intervals": """
        SELECT p.collector, p.peer_ip, p.peer_asn, x.prefix, r.path_id, a.as_path, a.origin,
               r.t_start AS start, to_timestamp(r.t_start) AS start_utc,
               CAST(r.start_cause AS VARCHAR) AS start_cause,
               r.t_end AS "end", to_timestamp(r.t_end) AS end_utc, CAST(r.end_cause AS VARCHAR) AS end_cause,
               r.last_seen, fs.path AS start_file, r.start_offset, fe.path AS end_file, r.end_offset
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
    "events": """SELECT target, type, upstream, onset, to_timestamp(onset) AS onset_utc, confirmed,
                        to_timestamp(confirmed) AS confirmed_utc, peers, data AS json
                 FROM events ORDER BY onset, target""",
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
        cur.execute(f"COPY ({EXPORTS[name]}) TO {literal} ({options})")
        written.append(target)
    return written
