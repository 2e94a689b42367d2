"""The C inference (metrics/_asrank.c) against the Python reference in metrics/asrank.py: the same
pairs counted, the same paths cleaned, the same relationships, steps, confidences and statistics,
on the real 2015 tables and on written inputs that take every branch."""

from __future__ import annotations

import io
import json
import operator
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from transitwatch.metrics import _asrank, asrank
from transitwatch.metrics.asrank import ROUTE_SERVER_ASNS, PathSet, infer_relationships
from transitwatch.observation import Observation
from transitwatch.registry.relationships import ArrayRelationships, save_as_rel

_PAIR = operator.attrgetter("peer_asn", "as_path")


def _real_files(shared_data: Path) -> list[list[str]]:
    return [[str(shared_data / "mrt" / "bgpdump-corpus" / "input" / "updates.et-header.2015.gz")],
            sorted(str(p) for p in (shared_data / "mrt" / "caida-2015").iterdir())]


@pytest.fixture(scope="module")
def real_pathsets() -> list[PathSet]:
    from conftest import MRT_DATA, SHARED_DATA
    from transitwatch.sources.files import read_files

    if not (MRT_DATA / "bgpdump-corpus").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (CI always has it)")
    out = []
    for files in _real_files(SHARED_DATA):
        counted = PathSet.of_observations(read_files(files))
        # The reference way: every (peer, path) pair counted by Python, then of_pairs.
        reference = PathSet.of_pairs(Counter(map(_PAIR, read_files(files))), None, None)
        assert list(counted.counts.items()) == list(reference.counts.items())
        assert (counted.routes, counted.vantage_points) == (reference.routes, reference.vantage_points)
        out.append(counted)
    assert out[0].routes > 500_000 and len(out[1].vantage_points) >= 3
    return out


def _obs(peer: int, path: str | None, t: float = 1.0) -> Observation:
    return Observation(time=t, kind="announce", peer_ip="192.0.2.1", peer_asn=peer, prefix="10.0.0.0/8",
                       as_path=path)


def test_pair_counter_equals_counting_pairs_in_python() -> None:
    # Peer AS prepended when missing (not when the path starts with it, nor for peer 0), a path
    # whose first AS merely starts with the peer's digits, absent and empty paths, equal texts in
    # different str objects, non-ASCII text, and an order where a later pair merges into an earlier.
    texts = ["12 3", "123 4", "12", "5 6", "12 3", None, "", "7 {8,9}", "１２ 3", "9 9 9", "3"]
    obs = [_obs(peer, None if t is None else "".join(list(t)), float(i))
           for i, (peer, t) in enumerate((p, t) for p in (12, 0, 3) for t in texts)]
    counter = _asrank.PairCounter()
    counter.add(obs[:5])
    counter.add(iter(obs[5:20]))
    for o in obs[20:]:
        counter.push(o)
    got = PathSet.of_counter(counter, 0.0, 1.0)
    want = PathSet.of_pairs(Counter(map(_PAIR, obs)), 0.0, 1.0)
    assert list(got.counts.items()) == list(want.counts.items())
    assert (got.routes, got.vantage_points) == (want.routes, want.vantage_points) == (27, {12, 3})
    assert got.counts["12 123 4"] == 1 and got.counts["3 12 3"] == 2 and got.counts["12 3"] == 5
    assert counter.distinct() == len(Counter((p, t) for p, t in map(_PAIR, obs) if t))
    with pytest.raises(AttributeError):   # as attrgetter would
        _asrank.PairCounter().add([object()])


WRITTEN_TEXTS = [
    "1 2 2 3", "1 6695 2 3", "1 2 1", "1 64512 3", "1 {2,3}", "1 (65001 65002) 2 3", "6695 6695", "4 5 5 6",
    "1 2 3", "7 23456 8", "9 10 9 9", "1 x 2", "1\t2  3", "1 2 [65001 3] 4", "1 (2 [3) 4", "{1,2} 3",
    "1 2 {3} 4 x", "x {1}", "001 02 3", "1 4294967295 2", "1 4294967296 2", "1 99999999999999999999 2",
    "5 99999999999 5", "1 １２ 3", "1 ² 3", "1,2,3", "1 2 3 ", " 1 2", "()", "1 () 2", "0 1", "1 131071 2",
    "1 131072 2", "1 64495 2", "4199999999 1", "1 2}", "1\x1c2", "1\x852", "1 2 6777 2 3", "8714",
    "100 200 300 400 500 600 700 800 900 100",
]


def test_sanitise_equals_the_reference() -> None:
    counts = Counter({t: i + 1 for i, t in enumerate(WRITTEN_TEXTS)})
    for rs in (ROUTE_SERVER_ASNS, frozenset(), frozenset({2, 3, 2**40}), frozenset(range(5, 300))):
        want_weights, want_discarded = asrank._sanitise_all(counts, rs)
        got = _unflatten(*_asrank.sanitise(counts, rs, lambda t, rs=rs: asrank.sanitise_path(t, rs))[:3])
        assert list(got.items()) == list(want_weights.items())
        assert _asrank.sanitise(counts, rs, lambda t, rs=rs: asrank.sanitise_path(t, rs))[3] == dict(
            want_discarded)
    assert set(want_discarded) == {"empty", "loop", "reserved", "malformed"}


def _unflatten(asn: bytes, offsets: bytes, weights: bytes) -> dict[tuple[int, ...], int]:
    import numpy as np

    a = np.frombuffer(asn, np.uint32).tolist()
    o = np.frombuffer(offsets, np.int64).tolist()
    w = np.frombuffer(weights, np.int64).tolist()
    return {tuple(a[o[i]:o[i + 1]]): w[i] for i in range(len(w))}


def _same_from_arrays(got: Any, ref: Any) -> None:
    """The native result answers relationship() and counts() from its link arrays before its
    per-AS sets exist: the same answers as the reference's sets, for links both ways round, for
    pairs with no link and for odd pairs."""
    assert isinstance(got, ArrayRelationships) and "providers" not in got.__dict__
    assert got.counts() == ref.counts()
    rng = random.Random(12)
    links = list(ref.links())
    pairs = [(a, b) for a, b, _ in rng.sample(links, min(len(links), 3000))]
    pairs += [(b, a) for a, b in pairs]
    ases = sorted({a for a, b, _ in links} | {b for a, b, _ in links}) or [1]
    pairs += [(rng.choice(ases), rng.choice(ases)) for _ in range(2000)]
    pairs += [(ases[0], ases[0]), (0, ases[0]), (ases[0], 1 << 32), (-1, ases[0])]
    want = [ref.relationship(a, b) for a, b in pairs]
    assert [got.relationship(a, b) for a, b in pairs] == want
    assert "providers" not in got.__dict__  # nothing built yet
    assert not links or set(want) - {"unknown"}
    got.providers  # noqa: B018 (builds the sets)
    assert [got.relationship(a, b) for a, b in pairs] == want and got.counts() == ref.counts()


def _same(paths: PathSet, **kw: Any) -> tuple[Any, Any]:
    """Infer both ways and assert every output is identical; returns the native result."""
    ref, ref_stats = infer_relationships(paths, method="reference", **kw)
    got, got_stats = infer_relationships(paths, **kw)
    _same_from_arrays(got, ref)
    for name in ("providers", "customers", "peers", "step", "confidence", "clique", "source", "date"):
        assert getattr(got, name) == getattr(ref, name), name
    assert got_stats.to_dict() == ref_stats.to_dict()
    assert list(got_stats.transit_degree.items()) == list(ref_stats.transit_degree.items())
    assert got_stats.used_paths == ref_stats.used_paths and got_stats.discarded == ref_stats.discarded
    a, b = io.StringIO(), io.StringIO()
    save_as_rel(ref, a)
    save_as_rel(got, b)
    assert a.getvalue() == b.getvalue()   # byte-identical serial-1
    from transitwatch.engine.dependence import RelationshipsResult

    assert json.dumps(RelationshipsResult(got, got_stats).to_dict()) == json.dumps(
        RelationshipsResult(ref, ref_stats).to_dict())
    return got, got_stats


def test_native_equals_reference_on_the_real_tables(real_pathsets: list[PathSet]) -> None:
    full, multi = real_pathsets
    rels, stats = _same(full)
    assert rels.counts()["links"] > 50_000 and len(rels.clique) >= 3
    assert {"top-down", "valley-free", "gao-top", "default-peer"} <= set(rels.step.values())
    _same(full, focus=[131279, 4837])
    _same(full, clique=[174, 3356, 2914, 1299, 6453, 99999], confidence=False)
    rels, stats = _same(multi)
    assert {"clique", "clique-stub", "vantage-transit"} <= set(rels.step.values())
    _same(multi, focus=[3356])


def _random_paths(seed: int) -> PathSet:
    """Paths over a random hierarchy with leaks and loops: every step's branches get taken."""
    rnd = random.Random(seed)
    tiers = [list(range(1, 6)), list(range(10, 40)), list(range(100, 220))]
    providers = {a: rnd.sample(tiers[t - 1], rnd.randint(1, 3)) for t in (1, 2) for a in tiers[t]}
    out: list[str] = []
    for _ in range(1500):
        end = rnd.choice(tiers[2] + tiers[1])
        up = [end]
        while up[-1] in providers and rnd.random() < 0.8:
            up.append(rnd.choice(providers[up[-1]]))
        if rnd.random() < 0.7:   # across the top
            up.append(rnd.choice(tiers[0]))
        down = [rnd.choice(tiers[2] + tiers[1])]
        while down[-1] in providers and rnd.random() < 0.6:
            down.append(rnd.choice(providers[down[-1]]))
        path = down[::-1] + up[::-1]
        if rnd.random() < 0.05:
            path.insert(rnd.randrange(len(path)), rnd.choice(path))   # a loop or prepending
        if rnd.random() < 0.03:
            path.append(64512)
        out.append(" ".join(map(str, path)))
    paths = PathSet.of(out)
    paths.vantage_points = {int(p.split()[0]) for p in out[:300]} | {7777}
    return paths


def test_native_equals_reference_on_random_hierarchies() -> None:
    steps: set[str] = set()
    discarded: set[str] = set()
    for seed in range(6):
        paths = _random_paths(seed)
        rels, stats = _same(paths)
        assert rels.counts()["links"] > 100
        steps |= set(rels.step.values())
        discarded |= set(stats.discarded)
        _same(paths, focus=[100 + seed, 10 + seed])
        rels, stats = _same(paths, clique=[1, 2, 3])
        steps |= set(rels.step.values())
        discarded |= set(stats.discarded)
    assert discarded == {"loop", "reserved", "clique_gap"}, discarded
    assert steps == {"clique", "top-down", "valley-free", "clique-stub", "gao-both-ways", "gao-top",
                     "gao-cycle", "vantage-transit", "default-peer"}, steps


def test_native_equals_reference_on_small_inputs() -> None:
    for texts in (["5"], ["1 2"], ["1 2", "2 3", "3 1"], ["1 2 3", "3 2 1", "2 1 3", "1 3 2"],
                  ["1 2 3 4", "4 3 2 1"], ["65000 1"]):
        _same(PathSet.of(texts))


@pytest.mark.parametrize("cut", [0.0, 0.3, 0.999, 1.0, 2.0])
def test_counting_up_to_a_moment_equals_takewhile(shared_data: Path, cut: float) -> None:
    # The inference up to T counts the stream's batches in C up to the first observation later
    # than T: the same pairs as a takewhile over every observation (batches or not, three files
    # merged by time; before the first observation, at the last, past the end).
    import itertools

    import transitwatch as tw

    files = [*_real_files(shared_data)[1], str(shared_data / "mrt" / "bgpdump-corpus" / "input" /
                                                "updates.20071015.1505.gz")]
    times = [o.time for o in tw.files(files).observations()]
    at = int((len(times) - 1) * cut)
    until = times[0] - 1 if cut == 0.0 else times[-1] + 1 if cut == 2.0 else times[at]
    stream = itertools.takewhile(lambda o: o.time <= until, tw.files(files).observations())
    want = PathSet.of_observations(stream)
    for stream in (tw.files(files).observations(), iter(list(tw.files(files).observations()))):
        got = PathSet.of_observations(stream, until)
        assert list(got.counts.items()) == list(want.counts.items())
        assert (got.routes, got.vantage_points, got.first_time, got.last_time) == (
            want.routes, want.vantage_points, want.first_time, want.last_time)
    assert (want.routes == 0) == (cut == 0.0)


def test_sanitise_equals_the_reference_on_random_texts() -> None:
    # Texts from every character the parser treats specially (and some it does not), so the
    # tokenizer's edges (separators, brackets, sets, big numbers, other digits) meet the reference.
    rnd = random.Random(12)
    tokens = ["1", "2", "3", "7", "23456", "64512", "6695", "4294967296", "00", "x", "²", "٣", "-1", "{", "}",
              "(", ")", "[", "]", "{2,3}", "(1", "3)", "1,2"]
    seps = [" ", " ", " ", "  ", "\t", ",", "", "\x1c", "\xa0", "\n"]
    texts = ["".join(rnd.choice(tokens) + rnd.choice(seps) for _ in range(rnd.randint(1, 8)))
             for _ in range(4000)]
    counts = Counter(t for t in texts if t.strip())
    want_weights, want_discarded = asrank._sanitise_all(counts, ROUTE_SERVER_ASNS)
    asn, offsets, weights, discarded = _asrank.sanitise(counts, ROUTE_SERVER_ASNS, asrank.sanitise_path)
    assert list(_unflatten(asn, offsets, weights).items()) == list(want_weights.items())
    assert discarded == dict(want_discarded)
    assert len(want_weights) > 50 and set(want_discarded) == {"empty", "loop", "reserved", "malformed"}


def test_long_hostile_paths_are_cleaned_like_the_reference() -> None:
    # A path attribute can hold ~16k 4-byte ASNs (the loop check's cost on such paths is measured
    # in bench/relationships.py, not here: tests never time things).
    n = 16_000
    counts: Counter[str] = Counter()
    for k in range(8):
        counts[" ".join(str(200_000 + k * n + i) for i in range(n))] = 1
    counts[" ".join(str(200_000 + i) for i in range(n)) + " 200000"] = 2          # a loop at the end
    counts[" ".join(str(200_000 + i // 2) for i in range(2 * n))] = 3             # prepending only
    got = _asrank.sanitise(counts, frozenset(), lambda t: asrank.sanitise_path(t, frozenset()))
    want_weights, want_discarded = asrank._sanitise_all(counts, frozenset())
    assert list(_unflatten(*got[:3]).items()) == list(want_weights.items())
    assert got[3] == dict(want_discarded) == {"loop": 2}
