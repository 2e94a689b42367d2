"""Which collectors were heard from when: silences long enough to hide what their peers saw.

A collector that records nothing for a while (a crashed collector, a missing archive file, a
broken feed) does not withdraw its peers' routes: the routing state keeps the last routes it knew,
and whatever happened meanwhile is unknown. Detectors use the silences recorded here to say
"vantage point lost" instead of guessing.

>>> tracker = LivenessTracker(quiet_after=600)
>>> state.replay(tracker.watch(read_files(paths)))                     # doctest: +SKIP
>>> tracker.liveness().silences                                        # doctest: +SKIP
[Silence(collector='rrc00', start=..., end=...)]

:meth:`LivenessTracker.watch` passes observations through unchanged, in chunks, checking times
once per chunk: a chunk that cannot contain a silence (its span from each collector's previous
observation is shorter than ``quiet_after``) costs no per-observation Python code, only C-level
iteration and a set of the collectors it holds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from transitwatch.observation import Observation
from transitwatch.times import iso_utc

__all__ = ["DEFAULT_QUIET_AFTER", "Liveness", "LivenessTracker", "Silence"]

#: A collector silent this long (seconds) is "quiet": RIS and RouteViews collectors normally
#: record something every few seconds, and publish update files every 5 (RIS) or 15 minutes.
DEFAULT_QUIET_AFTER = 900.0

_CHUNK = 1024
_collector_of = attrgetter("collector")


@dataclass(frozen=True, slots=True)
class Silence:
    """``collector`` recorded nothing in (``start``, ``end``): ``start`` is its last observation
    before the silence (or the first observation of the input, when it was silent from the
    beginning), ``end`` the first after it (or the end of the input, ``open`` True)."""

    collector: str
    start: float
    end: float
    open: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"collector": self.collector, "start": iso_utc(self.start), "end": iso_utc(self.end),
                "duration": self.duration, "open": self.open}


@dataclass
class Liveness:
    """Per collector: first and last observation times, and silences of ``quiet_after`` or more.

    ``start``/``end`` are the input's first and last observation times.
    """

    quiet_after: float
    first: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    silences: list[Silence] = field(default_factory=list)
    start: float | None = None
    end: float | None = None

    def quiet_at(self, collector: str, time: float) -> bool:
        """Whether ``collector`` was in a silence at ``time`` (start < time < end)."""
        return any(s.collector == collector and s.start < time < s.end for s in self.silences)

    def to_dict(self) -> dict[str, Any]:
        return {
            "quiet_after": self.quiet_after,
            "collectors": {c: {"first": iso_utc(self.first[c]), "last": iso_utc(self.last[c])}
                           for c in sorted(self.first)},
            "silences": [s.to_dict() for s in self.silences],
        }


class LivenessTracker:
    """Records collector silences from a time-ordered observation stream (see the module doc)."""

    def __init__(self, quiet_after: float = DEFAULT_QUIET_AFTER) -> None:
        if quiet_after <= 0:
            raise ValueError("quiet_after must be positive")
        self.quiet_after = quiet_after
        self._first: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._gaps: list[Silence] = []
        self._start: float | None = None
        self._end: float | None = None

    def watch(self, observations: Iterable[Observation]) -> Iterator[Observation]:
        """``observations`` unchanged, recording each collector's silences on the way (the items
        pass through C-level iterators; Python code runs once per chunk)."""
        return itertools.chain.from_iterable(self._chunks(iter(observations)))

    def _chunks(self, it: Iterator[Observation]) -> Iterator[list[Observation]]:
        quiet = self.quiet_after
        first, last = self._first, self._last
        while True:
            chunk = list(itertools.islice(it, _CHUNK))
            if not chunk:
                return
            t0, t1 = chunk[0].time, chunk[-1].time
            if self._start is None:
                self._start = t0
            self._end = t1 if self._end is None else max(self._end, t1)
            collectors = set(map(_collector_of, chunk))
            for name in collectors:
                before = last.get(name)
                if before is None:
                    first[name] = next(o.time for o in chunk if o.collector == name)
                    if first[name] - self._start >= quiet:
                        self._gaps.append(Silence(name, self._start, first[name]))
                    self._scan(chunk, name, first[name])
                elif t1 - before >= quiet:
                    # A silence may hide in this chunk: look at this collector's times one by one.
                    self._scan(chunk, name, before)
                else:
                    # Every gap inside is shorter than t1 - before: only the last time is needed.
                    last[name] = self._last_time(chunk, name)
            yield chunk

    def _scan(self, chunk: list[Observation], name: str, previous: float) -> None:
        quiet = self.quiet_after
        for obs in chunk:
            if obs.collector == name:
                if obs.time - previous >= quiet:
                    self._gaps.append(Silence(name, previous, obs.time))
                previous = obs.time
        self._last[name] = previous

    @staticmethod
    def _last_time(chunk: list[Observation], name: str) -> float:
        for obs in reversed(chunk):
            if obs.collector == name:
                return obs.time
        raise AssertionError("collector not in chunk")  # callers pass collectors of the chunk

    def liveness(self) -> Liveness:
        """What was recorded so far; collectors silent up to the end of the input get an open
        silence."""
        silences = list(self._gaps)
        if self._end is not None:
            for name, when in self._last.items():
                if self._end - when >= self.quiet_after:
                    silences.append(Silence(name, when, self._end, open=True))
        silences.sort(key=lambda s: (s.start, s.collector))
        return Liveness(self.quiet_after, dict(self._first), dict(self._last), silences,
                        self._start, self._end)
