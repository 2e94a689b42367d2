"""``tw.coverage``: what a source's data covers, per collector, and its gaps.

>>> cov = tw.coverage(tw.files(paths))                                    # doctest: +SKIP
>>> [(g["collector"], g["start"], g["end"]) for g in cov.records()]        # doctest: +SKIP
[('rrc00', datetime(2017, 10, 1, 9, 10, tzinfo=UTC), datetime(2017, 10, 1, 11, 0, tzinfo=UTC))]

Files are not decoded when their names say what they cover (RIS/RouteViews series): a named
update file covers its 5 or 15 minutes, a dump its moment (its first record, read from the first
bytes); only files whose names carry no time are read to their last record. A store answers from
its ``files`` table and the live feed's recorded gaps
(:func:`~transitwatch.store.coverage.stored_coverage`).
"""

from __future__ import annotations

import os
from typing import Any

from transitwatch.errors import TransitwatchError
from transitwatch.results import Result, utc_datetime
from transitwatch.state.coverage import Coverage, FileSpan

__all__ = ["CoverageResult", "coverage"]


class CoverageResult(Result):
    """The windows a source covers (``tw.coverage``): one row per gap (``collector``, ``start``,
    ``end``, ``seconds``); ``to_dict()`` adds each collector's span and the times no collector
    covers; ``coverage`` is the :class:`~transitwatch.state.coverage.Coverage` itself."""

    columns = ("collector", "start", "end", "seconds")

    def __init__(self, coverage: Coverage, start: float | None = None, end: float | None = None) -> None:
        self.coverage = coverage
        self.start, self.end = start, end

    @property
    def gaps(self) -> list[Any]:
        return self.coverage.gaps(self.start, self.end)

    def to_dict(self) -> dict[str, Any]:
        return self.coverage.to_dict(self.start, self.end)

    def records(self) -> list[dict[str, Any]]:
        return [{"collector": g.collector, "start": utc_datetime(g.start), "end": utc_datetime(g.end),
                 "seconds": g.seconds} for g in self.gaps]

    def _summary(self) -> str:
        return f"{len(self.coverage.collectors)} collector(s), {len(self.gaps)} gap(s)"


def coverage(src: Any, *, start: Any = None, end: Any = None) -> CoverageResult:
    """What ``src`` (``tw.files``, ``tw.archive``, ``tw.store``) covers, and its gaps between
    ``start`` and ``end`` (default: the data's own span; times as for ``tw.upstreams``'s ``at``)."""
    from transitwatch.engine.sources import StoreSource, as_source
    from transitwatch.times import parse_time

    source = as_source(src)
    try:
        lo = parse_time(start) if start is not None else None
        hi = parse_time(end) if end is not None else None
    except (ValueError, OverflowError) as exc:
        raise TransitwatchError(f"coverage: {exc}") from None
    if source.kind == "live":
        raise TransitwatchError("coverage: a live source covers what it has received; ask the store "
                                "that serve --live writes (tw.store(db))")
    if isinstance(source, StoreSource):
        from transitwatch.store.coverage import stored_coverage

        with source.open() as db:
            return CoverageResult(stored_coverage(db), lo, hi)
    return CoverageResult(Coverage.of_files(_file_spans(source.paths(), source.collector)), lo, hi)


def _file_spans(paths: list[Any], override: str | None) -> list[FileSpan]:
    from transitwatch.sources.files import collector_and_time_from_name
    from transitwatch.sources.mrt import MrtError, MrtReader, first_record_time

    spans = []
    for raw in paths:
        path = os.fspath(raw)
        if not os.path.isfile(path):
            raise TransitwatchError(f"{path}: no such file")
        collector, name_time = collector_and_time_from_name(path)
        collector = override or collector or ""
        try:
            first = first_record_time(path)
            last: float | None = first
            if name_time is None:
                reader = MrtReader(path, collector=collector)
                for _ in reader.batches():
                    pass
                first, last = reader.stats.first_time, reader.stats.last_time
        except (MrtError, OSError) as exc:
            raise TransitwatchError(str(exc)) from None
        spans.append(FileSpan(path, collector, name_time, first, last))
    return spans
