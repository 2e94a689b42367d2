"""Outage detector and visibility series on exact MRT fixtures (written by the project's writer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing_fixture import KP, T0, four_peers
from transitwatch.detect.outage import (
    COLLECTOR_QUIET,
    OUTAGE,
    PARTIAL_OUTAGE,
    SESSION_DOWN,
    outage_changes,
    outages_of,
)
from transitwatch.metrics.visibility import PrefixIndex, PrefixSpace, visibility
from transitwatch.sources.files import read_files
from transitwatch.state.liveness import LivenessTracker
from transitwatch.state.view import target_view

HOURS = 3600
DELAYS = {"ntt": 0, "level3": 10, "cogent": 20, "telia": 30}
BACK = {"ntt": 0, "level3": 15, "cogent": 30, "telia": 45}


def _outage_history(prefixes: tuple[str, ...], down_at: int, back_at: int | None, end: int):
    h = four_peers()
    for name, p in h.peers.items():
        for prefix in prefixes:
            h.withdraw(down_at + DELAYS[name], name, prefix)
            if back_at is not None:
                h.announce(back_at + BACK[name], name, prefix, f"{p.asn} 4837 131279")
    h.background(end)
    return h


def test_outage_and_recovery(tmp_path: Path) -> None:
    down, back = T0 + 600, T0 + 600 + 3 * HOURS
    files = _outage_history(KP, down, back, T0 + 4 * HOURS).write(tmp_path)
    report = outages_of("AS131279", read_files(files))
    assert [e.type for e in report.events] == [OUTAGE]
    event = report.events[0]
    assert event.onset == down                     # the first withdrawal
    assert event.quorum_at == down + 20            # third of four peers: most have lost it
    assert event.end == back + 15                  # second peer back: half of them see it again
    assert event.duration == back + 15 - down
    assert (event.baseline, event.minimum, event.unit) == (4.0, 0.0, "/24")
    assert event.prefixes_lost == list(KP)
    assert event.peers == 4 and event.vantage_points == 4
    views = {v.peer.asn: v for v in event.evidence}
    assert views[174].before == 4.0 and views[174].minimum == 0.0 and views[174].saw_drop
    assert views[174].first_loss is not None and views[174].first_loss.time == down + 20
    assert views[174].first_loss.cause == "withdraw" and views[174].first_loss.offset is not None
    assert views[1299].recovered == back + 45
    assert not report.transients and not report.vantage_lost
    d = event.to_dict("Asia/Pyongyang")
    assert d["type"] == "outage" and d["target"] == "AS131279"
    assert d["onset"] == "2014-12-22T00:10:00Z" and d["onset_local"] == "2014-12-22T09:10:00+09:00"
    assert d["end"] == "2014-12-22T03:10:15Z" and d["peers"] == 4 and len(d["evidence"]) == 4


def test_outage_without_recovery_is_open(tmp_path: Path) -> None:
    files = _outage_history(KP, T0 + 600, None, T0 + 2 * HOURS).write(tmp_path)
    report = outages_of("AS131279", read_files(files))
    assert [(e.type, e.end) for e in report.events] == [(OUTAGE, None)]
    assert report.events[0].to_dict()["ongoing_at"] is not None


def test_partial_outage(tmp_path: Path) -> None:
    down, back = T0 + 600, T0 + 600 + 1800
    files = _outage_history((KP[3],), down, back, T0 + 2 * HOURS).write(tmp_path)
    report = outages_of("175.45.176.0/22", read_files(files))
    assert [e.type for e in report.events] == [PARTIAL_OUTAGE]
    event = report.events[0]
    assert (event.baseline, event.minimum) == (4.0, 3.0)
    assert event.prefixes_lost == [KP[3]]
    assert (event.onset, event.end) == (down, back + 15)


def test_short_withdrawal_is_a_transient(tmp_path: Path) -> None:
    files = _outage_history(KP, T0 + 600, T0 + 660, T0 + HOURS).write(tmp_path)
    report = outages_of("AS131279", read_files(files))
    assert not report.events
    assert [t.type for t in report.transients] == [OUTAGE]
    # With a shorter min_duration the same minute is an outage.
    view = target_view("AS131279", read_files(files))
    assert [e.type for e in outage_changes(view, min_duration=30).events] == [OUTAGE]


def test_single_peer_session_down_is_vantage_point_lost(tmp_path: Path) -> None:
    h = four_peers()
    down, up = T0 + 600, T0 + 1800
    h.reset(down, up, "ntt")
    for prefix in KP:
        h.announce(up + 5, "ntt", prefix, "2914 4837 131279")
    h.announce(up + 5, "ntt", "8.8.8.0/24", "2914 15169")
    h.background(T0 + 2 * HOURS)
    files = h.write(tmp_path)
    report = outages_of("AS131279", read_files(files))
    assert not report.events and not report.transients
    assert len(report.vantage_lost) == 1
    lost = report.vantage_lost[0]
    assert (lost.reason, lost.onset, lost.end, lost.routes) == (SESSION_DOWN, down, up, 4)
    assert [p.asn for p in lost.peer_list] == [2914]
    assert lost.to_dict()["type"] == "vantage_point_lost"


def test_all_sessions_down_at_once_is_not_an_outage(tmp_path: Path) -> None:
    # The collector restarts: every session drops, comes back and re-announces. No outage.
    h = four_peers()
    down, up = T0 + 600, T0 + 900
    for name, p in h.peers.items():
        h.reset(down, up, name)
        for prefix in KP:
            h.announce(up + 20 + BACK[name], name, prefix, f"{p.asn} 4837 131279")
    h.background(T0 + HOURS)
    report = outages_of("AS131279", read_files(h.write(tmp_path)))
    assert not report.events and not report.transients
    assert [v.reason for v in report.vantage_lost] == [SESSION_DOWN] * 4


def test_collector_silence_is_vantage_point_lost(tmp_path: Path) -> None:
    h = four_peers(("rrc00", "rrc01"))
    quiet = (T0 + 700, T0 + 4200)
    h.background(T0 + 2 * HOURS, collector="rrc00")
    h.background(T0 + 2 * HOURS, collector="rrc01", quiet=quiet)
    files = h.write(tmp_path)
    tracker = LivenessTracker(quiet_after=900)
    view = target_view("AS131279", tracker.watch(read_files(files)))
    liveness = tracker.liveness()
    assert [(s.collector, s.start, s.end) for s in liveness.silences] == [("rrc01", T0 + 480, T0 + 4320)]
    report = outage_changes(view, liveness)
    assert not report.events and not report.transients
    assert len(report.vantage_lost) == 1
    lost = report.vantage_lost[0]
    assert (lost.reason, lost.collector) == (COLLECTOR_QUIET, "rrc01")
    assert (lost.onset, lost.end) == (T0 + 480, T0 + 4320)
    assert sorted(p.asn for p in lost.peer_list) == [174, 1299]


def test_outage_seen_only_where_collector_is_alive(tmp_path: Path) -> None:
    # rrc01 is silent while the target goes down: its peers keep stale routes. The two live
    # peers (rrc00) both lost it: that is most of the vantage points that can see; an outage.
    h = four_peers(("rrc00", "rrc01"))
    down = T0 + 2000
    for name in ("ntt", "level3"):
        for prefix in KP:
            h.withdraw(down + DELAYS[name], name, prefix)
    h.background(T0 + 3 * HOURS, collector="rrc00")
    h.background(T0 + 3 * HOURS, collector="rrc01", quiet=(T0 + 700, T0 + 3 * HOURS))
    files = h.write(tmp_path)
    tracker = LivenessTracker(quiet_after=900)
    view = target_view("AS131279", tracker.watch(read_files(files)))
    with_liveness = outage_changes(view, tracker.liveness())
    assert [(e.type, e.onset, e.vantage_points) for e in with_liveness.events] == [(OUTAGE, down, 2)]
    # Without knowing rrc01 went quiet, its stale routes keep half the peers seeing the target.
    assert not outage_changes(view).events


def test_visibility_series(tmp_path: Path) -> None:
    down, back = T0 + 600, T0 + 600 + 3 * HOURS
    files = _outage_history(KP, down, back, T0 + 4 * HOURS).write(tmp_path)
    view = target_view("AS131279", read_files(files))
    series = visibility(view, 300)
    points = {p.time: p for p in series.points}
    assert series.points[0].time == T0 and series.resolution == 300
    assert (points[T0].prefixes, points[T0].slash24, points[T0].peers, points[T0].share) == (4, 4.0, 4, 1.0)
    # 00:10 bucket: the state at 00:10:00 includes the withdrawal at that second; low: all gone.
    assert points[T0 + 600].peers == 3 and points[T0 + 600].slash24 == 4.0
    assert points[T0 + 600].low_slash24 == 0.0 and points[T0 + 300].low_slash24 == 4.0
    assert (points[T0 + 900].prefixes, points[T0 + 900].slash24, points[T0 + 900].peers) == (0, 0.0, 0)
    assert points[T0 + 900].peers_up == 4 and points[T0 + 900].share == 0.0
    assert points[back + 300].slash24 == 4.0
    assert series.prefix_peers[KP[0]][0] == 4 and series.prefix_peers[KP[0]][3] == 0
    d = series.to_dict("Asia/Pyongyang")
    assert d["points"][0]["time_local"] == "2014-12-22T09:00:00+09:00"
    assert d["prefixes"][KP[0]]["share"][0] == 1.0
    assert len(series.to_records()) == len(series.points)


def test_prefix_space_counts_overlaps_once() -> None:
    prefixes = ["10.0.0.0/22", "10.0.0.0/24", "10.0.1.0/25", "10.0.4.0/24", "2001:db8::/47", "2001:db8::/48"]
    space = PrefixSpace(PrefixIndex(prefixes))
    space.add("10.0.0.0/24")
    space.add("10.0.1.0/25")
    assert space.slash24 == 1.5
    space.add("10.0.0.0/22")
    assert space.slash24 == 4.0
    space.add("10.0.4.0/24")
    space.discard("10.0.0.0/22")
    assert space.slash24 == 2.5
    space.add("2001:db8::/48")
    space.add("2001:db8::/47")
    assert space.slash48 == 2.0
    space.discard("2001:db8::/47")
    assert space.slash48 == 1.0


def test_bad_parameters() -> None:
    view = target_view("AS131279", [])
    with pytest.raises(ValueError):
        outage_changes(view, threshold=0.9, partial=0.5)
    with pytest.raises(ValueError):
        outage_changes(view, quorum=1.0)
    with pytest.raises(ValueError):
        visibility(view, 0)


def test_cli_visibility(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from transitwatch.cli.main import main

    down, back = T0 + 600, T0 + 600 + 3 * HOURS
    files = [str(p) for p in _outage_history(KP, down, back, T0 + 4 * HOURS + 60).write(tmp_path)]
    assert main(["visibility", "AS131279", *files, "--json", "--resolution", "1h"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["resolution"] == 3600.0
    assert [(p["time"], p["slash24"], p["low_slash24"], p["peers"]) for p in out["points"]] == [
        ("2014-12-22T00:00:00Z", 4.0, 0.0, 4), ("2014-12-22T01:00:00Z", 0.0, 0.0, 0),
        ("2014-12-22T02:00:00Z", 0.0, 0.0, 0), ("2014-12-22T03:00:00Z", 0.0, 0.0, 0),
        ("2014-12-22T04:00:00Z", 4.0, 4.0, 4)]
    assert out["prefixes"][KP[0]]["peers"] == [4, 0, 0, 0, 4]
    # A country code as TARGET: the registry places the prefixes; local times in its zone.
    assert main(["visibility", "KP", *files, "--json", "--resolution", "2h"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["target"] == "KP" and out["points"][0]["time_local"] == "2014-12-22T09:00:00+09:00"
    assert [p["slash24"] for p in out["points"]] == [4.0, 0.0, 4.0]
    assert main(["visibility", "AS131279", *files]) == 0
    text = capsys.readouterr().out
    assert "visibility of AS131279" in text and "█" in text and "\x1b[" not in text
    assert "time (UTC)" in text
    assert main(["visibility", "KP", *files, "--resolution", "2h"]) == 0
    text = capsys.readouterr().out       # local rows without an offset: the header names the zone
    assert "time (Asia/Pyongyang)" in text and "2014-12-22T09:00:00 " in text
    for argv, message in [
        (["visibility", "AS131279", *files, "--resolution", "soon"], "cannot read duration"),
        (["visibility", "ZZ", *files], "unknown country code"),
        (["visibility", "AS131279", "/no/such.gz"], "no such file"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
