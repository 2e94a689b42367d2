"""What the stored data covers: the :class:`~transitwatch.state.coverage.Coverage` of a database.

>>> with Store("kp.duckdb", read_only=True) as store:                        # doctest: +SKIP
...     cov = stored_coverage(store)
...     [g.to_dict() for g in cov.gaps()]
[{'collector': 'rrc00', 'from': '2017-10-01T09:05:00Z', 'to': '2017-10-01T10:00:00Z', ...}]

Every source of rows is a row of the ``files`` table, so coverage is derived from it, the same
rules as for files read directly (:func:`~transitwatch.state.coverage.file_windows`): an ingested
update file covers its 5 (RIS) or 15 (RouteViews) minutes, a RIB dump its moment. A live feed
(segments ``ris-live:...``, backfills ``backfill:...``) covers its collector from its first to
its last observation except the gaps the serving process recorded in ``live_gaps`` (a dropped
connection, time it was not running) that a backfill did not fill: a quiet feed is data, a
broken one is not. Nothing is stored twice: the windows always agree with the rows they describe.
"""

from __future__ import annotations

from typing import Any

from transitwatch.sources.files import collector_and_time_from_name
from transitwatch.state.coverage import Coverage, FileSpan, Window
from transitwatch.store.db import Store

__all__ = ["stored_coverage"]

#: Path prefixes of the provenance rows a live feed and a backfill write (store.live).
_LIVE = "ris-live:"
_BACKFILL = "backfill:"


def stored_coverage(store: Store, cur: Any = None) -> Coverage:
    """The windows the database's sources cover, per collector (see the module doc)."""
    cur = cur if cur is not None else store.cursor()
    rows = cur.execute(
        "SELECT path, collector, first_time, last_time, rib_entries, announcements + withdrawals, notes "
        "FROM files").fetchall()
    cov = Coverage()
    spans: list[FileSpan] = []
    live: dict[str, tuple[float, float]] = {}
    # one connection carries every collector: a collector quiet for a while at the end of it is
    # covered up to the connection's last observation (a quiet feed is data), not its own last
    connection_end: dict[str, float] = {}
    connection_of: dict[str, set[str]] = {}
    for path, collector, first, last, ribs, updates, notes in rows:
        path, collector = str(path), str(collector)
        if path.startswith((_LIVE, _BACKFILL)):
            if first is not None and last is not None:
                lo, hi = live.get(collector, (float(first), float(last)))
                live[collector] = (min(lo, float(first)), max(hi, float(last)))
                if path.startswith(_LIVE):
                    conn = path.rsplit(" ", 1)[0]
                    connection_end[conn] = max(connection_end.get(conn, float(last)), float(last))
                    connection_of.setdefault(collector, set()).add(conn)
            continue
        name_time = collector_and_time_from_name(path)[1]
        rib: bool | None = True if ribs and not updates else None
        # A file whose compressed data ended early was noted as damaged with "truncated".
        complete = "truncated" not in (notes or "")
        spans.append(FileSpan(path, collector, name_time, _float(first), _float(last), rib, complete))
    holes = _live_holes(cur)
    for coll, conns in connection_of.items():
        lo, hi = live[coll]
        live[coll] = (lo, max([hi, *(connection_end[c] for c in conns)]))
    for coll, (lo, hi) in sorted(live.items()):
        cuts = sorted((a, b) for c, a, b in holes if c in (coll, "") and b > lo and a < hi)
        start = lo
        for a, b in cuts:
            if a > start:
                cov.add(Window(coll, start, a, "live", "live feed"))
            start = max(start, b)
        if hi >= start:
            cov.add(Window(coll, start, hi, "live", "live feed"))
    return cov.merge(Coverage.of_files(spans))


def _live_holes(cur: Any) -> list[tuple[str, float, float]]:
    """The recorded live gaps no backfill filled (the table exists once a feed ran)."""
    exists = cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'live_gaps'").fetchone()
    if not exists or not exists[0]:
        return []
    rows = cur.execute(
        "SELECT collector, start, \"end\" FROM live_gaps WHERE status <> 'backfilled'").fetchall()
    return [(str(c), float(a), float(b)) for c, a, b in rows]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
