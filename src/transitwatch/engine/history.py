"""Keeping history: ``tw.ingest`` MRT files into a store, ``tw.export`` a store for other engines.

>>> report = tw.ingest("history.duckdb", paths, watch=["AS131279"])      # doctest: +SKIP
>>> tw.export("history.duckdb", "history/", partitioned=True)            # doctest: +SKIP
>>> tw.upstreams("AS131279", tw.store("history/"), at="2017-10-01T09:30Z")   # doctest: +SKIP

The store is :mod:`transitwatch.store` (DuckDB); these functions open it, call
:func:`transitwatch.store.ingest` / :func:`transitwatch.store.export.export_partitioned`, and
turn bad input into :class:`~transitwatch.errors.TransitwatchError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transitwatch.errors import TransitwatchError
from transitwatch.results import Result, utc_datetime

__all__ = ["ExportResult", "IngestResult", "export", "ingest"]


@dataclass(repr=False)
class IngestResult(Result):
    """What an ingest did: one row per file (ingested / skipped / replayed) and the totals;
    ``to_dict()`` is ``transitwatch ingest --json`` without the database summary."""

    report: Any
    database: dict[str, Any] = field(default_factory=dict)
    columns = ("path", "collector", "status", "observations", "first_time", "last_time", "sha256")

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "database": self.database}

    def records(self) -> list[dict[str, Any]]:
        return [{"path": f.path, "collector": f.collector, "status": f.status, "observations": f.observations,
                 "first_time": utc_datetime(f.first_time), "last_time": utc_datetime(f.last_time),
                 "sha256": f.sha256} for f in self.report.files]

    def _summary(self) -> str:
        r = self.report
        return (f"{len(r.ingested)} files ingested, {len(r.skipped)} skipped, {r.observations:,} "
                f"observations -> {r.route_intervals:,} route intervals in {r.seconds:.1f} s")


@dataclass(repr=False)
class ExportResult(Result):
    """The files and folders an export wrote (one row each)."""

    paths: list[Path]
    partitioned: bool
    columns = ("path",)

    def to_dict(self) -> dict[str, Any]:
        return {"files": [str(p) for p in self.paths], "partitioned": self.partitioned}

    def records(self) -> list[dict[str, Any]]:
        return [{"path": str(p)} for p in self.paths]


def _open_for_writing(db: str | os.PathLike[str]) -> Any:
    """The store ``db`` opened to write: StoreWriteError when the file system refuses, else a
    one-line TransitwatchError (one that a serving process owns says who, and how to ask it)."""
    from transitwatch.store import Store, StoreError, StoreWriteError, write_failure

    try:
        return Store(db)
    except StoreError as exc:
        if write_failure(exc) is not None:
            raise StoreWriteError(str(exc)) from None
        from transitwatch.live.service import read_lock

        owner = read_lock(db)
        if owner is not None and "cannot open" in str(exc):
            # One process owns a database while it serves it: say who, and how to reach it.
            raise TransitwatchError(
                f"{os.fspath(db)} is in use by 'transitwatch serve' (pid {owner.get('pid')}): ask it at "
                f"{owner.get('url')}/api/... (e.g. /api/upstreams?target=...), or stop it") from None
        raise TransitwatchError(str(exc)) from None


def ingest(
    db: str | os.PathLike[str],
    paths: Iterable[str | os.PathLike[str]],
    *,
    collector: str | None = None,
    watch: Iterable[str] = (),
    min_peers: int = 2,
    min_duration: float | str = 300.0,
    workers: int | None = 1,
    scheduler: str | Any | None = None,
    method: str = "columnar",
    progress: Callable[[str, int, int], None] | None = None,
) -> IngestResult:
    """Ingest MRT files into the database file ``db`` (made when missing): incremental (known
    files are skipped), any order, crash-safe; see :func:`transitwatch.store.ingest`.
    ``workers``/``scheduler`` derive collectors in parallel (one collector per task);
    ``min_duration`` is seconds or a duration (``"5m"``); ``progress(collector, observations,
    files)`` hears how far it got.

    Bad input (a missing or damaged file, a bad target, a database not made by ingest or in use
    by ``serve``) raises :class:`~transitwatch.errors.TransitwatchError`. A database that cannot
    be written (disk full, read-only file system) raises
    :class:`transitwatch.store.StoreWriteError` (one line naming it; the transaction is rolled
    back, the database keeps what it had): not bad input, so not a TransitwatchError. Files that
    failed while the others were ingested are in ``result.report.failures``."""
    from transitwatch.sources.mrt import MrtError
    from transitwatch.state.target import TargetError
    from transitwatch.store import StoreError, StoreWriteError, write_failure
    from transitwatch.store import ingest as store_ingest
    from transitwatch.times import parse_duration

    seconds = parse_duration(min_duration)  # TransitwatchError naming the text
    paths = list(paths)
    watch = list(watch)
    if not paths and not watch:
        raise TransitwatchError("give MRT files to ingest (and/or targets to watch)")
    from transitwatch.engine.sources import parse_target

    for text in watch:
        parse_target(text)  # unreadable or too broad: refused before the database is touched
    with _open_for_writing(db) as store:
        try:
            report = store_ingest(store, paths, collector=collector, watch_targets=watch, min_peers=min_peers,
                                  min_duration=seconds, progress=progress, workers=workers,
                                  scheduler=scheduler, method=method)
        except StoreWriteError:
            raise
        except (MrtError, OSError, StoreError, TargetError, RuntimeError, ValueError) as exc:
            reason = write_failure(exc)
            if reason is not None:  # e.g. a temporary file on a full disk
                raise StoreWriteError(f"{os.fspath(db)}: cannot write the database ({reason})") from None
            raise TransitwatchError(str(exc)) from None
        return IngestResult(report, store.summary())


def export(
    db: str | os.PathLike[str], outdir: str | os.PathLike[str], *, partitioned: bool = True,
    fmt: str = "parquet", tables: list[str] | None = None,
) -> ExportResult:
    """Write the store ``db`` under ``outdir``: with ``partitioned`` (default) the whole store as
    Hive-partitioned Parquet by collector and day, readable by DuckDB, Dask, polars and Spark and
    usable as ``tw.store(outdir)``; else one flat file per table (``fmt`` parquet or csv)."""
    from transitwatch.store import Store, StoreError
    from transitwatch.store.export import export as flat_export
    from transitwatch.store.export import export_partitioned

    try:
        with Store(db, read_only=True) as store:
            if partitioned:
                return ExportResult(export_partitioned(store, outdir), True)
            return ExportResult(flat_export(store, outdir, fmt, tables), False)
    except (OSError, StoreError, ValueError) as exc:
        raise TransitwatchError(str(exc)) from None
