"""AS relationships inferred from AS paths, after CAIDA's AS-Rank algorithm (Luckie et al., IMC 2013).

>>> paths = PathSet.of(obs.as_path for obs in read_files(files))              # doctest: +SKIP
>>> rels = infer_relationships(paths, source="rib.20151023")                  # doctest: +SKIP
>>> rels.relationship(131279, 4837)                                           # doctest: +SKIP
'provider'

The steps (``docs/relationships.md`` says why each exists and how it was validated):

1. *Sanitise.* Prepending is collapsed; confederation segments dropped; a path is cut at its
   first AS_SET (the order inside a set is unknown, the hops before it are real); IXP
   route-server ASNs are removed (they are not on the data path); paths with loops or with
   private/reserved ASNs are discarded. Identical cleaned paths are counted once (the input is
   deduplicated first: a full table has ~600k routes but ~80k distinct paths).
2. *Transit degree.* The number of distinct neighbours an AS has where it sits in the middle of
   a path (it carried traffic between them). ASes are ranked by transit degree, then degree,
   then ASN.
3. *Clique.* Bron-Kerbosch finds the largest clique among the 10 ASes of highest transit degree;
   each of the next ones (down to rank 50) joins when it has a link with every member. Clique
   members are peers of each other. Paths where a non-clique AS sits between two clique
   members are discarded (a leak or poisoning).
4. *Top-down.* Visiting ASes ``y`` in rank order, every triplet ``x y z`` where ``x`` is ``y``'s
   provider or peer makes ``y`` the provider of ``z`` (valley-free: a route learnt from a
   provider or peer is only passed to customers), unless ``z`` is in the clique or that would
   close a provider-customer cycle.
5. *Valley-free ordering.* Repeated until nothing changes: in every path, every link after the
   first known peer or provider-to-customer link (reading from the vantage point) is
   provider-to-customer.
6. *Stubs of the clique.* An AS never seen in transit that is adjacent to a clique member is its
   customer.
7. *Everything else is peer-to-peer* (CAIDA's default: a link seen but never shown to carry
   transit).

Every link also gets a ``confidence``: the share of the routes crossing it whose path is
valley-free under the inferred relationships (1.0: nothing contradicts it), and the ``step``
that decided it.
"""

from __future__ import annotations

import functools
import gc
import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transitwatch import native
from transitwatch.metrics import _asrank
from transitwatch.observation import Observation
from transitwatch.registry.relationships import P2P, ArrayRelationships, Relationships
from transitwatch.state.aspath import reserved_asn_reason

__all__ = ["PathSet", "ROUTE_SERVER_ASNS", "InferenceStats", "infer_relationships", "sanitise_path"]

native.check(_asrank, Path(__file__).with_name("_asrank.c"))

#: Route-server ASNs of large IXPs (they may appear in paths but carry no traffic); from the
#: IXPs' own documentation. Pass more with ``route_servers=``.
ROUTE_SERVER_ASNS = frozenset({
    6695,    # DE-CIX Frankfurt
    6777,    # AMS-IX
    8714,    # LINX
    8631,    # MSK-IX
    24115,   # Equinix route servers
    42476,   # SwissIX
})

_TALLY_CHUNK = 4096   # observations counted at a time by PathTally
_CLIQUE_SEED = 10     # Bron-Kerbosch over the top ASes by transit degree (Luckie et al.)
_CLIQUE_SCAN = 50     # further candidates, in rank order, join if linked to every member


@dataclass
class PathSet:
    """Distinct AS path texts with the number of routes that carried each (the deduplicated
    input of the inference)."""

    counts: Counter[str] = field(default_factory=Counter)
    routes: int = 0
    vantage_points: set[int] = field(default_factory=set)
    first_time: float | None = None
    last_time: float | None = None

    @classmethod
    def of(cls, paths: Iterable[str | None]) -> PathSet:
        """From path texts as they are (the vantage point's own AS first when it prepends it)."""
        out = cls()
        counts = out.counts
        n = 0
        for path in paths:
            if path:
                counts[path] += 1
                n += 1
        out.routes = n
        return out

    @classmethod
    def of_observations(cls, observations: Iterable[Observation], until: float | None = None) -> PathSet:
        """From announcements and RIB entries; a path that does not start with its peer's AS (a
        route server, or a collector fed over iBGP such as PCH's) gets the peer's AS in front,
        since that AS really is the first hop of the route (it gives the neighbour its transit
        degree). ``until``: the stream up to its first observation later than that (as
        ``itertools.takewhile(lambda o: o.time <= until, observations)``)."""
        # Counting (peer AS, path) pairs runs in C (_asrank.PairCounter), batch by batch for a
        # stream with batches (read_files, tw.files): no Python call per observation.
        counter = _asrank.PairCounter()
        first: Observation | None = None
        batches = getattr(observations, "batches", None)
        if until is not None:
            chunks: Iterable[Iterable[Observation]] = batches() if batches is not None else (observations,)
            for chunk in chunks:
                it = iter(chunk)
                if first is None:
                    first = next(it, None)
                    if first is None:
                        continue
                    if not first.time <= until:
                        first = None
                        break
                    counter.push(first)
                if counter.add_until(it, until) is not None:
                    break
            # (the stream is cut: like a takewhile object, it has no last_time to give)
            return cls() if first is None else cls.of_counter(counter, first.time, first.time)
        if batches is not None:
            for batch in batches():
                if first is None:
                    if not batch:
                        continue
                    first = batch[0]
                counter.add(batch)
        else:
            it = iter(observations)
            first = next(it, None)
            if first is not None:
                counter.push(first)
                counter.add(it)
        if first is None:
            return cls()
        return cls.of_counter(counter, first.time, getattr(observations, "last_time", None) or first.time)

    @classmethod
    def of_counter(cls, counter: _asrank.PairCounter, first_time: float | None,
                   last_time: float | None) -> PathSet:
        """From an ``_asrank.PairCounter`` (the same as :meth:`of_pairs` over its pairs)."""
        out = cls()
        out.first_time = first_time
        out.last_time = last_time
        out.routes, out.vantage_points = counter.fill(out.counts)
        return out

    @classmethod
    def of_pairs(cls, pairs: Mapping[tuple[int, str | None], int], first_time: float | None,
                 last_time: float | None) -> PathSet:
        """From (peer AS, path text) pairs counted over a stream (see :meth:`of_observations`)."""
        out = cls()
        out.first_time = first_time
        out.last_time = last_time
        counts = out.counts
        for (peer, path), n in pairs.items():
            if not path:
                continue
            if peer:
                out.vantage_points.add(peer)
                head = str(peer)
                if not path.startswith(head) or (len(path) > len(head) and path[len(head)] != " "):
                    path = f"{head} {path}"
            counts[path] += n
            out.routes += n
        return out

    @staticmethod
    def tally(observations: Iterable[Observation], until: float | None = None) -> PathTally:
        """The stream passed through unchanged, counting its (peer, path) pairs on the way: one
        read of the input feeds both a routing state and the inference."""
        return PathTally(observations, until)

    def add(self, path: str | None, n: int = 1) -> None:
        if path:
            self.counts[path] += n
            self.routes += n

    def update(self, other: PathSet) -> None:
        self.counts.update(other.counts)
        self.routes += other.routes
        self.vantage_points |= other.vantage_points


class PathTally:
    """Iterates ``observations`` unchanged while counting (peer AS, path) pairs of those at or
    before ``until``, exactly the pairs :meth:`PathSet.of_observations` counts on a stream cut at
    ``until``; :meth:`pathset` is then the same :class:`PathSet` without a second read."""

    def __init__(self, observations: Iterable[Observation], until: float | None = None) -> None:
        self._stream = observations
        self._until = until
        self._counter = _asrank.PairCounter()
        self._first: float | None = None
        self._counted: PathSet | None = None
        self.complete = False

    def __iter__(self) -> Iterator[Observation]:
        # The observations go by in chunks through C-level iterators, counted a chunk at a time
        # (Python code runs once per chunk, not per observation).
        return itertools.chain.from_iterable(self._chunks())

    def _chunks(self) -> Iterator[list[Observation]]:
        counter, until = self._counter, self._until
        it = iter(self._stream)
        while True:
            chunk = list(itertools.islice(it, _TALLY_CHUNK))
            if not chunk:
                break
            if self._first is None:
                if until is not None and not chunk[0].time <= until:
                    self.complete = True
                    yield chunk[:1]   # the first one past until ends the stream, as it did
                    return
                self._first = chunk[0].time
            if until is None:
                counter.add(chunk)
            else:
                late = counter.add_until(chunk, until)
                if late is not None:
                    self.complete = True
                    yield chunk[:late + 1]
                    return
            yield chunk
        self.complete = True

    def reading(self, observations: Iterable[Observation]) -> PathTally:
        """This tally over ``observations`` (for a reader that opens the stream itself)."""
        self._stream = observations
        return self

    @classmethod
    def counted(cls, paths: PathSet) -> PathTally:
        """A finished tally of paths counted elsewhere (the columnar snapshot counts the same
        pairs from the decoder's columns)."""
        tally = cls((), None)
        tally._counted, tally._first, tally.complete = paths, paths.first_time, True
        return tally

    def pathset(self) -> PathSet:
        """The paths counted (call after the stream was read to its end or past ``until``)."""
        if self._first is None:
            return PathSet()
        if self._counted is None:
            last = getattr(self._stream, "last_time", None) or self._first
            self._counted = PathSet.of_counter(self._counter, self._first, last)
            self._counter = _asrank.PairCounter()   # its pairs are counted: let them go
        return self._counted


@dataclass
class InferenceStats:
    """What the inference saw and discarded (reported in ``relationships --json``)."""

    routes: int = 0
    distinct_paths: int = 0
    used_paths: int = 0
    discarded: dict[str, int] = field(default_factory=dict)
    transit_degree: dict[int, int] = field(default_factory=dict)
    valley_free_share: float = 0.0
    clique_source: str = "inferred"
    #: CPU seconds per step (what bench/relationships.py reports).
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "routes": self.routes,
            "distinct_paths": self.distinct_paths,
            "used_paths": self.used_paths,
            "discarded": dict(sorted(self.discarded.items())),
            "valley_free_share": round(self.valley_free_share, 4),
            "clique_source": self.clique_source,
        }


def _is_reserved(asn: int) -> bool:
    # Ordinary ASNs are the vast majority: test the cheap ranges before the full rule.
    if 0 < asn < 23456 or 23456 < asn < 64496 or 131071 < asn < 4200000000:
        return False
    return reserved_asn_reason(asn) is not None


def sanitise_path(text: str, route_servers: frozenset[int] = ROUTE_SERVER_ASNS) -> tuple[int, ...] | str:
    """The cleaned hops of one path text, or the reason it is discarded (``"loop"``,
    ``"reserved"``, ``"malformed"``, ``"empty"``)."""
    if text.replace(" ", "").isdecimal():
        raw = [int(t) for t in text.split()]
    else:
        raw = []
        for token in text.replace("{", " { ").replace("}", " } ").replace("(", " ( ").replace(
                ")", " ) ").replace("[", " [ ").replace("]", " ] ").replace(",", " ").split():
            if token in "([":
                raw.append(-2)   # confederation segment starts: skipped until it ends
            elif token in ")]":
                raw.append(-3)
            elif token == "{":
                raw.append(-1)   # AS_SET: the path is cut here
                break
            elif token == "}":
                continue
            elif token.isdecimal():
                raw.append(int(token))
            else:
                return "malformed"
        cleaned: list[int] = []
        in_confed = False
        for hop in raw:
            if hop == -2:
                in_confed = True
            elif hop == -3:
                in_confed = False
            elif hop == -1:
                break
            elif not in_confed:
                cleaned.append(hop)
        raw = cleaned
    hops: list[int] = []
    for asn in raw:
        if asn in route_servers:
            continue
        if hops and hops[-1] == asn:
            continue   # prepending
        hops.append(asn)
    if not hops:
        return "empty"
    if len(set(hops)) != len(hops):
        return "loop"
    if (min(hops) <= 23456 or max(hops) >= 64496) and any(_is_reserved(a) for a in hops):
        return "reserved"
    return tuple(hops)


def _sanitise_all(
    counts: dict[str, int], rs: frozenset[int],
) -> tuple[dict[tuple[int, ...], int], Counter[str]]:
    """:func:`sanitise_path` over every distinct path text at once: the cleaned paths with their
    route counts (in first-seen order) and the routes discarded per reason. Plain digit paths (all
    but a few) take a fast way: reserved ASNs are found once per distinct ASN, and a path without
    repeated ASNs needs neither prepending collapsed nor a loop check."""
    discarded: Counter[str] = Counter()
    weights: dict[tuple[int, ...], int] = {}
    parsed: list[tuple[str, int, list[int] | None]] = [
        (text, n, list(map(int, text.split())) if text.replace(" ", "").isdecimal() else None)
        for text, n in counts.items()]
    asns: set[int] = set()
    for _, _, raw in parsed:
        if raw is not None:
            asns.update(raw)
    reserved = {a for a in asns if _is_reserved(a)}
    for text, n, raw in parsed:
        if raw is None:
            cleaned = sanitise_path(text, rs)
            if isinstance(cleaned, str):
                discarded[cleaned] += n
            else:
                weights[cleaned] = weights.get(cleaned, 0) + n
            continue
        if rs and not rs.isdisjoint(raw):
            raw = [a for a in raw if a not in rs]
        if not raw:
            discarded["empty"] += n
            continue
        if len(set(raw)) != len(raw):   # prepending or a loop: the careful way
            hops: list[int] = []
            for asn in raw:
                if not hops or hops[-1] != asn:
                    hops.append(asn)
            if len(set(hops)) != len(hops):
                discarded["loop"] += n
                continue
            raw = hops
        if not reserved.isdisjoint(raw):
            discarded["reserved"] += n
            continue
        hops_t = tuple(raw)
        weights[hops_t] = weights.get(hops_t, 0) + n   # (a Counter's += calls __missing__ per new path)
    return weights, discarded


def _distinct(x: np.ndarray) -> np.ndarray:
    """The sorted distinct values (np.unique's hash-based way is several times slower here)."""
    x = np.sort(x)
    return x[np.concatenate(([True], x[1:] != x[:-1]))] if x.size else x


class _FlatPaths:
    """Distinct cleaned paths as flat arrays (every hop with its path's number), for the steps
    that look at every hop of every path without an order between paths: degrees and Gao's votes.
    ASNs are < 2**32 (larger ones are discarded as out of range), so a link (low, high) is one
    uint64 code."""

    def __init__(self, paths: list[tuple[int, ...]]) -> None:
        self.paths = paths
        self.index = {h: i for i, h in enumerate(paths)}
        lens = np.fromiter(map(len, paths), np.int64, len(paths))
        self.asn = np.fromiter(itertools.chain.from_iterable(paths), np.int64, int(lens.sum()))
        self.pid = np.repeat(np.arange(len(paths), dtype=np.int64), lens)
        self.lens = lens
        self._hop_rank: np.ndarray | None = None
        self.start = np.cumsum(lens) - lens
        # Link occurrences: hop i and i + 1 of the same path.
        same = self.pid[:-1] == self.pid[1:]
        self.occ = np.flatnonzero(same)                 # index of the link's first hop
        a, b = self.asn[self.occ], self.asn[self.occ + 1]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        codes = (lo.astype(np.uint64) << np.uint64(32)) | hi.astype(np.uint64)
        self.links, self.link_of = np.unique(codes, return_inverse=True)
        self.low_first = a < b                          # the link's low ASN comes first on the path

    def degrees(self) -> tuple[dict[int, set[int]], dict[int, int], list[int]]:
        """Neighbours of every AS on a link (ASes in first-seen order), transit degrees and the
        rank (transit degree, degree, ASN)."""
        lo = (self.links >> np.uint64(32)).astype(np.int64)
        hi = (self.links & np.uint64(0xFFFFFFFF)).astype(np.int64)
        adj: dict[int, set[int]] = {}
        on_link = np.zeros(len(self.asn), bool)
        on_link[self.occ] = True
        on_link[self.occ + 1] = True
        for a in dict.fromkeys(self.asn[on_link].tolist()):
            adj[a] = set()
        for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
            adj[a].add(b)
            adj[b].add(a)
        # Transit: the distinct neighbours of an AS where it is in the middle of a path.
        pid = self.pid
        j = np.arange(1, max(len(self.asn) - 1, 1), dtype=np.int64)
        mid = j[(pid[j - 1] == pid[j]) & (pid[j] == pid[j + 1])] if len(self.asn) > 2 else j[:0]
        m = self.asn[mid].astype(np.uint64) << np.uint64(32)
        pairs = _distinct(np.concatenate((m | self.asn[mid - 1].astype(np.uint64),
                                          m | self.asn[mid + 1].astype(np.uint64))))
        middle = (pairs >> np.uint64(32)).astype(np.int64)   # sorted
        new = np.concatenate(([True], middle[1:] != middle[:-1])) if middle.size else middle
        starts = np.flatnonzero(new)
        t_as, t_n = middle[starts], np.diff(np.append(starts, middle.size))
        tdeg = dict.fromkeys(adj, 0)
        tdeg.update(zip(t_as.tolist(), t_n.tolist(), strict=True))
        ases = np.fromiter(adj, np.int64, len(adj))
        deg = np.fromiter(map(len, adj.values()), np.int64, len(adj))
        td = np.fromiter(tdeg.values(), np.int64, len(tdeg))
        order = np.lexsort((ases, -deg, -td))
        return adj, tdeg, ases[order].tolist()

    def hop_ranks(self, position: dict[int, int]) -> np.ndarray:
        """The rank of every hop's AS (every AS of a path with a link is ranked; one-hop paths'
        ASes get one past the last rank)."""
        if self._hop_rank is None:
            ases = np.fromiter(position, np.int64, len(position))
            ranks = np.fromiter(position.values(), np.int64, len(position))
            order = np.argsort(ases)
            ases, ranks = ases[order], ranks[order]
            linked = self.lens[self.pid] > 1
            self._hop_rank = np.full(len(self.asn), len(ases), np.int64)
            self._hop_rank[linked] = ranks[np.searchsorted(ases, self.asn[linked])]
        return self._hop_rank

    def triplets_in_rank_order(self, used: list[int], position: dict[int, int]) -> list[tuple[int, int, int]]:
        """The distinct triplets x y z of the ``used`` paths (numbers), ordered by the rank of y,
        then of z (the order of the top-down step), then x."""
        n_hops = len(self.asn)
        if n_hops < 3:
            return []
        in_use = np.zeros(len(self.paths), bool)
        in_use[used] = True
        pid = self.pid
        j = np.arange(1, n_hops - 1, dtype=np.int64)
        j = j[(pid[j - 1] == pid[j]) & (pid[j] == pid[j + 1]) & in_use[pid[j]]]
        hop_rank = self.hop_ranks(position)
        order = np.lexsort((self.asn[j - 1], hop_rank[j + 1], hop_rank[j]))
        j = j[order]
        x, y, z = self.asn[j - 1], self.asn[j], self.asn[j + 1]
        new = np.ones(len(j), bool)
        new[1:] = (x[1:] != x[:-1]) | (y[1:] != y[:-1]) | (z[1:] != z[:-1])
        return list(zip(x[new].tolist(), y[new].tolist(), z[new].tolist(), strict=True))

    def gao_votes(self, used: list[int], kind: dict[tuple[int, int], int], position: dict[int, int],
                  skip_vps: set[int]) -> list[tuple[tuple[int, int], int, int]]:
        """Gao's top-provider votes on the links ``kind`` leaves open, over the ``used`` paths
        (numbers): each path peaks at its first known peer or provider-to-customer link, else at
        its best-ranked hop; open links before the peak climb, after it descend. The first link of
        a path starting at a vantage point in ``skip_vps`` does not vote. Returns (link, votes
        low ASN is provider, votes high ASN is provider), in the order links are decided (rank of
        the low ASN, then the link)."""
        n = len(self.paths)
        state = np.full(len(self.links), 2, np.int8)     # 2: unknown; else kind's -1/0/1
        if kind:
            keys = np.array(list(kind), np.uint64).reshape(-1, 2)
            codes = (keys[:, 0] << np.uint64(32)) | keys[:, 1]
            at = np.searchsorted(self.links, codes)
            ok = at < len(self.links)
            ok[ok] = self.links[at[ok]] == codes[ok]
            state[at[ok]] = np.fromiter(kind.values(), np.int8, len(kind))[ok]
        in_use = np.zeros(n, bool)
        in_use[used] = True
        occ_pid = self.pid[self.occ]
        keep = in_use[occ_pid]
        occ, pid, link, low_first = self.occ[keep], occ_pid[keep], self.link_of[keep], self.low_first[keep]
        v = state[link]
        pos = occ - self.start[pid]                     # the link's number on its path
        down = (v == 0) | ((v == -1) & low_first) | ((v == 1) & ~low_first)
        peak = np.full(n, -1, np.int64)
        first_down, at_down = np.unique(pid[down], return_index=True)
        peak[first_down] = pos[down][at_down]
        # No known peak: the best-ranked hop (ranks are distinct, so there is exactly one).
        missing = np.flatnonzero(in_use & (peak < 0) & (self.lens > 1))   # one hop: no link to vote on
        if missing.size:
            hop_rank = self.hop_ranks(position)
            best = np.minimum.reduceat(hop_rank, self.start) if n else hop_rank
            hit = np.flatnonzero(hop_rank == best[self.pid])
            best_at = np.empty(n, np.int64)
            best_at[self.pid[hit]] = hit - self.start[self.pid[hit]]
            peak[missing] = best_at[missing]
        open_ = v == 2
        if skip_vps:
            vp_first = np.isin(self.asn[self.start], np.fromiter(skip_vps, np.int64, len(skip_vps)))
            open_ &= ~((pos == 0) & vp_first[pid])
        link, pos, pid, low_first = link[open_], pos[open_], pid[open_], low_first[open_]
        first_is_provider = pos >= peak[pid]             # after the peak the path descends
        low_up = first_is_provider == low_first
        lows = np.bincount(link, weights=low_up, minlength=len(self.links)).astype(np.int64)
        alls = np.bincount(link, minlength=len(self.links))
        voted = np.flatnonzero(alls)
        lo = (self.links[voted] >> np.uint64(32)).astype(np.int64)
        hi = (self.links[voted] & np.uint64(0xFFFFFFFF)).astype(np.int64)
        lo_rank = np.fromiter(map(position.__getitem__, lo.tolist()), np.int64, len(lo))
        order = np.lexsort((hi, lo, lo_rank))
        lows_v, alls_v = lows[voted][order], alls[voted][order]
        return [((a, b), up, total - up) for a, b, up, total in zip(
            lo[order].tolist(), hi[order].tolist(), lows_v.tolist(), alls_v.tolist(), strict=True)]


def _bron_kerbosch(r: set[int], p: set[int], x: set[int], adj: dict[int, set[int]],
                   best: list[set[int]]) -> None:
    if not p and not x:
        if len(r) > len(best[0]) or (len(r) == len(best[0]) and sorted(r) < sorted(best[0])):
            best[0] = set(r)
        return
    pivot = max(p | x, key=lambda v: len(adj[v] & p))
    for v in sorted(p - adj[pivot]):
        _bron_kerbosch(r | {v}, p & adj[v], x & adj[v], adj, best)
        p = p - {v}
        x = x | {v}


def infer_relationships(
    paths: PathSet,
    *,
    source: str = "inferred",
    date: str | None = None,
    route_servers: Iterable[int] = ROUTE_SERVER_ASNS,
    clique: Iterable[int] | None = None,
    confidence: bool = True,
    focus: Iterable[int] | None = None,
    method: str = "native",
) -> tuple[Relationships, InferenceStats]:
    """Infer provider-customer and peer links from ``paths`` (see the module doc for the steps).

    ``clique``: the transit-free core to use instead of inferring it (e.g. CAIDA's published
    clique of the month, when the input is too sparse to show it). ``confidence=False`` skips the
    per-link confidence (and the valley-free share), which only the JSON output shows.
    ``focus``: ASNs whose links matter (an upstreams question about one AS): ranks and the clique
    still come from every path, the steps after them only walk the paths through those ASNs
    (their links, their neighbours' chains to the clique and their customer cones are on those
    paths), which is several times faster on a full table. Returns the
    :class:`Relationships` (``source``/``date`` name the input) and what was used.

    ``method``: ``"native"`` runs the steps in C (``_asrank.c``); ``"reference"`` runs this
    module's Python implementation of the same steps, which the C one must match exactly (tests
    compare them on real and written inputs).
    """
    if method not in ("native", "reference"):
        raise ValueError(f"unknown inference method {method!r} (native or reference)")
    # The steps allocate several hundred thousand small tuples and sets that live until the end
    # and hold no reference cycles: the cyclic collector would only rescan them, again and again
    # (~10% of the time on a full table).
    enabled = gc.isenabled()
    gc.disable()
    try:
        infer = _infer_native if method == "native" else _infer_reference
        return infer(paths, source=source, date=date, route_servers=route_servers, clique=clique,
                     confidence=confidence, focus=focus)
    finally:
        if enabled:
            gc.enable()


def _infer_native(
    paths: PathSet,
    *,
    source: str,
    date: str | None,
    route_servers: Iterable[int],
    clique: Iterable[int] | None,
    confidence: bool,
    focus: Iterable[int] | None,
) -> tuple[Relationships, InferenceStats]:
    """:func:`_infer_reference`'s steps in C: sanitising over the path texts, then the kernel over
    the cleaned paths as flat arrays; the same result, to the last link, step and confidence."""
    rs = frozenset(route_servers)
    stats = InferenceStats(routes=paths.routes, distinct_paths=len(paths.counts))
    start = time.process_time()
    # Texts the C parser leaves alone (non-ASCII, numbers past 32 bits) go to sanitise_path.
    asn, offsets, weights, discarded = _asrank.sanitise(
        paths.counts, rs, functools.partial(sanitise_path, route_servers=rs))
    stats.timings["sanitise"] = time.process_time() - start
    out = _asrank.infer(asn, offsets, weights, list(paths.vantage_points),
                        None if clique is None else list(clique), None if focus is None else list(focus),
                        confidence, True)
    stats.timings.update(out["timings"])
    start = time.process_time()
    stats.clique_source = "inferred" if clique is None else "given"
    stats.used_paths = out["used_paths"]
    if out["clique_gap"]:
        discarded["clique_gap"] = discarded.get("clique_gap", 0) + out["clique_gap"]
    stats.discarded = discarded
    stats.transit_degree = out["transit_degree"]
    # the links as arrays: the per-AS sets are built only if something walks them
    rels = ArrayRelationships(source=source, date=date, links=out["links"], clique=out["clique"])
    if confidence:
        rels.confidence = out["confidence"]
        stats.valley_free_share = out["valley_free_routes"] / out["all_routes"] if out["all_routes"] else 0.0
    stats.timings["build"] = stats.timings.get("build", 0.0) + time.process_time() - start
    return rels, stats


def _infer_reference(
    paths: PathSet,
    *,
    source: str,
    date: str | None,
    route_servers: Iterable[int],
    clique: Iterable[int] | None,
    confidence: bool,
    focus: Iterable[int] | None,
) -> tuple[Relationships, InferenceStats]:
    rs = frozenset(route_servers)
    stats = InferenceStats(routes=paths.routes, distinct_paths=len(paths.counts))
    clock = [time.process_time()]

    def mark(name: str) -> None:
        now = time.process_time()
        stats.timings[name] = stats.timings.get(name, 0.0) + now - clock[0]
        clock[0] = now

    vps = set(paths.vantage_points)
    weights, discarded = _sanitise_all(paths.counts, rs)

    mark("sanitise")
    # Step 2: degrees and rank, over the paths as flat arrays (one pass in numpy instead of a
    # Python walk of every hop).
    flat = _FlatPaths(list(weights))
    adj, tdeg, rank = flat.degrees()
    position = {a: i for i, a in enumerate(rank)}

    mark("degrees")
    # Step 3: the clique.
    if clique is not None:
        core = {a for a in clique if a in adj}
        clique_source = "given"
    else:
        seed = rank[:_CLIQUE_SEED]
        sub = {a: adj[a] & set(seed) for a in seed}
        best: list[set[int]] = [set()]
        if seed:
            _bron_kerbosch(set(), set(seed), set(), sub, best)
        core = set(best[0])
        for a in rank[_CLIQUE_SEED:_CLIQUE_SCAN]:
            if core and core <= adj[a] and tdeg[a] > 0:
                core.add(a)
        if len(core) < 2:
            core = set()   # one AS is no clique: no peering core can be inferred from this input
        clique_source = "inferred"
    stats.clique_source = clique_source

    # The links, keyed by the ordered pair (low, high): -1 low is the provider, 1 high is, 0 peers.
    kind: dict[tuple[int, int], int] = {}
    step: dict[tuple[int, int], str] = {}
    provs: dict[int, list[int]] = defaultdict(list)
    has_customers: set[int] = set()
    for a in core:
        for b in core:
            if a < b and b in adj[a]:
                kind[(a, b)] = P2P
                step[(a, b)] = "clique"

    mark("clique")
    # Discard poisoned paths: a non-clique AS between two clique members.
    used: dict[tuple[int, ...], int] = {}
    for hops, n in weights.items():
        marks = [i for i, a in enumerate(hops) if a in core]
        if len(marks) >= 2 and marks[-1] - marks[0] + 1 != len(marks):
            discarded["clique_gap"] += n
            continue
        used[hops] = n
    if focus is not None:
        wanted = frozenset(focus)
        used = {h: n for h, n in used.items() if not wanted.isdisjoint(h)}
        for a in list(adj):   # only the links of the kept paths get a relationship
            adj[a] = set()
        for hops in used:
            for a, b in zip(hops, hops[1:], strict=False):
                adj[a].add(b)
                adj[b].add(a)
    stats.used_paths = len(used)
    stats.discarded = dict(discarded)

    def is_down(x: int, y: int) -> bool:
        """x is y's provider or peer: a route from y may go on to y's customers only."""
        if x < y:
            v = kind.get((x, y))
            return v is not None and v <= 0
        v = kind.get((y, x))
        return v is not None and v >= 0

    def ancestor(z: int, y: int) -> bool:
        """Whether z is reachable upwards from y (z provider of ... of y): y > z would cycle."""
        if z not in has_customers:
            return False
        seen = {y}
        todo = [y]
        while todo:
            for p in provs.get(todo.pop(), ()):
                if p == z:
                    return True
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        return False

    def set_p2c(y: int, z: int, why: str) -> bool:
        key = (y, z) if y < z else (z, y)
        if key in kind or z in core or ancestor(z, y):
            return False
        kind[key] = -1 if y < z else 1
        step[key] = why
        provs[z].append(y)
        has_customers.add(y)
        return True

    mark("poisoned")
    # Step 4: top-down over triplets x y z, grouped by their middle AS.
    # (Triplets with the same y and z may come in any order: set_p2c(y, z) is the same call.)
    used_ids = [flat.index[h] for h in used]
    get = kind.get
    for x, y, z in flat.triplets_in_rank_order(used_ids, position):
        v = get((x, y)) if x < y else get((y, x))
        if v is not None and (v <= 0 if x < y else v >= 0):   # is_down(x, y), inlined
            set_p2c(y, z, "top-down")

    mark("top-down")
    # Step 5: valley-free ordering along each path until nothing changes (only paths of 3+
    # hops can gain a link, and a path whose links are all known drops out).
    pending = [hops for hops in used if len(hops) > 2]
    for _ in range(8):
        changed = False
        still: list[tuple[int, ...]] = []
        for hops in pending:
            down = False
            unknown = False
            for a, b in zip(hops, hops[1:], strict=False):
                key = (a, b) if a < b else (b, a)
                if down:
                    if key not in kind:   # (set_p2c refuses a known link anyway)
                        if set_p2c(a, b, "valley-free"):
                            changed = True
                        else:
                            unknown = True
                    continue
                v = get(key)
                if v is None:
                    unknown = True
                elif v == 0 or (v < 0) == (a < b):   # is_down(a, b), inlined
                    down = True
            if unknown:
                still.append(hops)
        pending = still
        if not changed:
            break

    mark("valley-free")
    # Step 6: stubs adjacent to the clique are its customers (not vantage points: a collector's
    # own AS is never in transit but its sessions say nothing about who pays whom).
    for c in sorted(core):
        for s in sorted(adj[c]):
            if tdeg.get(s, 0) == 0 and s not in core and s not in vps:
                set_p2c(c, s, "clique-stub")

    mark("clique-stubs")
    # Step 7: links still open (sparse inputs: one full feed shows few clique links) follow Gao's
    # top-provider rule, with the AS-Rank rank as the degree: in each path the peak is the first
    # known peer/provider-to-customer link, else the best-ranked hop; links before it climb, links
    # after it descend. A link voted both ways is a peering. Vantage-point links are left out.
    skip_vps = {a for a in vps if not tdeg.get(a, 0)}
    for key, low_up, high_up in flat.gao_votes(used_ids, kind, position, skip_vps):
        if key in kind:
            continue
        a, b = key
        if low_up and high_up:
            kind[key] = P2P
            step[key] = "gao-both-ways"
        elif not (set_p2c(a, b, "gao-top") if low_up else set_p2c(b, a, "gao-top")):
            kind[key] = P2P
            step[key] = "gao-cycle"

    mark("gao")
    # Step 8: a vantage point never seen in transit (a collector's AS) is a customer of a
    # neighbour that passed it routes learnt from that neighbour's peers or providers, else a peer.
    for hops in used:
        vp = hops[0]
        if len(hops) > 2 and vp in vps and not tdeg.get(vp, 0):
            nb, nxt = hops[1], hops[2]
            key = (nb, nxt) if nb < nxt else (nxt, nb)
            v = kind.get(key)
            to_customer = v == (-1 if nb < nxt else 1)
            if not to_customer:
                set_p2c(nb, vp, "vantage-transit")

    mark("vantage")
    # Step 9: every other link is peer-to-peer.
    for a, ns in adj.items():
        for b in ns:
            if a < b and (a, b) not in kind:
                kind[(a, b)] = P2P
                step[(a, b)] = "default-peer"

    mark("default-peer")
    rels = Relationships(source=source, date=date)
    rels.clique = sorted(core, key=lambda a: position[a])
    customers, providers, peers = rels.customers, rels.providers, rels.peers
    for (a, b), v in kind.items():   # each pair once: no need for add()'s clean-up
        if v == P2P:
            peers.setdefault(a, set()).add(b)
            peers.setdefault(b, set()).add(a)
        else:
            p, c = (a, b) if v < 0 else (b, a)
            customers.setdefault(p, set()).add(c)
            providers.setdefault(c, set()).add(p)

    mark("build")
    if confidence:
        # Confidence: share of routes over the link whose whole path is valley-free (most paths
        # are: only the others are walked link by link).
        total: Counter[tuple[int, int]] = Counter()
        bad: Counter[tuple[int, int]] = Counter()
        vf_routes = all_routes = 0
        for hops, n in used.items():
            all_routes += n
            links = [(hops[i], hops[i + 1]) if hops[i] < hops[i + 1] else (hops[i + 1], hops[i])
                     for i in range(len(hops) - 1)]
            for key in links:
                total[key] += n
            if _valley_free(hops, kind):
                vf_routes += n
            else:
                for key in links:
                    bad[key] += n
        mark("confidence-loop")
        rels.confidence = {k: 1.0 - bad[k] / v if k in bad else 1.0 for k, v in total.items()}
        stats.valley_free_share = vf_routes / all_routes if all_routes else 0.0
    rels.step = step
    stats.transit_degree = tdeg
    mark("confidence")
    return rels, stats


def _valley_free(hops: tuple[int, ...], kind: dict[tuple[int, int], int]) -> bool:
    """Whether a path (vantage point first) climbs, crosses at most one peer link, then descends."""
    after_peak = False
    for i in range(len(hops) - 1):
        a, b = hops[i], hops[i + 1]
        v = kind.get((a, b)) if a < b else kind.get((b, a))
        if v is None:
            continue
        if v == 0:
            if after_peak:
                return False
            after_peak = True
        elif (v == -1) == (a < b):   # a is b's provider: descending
            after_peak = True
        elif after_peak:             # climbing again after the peak: a valley
            return False
    return True
