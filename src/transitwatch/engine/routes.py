"""``tw.routes``: the observations of a source that pass some filters, as a lazy result.

The filters are those of pybgpkit and pybgpstream (peer AS, origin AS, prefix exact / super /
sub, AS-path regex, announcement or withdrawal, time window). :class:`RouteQuery` checks them once
(TransitwatchError for a bad prefix, regex or type) and applies them to decoded batches.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transitwatch.errors import TransitwatchError
from transitwatch.observation import ANNOUNCE, RIB, STATE, WITHDRAW, Observation
from transitwatch.results import Result, utc_datetime

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
        net = ipaddress.ip_network(text, strict=False)
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
        if self.origin_asns and (kind == WITHDRAW or origin_of(path) not in self.origin_asns):
            return False
        if self.as_path is not None and (path is None or self.as_path.search(path) is None):
            return False
        return self._prefix_ok(obs.prefix)

    def decoder_filter(self) -> RouteFilter | None:
        """A route filter for the C decoder that keeps a superset of what this query keeps (one
        of the ANDed conditions it can test before building objects), or None."""
        from transitwatch.sources.mrt import RouteFilter

        nets = self.prefixes or self.subs
        if nets:
            return RouteFilter(prefixes=tuple(str(n) for n in nets))
        if self.origin_asns:
            return RouteFilter(asns=self.origin_asns)
        return None

    def apply(self, batch: list[Observation]) -> list[Observation]:
        if self.empty:
            return batch
        return [o for o in batch if self.matches(o)]


def origin_of(path: str | None) -> int | None:
    """The origin AS of a bgpdump-notation path (the last hop; an AS_SET's smallest member)."""
    if not path:
        return None
    last = path.rsplit(" ", 1)[-1]
    if last.startswith("{"):
        members = [int(x) for x in last.strip("{}").split(",") if x.isdigit()]
        return min(members) if members else None
    return int(last) if last.isdigit() else None


class Routes(Result):
    """The filtered observations of a source (``tw.routes``). Lazy: nothing is read until it is
    iterated or converted; each conversion reads the source again. ``notices`` holds what the
    readers said (damage skipped, files overlapping)."""

    columns = Observation.FIELDS

    def __init__(self, source: Source, query: RouteQuery) -> None:
        self.source, self.query = source, query
        self.notices: list[str] = []

    def batches(self) -> Iterator[list[Observation]]:
        """The observations in lists (one per decoded chunk): the fast path for bulk consumers."""
        chunk: list[Observation] = []
        for obs in self.source.observations(notices=self.notices, route_filter=self.query.decoder_filter()):
            chunk.append(obs)
            if len(chunk) >= 8192:
                kept = self.query.apply(chunk)
                if kept:
                    yield kept
                chunk = []
        kept = self.query.apply(chunk)
        if kept:
            yield kept

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
