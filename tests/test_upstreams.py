"""Upstreams (metrics.upstreams), upstream change events (detect.upstream_change), their CLI commands,
and the real full table of AS3856 (AS131279 behind AS4837)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transitwatch import Observation
from transitwatch.cli.main import main
from transitwatch.detect.upstream_change import upstream_changes, upstream_events
from transitwatch.metrics.upstreams import upstream_report, upstream_timeline, upstreams_of
from transitwatch.sources.files import read_files
from transitwatch.sources.mrt_writer import write_mrt
from transitwatch.state.view import target_view

T0 = 1506844800.0  # 2017-10-01T08:00:00Z; 09:08 UTC = T0 + 4080
ONSET = T0 + 4080
PEERS = [("192.0.2.1", 3356), ("192.0.2.2", 174), ("192.0.2.3", 2914)]
NK = [f"175.45.{n}.0/24" for n in range(176, 180)]


def ob(t: float, kind: str, peer: int, prefix: str | None = None, path: str | None = None,
       **kw: object) -> Observation:
    ip, asn = PEERS[peer]
    return Observation(time=t, kind=kind, peer_ip=ip, peer_asn=asn, prefix=prefix, as_path=path,
                       origin="IGP" if path else None, next_hop=ip if path else None,
                       collector="rrc00", **kw)


def via(peer: int, upstream: int) -> str:
    return f"{PEERS[peer][1]} {upstream} 131279"


def baseline_rib(t: float = T0) -> list[Observation]:
    return [ob(t, "rib", p, prefix, via(p, 4837)) for prefix in NK for p in range(3)]


def tick(t: float) -> Observation:
    # An unrelated route: moves the end of the input forward.
    return ob(t, "announce", 0, "8.8.8.0/24", "3356 15169")


def events(stream: list[Observation], **kw: float) -> list[tuple[str, int, float, float, int]]:
    found = upstream_events(target_view("AS131279", stream), **kw)  # type: ignore[arg-type]
    return [(e.type, e.upstream, e.onset, e.confirmed, e.peers) for e in found]


# -- upstreams ---------------------------------------------------------------------------------

def test_upstreams_at_end_and_at_time() -> None:
    stream = baseline_rib() + [
        ob(ONSET, "announce", 0, NK[2], via(0, 20485)),
        ob(ONSET + 30, "announce", 1, NK[2], via(1, 20485)),
        ob(ONSET + 60, "withdraw", 2, NK[3]),
        tick(ONSET + 600),
    ]
    report = upstreams_of("AS131279", stream)
    got = {u.asn: (u.prefixes, u.peers) for u in report.upstreams}
    assert got == {4837: (NK, 3), 20485: ([NK[2]], 2)}
    u20485 = next(u for u in report.upstreams if u.asn == 20485)
    assert (u20485.first_seen, u20485.last_seen, round(u20485.share, 3)) == (ONSET, ONSET + 30, 0.667)
    d = report.to_dict()
    assert d["target"] == "AS131279" and d["at"] == "2017-10-01T09:18:00Z"
    assert {"asn", "prefixes", "peers", "first_seen", "last_seen"} <= set(d["upstreams"][0])
    before = upstreams_of("AS131279", stream, at=ONSET - 1)
    assert before.asns == {4837} and before.at == ONSET - 1
    assert before.upstreams[0].last_seen == T0
    # the same answer from a prebuilt view
    assert upstream_report(target_view("AS131279", stream), ONSET - 1).asns == {4837}
    by_prefix = upstreams_of("175.45.178.0/23", stream)
    assert {u.asn: u.prefixes for u in by_prefix.upstreams} == {4837: NK[2:], 20485: [NK[2]]}


def test_no_route_to_target_is_an_empty_report() -> None:
    report = upstreams_of("AS64496", baseline_rib())
    assert report.empty and report.upstreams == [] and report.at == T0


def test_views_of_separate_peers_merge() -> None:
    stream = baseline_rib() + [ob(ONSET, "announce", 0, NK[2], via(0, 20485)),
                               ob(ONSET + 30, "announce", 1, NK[2], via(1, 20485))]
    whole = target_view("AS131279", stream)
    parts = [target_view("AS131279", [o for o in stream if o.peer_ip == ip]) for ip, _ in PEERS]
    merged = parts[0].merge(*parts[1:])
    assert upstream_report(merged).to_dict() == upstream_report(whole).to_dict()
    assert [e.to_dict() for e in upstream_events(merged)] == [e.to_dict() for e in upstream_events(whole)]


# -- events ------------------------------------------------------------------------------------

def test_new_upstream_confirmed_by_two_peers() -> None:
    stream = baseline_rib() + [
        ob(ONSET, "announce", 0, NK[2], via(0, 20485)),
        ob(ONSET + 30, "announce", 1, NK[2], via(1, 20485)),
        tick(ONSET + 3600),
    ]
    assert events(stream) == [("new_upstream", 20485, ONSET, ONSET + 30, 2)]
    e = upstream_events(target_view("AS131279", stream))[0].to_dict("Asia/Pyongyang")
    assert e["onset"] == "2017-10-01T09:08:00Z"
    assert e["onset_local"] == "2017-10-01T17:38:00+08:30"
    assert e["peers"] == 2 and e["target"] == "AS131279" and e["upstream"] == 20485
    assert [(x["peer_ip"], x["as_path"], x["collector"]) for x in e["evidence"]] == [
        ("192.0.2.1", "3356 20485 131279", "rrc00"), ("192.0.2.2", "174 20485 131279", "rrc00")]


def test_one_peer_short_is_transient_long_is_confirmed() -> None:
    short = baseline_rib() + [
        ob(ONSET, "announce", 0, NK[2], via(0, 20485)),
        ob(ONSET + 120, "announce", 0, NK[2], via(0, 4837)),
        tick(ONSET + 3600),
    ]
    assert events(short) == []
    changes = upstream_changes(target_view("AS131279", short))
    assert [(t.type, t.upstream, t.onset, t.ended) for t in changes.transients] == [
        ("new_upstream", 20485, ONSET, ONSET + 120)]
    long = short[:-2] + [tick(ONSET + 3600)]
    assert events(long) == [("new_upstream", 20485, ONSET, ONSET + 300, 1)]
    assert events(long, min_duration=1800) == [("new_upstream", 20485, ONSET, ONSET + 1800, 1)]
    assert events(short, min_peers=1) == [("new_upstream", 20485, ONSET, ONSET, 1),
                                          ("lost_upstream", 20485, ONSET + 120, ONSET + 120, 1)]
    # the input ends before 5 minutes: not confirmed yet
    assert events(short[:-2] + [tick(ONSET + 60)]) == []


def test_baseline_reset_and_rib_refresh_are_not_changes() -> None:
    stream = baseline_rib() + [
        ob(ONSET, "state", 0, old_state=6, new_state=1),
        ob(ONSET + 60, "state", 0, old_state=5, new_state=6),
        *[ob(ONSET + 90 + i, "announce", 0, prefix, via(0, 4837)) for i, prefix in enumerate(NK)],
        *baseline_rib(T0 + 8 * 3600),  # the next RIB dump, same routes
        tick(T0 + 9 * 3600),
    ]
    view = target_view("AS131279", stream)
    changes = upstream_changes(view)
    assert changes.events == [] and changes.transients == [] and changes.baseline == [4837]
    assert [(s.up, s.time) for s in view.sessions] == [(False, ONSET), (True, ONSET + 60)]


def test_reset_peer_that_comes_back_elsewhere() -> None:
    # Peer 0 goes down and comes back through 20485 only: its 4837 is lost at re-up + 5 min, and
    # 20485 is new (seen by one peer, persistent).
    stream = baseline_rib() + [
        ob(ONSET, "state", 0, old_state=6, new_state=1),
        ob(ONSET + 60, "state", 0, old_state=5, new_state=6),
        *[ob(ONSET + 90, "announce", 0, prefix, via(0, 20485)) for prefix in NK],
        tick(ONSET + 3600),
    ]
    assert events(stream) == [("new_upstream", 20485, ONSET + 90, ONSET + 390, 1)]


def test_lost_upstream() -> None:
    stream = baseline_rib() + [
        *[ob(ONSET + 10 * p, "announce", p, NK[0], via(p, 20485)) for p in range(3)],
        *[ob(T0 + 3 * 3600 + 10 * p, "announce", p, prefix, via(p, 20485))
          for p in range(3) for prefix in NK],
        tick(T0 + 4 * 3600),
    ]
    assert events(stream) == [
        ("new_upstream", 20485, ONSET, ONSET + 10, 3),
        ("lost_upstream", 4837, T0 + 3 * 3600, T0 + 3 * 3600 + 20, 3),
    ]
    lost = upstream_events(target_view("AS131279", stream))[1].to_dict()
    assert lost["evidence"][0]["as_path"] == "3356 4837 131279"
    assert lost["evidence"][0]["new_as_path"] == "3356 20485 131279"
    # withdrawals of every route by every peer: the target is gone (an outage, reported by the
    # outage detector), not an upstream change; coming back through the same upstream is no event
    gone = baseline_rib() + [ob(ONSET + p, "withdraw", p, prefix) for p in range(3) for prefix in NK]
    assert events(gone + [tick(ONSET + 3600)]) == []
    back = [ob(ONSET + 3 * 3600 + p, "announce", p, prefix, via(p, 4837))
            for p in range(3) for prefix in NK]
    assert events(gone + back + [tick(ONSET + 5 * 3600)]) == []
    # ... but coming back through another upstream is a change: the new one at once, the old one
    # once it has not come back within min_duration
    moved = [ob(ONSET + 3 * 3600 + p, "announce", p, prefix, via(p, 20485))
             for p in range(3) for prefix in NK]
    assert [e[:2] for e in events(gone + moved + [tick(ONSET + 5 * 3600)])] == [
        ("new_upstream", 20485), ("lost_upstream", 4837)]


def test_update_only_input_baseline_is_first_state() -> None:
    stream = [ob(T0 + p, "announce", p, NK[0], via(p, 4837)) for p in range(3)] + [
        ob(ONSET + p, "announce", p, NK[1], via(p, 20485)) for p in range(2)] + [tick(ONSET + 600)]
    # peer 1 and 2's first routes (via 4837, seconds after the first one) are no change either
    assert events(stream) == [("new_upstream", 20485, ONSET, ONSET + 1, 2)]
    assert upstream_changes(target_view("AS131279", stream)).baseline == [4837]


def test_timeline_buckets() -> None:
    stream = baseline_rib() + [ob(ONSET, "announce", 0, NK[2], via(0, 20485)),
                               ob(ONSET + 30, "announce", 1, NK[2], via(1, 20485)), tick(T0 + 2 * 3600)]
    tl = upstream_timeline(target_view("AS131279", stream), buckets=4)
    assert tl.rows[4837] == [3, 3, 3, 3]
    assert tl.rows[20485] == [0, 0, 2, 2]  # 09:08 is in the third half-hour bucket
    assert tl.peers == [3, 3, 3, 3]


# -- end to end: MRT files written by the project's writer, read back, through the CLI -----------

@pytest.fixture
def scenario_files(tmp_path: Path) -> list[str]:
    rrc = tmp_path / "rrc00"
    rrc.mkdir()
    bview = str(rrc / "bview.20171001.0800.gz")
    updates = str(rrc / "updates.20171001.0905.gz")
    write_mrt(bview, baseline_rib())
    write_mrt(updates, [
        ob(T0 + 3900, "announce", 2, "8.8.8.0/24", "2914 15169"),
        ob(ONSET, "announce", 0, NK[2], via(0, 20485)),
        ob(ONSET + 30, "announce", 1, NK[2], via(1, 20485)),
        ob(ONSET + 31, "announce", 1, NK[3], via(1, 20485)),
        ob(T0 + 4199, "announce", 2, "8.8.8.0/24", "2914 15169"),
    ])
    # The series between the dump and 09:05 (quiet: one background route each): without them the
    # hour from 08:00 to 09:05 is a gap in the data, where nothing is known.
    middle = []
    for minute in range(0, 65, 5):
        path = str(rrc / f"updates.20171001.{8 + minute // 60:02d}{minute % 60:02d}.gz")
        write_mrt(path, [ob(T0 + minute * 60 + 10, "announce", 2, "8.8.8.0/24", "2914 15169")])
        middle.append(path)
    return [updates, bview, *middle]  # out of order on purpose


def test_cli_events_json(scenario_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "AS131279", *scenario_files, "--tz", "Asia/Pyongyang", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(e["type"], e["upstream"], e["onset"], e["onset_local"], e["confirmed"], e["peers"])
            for e in out["events"]] == [
        ("new_upstream", 20485, "2017-10-01T09:08:00Z", "2017-10-01T17:38:00+08:30",
         "2017-10-01T09:08:30Z", 2)]
    ev = out["events"][0]["evidence"][0]
    assert ev["source"] == scenario_files[0] and ev["offset"] is not None and ev["collector"] == "rrc00"
    assert out["baseline"] == [4837]


def test_cli_upstreams_json_and_text(scenario_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upstreams", "131279", *scenario_files, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["at"] == "2017-10-01T09:09:59Z"
    assert [(u["asn"], u["prefixes"], u["peers"]) for u in out["upstreams"]] == [
        (4837, NK, 3), (20485, NK[2:], 2)]
    assert main(["upstreams", "AS131279", *scenario_files, "--at", "2017-10-01T09:00:00Z"]) == 0
    text = capsys.readouterr().out
    assert "AS4837" in text and "AS20485" not in text and "\x1b[" not in text
    assert main(["events", "AS131279", *scenario_files]) == 0
    text = capsys.readouterr().out
    assert "new_upstream" in text and "AS20485 |" in text and "▲" in text


def test_cli_bad_input(scenario_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in [
        (["upstreams", "N0RTHKOREA", *scenario_files], "unknown target"),
        (["events", "AS131279", *scenario_files, "--tz", "Asia/Nowhere"], "unknown time zone"),
        (["events", "AS131279", "/no/such/file.gz"], "no such file"),
        (["upstreams", "AS131279", *scenario_files, "--at", "soon"], "cannot read time"),
        (["events", "AS131279", *scenario_files, "--min-duration", "5 parsecs"], "cannot read duration"),
    ]:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert main(["upstreams", "AS64496", *scenario_files, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["upstreams"] == [] and "no route to AS64496" in captured.err


def test_cli_notes_overlapping_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = str(tmp_path / "updates.20171001.0900.gz"), str(tmp_path / "updates.20171001.0905.gz")
    write_mrt(a, [ob(T0 + i * 60, "announce", 0, NK[0], via(0, 4837)) for i in range(10)])
    write_mrt(b, [ob(T0 + 90, "announce", 1, NK[0], via(1, 4837))])
    assert main(["upstreams", "AS131279", a, b, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["upstreams"][0]["peers"] == 2
    assert "overlaps" in captured.err


# -- real data ---------------------------------------------------------------------------------

def test_real_full_table_as131279_behind_4837(shared_data: Path) -> None:
    path = shared_data / "mrt" / "bgpdump-corpus" / "input" / "updates.et-header.2015.gz"
    notices: list[str] = []
    report = upstreams_of("AS131279", read_files([path], notices=notices))
    assert {u.asn: len(u.prefixes) for u in report.upstreams} == {4837: 4}
    assert report.upstreams[0].prefixes == NK
    assert report.upstreams[0].example_path == "2914 1239 4837 131279"
    by_prefix = upstreams_of("175.45.176.0/22", read_files([path]))
    assert {u.asn: u.prefixes for u in by_prefix.upstreams} == {4837: NK}
    # a session coming up and sending its table is the baseline, not a change
    changes = upstream_changes(target_view("AS131279", read_files([path])))
    assert changes.events == [] and changes.baseline == [4837]
    assert [(p.ip, p.asn) for p in report.upstreams[0].peer_list] == [("206.220.231.55", 3856)]


def test_cli_collector_override_and_timeline_json(scenario_files: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upstreams", "AS131279", *scenario_files, "--collector", "rrc21", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {p["collector"] for u in out["upstreams"] for p in u["peer_list"]} == {"rrc21"}
    assert main(["events", "AS131279", *scenario_files, "--json", "--timeline", "--buckets", "2"]) == 0
    timeline = json.loads(capsys.readouterr().out)["timeline"]
    assert timeline["upstreams"] == {"4837": [3, 3], "20485": [0, 2]}
    assert main(["upstreams", "AS131279", *scenario_files, "--collector", "rrc00,rrc01"]) == 2
    assert "one collector" in capsys.readouterr().err
