"""Demo scenarios: the TOML file becomes RIS-named MRT files that decode back to its observations."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from transitwatch import Observation
from transitwatch.scenarios.scenario import Scenario, ScenarioError, list_scenarios, load_scenario
from transitwatch.sources.mrt import read_mrt

KP = "kp-2017-transtelecom"
T0908 = datetime(2017, 10, 1, 9, 8, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def kp() -> Scenario:
    return load_scenario(KP)


@pytest.fixture(scope="module")
def written(kp: Scenario, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("demo-out")
    return out, kp.write_mrt(out)


def blank(obs: Observation) -> Observation:
    """What the scenario says about an observation: not where a file put it."""
    return obs.replace(source="", offset=None, record_type="")


def test_bundled_scenario_is_labelled_a_reconstruction_with_sources(kp: Scenario) -> None:
    assert KP in list_scenarios()
    assert kp.label == "Reconstruction from public reports, not recorded data"
    assert kp.target == "AS131279" and kp.timezone == "Asia/Pyongyang" and kp.collector == "rrc00"
    urls = [s.url for s in kp.sources]
    assert any("north-korea-gets-new-internet-link-via-russia" in u for u in urls)
    assert any("38north.org" in u for u in urls)
    assert len({p.asn for p in kp.peers.values()}) >= 12
    assert {p.version for p in kp.peers.values()} == {4, 6}


def test_files_have_ris_names_in_a_collector_month_folder(
    kp: Scenario, written: tuple[Path, list[Path]]
) -> None:
    out, paths = written
    names = [p.relative_to(out).as_posix() for p in paths]
    expected = ["rrc00/2017.10/bview.20171001.0800.gz"] + [
        f"rrc00/2017.10/updates.20171001.{h:02d}{m:02d}.gz" for h in range(8, 12) for m in range(0, 60, 5)
    ]
    assert names == expected
    assert [f.path.as_posix() for f in kp.files()] == expected
    assert all(p.read_bytes()[:2] == b"\x1f\x8b" for p in paths)  # gzip, as RIS publishes


def test_decoding_the_files_gives_the_scenarios_observations(
    kp: Scenario, written: tuple[Path, list[Path]]
) -> None:
    _, paths = written
    decoded: list[Observation] = []
    for path in paths:
        got = list(read_mrt(path, collector="rrc00"))
        assert got, f"{path} holds no records"
        assert all(o.source == str(path) for o in got)
        labels = {o.record_type for o in got}
        assert labels == ({"TABLE_DUMP2"} if path.name.startswith("bview") else {"BGP4MP"}), path
        decoded += got
    assert [blank(o) for o in decoded] == list(kp.observations())


def test_each_update_file_holds_its_five_minutes(kp: Scenario, written: tuple[Path, list[Path]]) -> None:
    _, paths = written
    for spec, path in zip(kp.files(), paths, strict=True):
        times = [o.time for o in read_mrt(path)]
        if spec.kind == "rib":
            assert set(times) == {kp.start}
        else:
            assert spec.end - spec.start == 300
            assert all(spec.start <= t < spec.end for t in times), path


def test_same_seed_same_bytes_other_seed_other_noise(kp: Scenario, tmp_path: Path) -> None:
    first = kp.write_mrt(tmp_path / "a")
    again = kp.write_mrt(tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    other = list(kp.observations(seed=kp.seed + 1))
    assert other != list(kp.observations())
    # The story does not depend on the seed: a zero delay is never jittered.
    first_ttk = [o for o in other if o.as_path and " 20485 131279" in o.as_path][0]
    assert (first_ttk.time, first_ttk.peer_asn) == (T0908, 9002)


def test_the_story_the_file_tells(kp: Scenario) -> None:
    obs = list(kp.observations())
    rib = [o for o in obs if o.kind == "rib"]
    kp_rib = [o for o in rib if o.prefix.startswith("175.45.17")]
    assert len(kp_rib) == 4 * 12
    assert all(o.as_path.endswith(" 4837 131279") for o in kp_rib)
    ttk = [o for o in obs if o.kind == "announce" and o.as_path and " 20485 " in f" {o.as_path} "
           and o.prefix.startswith("175.45.17")]
    # Three of the four routes (as Dyn reported), at six peers, from 09:08:00 over a few minutes.
    assert {o.prefix for o in ttk} == {"175.45.176.0/24", "175.45.178.0/24", "175.45.179.0/24"}
    first_arrivals = {}
    for o in ttk:
        first_arrivals.setdefault(o.peer_asn, o.time)
    assert len(first_arrivals) == 6
    assert min(first_arrivals.values()) == T0908
    assert max(first_arrivals.values()) - T0908 < 10 * 60
    # Nothing at all is withdrawn for good: the flap comes back with the same path.
    kp_withdrawals = [o for o in obs if o.kind == "withdraw" and o.prefix.startswith("175.45.17")]
    assert len(kp_withdrawals) == 1
    flap = kp_withdrawals[0]
    back = next(o for o in obs
                if o.time > flap.time and o.peer_ip == flap.peer_ip and o.prefix == flap.prefix)
    assert back.kind == "announce" and back.as_path == "6939 4837 131279"


def test_session_reset_walks_back_to_established_and_resends_the_table(kp: Scenario) -> None:
    obs = list(kp.observations())
    states = [o for o in obs if o.kind == "state"]
    assert [(o.old_state, o.new_state) for o in states] == [(6, 1), (1, 2), (2, 4), (4, 5), (5, 6)]
    peer = states[0].peer_ip
    down, up = states[0].time, states[-1].time
    held: dict[str, str] = {}
    for o in obs:
        if o.peer_ip == peer and o.time < down and o.kind in ("rib", "announce"):
            held[o.prefix] = o.as_path
    assert not [o for o in obs if o.peer_ip == peer and down < o.time < up and o.kind != "state"]
    resent = {o.prefix: o.as_path for o in obs if o.peer_ip == peer and up < o.time <= up + 30}
    assert resent == held
    assert resent["175.45.176.0/24"].endswith("20485 131279")  # the reset peer had moved to TTK


BAD = """
[scenario]
name = "bad"
title = "t"
label = "Reconstruction from public reports, not recorded data"
target = "AS131279"
start = 2017-10-01T08:00:00Z
end = 2017-10-01T08:30:00Z
[collector]
name = "rrc00"
[peers]
a = { asn = 2914, ip = "192.0.2.1", name = "A" }
[[routes]]
prefixes = ["175.45.176.0/24"]
paths = { a = "2914 4837 131279" }
[[background]]
prefixes = ["8.8.8.0/24"]
origin = 15169
transit = ["", "3356"]
"""


@pytest.mark.parametrize(("replace", "by", "message"), [
    ('paths = { a = "2914 4837 131279" }', 'paths = { a = "3356 4837 131279" }',
     "routes[0].paths.a: path '3356 4837 131279' must start with the peer's AS 2914"),
    ('paths = { a = "2914 4837 131279" }', 'paths = { b = "2914 4837 131279" }',
     "routes[0].paths: unknown peer 'b' (peers: a)"),
    ('prefixes = ["175.45.176.0/24"]', 'prefixes = ["175.45.176.1/24"]',
     "routes[0].prefixes: '175.45.176.1/24' is not a CIDR prefix (host bits must be zero)"),
    ('ip = "192.0.2.1"', 'ip = "192.0.2.300"', "peers.a.ip: '192.0.2.300' is not an IP address"),
    ('end = 2017-10-01T08:30:00Z', 'end = 2017-10-01T07:30:00Z',
     "scenario.end: must be after scenario.start"),
    ('origin = 15169', 'origin = -1', "background[0].origin: -1 is not a 32-bit unsigned integer"),
    ('transit = ["", "3356"]', 'transit = ["", "33x"]', "background[0].transit: '33x' is not an AS path"),
])
def test_bad_scenario_files_name_the_file_and_key(
    tmp_path: Path, replace: str, by: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    assert replace in BAD
    path.write_text(BAD.replace(replace, by))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value)


def test_bad_events_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    outside = BAD + """
[[events]]
kind = "flap"
at = 2017-10-01T09:00:00Z
peer = "a"
prefixes = ["175.45.176.0/24"]
down_for = "30s"
"""
    path.write_text(outside)
    scenario = load_scenario(path)  # valid on its own: the time is checked against the window
    with pytest.raises(ScenarioError, match=r"an event falls at 2017-10-01T09:00:00Z, outside"):
        list(scenario.observations())
    path.write_text(outside.replace('kind = "flap"', 'kind = "explode"'))
    with pytest.raises(ScenarioError, match=r"events\[0\]\.kind: 'explode' is not one of"):
        load_scenario(path)
    path.write_text(outside.replace('down_for = "30s"', 'down_for = "soon"'))
    with pytest.raises(ScenarioError, match=r"events\[0\]\.down_for: 'soon' is not a duration"):
        load_scenario(path)


def test_small_scenario_round_trips_and_unknown_names_list_the_bundled_ones(tmp_path: Path) -> None:
    path = tmp_path / "small.toml"
    path.write_text(BAD)
    small = load_scenario(path)
    paths = small.write_mrt(tmp_path / "out")
    assert [p.name for p in paths] == ["bview.20171001.0800.gz"] + [
        f"updates.20171001.08{m:02d}.gz" for m in range(0, 30, 5)]
    decoded = [blank(o) for p in paths for o in read_mrt(p, collector="rrc00")]
    assert decoded == list(small.observations())
    with pytest.raises(ScenarioError, match=f"unknown scenario 'nope' \\(bundled: .*{KP}"):
        load_scenario("nope")
    with pytest.raises(ScenarioError, match="missing.toml: No such file"):
        load_scenario(tmp_path / "missing.toml")


BGPDUMP = shutil.which("bgpdump")


@pytest.mark.skipif(BGPDUMP is None, reason="bgpdump not on PATH (.ci/run installs it)")
def test_bgpdump_reads_the_same_routes(kp: Scenario, written: tuple[Path, list[Path]]) -> None:
    _, paths = written
    assert BGPDUMP is not None
    lines = []
    for path in paths:
        run = subprocess.run([BGPDUMP, "-m", str(path)], capture_output=True, text=True, check=True)
        lines += run.stdout.splitlines()
    obs = list(kp.observations())
    assert len(lines) == len(obs)
    first_ttk = next(line for line in lines if "|9002 20485 131279|" in line)
    assert first_ttk.startswith(f"BGP4MP|{int(T0908)}|A|87.245.232.1|9002|175.45.176.0/24|")
