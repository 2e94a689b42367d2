"""``tw.routes``: the observations of a source that pass some filters, as a lazy result.

The filters are those of pybgpkit and pybgpstream (peer AS, origin AS, prefix exact / super /
sub, AS-path regex, announcement or withdrawal, time window). :class:`RouteQuery` checks them once
(TransitwatchError for a bad prefix, regex or type) and applies them to decoded batches.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from transitwatch.errors import TransitwatchError
from transitwatch.observation import ANNOUNCE, RIB, STATE, WITHDRAW, Observation
from transitwatch.results import Result, utc_datetime
from transitwatch.sources.mrt import RouteFilter as RouteFilterBase

if TYPE_CHECKING:
    import pyarrow

    from transitwatch.engine.sources import Source
    from transitwatch.sources.mrt import RouteFilter

__all__ = ["RouteQuery", "Routes"]

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
_TYPES = {"A": frozenset({ANNOUNCE, RIB}), "W": frozenset({WITHDRAW})}


def _ints(value: int | Iterable[int] | None, what: str) -> frozenset[int]:
    if value is None:
        return frozenset()
    items = [value] if isinstance(value, int | str) else list(value)
    out = set()
    for item in items:
        text = str(item).strip()
        if text.upper().startswith("AS"):
            text = text[2:]
        if not text.isdigit() or int(text) >= 2**32:
            raise TransitwatchError(f"{what} {item!r}: not an AS number (e.g. 4837 or AS4837)")
        out.add(int(text))
    return frozenset(out)


def _nets(value: str | Iterable[str] | None, what: str) -> tuple[Net, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    out = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise TransitwatchError(f"{what} {item!r}: not a prefix (e.g. 175.45.176.0/22)") from None
    return tuple(out)


@dataclass(frozen=True)
class RouteQuery:
    """Filters of ``tw.routes`` / ``transitwatch dump``, checked. Empty sets mean "any"."""

    peer_asns: frozenset[int] = frozenset()
    origin_asns: frozenset[int] = frozenset()
    prefixes: tuple[Net, ...] = ()
    supers: tuple[Net, ...] = ()
    subs: tuple[Net, ...] = ()
    as_path: re.Pattern[str] | None = None
    kinds: frozenset[str] | None = None
    start: float | None = None
    end: float | None = None
    _verdicts: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        *,
        peer_asn: Any = None,
        origin_asn: Any = None,
        prefix: Any = None,
        prefix_super: Any = None,
        prefix_sub: Any = None,
        as_path_regex: str | None = None,
        type: str | None = None,
        start: Any = None,
        end: Any = None,
    ) -> RouteQuery:
        from transitwatch.times import parse_window

        pattern = None
        if as_path_regex is not None:
            try:
                pattern = re.compile(as_path_regex)
            except re.error as exc:
                raise TransitwatchError(f"as_path_regex {as_path_regex!r}: {exc}") from None
        kinds = None
        if type is not None:
            key = str(type).strip().upper()[:1]
            if key not in _TYPES or str(type).strip().lower() not in (
                "a",
                "w",
                "announce",
                "withdraw",
                "announcement",
                "withdrawal",
            ):
                raise TransitwatchError(f"type {type!r}: use A (announcements) or W (withdrawals)")
            kinds = _TYPES[key]
        lo, hi = parse_window(start, end)
        return cls(
            _ints(peer_asn, "peer_asn"),
            _ints(origin_asn, "origin_asn"),
            _nets(prefix, "prefix"),
            _nets(prefix_super, "prefix_super"),
            _nets(prefix_sub, "prefix_sub"),
            pattern,
            kinds,
            lo,
            hi,
        )

    @property
    def routes_only(self) -> bool:
        """Whether a route filter is set (then session state changes are left out)."""
        return bool(
            self.origin_asns
            or self.prefixes
            or self.supers
            or self.subs
            or self.as_path is not None
            or self.kinds is not None
        )

    @property
    def empty(self) -> bool:
        return not (self.routes_only or self.peer_asns or self.start is not None or self.end is not None)

    def _prefix_ok(self, text: str | None) -> bool:
        if not (self.prefixes or self.supers or self.subs):
            return True
        if text is None:
            return False
        net = _net(text)
        if self.prefixes and net not in self.prefixes:
            return False
        if self.supers and not any(net.version == s.version and s.subnet_of(net) for s in self.supers):  # type: ignore[arg-type]
            return False
        if self.subs and not any(net.version == s.version and net.subnet_of(s) for s in self.subs):  # type: ignore[arg-type]
            return False
        return True

    def matches(self, obs: Observation) -> bool:
        t = obs.time
        if self.start is not None and t < self.start:
            return False
        if self.end is not None and t >= self.end:
            return False
        if self.peer_asns and obs.peer_asn not in self.peer_asns:
            return False
        if not self.routes_only:
            return True
        kind = obs.kind
        if kind == STATE:
            return False
        if self.kinds is not None and kind not in self.kinds:
            return False
        path = obs.as_path
        if self.origin_asns and (kind == WITHDRAW or not (origins_of(path) & self.origin_asns)):
            return False
        if self.as_path is not None and (path is None or self.as_path.search(path) is None):
            return False
        return self._prefix_ok(obs.prefix)

    def selection(self) -> RouteFilter | None:
        """The C decoder's selection for this query (None when there is nothing to select): it
        tests time, peer, kind, prefix and origin before any object is built."""
        if self.empty:
            return None
        return RouteSelection(query=self)

    def apply(self, batch: list[Observation], *, selected: bool = False) -> list[Observation]:
        """The observations of ``batch`` this query keeps. ``selected``: the decoder's selection
        already tested time, peers, kinds and prefixes exactly; only the path tests remain."""
        if self.empty:
            return batch
        if not selected:
            return [o for o in batch if self.matches(o)]
        if not self.origin_asns and self.as_path is None:
            return batch
        if not self.origin_asns and self.as_path is not None:
            # The decoder interns path strings and a table repeats few paths many times: test each
            # distinct path once (a dict look-up per route instead of a regex search).
            search, known = self.as_path.search, self._verdicts
            kept = []
            for o in batch:
                path = o.as_path
                if path is None:
                    continue
                verdict = known.get(path)
                if verdict is None:
                    if len(known) > 1 << 18:
                        known.clear()
                    verdict = known[path] = search(path) is not None
                if verdict:
                    kept.append(o)
            return kept
        return [o for o in batch if self._path_ok(o)]

    def _path_ok(self, obs: Observation) -> bool:
        path = obs.as_path
        if self.origin_asns and not (origins_of(path) & self.origin_asns):
            return False
        return self.as_path is None or (path is not None and self.as_path.search(path) is not None)

    def c_args(self) -> tuple[Any, ...]:
        """Arguments of ``Decoder.set_select`` (see _mrt.c)."""
        kinds = 1 | 2 | 4 | 8
        if self.routes_only:
            kinds &= ~8
        if self.kinds is not None:
            kinds &= (1 | 2) if ANNOUNCE in self.kinds else 4
        if self.origin_asns:
            kinds &= ~4  # a withdrawal has no path, so no origin

        def nets(items: tuple[Net, ...]) -> list[tuple[int, bytes, int]]:
            return [(1 if n.version == 4 else 2, n.network_address.packed, n.prefixlen) for n in items]

        return (self.start if self.start is not None else float("-inf"),
                self.end if self.end is not None else float("inf"), kinds,
                sorted(self.peer_asns), sorted(self.origin_asns),
                nets(self.prefixes), nets(self.supers), nets(self.subs))


@functools.lru_cache(maxsize=1 << 16)
def _net(text: str) -> Net:
    return ipaddress.ip_network(text, strict=False)


def origins_of(path: str | None) -> frozenset[int]:
    """The possible origins of a bgpdump-notation path: its last AS, or every member of an AS_SET
    that ends it (the decoder's selection reads paths the same way)."""
    if not path:
        return frozenset()
    last = path.rsplit(" ", 1)[-1]
    return frozenset(int(x) for x in last.strip("{}").split(",") if x.isdigit())


@dataclass(frozen=True)
class RouteSelection(RouteFilterBase):
    """A :class:`~transitwatch.sources.mrt.RouteFilter` that installs a query's selection in the
    decoder instead of the target filter (read_files and the parallel readers pass it along)."""

    query: RouteQuery | None = None

    def install(self, decoder: Any) -> None:
        assert self.query is not None
        decoder.set_select(*self.query.c_args())


class Routes(Result):
    """The filtered observations of a source (``tw.routes``). Lazy: nothing is read until it is
    iterated or converted; each conversion reads the source again. ``notices`` holds what the
    readers said (damage skipped, files overlapping); ``stats`` each file's
    :class:`~transitwatch.sources.mrt.DecodeStats` when the files are read one after the other."""

    columns = Observation.FIELDS

    def __init__(self, source: Source, query: RouteQuery, safi: int | str | None = 1) -> None:
        self.source, self.query = source, query
        #: the subsequent address family kept: 1 unicast, 2 multicast, None every route,
        #: "bgpdump" the routes bgpdump -m prints
        self.safi = safi
        self.notices: list[str] = []
        self.stats: list[Any] = []

    def batches(self) -> Iterator[list[Observation]]:
        """The observations in lists (one per decoded chunk): the fast path for bulk consumers."""
        from transitwatch.engine.sources import ArchiveSource, FileSource

        selection = self.query.selection()
        if isinstance(self.source, FileSource) and (not self.source.merge or len(self.source.paths()) == 1):
            yield from self._file_by_file(self.source, selection)
            return
        selected = isinstance(self.source, FileSource | ArchiveSource) and selection is not None
        chunk: list[Observation] = []
        if self.safi != 1:
            raise TransitwatchError("safi other than unicast: read the files one by one "
                                    "(tw.files(paths, merge=False))")
        stream = self.source.observations(notices=self.notices, route_filter=selection if selected else None)
        for obs in stream:
            chunk.append(obs)
            if len(chunk) >= 8192:
                kept = self.query.apply(chunk, selected=selected)
                if kept:
                    yield kept
                chunk = []
        kept = self.query.apply(chunk, selected=selected)
        if kept:
            yield kept

    def _file_by_file(self, source: Any, selection: RouteFilter | None) -> Iterator[list[Observation]]:
        """Each file's decoded batches in turn (the order given), with its DecodeStats kept."""
        from transitwatch.sources.files import collector_and_time_from_name
        from transitwatch.sources.mrt import MrtError, MrtReader

        for path in source.paths():
            collector = source.collector or collector_and_time_from_name(path)[0] or ""
            reader = MrtReader(path, collector=collector, strict=source.strict, route_filter=selection,
                               safi=self.safi)  # type: ignore[arg-type]
            self.stats.append(reader.stats)
            try:
                for batch in reader.batches():
                    kept = self.query.apply(batch, selected=selection is not None)
                    if kept:
                        yield kept
            except (MrtError, OSError) as exc:
                raise TransitwatchError(str(exc)) from None
            if reader.stats.damaged:
                self.notices.append(f"{reader.stats.summary()} (damaged records skipped)")

    def __iter__(self) -> Iterator[Observation]:
        for batch in self.batches():
            yield from batch

    def records(self) -> list[dict[str, Any]]:
        rows = []
        for obs in self:
            row = obs.to_dict()
            row["time"] = utc_datetime(row["time"])
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """``{"observations": [...], "notices": [...]}``: each observation as one line of
        ``transitwatch dump --json`` prints it."""
        observations = [o.to_dict() for o in self]
        return {"observations": observations, "notices": list(self.notices)}

    def to_arrow(self) -> pyarrow.Table:
        from transitwatch.observation import to_arrow

        return to_arrow(self)  # the observation schema, safi included, whatever the rows hold

    def _summary(self) -> str:
        return f"routes of {self.source!r} ({'no filter' if self.query.empty else 'filtered'}; lazy)"
