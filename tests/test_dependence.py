"""Hegemony and what-if resilience on the 2017 reconstruction (known truth: AS20485 appears at
09:08 UTC for three of the four /24s) and on the real 2015 table."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import transitwatch as tw
from transitwatch.errors import TransitwatchError
from transitwatch.metrics.hegemony import trimmed_mean
from transitwatch.metrics.resilience import PrefixFate, address_share
from transitwatch.scenarios.scenario import load_scenario

BEFORE = "2017-10-01T09:00:00Z"
T0908 = datetime(2017, 10, 1, 9, 8, tzinfo=UTC).timestamp()
KP = ["175.45.176.0/24", "175.45.177.0/24", "175.45.178.0/24", "175.45.179.0/24"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    sc = load_scenario("kp-2017-transtelecom")
    return [str(p) for p in sc.write_mrt(tmp_path_factory.mktemp("kp2017"))]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "transitwatch", *args], capture_output=True, text=True,
                          timeout=120)


# -- hegemony ------------------------------------------------------------------------------------------
def test_trimmed_mean_drops_ten_percent_each_end() -> None:
    assert trimmed_mean([0.0] + [0.5] * 8 + [1.0]) == 0.5
    assert trimmed_mean([1.0, 0.0]) == 0.5          # fewer than 10 values: nothing to trim
    assert trimmed_mean([]) == 0.0


def test_hegemony_of_4837_falls_at_0908_and_20485_rises(files: list[str]) -> None:
    result = tw.hegemony("AS131279", files, every="30m")
    times = [t for t, _, _ in result.steps]
    before = [i for i, t in enumerate(times) if t < T0908]
    after = [i for i, t in enumerate(times) if t > T0908 + 600]
    assert before and after
    for i in before:
        assert result.score(4837, i) == 1.0 and result.score(20485, i) == 0.0
    for i in after:
        assert result.score(4837, i) < 0.8
        assert result.score(20485, i) > 0.2
    assert 131279 not in {s.asn for s in result.scores}   # the target itself is not listed
    frame = result.to_pandas()
    assert list(frame.columns) == ["at", "asn", "name", "score", "peers"]
    assert str(frame["at"].dtype).startswith("datetime64")
    doc = result.to_dict()
    assert doc["target"] == "AS131279" and len(doc["series"]) == len(times)


def test_hegemony_cli_json_shape(files: list[str]) -> None:
    run = _cli("hegemony", "AS131279", *files, "--at", BEFORE, "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["target"] == "AS131279" and doc["at"] == BEFORE
    top = doc["hegemony"][0]
    assert top["asn"] == 4837 and top["score"] == 1.0 and "name" in top


def test_hegemony_of_a_country_weights_by_addresses(files: list[str]) -> None:
    result = tw.hegemony(None, files, country="KP", at="2017-10-01T10:00:00Z")
    assert result.target == "KP"
    # Three of four /24s also through AS20485 at some vantage points: 4837 stays above 20485.
    assert 0 < result.score(20485) < result.score(4837) < 1.0


# -- resilience ----------------------------------------------------------------------------------------
def test_before_0908_losing_4837_cuts_north_korea_off(files: list[str]) -> None:
    for model in ("observed", "valley-free"):
        result = tw.resilience("AS131279", files, fail=["AS4837"], at=BEFORE, model=model)
        assert result.reachable_share == 0.0, model
        assert [f.prefix for f in result.outcome.prefixes] == KP
        assert not any(f.reachable for f in result.outcome.prefixes)


def test_after_0908_three_of_four_stay_reachable_through_20485(files: list[str]) -> None:
    for model in ("observed", "valley-free"):
        result = tw.resilience("AS131279", files, fail=[4837], model=model)
        fates = {f.prefix: f for f in result.outcome.prefixes}
        assert [p for p in KP if fates[p].reachable] == ["175.45.176.0/24", "175.45.178.0/24",
                                                          "175.45.179.0/24"], model
        assert all(fates[p].via == [20485] for p in KP if fates[p].reachable)
        assert result.reachable_share == 0.75
        doc = result.to_dict()
        assert doc["model"] == model and doc["failed"] == [4837]
        assert {"prefix", "reachable", "via", "peers"} <= set(doc["prefixes"][0])
    assert tw.resilience("AS131279", files, fail=[4837]).to_dict()["relationships"] is None
    vf = tw.resilience("AS131279", files, fail=[4837], model="valley-free").to_dict()
    assert vf["relationships"]["source"].startswith("inferred (AS-Rank)")


def test_spof_before_and_after(files: list[str]) -> None:
    before = tw.resilience("AS131279", files, spof=True, at=BEFORE)
    assert [r["asn"] for r in before.spof] == [4837]
    after = tw.resilience("AS131279", files, spof=True)
    assert after.spof == []


def test_resilience_with_a_caida_file(files: list[str], tmp_path: Path) -> None:
    rel = tmp_path / "20171001.as-rel.txt"
    rel.write_text("# test\n4837|131279|-1\n20485|131279|-1\n3356|4837|-1\n3356|20485|-1\n1299|3356|0\n"
                   "174|3356|0\n2914|3356|0\n3257|3356|0\n6939|3356|0\n6453|3356|0\n")
    result = tw.resilience("AS131279", files, fail=[4837], model="valley-free", as_rel=str(rel))
    assert result.relationships["source"] == str(rel)
    assert result.reachable_share == 0.75   # 177 was never announced to TTK
    # The country form of tw.upstreams hands the file on too (as tw.events does).
    kp = tw.upstreams(None, files, country="KP", as_rel=str(rel)).to_dict()
    assert kp["relationships"]["source"] == str(rel)
    assert {u["asn"]: u["relationship"] for u in kp["upstreams"]} == {4837: "provider", 20485: "provider"}


def test_bad_input_is_one_line(files: list[str], tmp_path: Path) -> None:
    with pytest.raises(TransitwatchError, match="AS64999 is on no route"):
        tw.resilience("AS131279", files, fail=["AS64999"])
    with pytest.raises(TransitwatchError, match="not an AS number"):
        tw.resilience("AS131279", files, fail=["China"])
    with pytest.raises(TransitwatchError, match="nothing to fail"):
        tw.resilience("AS131279", files)
    with pytest.raises(TransitwatchError, match="unknown model"):
        tw.resilience("AS131279", files, fail=[4837], model="magic")
    broken = tmp_path / "broken.as-rel.txt"
    broken.write_text("4837|131279|-1\nnot a line\n")
    for args in (["resilience", "AS131279", *files, "--fail", "AS64999"],
                 ["resilience", "AS131279", *files, "--fail", "4837", "--model", "valley-free",
                  "--as-rel", str(broken)],
                 ["hegemony", "AS131279"]):
        run = _cli(*args)
        assert run.returncode != 0
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("transitwatch: error:"), run.stderr
    run = _cli("resilience", "AS131279", *files, "--fail", "4837", "--model", "valley-free",
               "--as-rel", str(broken))
    assert f"{broken}: line 2 (byte 15)" in run.stderr


def test_address_share_reports_families_apart() -> None:
    fates = [PrefixFate("192.0.2.0/24", True, [1], 1, 1), PrefixFate("198.51.100.0/24", False, [], 0, 1),
             PrefixFate("2001:db8::/32", False, [], 0, 1)]
    assert address_share(fates) == {"ipv4": 0.5, "ipv6": 0.0}


def test_real_2015_table(shared_data: Path) -> None:
    path = str(shared_data / "mrt" / "bgpdump-corpus" / "input" / "updates.et-header.2015.gz")
    result = tw.resilience("AS131279", path, spof=True)
    # One vantage point (PCH AS3856), one path 2914 1239 4837 131279: each AS on it is a SPOF.
    assert [r["asn"] for r in result.spof] == [1239, 2914, 4837]
    heg = tw.hegemony("AS131279", path)
    assert {s.asn: s.score for s in heg.scores} == {1239: 1.0, 2914: 1.0, 4837: 1.0}


def test_upstreams_and_country_upstreams_carry_relationships(files: list[str]) -> None:
    up = tw.upstreams("AS131279", files).to_dict()
    assert {u["asn"]: u["relationship"] for u in up["upstreams"]} == {4837: "provider", 20485: "provider"}
    assert up["scope"] == "own" and up["relationships"]["source"].startswith("inferred (AS-Rank)")
    kp = tw.country_upstreams("KP", files).to_dict()
    assert {u["asn"]: u["relationship"] for u in kp["upstreams"]} == {4837: "provider", 20485: "provider"}
    assert kp["relationships"]["source"].startswith("inferred (AS-Rank)")
    ev = tw.events("AS131279", files, detect="upstream").to_dict()
    new = [e for e in ev["events"] if e["type"] == "new_upstream"]
    assert [(e["upstream"], e["relationship"]) for e in new] == [(20485, "provider")]
    kp_events = tw.events(None, files, country="KP").to_dict()
    assert [(e["upstream"], e["relationship"]) for e in kp_events["events"]
            if e["type"] == "new_upstream"] == [(20485, "provider")]


def test_events_infer_from_the_read_they_make(files: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # With the outage detector (the default "all") the read is unfiltered: the paths for the
    # inference are counted in it, not read again; the answer is the one a second read gives.
    from transitwatch.engine import dependence
    from transitwatch.metrics.asrank import PathSet

    def changes(doc: dict[str, Any]) -> list[dict[str, Any]]:
        return [e for e in doc["events"] if e["type"] in ("new_upstream", "lost_upstream")]

    dependence._CACHE.clear()
    second_read = tw.events("AS131279", files, detect="upstream").to_dict()   # filtered + a second read
    dependence._CACHE.clear()
    reads: list[int] = []
    real = PathSet.of_observations.__func__   # type: ignore[attr-defined]
    monkeypatch.setattr(PathSet, "of_observations",
                        classmethod(lambda cls, *a, **k: reads.append(1) or real(cls, *a, **k)))
    one_read = tw.events("AS131279", files).to_dict()
    kp = tw.events(None, files, country="KP").to_dict()   # the country view reads every record too
    assert reads == []
    assert changes(one_read) == changes(second_read) and changes(one_read)
    assert [(e["upstream"], e["relationship"]) for e in changes(one_read)
            if e["type"] == "new_upstream"] == [(20485, "provider")]
    assert one_read["relationships"] == second_read["relationships"] == kp["relationships"]
    assert [(e["upstream"], e["relationship"]) for e in changes(kp) if e["type"] == "new_upstream"] == [
        (20485, "provider")]


def test_own_address_space_and_transit_on_the_2015_table(shared_data: Path) -> None:
    path = str(shared_data / "mrt" / "bgpdump-corpus" / "input" / "updates.et-header.2015.gz")
    own = tw.upstreams("AS3356", path)
    transit = tw.upstreams("AS3356", path, transit=True)
    # Routes where AS3356 is only transit for others no longer make upstreams of it.
    assert own.report.asns < transit.report.asns
    assert sum(len(u.prefixes) for u in own.report.upstreams) < sum(
        len(u.prefixes) for u in transit.report.upstreams)
    assert own.to_dict()["scope"] == "own" and transit.to_dict()["scope"] == "transit"
    rels = {u.asn: u.relationship for u in own.report.upstreams}
    assert rels[2914] == "peer"          # two clique members: settlement-free, not an upstream
    assert "provider" not in rels.values()   # a Tier-1 has no provider


def test_registry_update_fetches_caida_month_nearest_and_upstreams_use_it(
        files: list[str], tmp_path: Path) -> None:
    import bz2
    import os

    from local_http import LocalHTTPServer, ServedFile

    body = bz2.compress(b"# serial-1 test\n4837|131279|-1\n20485|131279|0\n3356|4837|-1\n")
    served = {"/datasets/as-relationships/serial-1/20171001.as-rel.txt.bz2": ServedFile(body),
              "/datasets/as-relationships/serial-1/20151001.as-rel.txt.bz2": ServedFile(b"<html>nope</html>")}
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with LocalHTTPServer(served) as server:
        mirror = server.url("/")
        ok = subprocess.run([sys.executable, "-m", "transitwatch", "registry", "update", "--as-rel",
                             "--at", "2017-09-25", "--mirror", mirror],
                            capture_output=True, text=True, timeout=60, env=env)
        assert ok.returncode == 0, ok.stderr
        assert "20171001.as-rel.txt.bz2" in ok.stdout   # 25 September: October's file is nearest
        bad = subprocess.run([sys.executable, "-m", "transitwatch", "registry", "update", "--as-rel",
                              "--at", "2015-10-02", "--mirror", mirror],
                             capture_output=True, text=True, timeout=60, env=env)
        assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    run = subprocess.run([sys.executable, "-m", "transitwatch", "upstreams", "AS131279", *files, "--json"],
                         capture_output=True, text=True, timeout=120, env=env)
    doc = json.loads(run.stdout)
    assert doc["relationships"]["source"].endswith("20171001.as-rel.txt.bz2")
    assert doc["relationships"]["days_from_data"] == 0.3   # the data starts 2017-10-01 08:00
    assert {u["asn"]: u["relationship"] for u in doc["upstreams"]} == {4837: "provider", 20485: "peer"}


def test_a_moment_no_data_covers_is_unknown_not_no_route(files: list[str]) -> None:
    # The scenario starts at 08:00; 07:00 is before the data: "no route" there would be untrue.
    early = "2017-10-01T07:00:00Z"
    heg = tw.hegemony("AS131279", files, at=early)
    assert heg.scores == []
    assert any(n.startswith("no data covers 2017-10-01T07:00:00Z") for n in heg.notices), heg.notices
    run = _cli("hegemony", "AS131279", *files, "--at", early)
    assert run.returncode == 0
    assert "no data covers" in run.stderr and "no route to AS131279" not in run.stderr, run.stderr
    with pytest.raises(TransitwatchError, match="^no data covers 2017-10-01T07:00:00Z"):
        tw.resilience("AS131279", files, fail=[4837], at=early)
    # inside the data the answer is unchanged and carries no such note
    assert not any("no data covers" in n for n in tw.hegemony("AS131279", files, at=BEFORE).notices)


def test_a_country_code_as_target_is_country(files: list[str]) -> None:
    # `hegemony KP FILES` was "unknown target 'KP'"; it is `--country KP`, as for upstreams/events.
    for cmd in (["hegemony"], ["resilience", "--spof"]):
        by_flag = _cli(*cmd, "--country", "KP", *files, "--at", BEFORE, "--json")
        as_target = _cli(*cmd, "kp", *files, "--at", BEFORE, "--json")
        assert by_flag.returncode == 0 and as_target.returncode == 0, as_target.stderr
        assert json.loads(as_target.stdout) == json.loads(by_flag.stdout)
    run = _cli("hegemony", "ZZ", *files)
    assert run.returncode == 2 and "unknown country code 'ZZ'" in run.stderr
