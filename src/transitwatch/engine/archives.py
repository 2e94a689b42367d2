"""``tw.fetch``: the archive files of a window into the cache, as ``transitwatch fetch`` does.

Returns a :class:`FetchResult` whose ``to_dict()`` is what ``fetch --json`` prints; bad input
(unknown collector, an end before the start, a bad mirror) raises
:class:`~transitwatch.errors.TransitwatchError`. (``tw.ingest`` / ``tw.export`` live in
:mod:`transitwatch.engine.history`.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from transitwatch.engine.sources import ArchiveSource, TimeLike
from transitwatch.errors import TransitwatchError
from transitwatch.results import Result, utc_datetime

__all__ = ["fetch", "FetchResult"]


class FetchResult(Result):
    """What ``tw.fetch`` did with each archive file of the window: one row per file."""

    columns = ("collector", "kind", "time", "status", "url", "path", "bytes", "reason")

    def __init__(self, report: Any) -> None:
        self.report = report

    @property
    def ok(self) -> bool:
        """Every file of the window was had (downloaded, already cached, or planned)."""
        return bool(self.report.ok)

    @property
    def paths(self) -> list[Path]:
        return list(self.report.paths)

    def gaps(self) -> list[str]:
        """One line per run of files that could not be had."""
        return list(self.report.gaps())

    def to_dict(self) -> dict[str, Any]:
        return dict(self.report.to_dict())

    def records(self) -> list[dict[str, Any]]:
        rows = []
        for o in self.report.outcomes:
            f = o.file
            rows.append(
                {
                    "collector": f.collector,
                    "kind": f.kind,
                    "time": _moment(f.time),
                    "status": o.status,
                    "url": f.url,
                    "path": str(f.cache_path),
                    "bytes": o.size,
                    "reason": o.reason,
                }
            )
        return rows

    def _summary(self) -> str:
        return str(self.report.summary())


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return utc_datetime(value) if isinstance(value, int | float) else None


def fetch(
    collectors: str | Sequence[str],
    start: TimeLike,
    end: TimeLike,
    archive_url: str | Mapping[str, str] | Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    bridge: bool = True,
    dry_run: bool = False,
    workers: int = 4,
    progress: bool = False,
) -> FetchResult:
    """Download the archive files of a window (per collector: the RIB before ``start``, the
    updates to ``end``; ``bridge=False``: only updates inside the window) into the cache; files
    already there are kept, cut downloads resume. ``dry_run``: list them, download nothing.
    TransitwatchError when none could be had; gaps are in the result (``.gaps()``)."""
    from transitwatch.sources import archive as arc

    window = ArchiveSource(
        collectors, start, end, archive_url=archive_url, cache_dir=cache_dir, workers=workers
    )  # the checks: collectors, times, URLs
    try:
        files = arc.resolve(
            window.collectors,
            _dt(window.start),
            _dt(window.end),
            archive_urls=window.archive_urls,
            cache_dir=window.cache_dir,
            bridge=bridge,
        )
        report = arc.fetch(files, workers=workers, dry_run=dry_run, progress=progress and not dry_run)
        report.raise_if_empty()
    except arc.ArchiveError as exc:
        raise TransitwatchError(str(exc)) from None
    return FetchResult(report)


def _dt(seconds: float) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(seconds, tz=UTC)
