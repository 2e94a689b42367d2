"""Who carries a target to the rest of the Internet: its upstreams at one moment.

>>> report = upstreams_of("AS131279", read_files(["updates.et-header.2015.gz"]))   # doctest: +SKIP
>>> [(u.asn, len(u.prefixes), u.peers) for u in report.upstreams]                 # doctest: +SKIP
[(4837, 4, 1)]
>>> report.to_dict()                                                              # doctest: +SKIP
{'target': 'AS131279', 'at': '2015-10-23T02:01:55.574100Z', 'upstreams': [...]}

An upstream is the AS just before the target's run of ASNs in a path (see
:mod:`transitwatch.state.target`). Routes whose hop before the target is an AS_SET, or whose peer
is itself in the target, have no single upstream; they are counted in ``unattributed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from transitwatch.observation import Observation
from transitwatch.state.table import PeerKey
from transitwatch.state.target import Target
from transitwatch.state.view import TargetView, target_view
from transitwatch.times import iso_local, iso_utc

__all__ = [
    "Upstream", "UpstreamReport", "UpstreamTimeline", "coverage_at", "upstream_report", "upstream_timeline",
    "upstreams_of",
]


@dataclass
class Upstream:
    """One upstream of the target at the report time.

    ``prefixes`` the target prefixes it carries · ``peer_list`` the peers that see the target
    through it · ``share`` those peers over all peers that see the target · ``first_seen`` the
    first time any peer saw a target route through it (in the input, up to the report time) ·
    ``last_seen`` the latest announcement or RIB entry that showed it · ``relationship`` what it
    is to the target (``provider``, ``peer``, ``customer``, ``sibling`` or ``unknown``; see
    :mod:`transitwatch.metrics.relationship_view`).
    """

    asn: int
    prefixes: list[str]
    peer_list: list[PeerKey]
    share: float
    first_seen: float
    last_seen: float
    example_path: str
    relationship: str = "unknown"

    @property
    def peers(self) -> int:
        return len(self.peer_list)

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "asn": self.asn,
            "relationship": self.relationship,
            "prefixes": self.prefixes,
            "peers": self.peers,
            "share": round(self.share, 4),
            "first_seen": iso_utc(self.first_seen),
            "last_seen": iso_utc(self.last_seen),
            "peer_list": [p.to_dict() for p in self.peer_list],
            "example_path": self.example_path,
        }
        if tz:
            out["first_seen_local"] = iso_local(self.first_seen, tz)
            out["last_seen_local"] = iso_local(self.last_seen, tz)
        return out


@dataclass
class UpstreamReport:
    """The upstreams of ``target`` at time ``at`` (None when the input had no observation).

    ``peers`` all peers that see the target at ``at`` (the denominator of each share);
    ``unattributed`` target routes without a single upstream; ``notices`` what the readers
    reported. ``empty`` is True when no peer had a route to the target. ``coverage``: the
    vantage points whose data covers ``at`` (``{"peers": N, "collectors": [...], "gaps":
    [...]}``, with a ``"note"`` when no data covers it): only they answer. ``relationships``:
    where each upstream's ``relationship`` came from (None: not asked); ``scope``: ``"own"``
    (routes to the target's own address space only) or ``"transit"`` (every route crossing it).
    """

    target: Target
    at: float | None
    upstreams: list[Upstream] = field(default_factory=list)
    peers: list[PeerKey] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    unattributed: int = 0
    notices: list[str] = field(default_factory=list)
    coverage: dict[str, Any] = field(default_factory=dict)
    relationships: dict[str, Any] | None = None
    scope: str | None = None

    @property
    def empty(self) -> bool:
        return not self.upstreams and not self.unattributed

    @property
    def asns(self) -> set[int]:
        """The upstream ASNs, as a set."""
        return {u.asn for u in self.upstreams}

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        """The JSON shape: ``{"target", "at", "upstreams": [{"asn", "prefixes", "peers",
        "first_seen", "last_seen", ...}], ...}``; with ``tz`` also ``*_local`` times."""
        out: dict[str, Any] = {
            "target": str(self.target),
            "at": iso_utc(self.at) if self.at is not None else None,
            "upstreams": [u.to_dict(tz) for u in self.upstreams],
            "peers": len(self.peers),
            "prefixes": self.prefixes,
            "unattributed_routes": self.unattributed,
            "coverage": self.coverage,
            "notices": self.notices,
        }
        if self.scope is not None:
            out["scope"] = self.scope
        if self.relationships is not None:
            out["relationships"] = self.relationships
        if tz and self.at is not None:
            out["at_local"] = iso_local(self.at, tz)
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per (upstream, prefix) — ``pandas.DataFrame(report.to_records())``."""
        return [
            {"target": str(self.target), "upstream": u.asn, "prefix": p, "peers": u.peers,
             "share": u.share, "first_seen": iso_utc(u.first_seen), "last_seen": iso_utc(u.last_seen)}
            for u in self.upstreams for p in u.prefixes
        ]


def upstream_report(view: TargetView, at: float | None = None) -> UpstreamReport:
    """The upstreams in ``view`` at ``at`` (default: the end of the view). Pure function.

    ``last_seen`` is exact when the view ends at ``at`` (as :func:`upstreams_of` builds it).
    """
    when = view.end if at is None else at
    report = UpstreamReport(target=view.target, at=when, notices=list(view.notices))
    if when is None:
        report.coverage = {"peers": 0, "collectors": [], "gaps": [], "note": "no observations in the input"}
        return report
    report.coverage = coverage_at(view, when)
    by_asn: dict[int, dict[str, Any]] = {}
    all_peers: set[PeerKey] = set()
    all_prefixes: set[str] = set()
    unknown: list[Any] = []
    first: dict[int, float] = {}
    for span in view.spans:
        if span.start > when:
            continue
        up = span.upstream
        if isinstance(up, int):
            if up not in first or span.start < first[up]:
                first[up] = span.start
        # Active at the report time: started by then and not ended before it (a span ending
        # exactly at `when` ended with an observation at `when`, which the state includes), and
        # known then (its collector's data covers `when` without a gap since it was seen).
        if span.end is not None and span.end <= when:
            continue
        if not view.known_at(span, when):
            if "note" not in report.coverage:
                unknown.append(span)  # covered then, but last seen before a long gap
            continue
        all_peers.add(span.peer)
        all_prefixes.add(span.prefix)
        if not isinstance(up, int):
            report.unattributed += 1
            continue
        entry = by_asn.setdefault(up, {"prefixes": set(), "peers": set(), "last": span.last_seen,
                                       "path": span.path})
        entry["prefixes"].add(span.prefix)
        entry["peers"].add(span.peer)
        entry["last"] = max(entry["last"], min(span.last_seen, when))
    if unknown:
        last = max(s.last_seen if s.last_seen <= when else s.start for s in unknown)
        report.coverage["unknown_routes"] = len(unknown)
        if not all_peers:
            report.coverage["note"] = (
                f"{len(unknown)} route(s) to {view.target} were last seen before a gap in the data "
                f"(the latest at {iso_utc(last)}) and not since: unknown at {iso_utc(when)}, not absent")
    total = len(all_peers)
    for asn, entry in by_asn.items():
        report.upstreams.append(Upstream(
            asn=asn,
            prefixes=sorted(entry["prefixes"], key=_prefix_sort_key),
            peer_list=sorted(entry["peers"]),
            share=len(entry["peers"]) / total if total else 0.0,
            first_seen=first[asn],
            last_seen=entry["last"],
            example_path=entry["path"],
        ))
    report.upstreams.sort(key=lambda u: (-u.peers, -len(u.prefixes), u.asn))
    report.peers = sorted(all_peers)
    report.prefixes = sorted(all_prefixes, key=_prefix_sort_key)
    return report


def coverage_at(view: TargetView, when: float) -> dict[str, Any]:
    """``{"peers": N, "collectors": [...], "gaps": [...]}``: the vantage points whose data covers
    ``when``, the collectors that do, the gaps of those that do not (and a ``"note"`` when none
    does)."""
    peers = view.vantage_at(when)
    cov = view.coverage
    if cov is None or not cov.windows:
        if view.start is not None and view.end is not None and not view.start <= when <= view.end:
            return {"peers": 0, "collectors": [], "gaps": [],
                    "note": f"no data covers {iso_utc(when)} (the input covers {iso_utc(view.start)} "
                            f"to {iso_utc(view.end)})"}
        return {"peers": len(peers), "collectors": sorted({p.collector for p in peers}), "gaps": []}
    out: dict[str, Any] = {"peers": len(peers), **cov.at(when)}
    if not out["collectors"]:
        span = cov.span()
        assert span is not None
        out["note"] = (f"no data covers {iso_utc(when)}: the route is unknown then, not absent "
                       f"(data from {iso_utc(span[0])} to {iso_utc(span[1])}, with gaps; see coverage.gaps)")
    return out


def upstreams_of(
    target: Target | str | int,
    observations: Iterable[Observation] | TargetView,
    at: float | None = None,
    *,
    notices: Iterable[str] = (),
) -> UpstreamReport:
    """The upstreams of ``target`` at ``at`` (default: the end of the input).

    ``observations``: a time-ordered stream (e.g. :func:`~transitwatch.sources.files.read_files`)
    replayed up to ``at``, or an already built :class:`TargetView`.
    """
    if isinstance(observations, TargetView):
        return upstream_report(observations, at)
    view = target_view(target, observations, until=at, notices=notices)
    return upstream_report(view, at if at is not None else view.end)


@dataclass
class UpstreamTimeline:
    """Peers seeing the target through each upstream, per time bucket.

    ``edges`` has ``len(buckets) + 1`` bucket boundaries (epoch seconds); ``rows[asn][i]`` is the
    number of distinct peers that saw the target through ``asn`` at some time in bucket ``i``;
    ``peers[i]`` the number that saw the target at all.
    """

    target: Target
    edges: list[float]
    rows: dict[int, list[int]]
    peers: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": str(self.target),
            "edges": [iso_utc(e) for e in self.edges],
            "upstreams": {str(asn): counts for asn, counts in self.rows.items()},
            "peers": self.peers,
        }


def upstream_timeline(
    view: TargetView, buckets: int = 48, start: float | None = None, end: float | None = None
) -> UpstreamTimeline:
    """Bucket ``view`` over [start, end] (default: first target route .. end of input)."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    first = min((s.start for s in view.spans), default=view.start)
    lo = start if start is not None else first
    hi = end if end is not None else view.end
    if lo is None or hi is None:
        return UpstreamTimeline(view.target, [], {}, [])
    if hi <= lo:
        hi = lo + 1.0
    width = (hi - lo) / buckets
    edges = [lo + i * width for i in range(buckets)] + [hi]
    seen: dict[int, list[set[PeerKey]]] = {}
    total: list[set[PeerKey]] = [set() for _ in range(buckets)]
    for span in view.spans:
        span_end = span.end if span.end is not None else hi
        if span_end < lo or span.start > hi:
            continue
        a = max(0, min(buckets - 1, int((span.start - lo) / width)))
        # A span ending exactly on a bucket edge does not reach into that bucket.
        b = max(0, min(buckets - 1, int((span_end - lo) / width - 1e-9)))
        b = max(a, b)
        rows = seen.setdefault(span.upstream, [set() for _ in range(buckets)]) if isinstance(
            span.upstream, int) else None
        for i in range(a, b + 1):
            total[i].add(span.peer)
            if rows is not None:
                rows[i].add(span.peer)
    ordered = sorted(seen, key=lambda asn: (-max(len(x) for x in seen[asn]), asn))
    return UpstreamTimeline(
        view.target, edges, {asn: [len(x) for x in seen[asn]] for asn in ordered}, [len(x) for x in total]
    )


def _prefix_sort_key(prefix: str) -> tuple[int, str, int]:
    addr, _, length = prefix.partition("/")
    if ":" in addr:
        return (6, addr, int(length or 0))
    try:
        return (4, ".".join(f"{int(x):03d}" for x in addr.split(".")), int(length or 0))
    except ValueError:
        return (9, addr, 0)
