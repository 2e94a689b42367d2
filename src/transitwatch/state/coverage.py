"""Coverage: the time windows each collector's data covers, and the gaps between them.

>>> cov = Coverage.of_files([
...     FileSpan("rrc00/updates.20171001.0800.gz", "rrc00", 1506844800.0, 1506844801.0, 1506845090.0),
...     FileSpan("rrc00/updates.20171001.0810.gz", "rrc00", 1506845400.0, 1506845402.0, 1506845690.0)])
>>> cov.covers("rrc00", 1506845000.0), cov.covers("rrc00", 1506845200.0)
(True, False)
>>> [(g.collector, g.start, g.end) for g in cov.gaps()]
[('rrc00', 1506845100.0, 1506845400.0)]

A route is known only where its collector's data covers the moment: between two windows (a
missing update file in a RIS or RouteViews series, years between two RIB dumps, a live feed that
was disconnected) nothing is known, so answers about such a moment come from the collectors that
do cover it, or say that none does. Windows come from

- **update files**: a RIS ``updates.YYYYMMDD.HHMM`` file covers its 5 minutes, a RouteViews one its
  15 (the archive's series; :mod:`transitwatch.sources.archive`), also when it holds no record (a
  quiet interval is data). A file cut short (damaged compression) covers up to its last record.
  An update file whose name has no time covers its first to its last record;
- **RIB dumps**: the moment of the dump (its records' times);
- **live feeds and backfills**: the connected time (added with :meth:`Coverage.add`).

Windows of one collector that touch are merged; what lies between two merged windows is a
:class:`Gap`. A route seen before a gap is still taken as held after a short one (a missing file,
a brief disconnection: up to :data:`MAX_CARRY`, an hour); after a longer gap it is unknown until
seen again (:meth:`Coverage.carried`). A pure data structure: views
(:class:`~transitwatch.state.view.TargetView`), the store and the detectors read it; it merges
across streams like a view does.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from transitwatch.times import iso_utc

__all__ = [
    "Coverage", "FileSpan", "Gap", "MAX_CARRY", "RIS_UPDATES_PERIOD", "ROUTEVIEWS_UPDATES_PERIOD", "Window",
    "updates_period",
]

RIS_UPDATES_PERIOD = 300.0
ROUTEVIEWS_UPDATES_PERIOD = 900.0

#: A route seen before a gap is still taken as held after a gap this short (seconds): a missing
#: update file or a brief disconnection; after a longer gap it is unknown until seen again (an
#: announcement, a RIB dump): a dump from 2002 says nothing about 2015.
MAX_CARRY = 3600.0

#: Windows closer than this merge (clock rounding between one file's last record and the next).
_TOUCH = 1.0
#: Files whose name gives no time: their records are all we know, so a short silence between two
#: such files is not called a gap.
_UNNAMED_SLACK = 60.0

_RIB_NAME = re.compile(r"(?:^|[./\\])(?:bview|ribs?)\.", re.IGNORECASE)


def updates_period(collector: str, path: str = "") -> float:
    """The archive's update-file period for a collector: 15 minutes for RouteViews, 5 for RIS
    (and for collectors that name neither)."""
    text = f"{collector} {path}".lower()
    return ROUTEVIEWS_UPDATES_PERIOD if "route-views" in text or "routeviews" in text else RIS_UPDATES_PERIOD


@dataclass(frozen=True, slots=True)
class Window:
    """``collector``'s data covers [start, end] (epoch seconds). ``kind``: ``"updates"``,
    ``"rib"``, ``"file"`` (update file without a time in its name), ``"live"`` or
    ``"backfill"``; ``source`` the file or feed."""

    collector: str
    start: float
    end: float
    kind: str = "updates"
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"collector": self.collector, "from": iso_utc(self.start), "to": iso_utc(self.end),
                "kind": self.kind, "source": self.source}


@dataclass(frozen=True, slots=True)
class Gap:
    """No data of ``collector`` between ``start`` (the end of the window before) and ``end`` (the
    start of the next one; None: no data after). ``collector`` ``"*"``: no collector at all."""

    collector: str
    start: float
    end: float | None

    @property
    def seconds(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"collector": self.collector, "from": iso_utc(self.start),
                "to": iso_utc(self.end) if self.end is not None else None, "seconds": self.seconds}


@dataclass(frozen=True, slots=True)
class FileSpan:
    """What a reader knows of one MRT file: its collector, the time its name gives (None:
    none), its first and last record times (None: no record), whether it is a RIB dump (None:
    guess from the name) and whether it was read to its end."""

    path: str
    collector: str
    name_time: float | None
    first: float | None
    last: float | None
    rib: bool | None = None
    complete: bool = True

    def is_rib(self) -> bool:
        return self.rib if self.rib is not None else bool(_RIB_NAME.search(self.path))


@dataclass
class Coverage:
    """Windows of data per collector (see the module doc). Build with :meth:`of_files`,
    :meth:`add`; read with :meth:`covers`, :meth:`gaps`, :meth:`reach`, :meth:`at`."""

    windows: list[Window] = field(default_factory=list)
    _merged: dict[str, list[tuple[float, float]]] | None = field(default=None, init=False, repr=False)

    # -- building -------------------------------------------------------------------------------

    def add(self, window: Window) -> None:
        if window.end < window.start:
            raise ValueError(f"coverage window ends before it starts: {window}")
        self.windows.append(window)
        self._merged = None

    def extend(self, windows: Iterable[Window]) -> None:
        for w in windows:
            self.add(w)

    @classmethod
    def of_files(cls, files: Iterable[FileSpan]) -> Coverage:
        """The windows a set of files covers (the module doc's rules)."""
        cov = cls()
        cov.extend(file_windows(files))
        return cov

    def settle(self, until: float) -> Coverage:
        """Windows of files a replay stopped inside at ``until`` (open-ended, ``end`` infinite)
        end there: their data was read up to ``until`` (an update file: at least its period)."""
        out = []
        for w in self.windows:
            if w.end == float("inf"):
                end = max(until, w.start)
                if w.kind == "updates":
                    end = max(end, w.start + updates_period(w.collector, w.source))
                w = Window(w.collector, w.start, end, w.kind, w.source)
            out.append(w)
        return Coverage(out)

    def clip(self, end: float) -> Coverage:
        """The windows up to ``end`` (what a replay stopped at ``end`` knows)."""
        return Coverage([w if w.end <= end else Window(w.collector, w.start, end, w.kind, w.source)
                         for w in self.windows if w.start <= end])

    def merge(self, *others: Coverage | None) -> Coverage:
        """Windows of this and the other coverages (disjoint streams or not: windows just add)."""
        out = Coverage(list(self.windows))
        for other in others:
            if other is not None:
                out.windows.extend(other.windows)
        return out

    # -- reading --------------------------------------------------------------------------------

    @property
    def collectors(self) -> list[str]:
        return sorted({w.collector for w in self.windows})

    def merged(self, collector: str) -> list[tuple[float, float]]:
        """The collector's windows merged into disjoint [start, end] intervals, in time order."""
        if self._merged is None:
            self._merged = _merge_all(self.windows)
        return self._merged.get(collector, [])

    def span(self) -> tuple[float, float] | None:
        """First and last covered moments of any collector."""
        if not self.windows:
            return None
        return min(w.start for w in self.windows), max(w.end for w in self.windows)

    def window_at(self, collector: str, time: float) -> tuple[float, float] | None:
        """The merged window of ``collector`` holding ``time`` (None: a gap, or no data)."""
        spans = self.merged(collector)
        i = bisect.bisect_right(spans, (time, float("inf"))) - 1
        if i >= 0 and spans[i][0] <= time <= spans[i][1]:
            return spans[i]
        return None

    def known_from(self, collector: str, time: float, max_carry: float = MAX_CARRY) -> float | None:
        """The earliest moment whose observations by ``collector`` are still known at ``time``:
        the start of its windows reaching back from ``time`` across gaps of at most
        ``max_carry`` seconds (None: its data does not cover ``time``). The one rule behind
        :meth:`carried` and :meth:`table_known`."""
        spans = self.merged(collector)
        i = bisect.bisect_right(spans, (time, float("inf"))) - 1
        if i < 0 or not spans[i][0] <= time <= spans[i][1]:
            return None
        while i > 0 and spans[i][0] - spans[i - 1][1] <= max_carry:
            i -= 1
        return spans[i][0]

    def carried(self, collector: str, seen: float, time: float, max_carry: float = MAX_CARRY) -> bool:
        """Whether something ``collector`` saw at ``seen`` is still known at ``time`` (later):
        ``time`` is covered and every gap between them is at most ``max_carry`` seconds."""
        since = self.known_from(collector, time, max_carry)
        return since is not None and seen >= since

    def table_known(self, collector: str, time: float, max_carry: float = MAX_CARRY) -> bool:
        """Whether the full tables ``collector``'s peers hold at ``time`` are known then (the
        country commands count whole tables): its data covers ``time`` and carries every route
        held, i.e. from its first window, or from its last RIB dump before ``time`` (which
        re-saw every route it kept). After a longer gap with no dump since, a table mixes routes
        seen again with routes last seen before the gap: it is unknown as a whole."""
        since = self.known_from(collector, time, max_carry)
        if since is None:
            return False
        spans = self.merged(collector)
        basis = spans[0][0]
        for w in self.windows:
            if w.kind == "rib" and w.collector == collector and basis < w.start <= time:
                basis = w.start
        return basis >= since

    def covers(self, collector: str, time: float) -> bool:
        return self.window_at(collector, time) is not None

    def covering(self, time: float) -> list[str]:
        """The collectors whose data covers ``time``."""
        return [c for c in self.collectors if self.covers(c, time)]

    def gap_at(self, collector: str, time: float) -> Gap | None:
        """The gap of ``collector`` around ``time`` (None when it covers ``time`` or has no
        data). Before the collector's first window the gap starts at ``time``; after its last one
        it has no end."""
        spans = self.merged(collector)
        if not spans:
            return None
        i = bisect.bisect_right(spans, (time, float("inf"))) - 1
        if i >= 0 and spans[i][0] <= time <= spans[i][1]:
            return None
        before = spans[i][1] if i >= 0 else None
        after = spans[i + 1][0] if i + 1 < len(spans) else None
        return Gap(collector, before if before is not None else time, after)

    def gaps(
        self, start: float | None = None, end: float | None = None, collectors: Iterable[str] | None = None
    ) -> list[Gap]:
        """Gaps between each collector's windows, overlapping [start, end] (default: all), in
        time order. Times before a collector's first or after its last window are not gaps
        (there is no series to miss) unless ``start``/``end`` reach there."""
        lo = float("-inf") if start is None else start
        hi = float("inf") if end is None else end
        out: list[Gap] = []
        for coll in sorted(collectors) if collectors is not None else self.collectors:
            spans = self.merged(coll)
            holes: list[tuple[float, float | None]] = [
                (a[1], b[0]) for a, b in zip(spans, spans[1:], strict=False)]
            if spans and start is not None and start < spans[0][0]:
                holes.insert(0, (start, spans[0][0]))
            if spans and end is not None and end > spans[-1][1]:
                holes.append((spans[-1][1], None))
            for a, b in holes:
                if a < hi and (b is None or b > lo):
                    out.append(Gap(coll, a, b))
        out.sort(key=lambda g: (g.start, g.collector))
        return out

    def uncovered(self, start: float | None = None, end: float | None = None) -> list[Gap]:
        """Times no collector covers, within [start, end] (default: the covered span), as gaps
        of collector ``"*"``."""
        every = sorted(iv for c in self.collectors for iv in self.merged(c))
        union = _merge_sorted(every, _TOUCH)
        if not union:
            return []
        lo = union[0][0] if start is None else start
        hi = union[-1][1] if end is None else end
        out: list[Gap] = []
        cursor = lo
        for a, b in union:
            if a > cursor and cursor < hi:
                out.append(Gap("*", cursor, min(a, hi) if a < hi or end is not None else a))
            cursor = max(cursor, b)
        if cursor < hi:
            out.append(Gap("*", cursor, None if end is None else hi))
        return [g for g in out if g.end is None or g.end > g.start]

    def covered_seconds(self, collectors: Iterable[str], start: float, end: float) -> float:
        """How much of [start, end] the union of ``collectors``' windows covers."""
        every = sorted(iv for c in set(collectors) for iv in self.merged(c))
        total = 0.0
        for a, b in _merge_sorted(every, 0.0):
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += hi - lo
        return total

    def reach(self, collectors: Iterable[str], start: float, seconds: float) -> float | None:
        """The earliest time ``t`` >= ``start`` such that ``collectors``' data covers ``seconds``
        of [start, t]: when a change seen at ``start`` has lasted ``seconds`` of *observed*
        time (None: the data ends first). A gap does not count towards a duration."""
        every = sorted(iv for c in set(collectors) for iv in self.merged(c))
        need = seconds
        for a, b in _merge_sorted(every, 0.0):
            if b < start:
                continue
            lo = max(a, start)
            if lo + need <= b:
                return lo + need
            need -= b - lo
        return None

    def at(self, time: float) -> dict[str, Any]:
        """``{"collectors": [...covering time], "gaps": [...collectors that do not]}``."""
        gaps = [g for c in self.collectors if (g := self.gap_at(c, time)) is not None]
        return {"collectors": self.covering(time), "gaps": [g.to_dict() for g in gaps]}

    def to_dict(self, start: float | None = None, end: float | None = None) -> dict[str, Any]:
        """Per collector its merged windows, plus the gaps and uncovered times in [start, end]."""
        out = []
        for coll in self.collectors:
            spans = self.merged(coll)
            out.append({"collector": coll, "first": iso_utc(spans[0][0]), "last": iso_utc(spans[-1][1]),
                        "windows": len(spans),
                        "covered_seconds": round(sum(b - a for a, b in spans), 3)})
        return {"collectors": out, "gaps": [g.to_dict() for g in self.gaps(start, end)],
                "uncovered": [g.to_dict() for g in self.uncovered(start, end)]}


def _merge_sorted(spans: Sequence[tuple[float, float]], touch: float) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in spans:
        if out and a <= out[-1][1] + touch:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _merge_all(windows: Iterable[Window]) -> dict[str, list[tuple[float, float]]]:
    by: dict[str, list[Window]] = {}
    for w in windows:
        by.setdefault(w.collector, []).append(w)
    out: dict[str, list[tuple[float, float]]] = {}
    for coll, ws in by.items():
        ws.sort(key=lambda w: (w.start, w.end))
        merged: list[tuple[float, float]] = []
        last_kind = ""
        for w in ws:
            slack = _UNNAMED_SLACK if "file" in (w.kind, last_kind) else _TOUCH
            if merged and w.start <= merged[-1][1] + slack:
                if w.end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], w.end)
                    last_kind = w.kind
            else:
                merged.append((w.start, w.end))
                last_kind = w.kind
        out[coll] = merged
    return out


def file_windows(files: Iterable[FileSpan]) -> list[Window]:
    """The coverage windows of files (see the module doc)."""
    out: list[Window] = []
    for f in files:
        if f.first is not None and f.last is not None and f.last < f.first:
            f = FileSpan(f.path, f.collector, f.name_time, f.first, f.first, f.rib, f.complete)
        if f.is_rib():
            if f.first is None or f.last is None:
                continue
            out.append(Window(f.collector, min(f.first, f.name_time or f.first), max(f.last, f.first), "rib",
                              f.path))
            continue
        if f.name_time is None:
            if f.first is None:
                continue
            # Not read yet (a replay stopped before it): its first record at least.
            out.append(Window(f.collector, f.first, f.first if f.last is None else f.last, "file", f.path))
            continue
        period = updates_period(f.collector, f.path)
        if f.first is not None and not f.name_time - period <= f.first <= f.name_time + period:
            # The name's time is not the records' (a renamed file): only the records say.
            out.append(Window(f.collector, f.first, f.first if f.last is None else f.last, "file", f.path))
            continue
        start, end = f.name_time, f.name_time + period
        if f.first is not None:
            start = min(start, f.first)
        if f.last is not None:
            end = max(end, f.last)
        if not f.complete:
            # Cut short: only what was read is known.
            end = f.last if f.last is not None else start
        out.append(Window(f.collector, start, end, "updates", f.path))
    return out
