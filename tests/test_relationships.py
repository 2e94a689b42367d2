"""AS relationships: CAIDA as-rel files (load/save, bad input) and the AS-Rank inference, on a
written topology with known truth and on the real 2015 tables."""

from __future__ import annotations

import bz2
import gzip
import io
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import transitwatch as tw
from transitwatch.errors import TransitwatchError
from transitwatch.metrics import asrank
from transitwatch.metrics.asrank import ROUTE_SERVER_ASNS, PathSet, infer_relationships, sanitise_path
from transitwatch.registry.relationships import Relationships, load_as_rel, save_as_rel

SERIAL1 = "# source: test\n# <provider-as>|<customer-as>|-1\n4837|131279|-1\n1239|4837|-1\n1239|2914|0\n"
SERIAL2 = "# serial-2 20151001\n4837|131279|-1|bgp\n1239|2914|0|mlp\n"

#: The Tier-1 clique CAIDA published for 2015 (docs/relationships.md).
KNOWN_CLIQUE_2015 = {174, 209, 701, 1239, 1299, 2828, 2914, 3257, 3320, 3356, 3549, 5511, 6453, 6461, 6762,
                     7018}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    data = text.encode()
    if name.endswith(".gz"):
        data = gzip.compress(data)
    elif name.endswith(".bz2"):
        data = bz2.compress(data)
    path.write_bytes(data)
    return path


# -- files ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["20151001.as-rel.txt", "20151001.as-rel.txt.gz", "20151001.as-rel.txt.bz2"])
def test_serial1_plain_gz_bz2(tmp_path: Path, name: str) -> None:
    rels = load_as_rel(_write(tmp_path, name, SERIAL1))
    assert rels.relationship(131279, 4837) == "provider"
    assert rels.relationship(4837, 131279) == "customer"
    assert rels.relationship(2914, 1239) == "peer"
    assert rels.relationship(2914, 4837) == "unknown"
    assert rels.date == "2015-10-01"
    assert rels.source.endswith(name)
    assert rels.customer_cone(1239) == {1239, 4837, 131279}


def test_serial2_reads_the_fourth_field(tmp_path: Path) -> None:
    rels = load_as_rel(_write(tmp_path, "rels.txt", SERIAL2))
    assert rels.relationship(131279, 4837) == "provider"
    assert rels.relationship(1239, 2914) == "peer"
    assert rels.date == "2015-10-01"   # from the header comment


def test_save_is_serial1_and_round_trips(tmp_path: Path) -> None:
    rels = load_as_rel(_write(tmp_path, "a.txt", SERIAL1))
    out = io.StringIO()
    assert save_as_rel(rels, out) == 3
    lines = [ln for ln in out.getvalue().splitlines() if not ln.startswith("#")]
    assert sorted(lines) == sorted(["4837|131279|-1", "1239|4837|-1", "1239|2914|0"])
    again = load_as_rel(_write(tmp_path, "b.txt", out.getvalue()))
    assert list(again.links()) == list(rels.links())


@pytest.mark.parametrize("text, line", [
    ("4837|131279|-1\n4837|x|-1\n", 2),
    ("4837|131279|-1\n# ok\n4837|131279|7\n", 3),
    ("4837|131279\n", 1),
    ("4837|4837|0\n", 1),
])
def test_broken_line_is_one_error_with_line_and_offset(tmp_path: Path, text: str, line: int) -> None:
    path = _write(tmp_path, "bad.txt", text)
    with pytest.raises(TransitwatchError) as info:
        load_as_rel(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and f"line {line} " in message
    offset = sum(len(x) + 1 for x in text.split("\n")[:line - 1])
    assert f"(byte {offset})" in message


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(TransitwatchError, match="no AS relationships"):
        load_as_rel(_write(tmp_path, "empty.txt", "# only a comment\n"))
    with pytest.raises(TransitwatchError, match="no such file"):
        load_as_rel(tmp_path / "missing.txt")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"1|2|0\n\xff\xfe|1|0\n")
    with pytest.raises(TransitwatchError, match="not a text"):
        load_as_rel(binary)


# -- sanitising ----------------------------------------------------------------------------------------
def test_sanitise_path() -> None:
    assert sanitise_path("2914 1239 1239 1239 4837 131279") == (2914, 1239, 4837, 131279)
    assert sanitise_path("2914 1239 {4134,4809} 131279") == (2914, 1239)
    assert sanitise_path("2914 (65001 65002) 1239 4837") == (2914, 1239, 4837)
    assert sanitise_path("2914 1239 2914 4837") == "loop"
    assert sanitise_path("2914 64512 4837") == "reserved"
    assert sanitise_path("2914 23456 4837") == "reserved"
    assert sanitise_path("2914 6695 1239") == (2914, 1239)   # DE-CIX route server
    assert sanitise_path("2914 x") == "malformed"


# -- inference on a written topology -------------------------------------------------------------------
# Clique 1,2,3 (peers); 10 and 11 are customers of 1; 12 of 2; 13 of 3; 20 customer of 10 and 12;
# 21 customer of 11; 22 customer of 13; 10 and 13 peer. Vantage points at 1, 2, 3, 20 and 21.
PROVIDERS = {10: {1}, 11: {1}, 12: {2}, 13: {3}, 20: {10, 12}, 21: {11}, 22: {13}, 30: {20}, 31: {22}}
PEERS = {(1, 2), (1, 3), (2, 3), (10, 13)}


def _valley_free_paths(vps: list[int]) -> list[str]:
    """Every loop-free valley-free path from each vantage point to each AS (the truth's routes)."""
    ases = set(PROVIDERS) | {p for ps in PROVIDERS.values() for p in ps}
    customers: dict[int, set[int]] = {}
    for c, ps in PROVIDERS.items():
        for p in ps:
            customers.setdefault(p, set()).add(c)
    peers: dict[int, set[int]] = {}
    for a, b in PEERS:
        peers.setdefault(a, set()).add(b)
        peers.setdefault(b, set()).add(a)
    out: list[str] = []

    def walk(path: list[int], phase: int) -> None:
        out.append(" ".join(map(str, path)))
        here = path[-1]
        steps = []
        if phase == 0:
            steps += [(p, 0) for p in PROVIDERS.get(here, ())] + [(p, 1) for p in peers.get(here, ())]
        steps += [(c, 1) for c in customers.get(here, ())]
        for nxt, ph in steps:
            if nxt not in path:
                walk(path + [nxt], ph)

    for vp in vps:
        walk([vp], 0)
    assert {int(p.split()[-1]) for p in out} == ases
    return [p for p in out if " " in p]


def test_inference_recovers_a_written_topology() -> None:
    paths = PathSet.of(_valley_free_paths([1, 2, 3, 20, 21, 30, 31]))
    rels, stats = infer_relationships(paths, source="written")
    assert set(rels.clique) == {1, 2, 3}
    for c, ps in PROVIDERS.items():
        for p in ps:
            assert rels.relationship(c, p) == "provider", (c, p, rels.step.get((min(c, p), max(c, p))))
    for a, b in PEERS:
        assert rels.relationship(a, b) == "peer", (a, b)
    assert stats.valley_free_share == 1.0
    assert all(v == 1.0 for v in rels.confidence.values())


def test_clique_can_be_given() -> None:
    paths = PathSet.of(_valley_free_paths([20, 30]))
    rels, stats = infer_relationships(paths, clique=[1, 2, 3])
    assert stats.clique_source == "given" and set(rels.clique) <= {1, 2, 3}


def test_serial1_header_names_a_given_clique_once_and_truly() -> None:
    # The CLI's header says "clique (given)"; a second "inferred clique" line would be untrue.
    paths = PathSet.of(_valley_free_paths([20, 30]))
    rels, stats = infer_relationships(paths, clique=[1, 2, 3])
    out = io.StringIO()
    save_as_rel(rels, out, header=(f"clique ({stats.clique_source}): " + " ".join(map(str, rels.clique)),))
    lines = [line for line in out.getvalue().splitlines() if "clique" in line]
    assert len(lines) == 1 and lines[0].startswith("# clique (given):"), lines
    out = io.StringIO()
    save_as_rel(rels, out)     # without a header the clique is still written
    assert "# inferred clique: " in out.getvalue()


# -- real data -----------------------------------------------------------------------------------------
def _real(shared_data: Path) -> list[str]:
    return [str(shared_data / "mrt" / "bgpdump-corpus" / "input" / "updates.et-header.2015.gz"),
            *sorted(str(p) for p in (shared_data / "mrt" / "caida-2015").iterdir())]


@pytest.fixture(scope="module")
def real_2015() -> tw.Result:
    from conftest import MRT_DATA, SHARED_DATA

    if not (MRT_DATA / "bgpdump-corpus").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (CI always has it)")
    return tw.relationships(_real(SHARED_DATA))


def test_real_2015_clique_is_tier1_and_kp_upstream_is_provider(real_2015: tw.Result) -> None:
    rels = real_2015.rels
    assert len(rels.clique) >= 3
    assert set(rels.clique) <= KNOWN_CLIQUE_2015
    # The paths the issue names: 2914 1239 4837 131279.
    assert rels.relationship(131279, 4837) == "provider"
    assert rels.relationship(4837, 1239) == "provider"
    # Tier-1s have no providers among each other.
    for a, b in itertools.permutations(rels.clique, 2):
        assert rels.relationship(a, b) in ("peer", "unknown")
    assert real_2015.stats.valley_free_share > 0.9
    assert real_2015.stats.discarded.get("loop", 0) > 0   # real tables have loops; they are counted
    assert rels.date == "2015-04-01"   # the data's own date (the earliest file)


def test_real_tables_of_three_collectors(shared_data: Path) -> None:
    # Multi-peer update files: RIS rrc06 and RouteViews jinx (many vantage points).
    files = sorted(str(p) for p in (shared_data / "mrt" / "caida-2015").iterdir())
    result = tw.relationships(files)
    assert result.rels.counts()["links"] > 1000
    assert set(result.rels.clique) <= KNOWN_CLIQUE_2015 | {6939}
    frame = result.to_pandas()
    assert list(frame.columns) == ["as1", "as2", "relationship", "type", "confidence", "step"]
    assert set(frame["relationship"]) <= {-1, 0}
    assert frame["confidence"].between(0, 1).all()


@pytest.fixture(scope="module")
def real_pathsets() -> list[PathSet]:
    """The distinct paths of the 2015 full table and of the two multi-peer update files."""
    from conftest import MRT_DATA, SHARED_DATA
    from transitwatch.sources.files import read_files

    if not (MRT_DATA / "bgpdump-corpus").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (CI always has it)")
    files = _real(SHARED_DATA)
    return [PathSet.of_observations(read_files(part)) for part in (files[:1], files[1:])]


def test_counting_batches_equals_counting_observations(shared_data: Path) -> None:
    # The stream's batches are counted when it has them; one observation at a time gives the same
    # pairs in the same order (later steps are order-sensitive), on three files merged by time.
    from transitwatch.engine.sources import FileSource
    from transitwatch.sources.files import read_files

    files = _real(shared_data)
    by_batch = PathSet.of_observations(FileSource(files).observations())
    one_by_one = PathSet.of_observations(o for o in read_files(files))
    assert list(by_batch.counts.items()) == list(one_by_one.counts.items())
    assert (by_batch.routes, by_batch.vantage_points, by_batch.first_time) == (
        one_by_one.routes, one_by_one.vantage_points, one_by_one.first_time)
    assert by_batch.routes > 500_000 and len(by_batch.vantage_points) >= 3   # three files merged


def _sanitise_one_by_one(counts: dict[str, int]) -> tuple[dict[tuple[int, ...], int], dict[str, int]]:
    """The straightforward way: sanitise_path on each distinct text, in order."""
    weights: dict[tuple[int, ...], int] = {}
    discarded: dict[str, int] = {}
    for text, n in counts.items():
        cleaned = sanitise_path(text)
        if isinstance(cleaned, str):
            discarded[cleaned] = discarded.get(cleaned, 0) + n
        else:
            weights[cleaned] = weights.get(cleaned, 0) + n
    return weights, discarded


def test_bulk_sanitising_equals_path_by_path(real_pathsets: list[PathSet]) -> None:
    # The inference sanitises every distinct path at once (a fast way for plain paths): same
    # cleaned paths, same order (later steps are order-sensitive), same counts and reasons.
    written = PathSet.of(["1 2 2 3", "1 6695 2 3", "1 2 1", "1 64512 3", "1 {2,3}", "1 (65001 65002) 2 3",
                          "6695 6695", "4 5 5 6", "1 2 3", "7 23456 8", "9 10 9 9", "1 x 2"])
    reasons: set[str] = set()
    for paths in [written, *real_pathsets]:
        weights, discarded = asrank._sanitise_all(paths.counts, ROUTE_SERVER_ASNS)
        want_weights, want_discarded = _sanitise_one_by_one(paths.counts)
        assert list(weights.items()) == list(want_weights.items())
        assert dict(discarded) == want_discarded
        reasons |= set(want_discarded)
    assert reasons == {"empty", "loop", "reserved", "malformed"}   # every way out was taken
    assert real_pathsets[0].routes > 500_000   # the full table was used


def _degrees_walked(paths: list[tuple[int, ...]]) -> tuple[dict[int, set[int]], dict[int, int], list[int]]:
    adj: dict[int, set[int]] = {}
    transit: dict[int, set[int]] = {}
    for hops in paths:
        for a, b in zip(hops, hops[1:], strict=False):
            adj.setdefault(a, set()).add(b)
            adj.setdefault(b, set()).add(a)
        for x, y, z in zip(hops, hops[1:], hops[2:], strict=False):
            transit.setdefault(y, set()).update((x, z))
    tdeg = {a: len(transit.get(a, ())) for a in adj}
    return adj, tdeg, sorted(adj, key=lambda a: (-tdeg[a], -len(adj[a]), a))


def _gao_votes_walked(
    paths: list[tuple[int, ...]], kind: dict[tuple[int, int], int], position: dict[int, int],
    skip_vps: set[int],
) -> list[tuple[tuple[int, int], int, int]]:
    votes: dict[tuple[int, int], list[int]] = {}
    for hops in paths:
        pairs = enumerate(zip(hops, hops[1:], strict=False))
        links = [(i, (a, b) if a < b else (b, a)) for i, (a, b) in pairs]
        peak = next((i for i, key in links if kind.get(key) == 0
                     or (kind.get(key) == -1) == (key[0] == hops[i]) and key in kind), -1)
        if peak < 0:
            peak = hops.index(min(hops, key=position.__getitem__))
        for i, key in links:
            if key in kind or (i == 0 and hops[0] in skip_vps):
                continue
            provider = hops[i] if i >= peak else hops[i + 1]
            votes.setdefault(key, [0, 0])[0 if provider == key[0] else 1] += 1
    return [(k, lo, hi) for k, (lo, hi) in sorted(votes.items(), key=lambda kv: (position[kv[0][0]], kv[0]))]


def test_array_steps_equal_walking_the_paths(real_pathsets: list[PathSet]) -> None:
    # Degrees, rank, the top-down order of triplets and Gao's votes come from numpy arrays over
    # all hops; walking the paths one by one gives the same, on a written topology and on the real
    # tables (with part of the links known, as when Gao's step runs), and one-hop paths (no link).
    written = PathSet.of(["5", *_valley_free_paths([20, 30]), "20 1 2 5", "30 3 1 4 8", "6"])
    for paths in [written, *real_pathsets]:
        weights, _ = asrank._sanitise_all(paths.counts, ROUTE_SERVER_ASNS)
        plist = list(weights)
        flat = asrank._FlatPaths(plist)
        adj, tdeg, rank = flat.degrees()
        want_adj, want_tdeg, want_rank = _degrees_walked(plist)
        assert list(adj) == list(want_adj) and adj == want_adj
        assert tdeg == want_tdeg and rank == want_rank
        position = {a: i for i, a in enumerate(rank)}
        links = sorted({(min(a, b), max(a, b)) for h in plist for a, b in zip(h, h[1:], strict=False)})
        kind = {key: (-1, 0, 1)[i % 3] for i, key in enumerate(links) if i % 4 == 0}
        used = list(range(0, len(plist), 2)) + list(range(1, len(plist), 6))
        vps = {h[0] for h in plist[:50]} - {rank[0]}
        trips: dict[int, set[tuple[int, int]]] = {}
        for i in sorted(used):
            h = plist[i]
            for x, y, z in zip(h, h[1:], h[2:], strict=False):
                trips.setdefault(y, set()).add((x, z))
        walked = [(x, y, z) for y in rank
                  for x, z in sorted(trips.get(y, ()), key=lambda t: (position[t[1]], t[0]))]
        assert flat.triplets_in_rank_order(sorted(used), position) == walked
        votes = flat.gao_votes(sorted(used), kind, position, vps)
        assert votes == _gao_votes_walked([plist[i] for i in sorted(used)], kind, position, vps)
        assert len(votes) > (100 if paths.routes > 1000 else 3)


def test_cli_serial1_and_json(shared_data: Path, tmp_path: Path) -> None:
    files = sorted(str(p) for p in (shared_data / "mrt" / "caida-2015").iterdir())
    out = tmp_path / "rels.txt"
    run = subprocess.run([sys.executable, "-m", "transitwatch", "relationships", *files, "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("# source: inferred (AS-Rank)")
    body = [ln for ln in lines if not ln.startswith("#")]
    assert body and all(re.fullmatch(r"\d+\|\d+\|(-1|0)", ln) for ln in body)
    assert load_as_rel(out).counts()["links"] == len(body)   # our own output reads back
    run = subprocess.run([sys.executable, "-m", "transitwatch", "relationships", "--json", *files],
                         capture_output=True, text=True, timeout=120)
    doc = json.loads(run.stdout)
    assert {"source", "date", "clique", "links", "inference"} <= set(doc)
    assert {"as1", "as2", "relationship", "confidence"} <= set(doc["links"][0])


def test_cli_empty_input_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mrt"
    empty.write_bytes(b"")
    run = subprocess.run([sys.executable, "-m", "transitwatch", "relationships", str(empty)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert run.stderr.strip().count("\n") == 0 and "empty" in run.stderr and str(empty) in run.stderr
    assert "Traceback" not in run.stderr


def test_relationships_object_api() -> None:
    rels = Relationships(source="x")
    rels.add(1, 2, -1)
    rels.add(1, 2, 0)   # re-adding replaces
    assert rels.relationship(1, 2) == "peer" and rels.counts()["p2c"] == 0


@pytest.mark.parametrize("cut", [None, 0.5, -1.0])
def test_paths_counted_during_a_replay_equal_a_second_read(shared_data: Path, cut: float | None) -> None:
    """The country view counts the paths while it builds its state (one decode): the inference
    input must be the one a separate read up to the same moment gives."""
    from transitwatch.state.table import RoutingState

    path = str(shared_data / "mrt" / "bgpdump-corpus" / "input" / "updates.20071015.1505.gz")
    times = [o.time for o in tw.files(path).observations()]
    until = None if cut is None else (times[0] - 1 if cut < 0 else times[int(len(times) * cut)])
    tally = PathSet.tally(tw.files(path).observations(), until)
    state = RoutingState().replay(tally, until=until)
    stream = tw.files(path).observations()
    if until is not None:
        stream = itertools.takewhile(lambda o: o.time <= until, stream)
    again = PathSet.of_observations(stream)
    got = tally.pathset()
    assert tally.complete
    assert got.counts == again.counts and got.routes == again.routes
    assert got.vantage_points == again.vantage_points and got.first_time == again.first_time
    assert (got.routes > 0) == (cut is None or cut > 0) and (state.time is not None) == (got.routes > 0)


def test_json_output_has_one_link_per_line_and_parses_back() -> None:
    import io

    from transitwatch.cli.dependence import _dump_links_json

    links = [{"as1": 1, "as2": 2, "relationship": 0}, {"as1": 1, "as2": 3, "relationship": -1}]
    doc = {"source": "x", "clique": [1, 2], "links": links, "after": {"k": 1}}
    out = io.StringIO()
    _dump_links_json(doc, out)
    assert json.loads(out.getvalue()) == doc
    assert sum(line.lstrip().startswith('{"as1"') for line in out.getvalue().splitlines()) == 2
    empty = io.StringIO()
    _dump_links_json({**doc, "links": []}, empty)
    assert json.loads(empty.getvalue()) == {**doc, "links": []}
