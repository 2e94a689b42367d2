"""Many MRT files as one time-ordered stream of observations, with collector and time from names.

>>> collector_and_time_from_name("rrc00/2017.10/updates.20171001.0905.gz")
('rrc00', 1506848700.0)
>>> collector_and_time_from_name("routeviews.route-views.jinx.updates.1427846400.bz2")
('route-views.jinx', 1427846400.0)

:func:`read_files` opens every file, orders them by their first record, and merges their streams
by time. Files that follow each other (the usual RIS/RouteViews sequence) cost one comparison per
record; only files that really overlap are interleaved record by record, and each overlap is
reported in ``notices``.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from transitwatch.observation import SAFI_UNICAST, Observation
from transitwatch.sources.mrt import MrtReader, RouteFilter, first_record_time
from transitwatch.state.coverage import Coverage, FileSpan
from transitwatch.times import iso_utc

__all__ = ["collector_and_time_from_name", "read_files", "FileProgress"]

_COLLECTOR_DIR = re.compile(r"^(rrc\d\d|route-views[\w.-]*)$", re.IGNORECASE)
# ris.rrc06.updates.1427846400.gz / routeviews.route-views.jinx.updates.1427846400.bz2 (BGPStream)
_DOTTED = re.compile(
    r"^(?:ris|routeviews)\.(?P<collector>.+?)\.(?:updates|ribs?|bview)\.(?P<epoch>\d{9,11})(?:\.|$)",
    re.IGNORECASE,
)
# updates.20171001.0905.gz / bview.20171001.0800.gz / rib.20171001.0800.bz2
_DATED = re.compile(r"(?:^|\.)(?:updates|bview|ribs?)\.(?P<date>\d{8})\.(?P<hm>\d{4})(?:\.|$)", re.IGNORECASE)
_RIB_NAME = re.compile(r"(?:^|\.)(?:bview|ribs?)\.", re.IGNORECASE)

#: Progress callback: (observations read so far, files finished, files in total).
FileProgress = Callable[[int, int, int], None]


def collector_and_time_from_name(path: str | os.PathLike[str]) -> tuple[str | None, float | None]:
    """The collector and the start time (epoch seconds) that a RIS/RouteViews path names.

    Either is None when the path does not say. The collector comes from a folder (``rrc00/``,
    ``route-views.linx/``, the archive cache layout) or from a BGPStream-style dotted name; the
    time from ``YYYYMMDD.HHMM`` or an epoch in the name.
    """
    p = PurePath(os.fspath(path))
    name = p.name
    collector: str | None = None
    when: float | None = None
    dotted = _DOTTED.match(name)
    if dotted:
        collector = dotted.group("collector")
        when = float(dotted.group("epoch"))
    else:
        dated = _DATED.search(name)
        if dated:
            try:
                moment = datetime.strptime(dated.group("date") + dated.group("hm"), "%Y%m%d%H%M")
                when = moment.replace(tzinfo=UTC).timestamp()
            except ValueError:
                when = None
    if collector is None:
        for part in reversed(p.parts[:-1]):
            if _COLLECTOR_DIR.match(part):
                collector = part.lower()
                break
    return collector, when


def _is_rib_name(path: str) -> bool:
    return bool(_RIB_NAME.search(PurePath(path).name))


def read_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    collector: str | None = None,
    notices: list[str] | None = None,
    progress: FileProgress | None = None,
    route_filter: RouteFilter | None = None,
    safi: int | None = SAFI_UNICAST,
    columns: bool = False,
) -> ObservationStream:
    """Observations of all ``paths`` merged into one stream in time order.

    ``collector`` overrides the collector learnt from each file name. ``notices`` (a list you
    pass) receives one line for each thing worth saying: files given out of time order, files
    overlapping in time, damaged records skipped, files without observations. ``progress`` is
    called after every decoded chunk. ``route_filter`` (e.g. ``Target.route_filter()``) drops, in
    the decoder, announcements that cannot concern the watched target. Unreadable files raise
    ``MrtError``/``OSError`` with a one-line message naming the file. Among records with equal
    times, RIB dumps come first. ``safi``: unicast routes only (1, the default), multicast only
    (2, to study those apart: they are another routing table), or every route (None).
    ``columns``: :meth:`ObservationStream.batches` yields
    :class:`~transitwatch.sources.columns.RouteColumns` (no Observation per route; for bulk
    consumers such as the store's ingest), and the stream is not iterated by observation.
    """
    notes: list[str] = notices if notices is not None else []
    path_list = [os.fspath(p) for p in paths]
    seen: set[str] = set()
    unique: list[str] = []
    for p in path_list:
        real = os.path.realpath(p)
        if real in seen:
            notes.append(f"{p}: given twice; read once")
            continue
        seen.add(real)
        unique.append(p)
    for p in unique:
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p}: no such file")
        if os.path.isdir(p):
            raise IsADirectoryError(f"{p}: is a directory, not an MRT file")
    stream = ObservationStream()
    batches = _merged(unique, collector, notes, progress, route_filter, stream, safi, columns)
    stream._batches = batches
    stream._it = itertools.chain.from_iterable(batches)
    return stream


class ObservationStream(Iterator[Observation]):
    """The merged stream :func:`read_files` returns: an iterator of observations that also knows
    ``last_time``, the time of the latest record read in any file, including records a route
    filter dropped (so "the end of the input" stays the end of the files), and :attr:`coverage`,
    the time windows the files cover (gaps where a file of a series is missing)."""

    def __init__(self) -> None:
        self._it: Iterator[Observation] = iter(())
        self._batches: Iterator[list[Observation]] = iter(())
        self.last_time: float | None = None
        self.files: dict[str, FileSpan] = {}
        self.reading: set[str] = set()

    @property
    def coverage(self) -> Coverage:
        """What the files read so far (and those waiting, by their names) cover. A file the
        replay stopped inside (``until``) covers up to where the replay stopped: its window is
        open-ended here, and :func:`~transitwatch.state.view.target_view` clips it at ``until``."""
        return Coverage.of_files(
            FileSpan(f.path, f.collector, f.name_time, f.first, float("inf"), f.rib, f.complete)
            if f.path in self.reading else f for f in self.files.values())

    def _file(self, path: str, collector: str, first: float | None = None, last: float | None = None,
              complete: bool = True) -> None:
        old = self.files.get(path)
        name_time = collector_and_time_from_name(path)[1]
        if old is not None:
            first = old.first if first is None else first if old.first is None else min(first, old.first)
            last = old.last if last is None else last if old.last is None else max(last, old.last)
            complete = complete and old.complete
        self.files[path] = FileSpan(path, collector, name_time, first, last, _is_rib_name(path) or None,
                                    complete)

    def batches(self) -> Iterator[Any]:
        """The same stream as lists of observations, each from one file (for bulk consumers such
        as the columnar ingest); iterate either this or the stream, not both."""
        return self._batches

    def __next__(self) -> Observation:
        return next(self._it)

    def _saw(self, time: float | None) -> None:
        if time is not None and (self.last_time is None or time > self.last_time):
            self.last_time = time


_Head = tuple[float, int, int]  # (time of the stream's next record, rank, stream index)


def _merged(
    paths: list[str], collector: str | None, notes: list[str], progress: FileProgress | None,
    route_filter: RouteFilter | None = None,
    stream: ObservationStream | None = None,
    safi: int | None = SAFI_UNICAST,
    columns: bool = False,
) -> Iterator[list[Observation]]:
    total = len(paths)
    counters = {"observations": 0, "done": 0}

    def batches(reader: MrtReader) -> Iterator[list[Observation]]:
        for batch in reader.batches():
            counters["observations"] += len(batch)
            if progress is not None:
                progress(counters["observations"], counters["done"], total)
            if stream is not None:
                # Coverage so far (a replay may stop inside this file).
                stream._file(reader.path, reader.collector, batch[0].time, batch[-1].time)
                stream.reading.add(reader.path)
            yield batch
        counters["done"] += 1
        if stream is not None:
            stream._saw(reader.stats.last_time)
            stream.reading.discard(reader.path)
            stream._file(reader.path, reader.collector, reader.stats.first_time, reader.stats.last_time,
                         complete=not reader.stats.fatal)
        if reader.stats.damaged:
            notes.append(f"{reader.stats.summary()} (damaged records skipped)")
        if progress is not None:
            progress(counters["observations"], counters["done"], total)

    def open_stream(index: int) -> tuple[list[Observation], int, Iterator[list[Observation]]] | None:
        path = paths[index]
        named_collector, _ = collector_and_time_from_name(path)
        it = batches(MrtReader(path, collector=collector or named_collector or "", route_filter=route_filter,
                               safi=safi, columns=columns))
        first = next(it, None)
        if first is None:
            notes.append(f"{path}: no observations")
            return None
        return first, 0, it

    # Files are opened when the merge reaches them (their first record's time is peeked), not all
    # at once: memory and open files stay bounded for long inputs, and a file is decoded only
    # after the files before it, which a route filter relies on to learn the target's prefixes
    # (from a RIB dump) before the updates that may replace them.
    streams: dict[int, tuple[list[Observation], int, Iterator[list[Observation]]]] = {}
    heap: list[_Head] = []
    for index, path in enumerate(paths):
        rank = 0 if _is_rib_name(path) else 1  # RIB dumps first among equal times
        peeked = first_record_time(path)
        if stream is not None:
            stream._file(path, collector or collector_and_time_from_name(path)[0] or "", peeked)
        if peeked is not None:
            heap.append((peeked, rank, index))
            continue
        opened = open_stream(index)  # unreadable start: open now, so errors come as before
        if opened is not None:
            streams[index] = opened
            heap.append((opened[0][0].time, rank, index))
    heap.sort()
    order = [h[2] for h in heap]
    if order != sorted(order):
        notes.append("files given out of time order; reading them in time order")
    yield from _merge_batches(heap, streams, paths, notes, open_stream)


def _merge_batches(
    heap: list[_Head],
    streams: dict[int, tuple[list[Observation], int, Iterator[list[Observation]]]],
    paths: list[str],
    notes: list[str],
    open_stream: Callable[[int], tuple[list[Observation], int, Iterator[list[Observation]]] | None],
) -> Iterator[list[Observation]]:
    # Galloping merge over decoded batches: hand out whole batches while they end no later than
    # every other file's next record, so files that follow each other cost nothing per record;
    # only a batch that crosses another file's next record is split (bisect on time).
    heapq.heapify(heap)
    overlapping: set[tuple[int, int]] = set()
    while heap:
        _, rank, index = heapq.heappop(heap)
        if index not in streams:
            opened = open_stream(index)
            if opened is not None:
                streams[index] = opened
                heapq.heappush(heap, (opened[0][0].time, rank, index))
            continue
        batch, pos, it = streams[index]
        bound = heap[0][0] if heap else float("inf")
        while True:
            if batch[-1].time <= bound:
                yield batch if pos == 0 else batch[pos:]
                nxt = next(it, None)
                if nxt is None:
                    del streams[index]
                    break
                batch, pos = nxt, 0
                continue
            # This file's next record is not later than `bound` (it was the smallest) but its batch
            # runs past it: the two files overlap in time.
            cut = bisect.bisect_right(batch, bound, lo=pos, key=_time)
            yield batch[pos:cut]
            note_overlap(notes, overlapping, paths, index, heap[0][2], bound)
            streams[index] = (batch, cut, it)
            heapq.heappush(heap, (batch[cut].time, rank, index))
            break


def note_overlap(
    notes: list[str], overlapping: set[tuple[int, int]], paths: list[str], index: int, other: int,
    bound: float,
) -> None:
    """Say once per pair of files that they overlap in time (the merge interleaves them)."""
    pair = (min(index, other), max(index, other))
    if pair not in overlapping:
        overlapping.add(pair)
        notes.append(
            f"{paths[index]} overlaps {paths[other]} in time (records after "
            f"{iso_utc(bound)} in both); merged by time"
        )


def _time(obs: Observation) -> float:
    return float(obs.time)
