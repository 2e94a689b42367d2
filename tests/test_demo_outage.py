"""`make demo` chapter 2: the December 2014 KP outage reconstruction, checked against its own files."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from transitwatch.scenarios.demo_outage import OutageChapter, print_outage_chapter, run_outage_chapter
from transitwatch.scenarios.scenario import load_scenario
from transitwatch.sources.mrt import read_mrt
from transitwatch.times import iso_local, iso_utc

KP = ("175.45.176.0/24", "175.45.177.0/24", "175.45.178.0/24", "175.45.179.0/24")


@pytest.fixture(scope="module")
def chapter(tmp_path_factory: pytest.TempPathFactory) -> OutageChapter:
    return run_outage_chapter(tmp_path_factory.mktemp("kp2014"))


def _kp_updates(paths: list[Path]) -> list[tuple[float, str, str, str]]:
    """(time, kind, peer, prefix) of every update of the KP /24s, read back from the files."""
    return sorted((o.time, o.kind, o.peer_ip, o.prefix) for p in paths for o in read_mrt(p)
                  if o.kind in ("announce", "withdraw") and o.prefix in KP)


def test_chapter_finds_the_outage_the_files_hold(chapter: OutageChapter) -> None:
    assert chapter.ok, [c.what for c in chapter.checks if not c.ok]
    [event] = chapter.outages
    updates = _kp_updates(chapter.paths)
    big = [u for u in updates if u[0] >= chapter.scenario.start + 3600]  # after the 15:20 blip
    withdrawals = [u for u in big if u[1] == "withdraw"]
    assert event.onset == withdrawals[0][0] and iso_utc(event.onset) == "2014-12-22T16:15:00Z"
    assert iso_local(event.onset, "Asia/Pyongyang") == "2014-12-23T01:15:00+09:00"
    # Recovery: the moment half of the eight peers have all four /24s again.
    back: dict[str, set[str]] = {}
    recovered = None
    for time, kind, peer, prefix in big:
        if kind == "announce":
            back.setdefault(peer, set()).add(prefix)
            if sum(len(v) == 4 for v in back.values()) >= 4:
                recovered = time
                break
    assert event.end == recovered
    assert event.duration is not None and 9.4 * 3600 < event.duration < 9.6 * 3600
    assert event.prefixes_lost == list(KP) and event.peers == 8
    assert {v.first_loss.offset for v in event.evidence if v.first_loss} <= {
        o.offset for p in chapter.paths for o in read_mrt(p) if o.kind == "withdraw"}
    # The blip is a transient; the GTT reset a lost vantage point.
    blips = [iso_utc(t.onset) for t in chapter.found.transients if t.type == "outage"]
    assert blips == ["2014-12-22T15:20:00Z"]
    assert [(v.reason, iso_utc(v.onset)) for v in chapter.found.vantage_lost] == [
        ("session down", "2014-12-22T15:45:00Z")]


def test_chapter_prints_times_and_label(chapter: OutageChapter, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("w") as fh:
        print_outage_chapter(chapter, Console(file=fh, width=120))
    text = out.read_text()
    assert "Reconstruction from public reports, not recorded data" in text
    assert "2014-12-23T01:15:00+09:00" in text and "9h30m" in text and "FAIL" not in text


def test_scenario_is_a_labelled_reconstruction() -> None:
    sc = load_scenario("kp-2014-12-outage")
    assert sc.label == "Reconstruction from public reports, not recorded data"
    assert sc.sources and [x.kind for x in sc.expectations] == ["outage"]


def test_the_day_the_single_point_of_failure_failed(chapter: OutageChapter) -> None:
    assert chapter.spof is not None
    when, spof, upstreams = chapter.spof
    assert upstreams == [4837] and spof == [4837]
    assert when == chapter.outages[0].onset - 60
