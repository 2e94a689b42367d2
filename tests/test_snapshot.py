"""The columnar route snapshot (state/snapshot.py) against the replay it replaces: the same routes
as RoutingState on random streams and on real files, the same (peer AS, path) pairs as
PathSet.tally, and the country commands' full JSON the same as through the replay (the reference
path), on real files and on the written demo scenarios."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import transitwatch as tw
from transitwatch import Observation
from transitwatch.engine import dependence
from transitwatch.engine.queries import registry_of
from transitwatch.metrics._asrank import PairCounter
from transitwatch.metrics.asrank import PathSet
from transitwatch.metrics.country import countries_report, country_upstreams
from transitwatch.metrics.relationship_view import annotate_country
from transitwatch.registry import geo
from transitwatch.scenarios.scenario import load_scenario
from transitwatch.sources.files import read_files
from transitwatch.state.aspath import origin_of
from transitwatch.state.compact import CompactRoutingState
from transitwatch.state.known import known_tables
from transitwatch.state.snapshot import PrefixTexts, origins_of_paths, route_snapshot
from transitwatch.state.table import RoutingState


def _routes(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((r["collector"], r["peer_ip"], r["peer_asn"], r["prefix"],
                   -1 if r["path_id"] is None else r["path_id"], r["as_path"]) for r in records)


def _same_state(stream_factory: Any, until: float | None) -> None:
    state = RoutingState().replay(stream_factory(), until=until)
    snap = route_snapshot(stream_factory(), until)
    assert _routes(snap.to_records()) == _routes(state.to_records())
    assert (snap.start, snap.time) == (state.start, state.time)
    assert snap.peers == [t.peer for t in state.tables()]


# -- random streams ---------------------------------------------------------------------------------
class _Batched:
    """A stream with batches() of random sizes, each from one file (what read_files gives)."""

    def __init__(self, obs: list[Observation]) -> None:
        self._obs = obs

    def __iter__(self) -> Iterator[Observation]:
        return iter(self._obs)

    def batches(self) -> Iterator[list[Observation]]:
        rng = random.Random(7)
        i = 0
        while i < len(self._obs):
            j = i + 1
            size = rng.randint(1, 40)
            while j < len(self._obs) and j - i < size and self._obs[j].source == self._obs[i].source:
                j += 1
            yield self._obs[i:j]
            i = j


def _random_stream(rng: random.Random) -> list[Observation]:
    collectors = ["rrc00", "rrc01"]
    peers = [("10.0.0.1", 65001), ("10.0.0.2", 65002), ("2001:db8::3", 65003)]
    prefixes = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/25", "2001:db8:1::/48", "10.1.0.0/16",
                "0.0.0.0/0"]
    paths = [None, "", "65001 3356 1", "65002 174 {7,8}", "65003 1299 2 2 2", "65001 3356 5"]
    out = []
    t = 1000.0
    source = "a"
    for _ in range(rng.randint(1, 120)):
        t += rng.choice([0, 0, 0.5, 1, 3])
        if rng.random() < 0.05:
            source = rng.choice("abc")
        kind = rng.choices(["announce", "withdraw", "rib", "state"], [5, 3, 4, 1])[0]
        ip, asn = rng.choice(peers)
        collector = rng.choice(collectors)
        path_id = rng.choice([None, None, None, 1, 2])
        if kind == "state":
            out.append(Observation(time=t, kind=kind, peer_ip=ip, peer_asn=asn, collector=collector,
                                   source=f"{collector}.{source}", old_state=rng.choice([1, 6]),
                                   new_state=rng.choice([1, 6, 6, None])))
            continue
        out.append(Observation(
            time=t, kind=kind, peer_ip=ip, peer_asn=rng.choice([asn, asn, asn, 65009]), collector=collector,
            source=f"{collector}.{source}", prefix=rng.choice(prefixes),
            as_path=rng.choice(paths) if kind != "withdraw" else None, path_id=path_id))
    return out


@pytest.mark.parametrize("seed", range(60))
def test_random_streams_match_replay(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if seed % 2:  # reduce to the last events every few events (as a long input does every 4M)
        from transitwatch.state import snapshot

        monkeypatch.setattr(snapshot, "_REDUCE_AT", seed % 7 + 1)
    rng = random.Random(seed)
    obs = _random_stream(rng)
    times = sorted({o.time for o in obs})
    for until in (None, times[0] - 1, times[0], rng.choice(times), times[len(times) // 2]):
        _same_state(lambda: _Batched(obs), until)
        _same_state(lambda: iter(obs), until)  # no batches(): chunks, split by collector and file


def test_counter_sees_what_pathset_tally_counts(shared_data: Path) -> None:
    files = [str(shared_data / "mrt" / "caida-2015" / "ris.rrc06.updates.1427846400.gz"),
             str(shared_data / "mrt" / "caida-2015" / "routeviews.route-views.jinx.updates.1427846400.bz2")]
    for until in (None, 1427846790.0):
        stream = read_files(files)
        tally = PathSet.tally(stream, until)
        RoutingState().replay(tally, until=until)
        want = tally.pathset()
        counter = PairCounter()
        snap = route_snapshot(read_files(files), until, counter=counter)
        got = PathSet.of_counter(counter, snap.first_time, want.last_time)
        assert list(got.counts.items()) == list(want.counts.items())  # same order too
        assert (got.routes, got.vantage_points, got.first_time) == (want.routes, want.vantage_points,
                                                                     want.first_time)
        assert got.routes > 1000


# -- real files -------------------------------------------------------------------------------------
_FILES = {
    "2015": ["bgpdump-corpus/input/updates.et-header.2015.gz"],
    "2002": ["bgpdump-corpus/input/bview.20020722.2337.gz", "bgpdump-corpus/input/updates.20020722.2238.gz"],
    "caida": ["caida-2015/ris.rrc06.updates.1427846400.gz",
              "caida-2015/routeviews.route-views.jinx.updates.1427846400.bz2"],
    "2016": ["bgpdump-corpus/input/updates.20160811.1600.gz"],
    "addpath": ["bgpdump-corpus/input/bview.ipv4_unicast_add_path.gz"],
    "bird": ["routers/bird6-mrtdump_rib"],
    "quagga": ["routers/quagga_bgp"],
}
_AT = {"2015": 1445565706.6, "2002": 1027381055.0, "caida": 1427846790.0}  # inside the data


def _paths(shared: Path, name: str) -> list[str]:
    return [str(shared / "mrt" / f) for f in _FILES[name]]


@pytest.mark.parametrize("name", ["2002", "caida", "2016", "addpath", "bird", "quagga"])
def test_real_files_match_replay(shared_data: Path, name: str) -> None:
    files = _paths(shared_data, name)
    times = [o.time for o in read_files(files)]
    for until in (None, times[len(times) // 3], times[0]):
        _same_state(lambda: read_files(files), until)


def test_prefix_texts_read_as_the_formatted_list(shared_data: Path) -> None:
    """The snapshot's prefixes, formatted when read: single reads (before and after the switch to
    the whole list), negative indices, slices across the IPv4/other border and comparisons give
    what the list of every text gives, and each text is the one the replay holds."""
    files = _paths(shared_data, "2016")
    snap = route_snapshot(read_files(files))
    texts = snap.prefixes
    assert isinstance(texts, PrefixTexts)
    want = list(PrefixTexts(snap.v4_keys, list(texts[snap.v4_keys.size:])))
    held = {r["prefix"] for r in RoutingState().replay(read_files(files)).to_records()}
    assert len(want) == len(texts) and set(want) == held and len(set(want)) == len(want)
    n4 = snap.v4_keys.size
    assert 0 < n4 < len(want)  # both families: the border is crossed below
    fresh = PrefixTexts(snap.v4_keys, want[n4:])
    rng = random.Random(13)
    for i in [0, n4 - 1, n4, len(want) - 1, -1, -len(want), *rng.sample(range(len(want)), 50)]:
        assert fresh[i] == want[i]
    for sl in [slice(n4 - 3, n4 + 3), slice(None, 5), slice(-4, None), slice(1, 40, 7), slice(n4, n4)]:
        assert fresh[sl] == want[sl]
    with pytest.raises(IndexError):
        fresh[len(want)]
    many = PrefixTexts(snap.v4_keys, want[n4:])
    assert [many[i] for i in range(len(want))] == want  # past the single reads: the whole list
    assert fresh == want and want == fresh and fresh == many and fresh != want[:-1]
    assert "10.0.0.0/8" not in want or "10.0.0.0/8" in fresh


def test_one_country_formats_few_prefix_texts(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """upstreams --country KP on a full table reads the texts of the prefixes it shows and
    places, not all 577k (the registry places an AS's prefixes from their parsed numbers)."""
    whole: list[int] = []
    real = PrefixTexts._all
    monkeypatch.setattr(PrefixTexts, "_all", lambda self: whole.append(len(self)) or real(self))
    got = _fast_upstreams("KP", _paths(shared_data, "2015"), None)
    assert got["prefixes"] and not whole


def _reference_upstreams(cc: str, files: list[str], until: float | None) -> dict[str, Any]:
    """What tw.country_upstreams answered before the snapshot: replay, tally, the same steps."""
    registry = registry_of(None)
    stream = read_files(files)
    tally = PathSet.tally(stream, until)
    state = RoutingState().replay(tally, until=until)
    # only the tables whose collector covers the moment (rrc06's 5 minutes end before jinx's 15)
    cov = stream.coverage.settle(until) if until is not None else stream.coverage
    state, _ = known_tables(state, cov, until if until is not None else state.time)
    report = country_upstreams(state, cc, registry)
    if until is not None:
        report.time = until
    dependence._CACHE.clear()
    rels, info = dependence.relationship_context(None, tw.files(files), until, observed=tally)
    annotate_country(report, rels, info)
    return report.to_dict()


def _fast_upstreams(cc: str, files: list[str], until: float | None, **kw: Any) -> dict[str, Any]:
    dependence._CACHE.clear()
    result = tw.country_upstreams(cc, tw.files(files), at=until, registry=registry_of(None), **kw)
    return result.report.to_dict()


def _reference_countries(files: list[str], until: float | None) -> list[dict[str, Any]]:
    state = CompactRoutingState().replay(read_files(files), until=until)
    return [r.to_dict() for r in countries_report(state, registry_of(None)).rows]


def _fast_countries(files: list[str], until: float | None) -> list[dict[str, Any]]:
    return [r.to_dict() for r in tw.countries(tw.files(files), at=until, registry=registry_of(None),
                                              workers=1).rows]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.mark.parametrize(("name", "cc", "at"), [
    ("2015", "KP", False), ("2015", "DE", True), ("2002", "DE", True), ("caida", "US", False),
])
def test_country_upstreams_json_matches_replay(shared_data: Path, name: str, cc: str, at: bool) -> None:
    files = _paths(shared_data, name)
    until = _AT[name] if at else None
    want = _reference_upstreams(cc, files, until)
    got = _fast_upstreams(cc, files, until)
    assert want["prefixes"] and want["upstreams"] and want["relationships"]["source"]
    assert _json(got) == _json(want)


def test_countries_json_matches_replay(shared_data: Path) -> None:
    for name, until in (("2015", None), ("2002", _AT["2002"])):
        files = _paths(shared_data, name)
        want = _reference_countries(files, until)
        assert len(want) > 50
        assert _json(_fast_countries(files, until)) == _json(want)


@pytest.mark.parametrize("scenario", ["kp-2017-transtelecom", "kp-2014-12-outage"])
def test_demo_scenarios_match_replay(tmp_path: Path, scenario: str) -> None:
    files = [str(p) for p in load_scenario(scenario).write_mrt(tmp_path / "made")]
    times = sorted({o.time for o in read_files(files)})
    upstreams: set[int] = set()
    for until in (None, times[len(times) // 2], times[len(times) // 4]):
        want = _reference_upstreams("KP", files, until)
        assert _json(_fast_upstreams("KP", files, until)) == _json(want)
        assert _json(_fast_countries(files, until)) == _json(_reference_countries(files, until))
        upstreams.update(u["asn"] for u in want["upstreams"])
    assert upstreams


def test_parse_prefixes_matches_python(shared_data: Path) -> None:
    texts = sorted({o.prefix for name in ("caida", "2002", "bird")
                    for o in read_files(_paths(shared_data, name)) if o.prefix})
    texts += ["1.2.3.4/24", "1.2.3.4", "01.2.3.4/24", "1.2.3.4/33", "1.2.3.4/024", "::/0", "2001:db8::1/32",
              "2001:db8::/129", "::ffff:1.2.3.4/96", "x/1", "1.2.3.4/", "1.2.3.4/ 24", "\uff11.2.3.4/8",
              "0.0.0.0/0", "255.255.255.255/32", "2001:db8::/65", "2001:db8::/63", "1.2.3.4/+24",
              "2001:db8::/0128", "1.2.3.4/1\u0662"]
    fast, slow = geo.parse_prefixes(texts), geo.parse_prefixes_python(texts)
    for field in ("version", "length", "first", "last"):
        assert np.array_equal(getattr(fast, field), getattr(slow, field)), field
    assert (fast.version == 6).sum() > 10 and (fast.version == 4).sum() > 1000


def test_origins_of_paths_match_origin_of(shared_data: Path) -> None:
    paths = sorted({o.as_path for name in ("caida", "2016", "quagga")
                    for o in read_files(_paths(shared_data, name)) if o.as_path is not None})
    paths += ["", " ", "1 2 3 ", "1 2\t3", "1 {2,3}", "{2,3}", "1 2 0123", "1 (65000 2) 3", "1 2 3\t",
              "1 2 99999999999999999999", "1 2 \u0663", "1 2 3\x1f", "x", "1 2 3a", "4294967296"]
    want = [origin_of(p) for p in paths]
    assert origins_of_paths(paths).tolist() == [-1 if w is None or w >= 1 << 63 else w for w in want]
    assert sum(w is not None for w in want) > 1000


def test_first_foreign_hops_match_the_walk(shared_data: Path) -> None:
    """The ranking's vectorised walk gives country_upstream_of_path's answer for every (path,
    country) pair of a real table, with AS_SET and odd paths among them."""
    from transitwatch.metrics.country import _first_foreign_hops, country_upstream_of_path

    registry = registry_of(None)
    snap = route_snapshot(read_files(_paths(shared_data, "2002")))
    with registry.pinned(snap.time):
        countries_report(snap, registry)  # feeds the origins (AS countries derived from them)
        paths = snap.paths + ["1 {2,3}", "7018 {1239,701}", "1 (2 3) 4", "1 99999999999", "", "x 1", "1  2"]
        codes = ["DE", "JP", "KR", "US"]
        rng = np.random.default_rng(5)
        extra = np.arange(len(snap.paths), len(paths))
        numbers = np.concatenate([rng.integers(0, len(snap.paths), 3000), extra])
        numbers = np.repeat(numbers, len(codes))
        cc = np.tile(np.arange(len(codes)), numbers.size // len(codes))
        got = _first_foreign_hops(numbers, cc, paths, codes, registry).tolist()
        want = []
        for n, c in zip(numbers.tolist(), cc.tolist(), strict=True):
            up = country_upstream_of_path(paths[n], codes[c], registry)
            want.append(up if isinstance(up, int) else -1)
    assert got == want
    assert sum(g >= 0 for g in got) > 1000 and len(set(got)) > 100


@pytest.mark.parametrize("rir_files", [False, True])
def test_as_countries_match_as_country(shared_data: Path, tmp_path: Path, rir_files: bool) -> None:
    """Registry.as_countries (bulk) answers as as_country does one AS at a time, offline and with
    RIR files and asn.txt (registered, listed and derived countries)."""
    import shutil

    from transitwatch.metrics.country import _TableIndex
    from transitwatch.registry import Registry

    fixtures = Path(__file__).parent / "data" / "registry"
    if rir_files:
        for name in ("delegated-apnic-extended-latest", "delegated-ripencc-extended-latest", "asn.txt"):
            shutil.copyfile(fixtures / name, tmp_path / name)
    snap = route_snapshot(read_files(_paths(shared_data, "2002")))
    asns = sorted({int(t) for p in snap.paths for t in p.split() if t.isdigit()})
    bulk, single = (Registry.load(tmp_path) if rir_files else Registry() for _ in range(2))
    for registry in (bulk, single):
        _TableIndex.of(snap, registry)
    got = bulk.as_countries(asns)
    assert got == [single.as_country(a) for a in asns]
    assert sum(c is not None for c in got) > 1000
    if rir_files:
        assert {bulk._country_cache[a][1] for a in asns} >= {"origins", "rir:apnic"}


def test_prefetched_hints_match_one_by_one(shared_data: Path) -> None:
    """Registry.prefetch_hints (bulk) gives each AS the name hint as_info finds alone."""
    from transitwatch.metrics.country import _TableIndex
    from transitwatch.registry import Registry

    snap = route_snapshot(read_files(_paths(shared_data, "2002")))
    asns = sorted({int(t) for p in snap.paths for t in p.split() if t.isdigit()})[::40] + [0, 4294967295]
    bulk, single = Registry(), Registry()
    for registry in (bulk, single):
        _TableIndex.of(snap, registry)
    bulk.prefetch_hints(asns)
    got = [bulk.as_info(a).name_hint for a in asns]
    assert got == [single.as_info(a).name_hint for a in asns]
    assert sum(h is not None for h in got) > 50


def test_country_codes_are_the_placed_countries(shared_data: Path) -> None:
    """An offline full placement's country codes name each prefix's placed country, and the
    ranking and the ASes' derived countries built from the codes = those built from the texts."""
    from transitwatch.metrics.country import _ranking_rows, _TableIndex
    from transitwatch.registry import Registry

    snap = route_snapshot(read_files(_paths(shared_data, "2002")))
    coded, texts = Registry(), Registry()
    index = _TableIndex.of(snap, coded)
    assert index.country_codes is not None
    labels, names = index.country_codes
    assert names == sorted(set(names))
    assert [names[x] if x >= 0 else None for x in labels.tolist()] == index.countries
    assert sum(c is not None for c in index.countries) > 1000
    plain = _TableIndex.of(snap, texts)
    plain.country_codes = None
    texts._placed_codes = None
    want = [r.to_dict() for r in _ranking_rows(plain, texts)]
    assert [r.to_dict() for r in _ranking_rows(index, coded)] == want and len(want) > 150
    assert coded._derived_countries() == texts._derived_countries()


def test_packed_lexsort_is_lexsort() -> None:
    from transitwatch.metrics.country import _lexsort

    rng = np.random.default_rng(3)
    for n, highs in ((1000, (3, 70000, 600000)), (5000, (2, 2)), (0, (5,)), (300, (1 << 40, 1 << 30)),
                     (200, (1, 1 << 62))):
        keys = tuple(rng.integers(0, h, n) for h in highs)
        assert np.array_equal(_lexsort(keys), np.lexsort(keys))
    keys = (rng.integers(-5, 5, 100), rng.integers(0, 5, 100))
    assert np.array_equal(_lexsort(keys), np.lexsort(keys))
    first = rng.integers(0, 1 << 32, 100).astype(np.uint64)
    group = rng.integers(0, 9, 100)
    assert np.array_equal(_lexsort((first, group)), np.lexsort((first, group)))


def test_sort_helpers_are_numpys() -> None:
    """The ranking's sort helpers = the numpy calls they replace: stable argsort, unique with
    its inverse (and of (path, country) pairs); the distinct prefixes by country = a lexsort of
    (country, prefix)."""
    from transitwatch.metrics.country import (
        _by_country,
        _group_starts,
        _pair_codes,
        _stable_argsort,
        _unique_inverse,
    )

    rng = np.random.default_rng(13)
    for n, high in ((0, 5), (1, 5), (2, 2), (1000, 3), (5000, 1 << 20), (3000, 1 << 40), (100, 1 << 62)):
        keys = rng.integers(0, high, n)
        bits = max(int(keys.max(initial=0)).bit_length(), 1)
        assert np.array_equal(_stable_argsort(keys, bits), np.argsort(keys, kind="stable"))
        ordered = np.sort(keys)  # already in order: the same answer through the other branch
        assert np.array_equal(_stable_argsort(ordered, bits), np.arange(n))
        uniq, inverse = _unique_inverse(keys, bits)
        want_u, want_i = np.unique(keys, return_inverse=True)
        assert np.array_equal(uniq, want_u) and np.array_equal(inverse, want_i)
    assert _stable_argsort(np.array([5, 5, 1, 5, 1]), 3).tolist() == [2, 4, 0, 1, 3]
    # (path, country) pairs: one-country paths, several-country paths, unused paths, the grid
    # and (2**20 countries) the sort
    for paths, routes, ncodes, spread in ((1, 1, 1, 1), (40, 300, 5, 5), (2000, 20000, 240, 1), (9, 0, 3, 1),
                                          (3000, 30000, 240, 30), (500, 4000, 1 << 20, 1 << 20)):
        path = rng.integers(0, paths, routes)
        cc = (path * 7 + rng.integers(0, spread, routes) * (rng.random(routes) < 0.1)) % ncodes
        want_u, want_i = np.unique(path * ncodes + cc, return_inverse=True)
        got_u, got_i = _pair_codes(path, cc, paths, ncodes)
        assert np.array_equal(got_u, want_u) and np.array_equal(got_i, want_i), (paths, ncodes)
    for prefixes, routes, ncodes in ((50, 400, 7), (3000, 10000, 240), (5, 0, 3)):
        pcc = rng.integers(-1, ncodes, prefixes)
        pid = rng.integers(0, prefixes, routes)
        pid = pid[pcc[pid] >= 0]
        cc = pcc[pid]
        order = np.lexsort((pid, cc))
        starts = _group_starts(cc[order], pid[order])
        got_pid, got_cc = _by_country(pid, pcc, ncodes)
        assert np.array_equal(got_pid, pid[order][starts]) and np.array_equal(got_cc, cc[order][starts])


def test_snapshot_ranking_matches_route_by_route(shared_data: Path) -> None:
    """The array ranking over a snapshot (vectorised walk, packed sorts, bulk AS countries and
    hints) = the ranking route by route through _summarise over the replayed state."""
    from transitwatch.metrics.country import _ranking_by_summaries
    from transitwatch.registry import Registry

    files = _paths(shared_data, "2002")
    fast = countries_report(route_snapshot(read_files(files)), Registry())
    slow = _ranking_by_summaries(RoutingState().replay(read_files(files)), Registry())
    assert len(fast.rows) > 150
    assert [r.to_dict() for r in fast.rows] == [r.to_dict() for r in slow]


def test_countries_over_large_input_use_compact_tables(shared_data: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Above SNAPSHOT_MAX_INPUT_BYTES of input, countries replays into the compact tables (bounded
    memory for many full tables): the same ranking."""
    from transitwatch.engine import queries
    from transitwatch.state import compact

    files = _paths(shared_data, "caida")
    fast = _fast_countries(files, None)
    used: list[int] = []
    real = compact.CompactRoutingState.replay

    def replay(self: Any, *args: Any, **kwargs: Any) -> Any:
        used.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(compact.CompactRoutingState, "replay", replay)
    monkeypatch.setattr(queries, "SNAPSHOT_MAX_INPUT_BYTES", 1000)
    assert _json(_fast_countries(files, None)) == _json(fast)
    assert used and len(fast) > 50


def test_one_country_placed_alone_matches_full_placement(shared_data: Path) -> None:
    """upstreams --country places only the prefixes overlapping the country's blocks (and the
    registry one AS's prefixes when its country is asked): the same report as a full placement
    for many countries, on two real tables."""
    from transitwatch.registry import Registry

    for name, codes in (("caida", ("DE", "US", "JP", "KR", "GB", "RU", "BR", "AU", "IT", "ZA")),
                        ("2002", ("JP", "KR", "AU"))):
        files = _paths(shared_data, name)
        snap = route_snapshot(read_files(files))
        state = RoutingState().replay(read_files(files))
        for cc in codes:
            got = country_upstreams(snap, cc, Registry()).to_dict()
            assert _json(got) == _json(country_upstreams(state, cc, Registry()).to_dict()), (name, cc)


def test_best_groups_is_lexsort_head() -> None:
    """An AS's country pick without a sort = the head per AS of the lexsort it replaces (lowest
    family, largest weight, lowest label), ties included."""
    from transitwatch.registry.registry import _best_groups

    rng = np.random.default_rng(131)
    for n, ases in ((0, 1), (1, 1), (50, 5), (5000, 700), (20000, 50)):
        drawn = np.stack([rng.integers(0, ases, n), rng.integers(0, 2, n), rng.integers(0, 40, n)], 1)
        keys = np.unique(drawn, axis=0)  # distinct (AS, family, label), sorted
        ga, gf, gl = keys[:, 0], keys[:, 1], keys[:, 2]
        gw = rng.integers(1, 4, ga.size).astype(np.float64) * 2.0 ** 30  # many equal weights
        pick = np.lexsort((gl, -gw, gf, ga))
        head = np.ones(pick.size, dtype=bool)
        head[1:] = ga[pick][1:] != ga[pick][:-1]
        got = _best_groups(ga, gf, gw)
        assert np.array_equal(got, pick[head])
        assert len(got) == len(np.unique(ga))


def test_union_v4_counts_each_address_once() -> None:
    """Addresses per group of nested, overlapping and disjoint IPv4 prefixes = a Python union."""
    from transitwatch.metrics.country import _union_v4

    rng = np.random.default_rng(7)
    for n, groups in ((0, 2), (1, 1), (300, 4), (3000, 25)):
        group = rng.integers(0, groups, n)
        length = rng.integers(8, 33, n)
        first = (rng.integers(0, 1 << 12, n) << 20 >> (32 - length) << (32 - length)).astype(np.uint64)
        last = first + (np.uint64(1) << (32 - length).astype(np.uint64)) - np.uint64(1)
        order = np.lexsort((first, group))
        group, first, last = group[order], first[order], last[order]
        want = [0] * groups
        for g in range(groups):
            spans = sorted(zip(first[group == g].tolist(), last[group == g].tolist(), strict=True))
            reach = -1
            for f, last_ in spans:
                want[g] += max(0, last_ - max(f, reach + 1) + 1)
                reach = max(reach, last_)
        assert _union_v4(group, first, last, groups).tolist() == want
        if n > 1000:
            assert any(w > 0 for w in want)
