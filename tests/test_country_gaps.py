"""Country answers inside gaps follow the AS rule: only tables whose collector's data covers the
moment count (a route is carried across a gap of at most MAX_CARRY); known truth from the written
2017 scenario (AS4837 alone until 09:08, then AS20485 beside it for three of the four /24s)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

import transitwatch as tw
from transitwatch.cli.main import main
from transitwatch.engine import queries
from transitwatch.engine.queries import registry_of
from transitwatch.metrics.country import countries_report, country_upstreams
from transitwatch.scenarios.scenario import load_scenario
from transitwatch.sources.files import read_files
from transitwatch.state.compact import CompactRoutingState
from transitwatch.state.known import known_tables
from transitwatch.times import parse_time


def at(hhmm: str) -> float:
    return parse_time(f"2017-10-01T{hhmm}Z")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The scenario as rrc00's files, and again as a second collector rrc01's (same story)."""
    base = tmp_path_factory.mktemp("kpgaps")
    scn = load_scenario("kp-2017-transtelecom")
    return {"rrc00": scn.write_mrt(base / "a"),
            # other jitter and churn: not the same bytes (a store keeps identical files once)
            "rrc01": dataclasses.replace(scn, collector="rrc01").write_mrt(base / "b", seed=20171002)}


def without(paths: list[Path], start: str, end: str) -> list[str]:
    """The files without the update files named from ``start`` to ``end`` (HHMM, inclusive)."""
    return [str(p) for p in paths
            if not (p.name.startswith("updates.") and start <= p.name.split(".")[2] <= end)]


def fast_upstreams(files: list[str], when: float) -> dict[str, Any]:
    return tw.country_upstreams("KP", tw.files(files), at=when).to_dict()


def replay_upstreams(files: list[str], when: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The replay path: a CompactRoutingState and the same rule over its tables."""
    stream = read_files(files)
    state = CompactRoutingState().replay(stream, until=when)
    state, block = known_tables(state, stream.coverage.settle(when), when)
    report = country_upstreams(state, "KP", registry_of(None))
    return report.to_dict(), block


def shares(doc: dict[str, Any]) -> list[tuple[int, float, int]]:
    return [(u["asn"], u["share"], u["peers"]) for u in doc["upstreams"]]


def test_inside_a_long_gap_nothing_is_known(written: dict[str, list[Path]]) -> None:
    full = [str(p) for p in written["rrc00"]]
    assert {u["asn"] for u in fast_upstreams(full, at("10:00"))["upstreams"]} == {4837, 20485}
    gap = without(written["rrc00"], "0905", "1055")   # no data from 09:05 to 11:00
    doc = fast_upstreams(gap, at("10:00"))
    assert doc["upstreams"] == [] and doc["prefixes"] == []
    assert doc["coverage"]["collectors"] == [] and doc["coverage"]["peers"] == 0
    assert doc["coverage"]["gaps"][0]["from"] == "2017-10-01T09:05:00Z"
    assert any(n.startswith("no data covers 2017-10-01T10:00:00Z") for n in doc["notices"])
    replay, block = replay_upstreams(gap, at("10:00"))
    assert replay["upstreams"] == [] and block["collectors"] == [] and "no data covers" in block["note"]
    # the same moment as the AS target answers it: no data covers it
    assert tw.upstreams("AS131279", tw.files(gap), at=at("10:00")).to_dict()["upstreams"] == []
    ranking = tw.countries(tw.files(gap), at=at("10:00"), workers=1).to_dict()
    assert ranking["countries"] == [] and ranking["coverage"]["collectors"] == []
    assert any(n.startswith("no data covers") for n in ranking["notices"])
    # after the long gap with no RIB dump since: the tables mix routes seen again with routes
    # last seen before it, unknown as a whole
    after = fast_upstreams(gap, at("11:30"))
    assert after["upstreams"] == [] and after["coverage"]["collectors"] == ["rrc00"]
    assert after["coverage"]["peers"] == 0 and after["coverage"]["unknown_peers"] >= 5
    assert "resumed after a gap" in after["coverage"]["note"]


def test_a_short_gap_is_carried(written: dict[str, list[Path]]) -> None:
    full = [str(p) for p in written["rrc00"]]
    gap = without(written["rrc00"], "0840", "0855")   # 20 minutes without data, < MAX_CARRY
    want = fast_upstreams(full, at("09:45"))
    got = fast_upstreams(gap, at("09:45"))
    assert {u["asn"] for u in got["upstreams"]} == {4837, 20485}
    assert shares(got) == shares(want) and got["coverage"]["collectors"] == ["rrc00"]
    assert "unknown_peers" not in got["coverage"] and not got["notices"]
    replay, block = replay_upstreams(gap, at("09:45"))
    assert shares(replay) == shares(got) and block["peers"] == got["coverage"]["peers"]
    # inside the short gap itself no data covers the moment: as for the AS target, unknown
    inside = fast_upstreams(gap, at("08:50"))
    assert inside["upstreams"] == [] and inside["coverage"]["collectors"] == []
    assert tw.upstreams("AS131279", tw.files(gap), at=at("08:50")).to_dict()["upstreams"] == []


def test_one_of_two_collectors_in_a_gap(written: dict[str, list[Path]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    only_a = [str(p) for p in written["rrc00"]]
    both = only_a + without(written["rrc01"], "0905", "1055")
    when = at("10:00")
    want = fast_upstreams(only_a, when)
    got = fast_upstreams(both, when)
    # only rrc00's peers count: the same upstreams, shares and peer counts as rrc00 alone
    assert shares(got) == shares(want) and {u["asn"] for u in got["upstreams"]} == {4837, 20485}
    cov = got["coverage"]
    assert cov["collectors"] == ["rrc00"] and [g["collector"] for g in cov["gaps"]] == ["rrc01"]
    assert cov["peers"] == want["coverage"]["peers"] and cov["unknown_peers"] == want["coverage"]["peers"]
    assert "rrc01" in cov["note"] and cov["note"] in got["notices"]
    replay, block = replay_upstreams(both, when)
    assert shares(replay) == shares(got) and block["collectors"] == ["rrc00"]
    # the ranking: the snapshot, the parallel per-collector replay and the compact replay agree
    rows = tw.countries(tw.files(both), at=when, workers=1).to_dict()
    kp = next(r for r in rows["countries"] if r["country"] == "KP")
    alone = next(r for r in tw.countries(tw.files(only_a), at=when, workers=1).rows if r.country == "KP")
    assert kp == alone.to_dict() and rows["coverage"]["collectors"] == ["rrc00"]
    parallel = tw.countries(tw.files(both), at=when, workers=2).to_dict()
    monkeypatch.setattr(queries, "SNAPSHOT_MAX_INPUT_BYTES", 0)
    compact = tw.countries(tw.files(both), at=when, workers=1).to_dict()
    for other in (parallel, compact):
        assert other["countries"] == rows["countries"] and other["coverage"] == rows["coverage"]
    # the reference: a replay of everything, tables filtered by the same rule
    stream = read_files(both)
    replayed = CompactRoutingState().replay(stream, until=when)
    state, _ = known_tables(replayed, stream.coverage.settle(when), when)
    assert [r.to_dict() for r in countries_report(state, registry_of(None)).rows] == rows["countries"]


def test_cli_says_which_collectors_had_no_data(written: dict[str, list[Path]],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    both = [str(p) for p in written["rrc00"]] + without(written["rrc01"], "0905", "1055")
    assert main(["upstreams", "--country", "KP", *both, "--at", "2017-10-01T10:00Z", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["coverage"]) >= {"peers", "collectors", "gaps"} and doc["upstreams"]
    assert main(["countries", *both, "--at", "2017-10-01T10:00Z"]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "peer(s) left out" in text and "rrc01 (no data from 2017-10-01T09:05:00Z" in text
    gap = without(written["rrc00"], "0905", "1055")
    assert main(["upstreams", "--country", "KP", *gap, "--at", "2017-10-01T10:00Z"]) == 0
    captured = capsys.readouterr()
    assert "no data covers 2017-10-01T10:00:00Z" in captured.out + captured.err


def test_hegemony_resilience_and_events_of_a_country_follow_the_rule(written: dict[str, list[Path]]) -> None:
    only_a = [str(p) for p in written["rrc00"]]
    both = only_a + without(written["rrc01"], "0905", "1055")
    when = at("10:00")
    # rrc01's routes last seen before its gap are not counted: the answer is rrc00's alone
    alone = tw.hegemony(None, tw.files(only_a), country="KP", at=when).to_dict()
    mixed = tw.hegemony(None, tw.files(both), country="KP", at=when).to_dict()
    assert mixed["hegemony"] == alone["hegemony"] and {h["asn"] for h in alone["hegemony"]} >= {4837, 20485}
    fail = tw.resilience(None, tw.files(both), country="KP", at=when, fail=[4837]).to_dict()
    assert fail["prefixes"] == tw.resilience(None, tw.files(only_a), country="KP", at=when,
                                             fail=[4837]).to_dict()["prefixes"]
    # events: the view knows the files' gaps (no confirmation by duration across rrc01's)
    result = tw.country_events("KP", tw.files(both))
    assert result.view.coverage is not None
    assert [g.collector for g in result.view.coverage.gaps()] == ["rrc01"]
    assert 20485 in {e.upstream for e in result.changes.events}


def test_store_and_api_answer_alike(written: dict[str, list[Path]], tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from transitwatch.api.app import create_app

    only_a = [str(p) for p in written["rrc00"]]
    both = only_a + without(written["rrc01"], "0905", "1055")
    db = tmp_path / "kp.duckdb"
    tw.ingest(db, both)
    when = "2017-10-01T10:00:00Z"
    files = tw.countries(tw.files(both), at=when, workers=1).to_dict()
    stored = tw.countries(tw.store(db), at=when).to_dict()
    assert stored["countries"] == files["countries"] and stored["coverage"]["collectors"] == ["rrc00"]
    assert stored["coverage"]["unknown_peers"] == files["coverage"]["unknown_peers"] > 0
    client = TestClient(create_app(db), base_url="http://127.0.0.1")
    ranking = client.get("/api/countries", params={"at": when}).json()
    assert ranking["countries"] == files["countries"][:ranking["limit"]]
    assert ranking["coverage"]["collectors"] == ["rrc00"] and "rrc01" in ranking["notices"][0]
    kp = client.get("/api/upstreams/KP", params={"at": when}).json()
    assert shares(kp) == shares(fast_upstreams(only_a, at("10:00")))
    assert kp["coverage"]["collectors"] == ["rrc00"] and kp["coverage"]["unknown_peers"] > 0


def test_a_live_collector_quiet_at_the_end_still_covers(tmp_path: Path) -> None:
    # one connection carries every collector: rrc01's last message 10 s before rrc00's does not
    # make it "no data" at the end (its tables would be left out of every country answer)
    from transitwatch.observation import Observation
    from transitwatch.store import Store
    from transitwatch.store.coverage import stored_coverage
    from transitwatch.store.live import LiveWriter

    def route(t: float, collector: str, ip: str) -> Observation:
        return Observation(time=t, kind="announce", peer_ip=ip, peer_asn=3333, prefix="175.45.176.0/24",
                           as_path="3333 4837 131279", origin="IGP", next_hop=ip, collector=collector)

    with Store(tmp_path / "live.duckdb") as store:
        writer = LiveWriter(store)
        writer.begin_segment("ris-live:test", 1000.0)
        writer.write([route(1000.0, "rrc01", "192.0.2.2"), route(1010.0, "rrc00", "192.0.2.1")])
        cov = stored_coverage(store)
        assert cov.covering(1010.0) == ["rrc00", "rrc01"]
        ranking = queries.countries_of_store(store, registry_of(None)).to_dict()
        assert ranking["coverage"]["collectors"] == ["rrc00", "rrc01"] and ranking["coverage"]["peers"] == 2
