"""How visible a target is over time: announced prefixes, address space, and the peers that see it.

>>> view = target_view("AS131279", read_files(paths))                      # doctest: +SKIP
>>> series = visibility(view, resolution=300)                             # doctest: +SKIP
>>> [(p.time, p.prefixes, p.slash24, p.peers) for p in series.points][:2]  # doctest: +SKIP
[(1506844800.0, 4, 4.0, 12), (1506845100.0, 4, 4.0, 12)]

A pure function of a :class:`~transitwatch.state.view.TargetView` (an AS, a prefix, or a country
from :func:`~transitwatch.metrics.country.country_view`). For each time ``t`` of a regular grid
(``resolution`` seconds, aligned to multiples of it, as RIS files are), the state *at* ``t``:

- ``prefixes``: target prefixes that at least one peer has a route for;
- ``slash24`` / ``slash48``: the address space they cover, IPv4 in /24 equivalents and IPv6 in
  /48 equivalents (a /22 is 4, a /25 is 0.5; more-specifics inside a covering prefix are not
  counted twice);
- ``peers``: peers with at least one route to the target; ``peers_up`` the peers of the view
  whose session is not down; ``share`` = peers / peers_up;
- per prefix, the number of peers that see it (``series.prefix_peers``).

``low_slash24`` / ``low_slash48`` are the lowest address space at any moment in [t, t +
resolution): a dip shorter than the resolution still shows. :class:`PrefixSpace` (address space of
a changing set of prefixes, overlaps counted once, O(depth) per change) is shared with the outage
detector.
"""

from __future__ import annotations

import functools
import math
import socket
import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from transitwatch.state.table import PeerKey
from transitwatch.state.view import TargetView
from transitwatch.times import iso_local, iso_utc

__all__ = [
    "DEFAULT_RESOLUTION",
    "PrefixIndex",
    "PrefixSpace",
    "VisibilityPoint",
    "parse_prefix",
    "VisibilitySeries",
    "view_changes",
    "visibility",
]

DEFAULT_RESOLUTION = 300.0


# -- address space of a changing set of prefixes ------------------------------------------------


@functools.lru_cache(maxsize=1 << 17)
def parse_prefix(prefix: str) -> tuple[int, int, int] | None:
    """``"10.0.0.0/8"`` -> ``(4, 167772160, 8)`` (version, first address as int, length), host
    bits cleared; None when it is not a prefix. Fast path for the usual text, ipaddress otherwise."""
    addr, sep, length_text = prefix.partition("/")
    try:
        length = int(length_text) if sep else -1
        if ":" in addr:
            if not 0 <= length <= 128:
                return None
            value = int.from_bytes(socket.inet_pton(socket.AF_INET6, addr), "big")
            return 6, value >> (128 - length) << (128 - length), length
        parts = addr.split(".")
        if len(parts) != 4 or not 0 <= length <= 32:
            return None
        a, b, c, d = int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3])
        if min(a, b, c, d) < 0 or max(a, b, c, d) > 255:
            return None
        value = (a << 24) | (b << 16) | (c << 8) | d
        return 4, value >> (32 - length) << (32 - length), length
    except (ValueError, OSError):
        return None


class PrefixIndex:
    """A fixed universe of prefixes with each one's size and nearest covering prefix.

    Sizes are in /24 equivalents for IPv4 and /48 equivalents for IPv6. Prefixes that do not
    parse are kept with size 0 (they are counted as prefixes, never as address space).
    """

    def __init__(self, prefixes: Iterable[str]) -> None:
        self.size: dict[str, float] = {}
        self.version: dict[str, int] = {}
        self.parent: dict[str, str | None] = {}
        self.children: dict[str, list[str]] = {}
        keyed: list[tuple[int, int, int, int, str]] = []
        for prefix in set(prefixes):
            parsed = parse_prefix(prefix)
            if parsed is None:
                self.size[prefix], self.version[prefix], self.parent[prefix] = 0.0, 0, None
                continue
            version, first, length = parsed
            bits = 32 if version == 4 else 128
            self.size[prefix] = math.ldexp(1.0, (24 if version == 4 else 48) - length)
            self.version[prefix] = version
            keyed.append((version, first, length, first + (1 << (bits - length)) - 1, prefix))
        keyed.sort()
        #: prefix -> (version, first address, length), in address order (for sorting output).
        self.order = {k[4]: i for i, k in enumerate(keyed)}
        # Sorted by (version, first address, length): a prefix's covering prefixes come before it,
        # on a stack of the prefixes whose ranges are still open.
        stack: list[tuple[int, int, str]] = []
        for version, first, _length, last, prefix in keyed:
            while stack and not (stack[-1][0] == version and first <= stack[-1][1]):
                stack.pop()
            parent = stack[-1][2] if stack else None
            self.parent[prefix] = parent
            if parent is not None:
                self.children.setdefault(parent, []).append(prefix)
            stack.append((version, last, prefix))

    def __contains__(self, prefix: object) -> bool:
        return prefix in self.size

    def __len__(self) -> int:
        return len(self.size)

    @classmethod
    def of_view(cls, view: TargetView) -> PrefixIndex:
        """The index of a view's span prefixes, built once per view (the detectors and the
        visibility series share it; a view that gained spans since gets a new one)."""
        cached = _VIEW_INDEX.get(id(view))
        if cached is not None and cached[0]() is view and cached[1] == len(view.spans):
            return cached[2]
        index = cls(s.prefix for s in view.spans)
        _VIEW_INDEX.clear()  # one view at a time is the common case; keeps memory bounded
        _VIEW_INDEX[id(view)] = (weakref.ref(view), len(view.spans), index)
        return index

    def covering(self, prefix: str) -> list[str]:
        """The prefixes of the index that strictly cover ``prefix``, nearest first."""
        out = []
        parent = self.parent.get(prefix)
        while parent is not None:
            out.append(parent)
            parent = self.parent.get(parent)
        return out


_VIEW_INDEX: dict[int, tuple[weakref.ref[TargetView], int, PrefixIndex]] = {}


class PrefixSpace:
    """A set of prefixes (from a :class:`PrefixIndex`) and the address space it covers.

    ``slash24`` / ``slash48`` are kept up to date on every :meth:`add` / :meth:`discard`; a prefix
    inside another member adds nothing.
    """

    __slots__ = ("index", "members", "slash24", "slash48")

    def __init__(self, index: PrefixIndex) -> None:
        self.index = index
        self.members: set[str] = set()
        self.slash24 = 0.0
        self.slash48 = 0.0

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, prefix: object) -> bool:
        return prefix in self.members

    def space(self, version: int) -> float:
        return self.slash24 if version == 4 else self.slash48

    def _covered(self, prefix: str) -> bool:
        parent = self.index.parent.get(prefix)
        members = self.members
        while parent is not None:
            if parent in members:
                return True
            parent = self.index.parent.get(parent)
        return False

    def _tops_below(self, prefix: str) -> float:
        # Members inside `prefix` not inside another member inside it: what `prefix` covers.
        total = 0.0
        todo = list(self.index.children.get(prefix, ()))
        while todo:
            child = todo.pop()
            if child in self.members:
                total += self.index.size[child]
            else:
                todo.extend(self.index.children.get(child, ()))
        return total

    def _adjust(self, prefix: str, delta: float) -> None:
        if self.index.version.get(prefix) == 6:
            self.slash48 += delta
        else:
            self.slash24 += delta

    def add(self, prefix: str) -> None:
        if prefix in self.members:
            return
        if not self._covered(prefix):
            self._adjust(prefix, self.index.size[prefix] - self._tops_below(prefix))
        self.members.add(prefix)

    def discard(self, prefix: str) -> None:
        if prefix not in self.members:
            return
        self.members.discard(prefix)
        if not self._covered(prefix):
            self._adjust(prefix, self._tops_below(prefix) - self.index.size[prefix])


# -- the view as a time-ordered list of changes --------------------------------------------------

#: Change kinds, in the order they apply at one time: routes end, sessions go down, sessions come
#: up, routes start (a session reset at t ends routes and a re-announcement at t starts them).
END, DOWN, UP, START = 0, 1, 2, 3


def view_changes(view: TargetView) -> list[tuple[float, int, PeerKey, str]]:
    """``(time, kind, peer, prefix)`` for every span start/end and session change of ``view``,
    in time order (``prefix`` is ``""`` for session changes)."""
    out: list[tuple[float, int, PeerKey, str]] = []
    for span in view.spans:
        out.append((span.start, START, span.peer, span.prefix))
        if span.end is not None:
            out.append((span.end, END, span.peer, span.prefix))
    for ev in view.sessions:
        out.append((ev.time, UP if ev.up else DOWN, ev.peer, ""))
    out.sort(key=lambda c: (c[0], c[1]))
    return out


# -- the series ----------------------------------------------------------------------------------


@dataclass
class VisibilityPoint:
    """The target's visibility at ``time`` (see the module doc for each field)."""

    time: float
    prefixes: int
    slash24: float
    slash48: float
    peers: int
    peers_up: int
    low_slash24: float
    low_slash48: float

    @property
    def share(self) -> float:
        return self.peers / self.peers_up if self.peers_up else 0.0

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"time": iso_utc(self.time)}
        if tz:
            out["time_local"] = iso_local(self.time, tz)
        out.update({
            "prefixes": self.prefixes, "slash24": self.slash24, "slash48": self.slash48,
            "peers": self.peers, "peers_up": self.peers_up, "share": round(self.share, 4),
            "low_slash24": self.low_slash24, "low_slash48": self.low_slash48,
        })
        return out


@dataclass
class VisibilitySeries:
    """Visibility of ``target`` every ``resolution`` seconds: ``points``, and per prefix the number
    of peers seeing it at each point (``prefix_peers[prefix][i]`` for ``points[i]``)."""

    target: str
    resolution: float
    points: list[VisibilityPoint] = field(default_factory=list)
    prefix_peers: dict[str, list[int]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    @property
    def family(self) -> int:
        """4 when the target has IPv4 address space, else 6 (what charts and detectors use)."""
        return 4 if any(p.slash24 for p in self.points) or not any(p.slash48 for p in self.points) else 6

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        """``{"target", "resolution", "points": [...], "prefixes": {prefix: {"peers": [...],
        "share": [...]}}}``."""
        return {
            "target": self.target,
            "resolution": self.resolution,
            "points": [p.to_dict(tz) for p in self.points],
            "prefixes": {
                prefix: {"peers": counts,
                         "share": [round(c / p.peers_up, 4) if p.peers_up else 0.0
                                   for c, p in zip(counts, self.points, strict=True)]}
                for prefix, counts in self.prefix_peers.items()
            },
            "notices": self.notices,
        }

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per point (``pandas.DataFrame(series.to_records())``)."""
        return [{"target": self.target, **p.to_dict()} for p in self.points]


def visibility(
    view: TargetView,
    resolution: float = DEFAULT_RESOLUTION,
    *,
    start: float | None = None,
    end: float | None = None,
) -> VisibilitySeries:
    """The visibility series of ``view`` from ``start`` to ``end`` every ``resolution`` seconds.

    Defaults: from the first route of the view rounded down to a multiple of ``resolution``, to the
    end of the input. A view without routes gives an empty series.
    """
    if resolution <= 0:
        raise ValueError("resolution must be positive")
    series = VisibilitySeries(str(view.target), resolution, notices=list(view.notices))
    changes = view_changes(view)
    first = min((s.start for s in view.spans), default=None)
    lo = start if start is not None else (math.floor(first / resolution) * resolution
                                         if first is not None else None)
    hi = end if end is not None else view.end
    if lo is None or hi is None or hi < lo:
        return series
    index = PrefixIndex.of_view(view)
    ordered = sorted(index.size, key=lambda p: index.order.get(p, len(index.order)))
    rows: dict[str, list[int]] = {p: [] for p in ordered}
    visible = PrefixSpace(index)
    holders: Counter[str] = Counter()          # prefix -> peers holding it
    held: dict[PeerKey, Counter[str]] = {}     # peer -> prefix -> routes (ADD-PATH: several)
    down: set[PeerKey] = set()
    known: set[PeerKey] = set()

    def apply(kind: int, peer: PeerKey, prefix: str) -> None:
        known.add(peer)
        if kind == DOWN:
            down.add(peer)
            return
        if kind == UP:
            down.discard(peer)
            return
        routes = held.setdefault(peer, Counter())
        if kind == START:
            down.discard(peer)
            routes[prefix] += 1
            if routes[prefix] == 1:
                holders[prefix] += 1
                if holders[prefix] == 1:
                    visible.add(prefix)
        else:
            routes[prefix] -= 1
            if routes[prefix] <= 0:
                del routes[prefix]
                holders[prefix] -= 1
                if holders[prefix] <= 0:
                    del holders[prefix]
                    visible.discard(prefix)
            if not routes:
                del held[peer]

    i = 0
    n = len(changes)
    steps = int(math.floor((hi - lo) / resolution)) + 1
    if start is None and view.start is not None and lo < view.start:
        # The grid is aligned to the clock, so its first points may lie before the first record
        # read: no data covers them (an update file's full table at 02:01:48 showed "0 prefixes,
        # 0/0 peers" at 02:00:00 and nothing else). Said, not guessed.
        early = min(steps, math.ceil((view.start - lo) / resolution))
        series.notices.append(
            f"{early} of {steps} point(s) lie before the data's first record ({iso_utc(view.start)}): "
            "the routes then are unknown, not absent")
    for step in range(steps):
        t = lo + step * resolution
        while i < n and changes[i][0] <= t:
            apply(*changes[i][1:])
            i += 1
        point = VisibilityPoint(
            time=t, prefixes=len(visible), slash24=visible.slash24, slash48=visible.slash48,
            peers=len(held), peers_up=len(known - down),
            low_slash24=visible.slash24, low_slash48=visible.slash48,
        )
        for prefix in ordered:
            rows[prefix].append(holders.get(prefix, 0))
        # The lowest space until the next point: apply the changes inside the bucket now (the
        # next point starts from the state they leave).
        nxt = t + resolution
        while i < n and changes[i][0] < nxt and changes[i][0] <= hi:
            when = changes[i][0]
            while i < n and changes[i][0] == when:  # one time at once: no dip inside a reset
                apply(*changes[i][1:])
                i += 1
            point.low_slash24 = min(point.low_slash24, visible.slash24)
            point.low_slash48 = min(point.low_slash48, visible.slash48)
        series.points.append(point)
    series.prefix_peers = rows
    return series
