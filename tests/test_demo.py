"""`make demo`: the real pipeline on the 2017-10-01 reconstruction finds exactly the one change."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from transitwatch.scenarios.demo import DemoResult, main, print_demo, run_demo
from transitwatch.scenarios.scenario import load_scenario
from transitwatch.sources.mrt import read_mrt
from transitwatch.times import iso_local, iso_utc

T0908 = datetime(2017, 10, 1, 9, 8, tzinfo=UTC).timestamp()
ROOT = Path(__file__).resolve().parent.parent
SCENARIO_FILE = ROOT / "src" / "transitwatch" / "scenarios" / "kp-2017-transtelecom.toml"


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(tmp_path_factory.mktemp("demo-out"))


def ttk_announcements(paths: list[Path]) -> list[tuple[float, str]]:
    """(time, peer) of every announcement of AS131279's prefixes through AS20485, from the files."""
    out = []
    for path in paths:
        for o in read_mrt(path):
            if o.kind == "announce" and o.prefix.startswith("175.45.17") and " 20485 131279" in o.as_path:
                out.append((o.time, o.peer_ip))
    return sorted(out)


def test_exactly_one_new_upstream_at_the_first_announcement(result: DemoResult) -> None:
    events = result.changes.events
    assert [(e.type, e.upstream, str(e.target)) for e in events] == [("new_upstream", 20485, "AS131279")]
    event = events[0]
    seen = ttk_announcements(result.paths)
    assert event.onset == seen[0][0] == T0908
    assert iso_utc(event.onset) == "2017-10-01T09:08:00Z"
    assert iso_local(event.onset, "Asia/Pyongyang") == "2017-10-01T17:38:00+08:30"
    # Confirmed by the second peer that announced it.
    second_peer_time = next(t for t, peer in seen if peer != seen[0][1])
    assert event.confirmed_by == "peers" and event.confirmed == second_peer_time
    assert event.peers >= 2
    assert {p.ip for p in event.peer_list} == {peer for _, peer in seen}
    assert not [e for e in events if e.type == "lost_upstream"]
    assert result.changes.transients == []
    assert result.ok and all(c.ok for c in result.checks)


def test_evidence_points_at_the_records_in_the_files(result: DemoResult) -> None:
    event = result.changes.events[0]
    assert len(event.evidence) >= 2
    for ev in event.evidence:
        assert Path(ev.source) in result.paths
        record = next(o for o in read_mrt(ev.source) if o.offset == ev.offset)
        assert (record.peer_ip, record.prefix, record.as_path, record.time) == (
            ev.peer.ip, ev.prefix, ev.as_path, ev.time)
        assert ev.peer.collector == "rrc00"


def test_upstreams_before_and_after(result: DemoResult) -> None:
    assert result.before.asns == {4837}
    assert len(result.before.peers) == 12
    assert result.after.asns == {4837, 20485}
    ttk = next(u for u in result.after.upstreams if u.asn == 20485)
    assert ttk.prefixes == ["175.45.176.0/24", "175.45.178.0/24", "175.45.179.0/24"]
    assert ttk.peers == len({peer for _, peer in ttk_announcements(result.paths)})


def test_the_flap_and_the_session_reset_are_in_the_data_but_are_not_events(result: DemoResult) -> None:
    view = result.view
    flaps = [s for s in view.spans if s.end_cause == "withdraw"]
    assert [(s.peer.asn, s.prefix) for s in flaps] == [(6939, "175.45.177.0/24")]
    downs = [e for e in view.sessions if not e.up]
    assert [e.peer.asn for e in downs] == [1299]
    assert [s for s in view.spans if s.end_cause == "down" and s.upstream == 20485]  # it had TTK routes
    event_times = {e.onset for e in result.changes.events}
    assert all(t < flaps[0].end for t in event_times if flaps[0].end is not None)  # type: ignore[operator]
    assert all(t < downs[0].time for t in event_times)


def test_the_story_does_not_depend_on_the_noise(tmp_path: Path) -> None:
    other = run_demo(tmp_path, seed=7)
    assert [(e.type, e.upstream, e.onset) for e in other.changes.events] == [("new_upstream", 20485, T0908)]
    assert other.ok


def test_python_m_transitwatch_demo(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "transitwatch.scenarios.demo"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    for line in (
        "North Korea gains a second upstream",
        "Reconstruction from public reports, not recorded data",
        "AS4837 China Unicom",
        "new_upstream: AS20485 TransTelecom (TTK) for AS131279 Star JV",
        "onset      2017-10-01T09:08:00Z  =  2017-10-01T17:38:00+08:30 in Asia/Pyongyang",
        "confirmed  2017-10-01T09:08:17Z",
        "seen by    6 of 12 peers",
        "updates.20171001.0905.gz @ ",
        "session down",
        "ok   one new_upstream AS20485 for AS131279",
        "$ ",
        "transitwatch events AS131279 demo-out/rrc00/2017.10/*.gz --tz Asia/Pyongyang",
    ):
        assert line in out, line
    assert "FAIL" not in out
    # The command line ran on the same files and said the same.
    cli = out[out.index("Running:"):]
    assert "new_upstream  AS20485   provider      2017-10-01T09:08:00Z  2017-10-01T17:38:00+08:30" in cli
    written = sorted(p.name for p in (tmp_path / "demo-out" / "rrc00" / "2017.10").iterdir())
    assert len(written) == 49 and written[0] == "bview.20171001.0800.gz"


def test_a_wrong_expectation_fails_the_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(SCENARIO_FILE.read_text().replace("upstream = 20485", "upstream = 3356"))
    assert load_scenario(wrong).expectations[0].upstream == 3356
    assert main(["--scenario", str(wrong), "--out", str(tmp_path / "out"), "--no-cli"]) == 1
    out = capsys.readouterr().out
    assert "FAIL one new_upstream AS3356 for AS131279" in out
    assert "FAIL no other event" in out


def test_a_bad_scenario_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO_FILE.read_text().replace('ntt = "2914 4837 131279"', 'ntt = "3356 4837 131279"'))
    assert main(["--scenario", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"transitwatch demo: error: {bad}: routes[0].paths.ntt: path '3356 4837 131279' "
                   "must start with the peer's AS 2914")


def test_demo_country_view_names_the_upstreams(tmp_path: Path) -> None:
    """The country chapter: KP before 09:08 hangs on China Unicom alone; after, TransTelecom (RU)
    carries three of its four /24s, with offline name hints labelled as 2024 geolocation."""
    result = run_demo(tmp_path, scenario="kp-2017-transtelecom")
    before, after = result.country_before, result.country_after
    assert before is not None and after is not None
    assert [(u.asn, u.country, round(u.share, 2)) for u in before.upstreams] == [(4837, "CN", 1.0)]
    got = {u.asn: u for u in after.upstreams}
    assert set(got) == {4837, 20485}
    # Offline, the only name source is the 2024 geolocation data: a hint, labelled, never the name.
    assert got[20485].country == "RU" and got[20485].name is None
    assert got[20485].name_source == "geolocation-2024"
    assert "TransTeleCom" in (got[20485].name_hint or "")
    assert "CHINA UNICOM" in (got[4837].name_hint or "").upper()
    assert round(got[20485].share, 2) == 0.75 and got[20485].peers == 6


def test_chapter_one_ends_with_the_consequence(result: DemoResult) -> None:
    # Before 09:08 UTC losing AS4837 cuts North Korea off; after, the three /24s TransTelecom
    # carries stay reachable through it (the .177 route was never announced to it).
    w = result.whatif
    assert w is not None and w.failed == [4837]
    assert w.before.reachable_share == 0.0 and not any(f.reachable for f in w.before.prefixes)
    kept = {f.prefix: f.via for f in w.after.prefixes if f.reachable}
    assert kept == {"175.45.176.0/24": [20485], "175.45.178.0/24": [20485], "175.45.179.0/24": [20485]}
    assert w.after.reachable_share == 0.75
    assert w.hegemony_before[4837] == 1.0 and w.hegemony_after[4837] < 1.0
    assert w.hegemony_before.get(20485, 0.0) == 0.0 < w.hegemony_after[20485]
    assert w.spof_before == [4837] and w.spof_after == []
    text = io.StringIO()
    print_demo(result, Console(file=text, width=200))
    out = text.getvalue()
    assert "8. The consequence: what if AS4837 China Unicom failed?" in out
    assert "0 of 4 prefixes stay reachable (0% of the addresses)" in out
    assert "3 of 4 prefixes stay reachable (75% of the addresses)" in out
