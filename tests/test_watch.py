"""watch: the offline detectors run incrementally over archive replays and a RIS Live feed served
from 127.0.0.1 (dropped connections, malformed JSON), each event emitted once; gap rules."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from local_ws import CLOSE, DROP, PAUSE, LocalWebsocketServer
from routing_fixture import KP, T0, four_peers
from transitwatch import Observation
from transitwatch.cli.main import main
from transitwatch.detect.upstream_change import upstream_changes
from transitwatch.live.watch import (
    Notice,
    Watcher,
    WatchError,
    WatchEvent,
    WatchSettings,
    WatchTarget,
    replay,
    watch_live,
)
from transitwatch.registry import Registry
from transitwatch.sources.files import read_files
from transitwatch.sources.rislive import LiveGap, LiveStats
from transitwatch.state.view import target_view

REGISTRY_DIR = Path(__file__).parent / "data" / "registry"
#: 2017-10-01T08:00:00Z
T = 1506844800.0
PEERS = {"a": ("195.66.225.76", 3356), "b": ("195.66.224.175", 8359), "c": ("80.249.208.1", 1299)}


def update(time: float, peer: str, path: list[int], prefixes: list[str], *,
           withdrawals: list[str] | None = None) -> str:
    """A RIS Live UPDATE message as the server writes it."""
    ip, asn = PEERS[peer]
    data: dict[str, Any] = {"timestamp": time, "peer": ip, "peer_asn": str(asn), "host": "rrc01",
                            "type": "UPDATE", "path": path, "origin": "igp",
                            "withdrawals": withdrawals or []}
    if prefixes:
        data["announcements"] = [{"next_hop": ip, "prefixes": prefixes}]
    return json.dumps({"type": "ris_message", "data": data})


def via(peer: str, upstream: int, time: float, prefixes: list[str] | None = None) -> str:
    return update(time, peer, [PEERS[peer][1], upstream, 131279], prefixes or list(KP))


# The live story: three peers reach AS131279 through China Unicom AS4837; twenty minutes later two
# of them also hear it through TransTelecom AS20485 (the 2017-10-01 change), and the third later.
BASELINE = [via("a", 4837, T), via("b", 4837, T + 1), via("c", 4837, T + 2)]
CHANGE = [via("a", 20485, T + 1200, [KP[2]]), via("b", 20485, T + 1210, [KP[2]])]
LATER = [via("c", 20485, T + 1300, [KP[2]]), via("a", 20485, T + 1310, [KP[2]])]
SCRIPTS = [
    # connection 1: the baseline, junk, the change; then the TCP connection dies (no close frame)
    [*BASELINE, "{not json", PAUSE, *CHANGE, PAUSE, DROP],
    # connection 2: more peers see the new upstream (not a second event); the server goes away
    [*LATER, PAUSE, CLOSE],
    # connection 3: the feed goes on; a route elsewhere in the table changes
    [via("c", 4837, T + 1400, [KP[0]])],
]


def expected_subscriptions() -> int:
    return 2  # the path "131279" and RIS_PEER_STATE (followed prefixes come after)


def kept(events: list[WatchEvent]) -> list[tuple[str, int, float]]:
    return [(e.type, e.event.upstream, e.onset) for e in events]


# --- replay: the same detectors, events in confirmation order ------------------------------------

def flapping_history(tmp_path: Path, flaps: int = 0) -> list[Path]:
    """Four peers via AS4837; at +1 h three gain AS20485 for 175.45.178.0/24, at +2 h they drop
    it; then ``flaps`` more gain/lose rounds 20 minutes apart."""
    h = four_peers()
    rounds = [(T0 + 3600, T0 + 7200)] + [(T0 + 7200 + 2400 * i + 1200, T0 + 7200 + 2400 * (i + 1))
                                         for i in range(flaps)]
    for gain, loss in rounds:
        for i, name in enumerate(["ntt", "level3", "cogent"]):
            h.announce(gain + 60 * i, name, KP[2], f"{h.peers[name].asn} 20485 131279")
            h.withdraw(loss + i, name, KP[2])
    h.background(rounds[-1][1] + 1800)
    return h.write(tmp_path)


def test_replay_emits_the_offline_events_once_in_confirmation_order(tmp_path: Path) -> None:
    paths = flapping_history(tmp_path)
    emitted: list[WatchEvent] = []
    watcher = Watcher([WatchTarget.parse("AS131279")], on_event=emitted.append)
    returned = replay(watcher, read_files(paths))
    offline = upstream_changes(target_view("AS131279", read_files(paths)))
    assert [(e.type, e.upstream, e.onset, e.confirmed) for e in offline.events] == [
        (e.type, e.event.upstream, e.onset, e.event.confirmed) for e in emitted]
    assert kept(emitted) == [("new_upstream", 20485, T0 + 3600), ("lost_upstream", 20485, T0 + 7200)]
    assert returned == emitted == watcher.events
    # emitted when confirmed (the next check), not at the end of the input
    assert all(e.event.confirmed <= e.emitted_at < e.event.confirmed + 60 + 240 for e in emitted)
    # detectors re-run on the same data find nothing new
    assert watcher.check() == [] and watcher.finish() == []
    assert emitted[0].to_dict()["emitted_at"].startswith("2014-12-22T01:0")


def test_replay_of_real_collector_updates_finds_what_events_finds(shared_data: Path) -> None:
    files = sorted((shared_data / "mrt" / "caida-2015").iterdir())  # RIS rrc06, RouteViews jinx
    settings = WatchSettings(min_peers=1, min_duration=60)
    watcher = Watcher([WatchTarget.parse("AS6939")], settings=settings)
    emitted = replay(watcher, read_files(files))
    offline = upstream_changes(target_view("AS6939", read_files(files)), min_peers=1, min_duration=60)
    assert len(offline.events) > 10
    assert sorted((e.type, e.event.upstream, e.onset, e.event.confirmed) for e in emitted) == sorted(
        (e.type, e.upstream, e.onset, e.confirmed) for e in offline.events)
    assert len({e.key for e in emitted}) == len(emitted)
    # emitted as confirmed: in confirmation order, at most one check interval late
    assert [e.emitted_at for e in emitted] == sorted(e.emitted_at for e in emitted)
    assert all(e.event.confirmed <= e.emitted_at <= e.event.confirmed + settings.check_every + 60
               for e in emitted)


def test_country_target_replays_through_the_country_view(tmp_path: Path) -> None:
    paths = flapping_history(tmp_path)
    watcher = Watcher([WatchTarget.parse("KP")], registry=Registry.load(REGISTRY_DIR))
    replay(watcher, read_files(paths))
    assert kept(watcher.events) == [("new_upstream", 20485, T0 + 3600), ("lost_upstream", 20485, T0 + 7200)]
    assert watcher.events[0].target == "KP"
    assert "TRANSTELECOM" in watcher.events[0].summary()  # the registry names the upstream


def test_every_detector_runs_incrementally_and_an_outage_is_reported_while_it_lasts(tmp_path: Path) -> None:
    from transitwatch.detect.events import events_of
    from transitwatch.scenarios.scenario import load_scenario

    paths = load_scenario("kp-2014-12-outage").write_mrt(tmp_path)  # written by the project's MRT writer
    offline = events_of("AS131279", read_files(paths))
    watcher = Watcher([WatchTarget.parse("AS131279")], settings=WatchSettings(detectors=("all",)))
    replay(watcher, read_files(paths))
    assert [(e.type, e.onset) for e in watcher.events] == [(e.type, e.onset) for e in offline.events]
    (outage,) = [e for e in watcher.events if e.type == "outage"]
    (recovered,) = [e for e in offline.events if e.type == "outage"]
    assert recovered.end is not None and outage.emitted_at < recovered.end  # alerted while down
    assert outage.emitted_at - outage.onset <= 300 + 2 * 60 + 240
    # ... and its recovery is said once, when it is seen, with the same identity.
    (end,) = [e for e in watcher.ends if e.type == "outage"]
    assert end.phase == "end" and end.key == outage.key and recovered.end <= end.emitted_at
    assert end.summary().startswith("ended 20") and end.to_dict()["phase"] == "end"


def test_targets_and_settings_reject_bad_input() -> None:
    with pytest.raises(WatchError, match="unknown target 'AS13x'"):
        WatchTarget.parse("AS13x")
    with pytest.raises(WatchError, match="unknown country code 'XX'|XX"):
        WatchTarget.parse("XX")
    with pytest.raises(WatchError, match="unknown detector 'upstreams'"):
        WatchSettings(detectors=("upstreams",))
    with pytest.raises(WatchError, match="nothing to watch"):
        Watcher([])
    assert WatchTarget.parse("AS131279").subscription() == ([], ["131279"])
    assert WatchTarget.parse("175.45.176.0/22").subscription() == (["175.45.176.0/22"], [])
    kp = WatchTarget.for_country("kp", asns=[131279], prefixes=["175.45.176.0/22"])
    assert kp.subscription() == (["175.45.176.0/22"], ["131279$"])


# --- gap rules ------------------------------------------------------------------------------------

def obs(time: float, peer: str, prefix: str, path: str | None) -> Observation:
    ip, asn = PEERS[peer]
    if path is None:
        return Observation(time=time, kind="withdraw", peer_ip=ip, peer_asn=asn, prefix=prefix,
                           collector="rrc01")
    return Observation(time=time, kind="announce", peer_ip=ip, peer_asn=asn, prefix=prefix,
                       as_path=f"{asn} {path}", origin="IGP", collector="rrc01")


def started(notices: list[Notice]) -> Watcher:
    """A watcher that has seen the baseline and the gain of AS20485 by two peers."""
    watcher = Watcher([WatchTarget.parse("AS131279")], on_notice=notices.append,
                      settings=WatchSettings(check_every=1))  # check on every feed
    watcher.feed([obs(T + i, p, k, "4837 131279") for i, p in enumerate(PEERS) for k in KP])
    watcher.feed([obs(T + 100, "a", KP[2], "20485 131279"), obs(T + 101, "b", KP[2], "20485 131279")])
    assert kept(watcher.events) == [("new_upstream", 20485, T + 100)]
    watcher.gap(LiveGap(1.0, 2.0, "connection dropped"))
    return watcher


def test_a_loss_right_after_a_gap_is_held_until_resync_then_reported_uncertain() -> None:
    notices: list[Notice] = []
    watcher = started(notices)
    watcher.feed([obs(T + 1000, "a", KP[2], None), obs(T + 1001, "b", KP[2], None)])
    assert len(watcher.events) == 1  # the loss is confirmed by two peers, but held
    assert [n.kind for n in notices] == ["gap", "resync", "held"]
    assert "until 2017-10-01T08:21:40Z" in notices[1].text  # first data after the gap + 5 min
    watcher.feed([obs(T + 1299, "c", KP[0], "4837 131279")])
    assert len(watcher.events) == 1
    watcher.feed([obs(T + 1301, "c", KP[1], "4837 131279")])  # the resync window has passed
    assert kept(watcher.events)[1:] == [("lost_upstream", 20485, T + 1000)]
    lost = watcher.events[1]
    assert lost.uncertain is not None and "connection dropped" in lost.uncertain
    assert lost.to_dict()["uncertain"] == lost.uncertain and "[uncertain:" in lost.summary()
    assert watcher.events[0].uncertain is None


def test_lost_and_regained_while_resynchronising_is_not_reported() -> None:
    notices: list[Notice] = []
    watcher = started(notices)
    watcher.feed([obs(T + 1000, "a", KP[2], None), obs(T + 1001, "b", KP[2], None)])
    watcher.feed([obs(T + 1100, "a", KP[2], "20485 131279"), obs(T + 1101, "b", KP[2], "20485 131279")])
    watcher.feed([obs(T + 2000, "c", KP[0], "4837 131279")])
    assert len(watcher.events) == 1
    assert notices[-1].kind == "dropped" and "lost and regained AS20485" in notices[-1].text
    assert watcher.status()["dropped"] == 2


def session(time: float, peer: str, up: bool) -> Observation:
    ip, asn = PEERS[peer]
    return Observation(time=time, kind="state", peer_ip=ip, peer_asn=asn, old_state=6 if not up else 5,
                       new_state=6 if up else 1, collector="rrc01")


@pytest.mark.parametrize("gap", [False, True])
def test_a_loss_after_a_session_reset_is_dropped_when_reannouncements_may_have_been_missed(gap: bool) -> None:
    notices: list[Notice] = []
    watcher = Watcher([WatchTarget.parse("AS131279")], on_notice=notices.append,
                      settings=WatchSettings(check_every=1))
    watcher.feed([obs(T + i, p, k, "4837 131279") for i, p in enumerate(PEERS) for k in KP])
    watcher.feed([obs(T + 100, "a", KP[2], "20485 131279"), obs(T + 101, "b", KP[2], "20485 131279")])
    # both sessions reset; back at T+250: what they do not re-announce by T+550 is lost then
    watcher.feed([session(T + 200, "a", False), session(T + 201, "b", False)])
    watcher.feed([session(T + 250, "a", True), session(T + 250, "b", True)])
    if gap:  # disconnected while they were re-announcing
        watcher.gap(LiveGap(1.0, 2.0, "connection dropped"))
    watcher.feed([obs(T + 400, "c", KP[0], "4837 131279")])
    watcher.feed([obs(T + 1000, "c", KP[1], "4837 131279")])
    lost = [e for e in watcher.events if e.type == "lost_upstream"]
    if gap:
        assert lost == [] and any(n.kind == "dropped" and "re-announced during a RIS Live gap" in n.text
                                  for n in notices)
    else:
        assert [(e.onset, e.event.evidence[0].cause) for e in lost] == [
            (T + 550, "not re-announced after session reset")]


def test_routes_are_kept_through_a_gap() -> None:
    watcher = started([])
    watcher.feed([obs(T + 5000, "c", KP[0], "4837 131279")])  # hours of silence: nothing is lost
    watcher.check(T + 20000)
    assert len(watcher.events) == 1


# --- live, against a local RIS Live server ----------------------------------------------------

def test_live_watch_survives_drops_and_junk_and_reports_the_new_upstream_once() -> None:
    notices: list[Notice] = []
    emitted: list[WatchEvent] = []
    watcher = Watcher([WatchTarget.parse("AS131279")], on_event=emitted.append, on_notice=notices.append)
    stats = LiveStats()
    with LocalWebsocketServer(SCRIPTS, expect_subscriptions=expected_subscriptions()) as server:
        def everything_arrived() -> bool:
            return stats.connections == 3 and watcher.observations == 4 * 3 + 2 + 2 + 1

        asyncio.run(watch_live(watcher, server.url, duration=10, check_every=0.2, backoff=0.01,
                               stats=stats, stop=everything_arrived))
    assert stats.connections == 3
    assert kept(emitted) == [("new_upstream", 20485, T + 1200)]
    event = emitted[0].event
    assert event.confirmed == T + 1210 and event.confirmed_by == "peers"
    assert [str(p.ip) for p in event.peer_list] == [PEERS["a"][0], PEERS["b"][0]]
    assert emitted[0].uncertain is None  # confirmed before the connection dropped
    kinds = [n.kind for n in notices]
    assert kinds.count("gap") == 2
    assert any(n.kind == "problem" and "malformed message" in n.text and "invalid JSON" in n.text
               for n in notices)
    gaps = [n for n in notices if n.kind == "gap"]
    assert "connection dropped" in gaps[0].text and "going away" in gaps[1].text
    # the subscription followed the target's prefixes, on every connection
    assert json.loads(server.received[0][0])["data"] == {"type": "UPDATE", "path": "131279"}
    assert server.received[1][:2] == server.received[0][:2]
    assert watcher.observations == 4 * 3 + 2 + 2 + 1


def test_cli_watch_live_prints_the_event_once_and_reports_gap_and_junk(
        capsys: pytest.CaptureFixture[str]) -> None:
    with LocalWebsocketServer(SCRIPTS, expect_subscriptions=expected_subscriptions()) as server:
        code = main(["watch", "AS131279", "--live", "--ris-live-url", server.url, "--for", "2.5s",
                     "--backoff", "0.01", "--baseline", "0", "--tz", "Asia/Pyongyang",
                     "--registry-dir", str(REGISTRY_DIR)])
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("new_upstream: AS131279 new upstream AS20485 (TRANSTELECOM) since "
                               "2017-10-01T08:20:00Z (2017-10-01T16:50:00+08:30)")
    assert "RIS Live gap" in err and "connection dropped" in err
    assert "malformed message" in err
    assert "1 event(s) for AS131279" in err and "2 gap(s), 1 malformed" in err


def test_cli_watch_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["watch", "AS131279"]) == 2
    assert "give MRT FILES to replay, or --live" in capsys.readouterr().err
    assert main(["watch", "ASfoo", "--live"]) == 2
    err = capsys.readouterr().err
    assert "unknown target 'ASfoo'" in err and "FILE arguments must exist" in err
    assert main(["watch", "AS131279", "--live", "--ris-live-url", "http://127.0.0.1:1/"]) == 2
    assert "not a ws:// or wss:// URL" in capsys.readouterr().err
    empty = tmp_path / "registry"
    empty.mkdir()
    assert main(["watch", "--country", "KP", "--live", "--registry-dir", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "RIS Live cannot be filtered by country" in err and len(err.strip().splitlines()) == 1


# --- the Python API: `watch` only parses and renders around tw.watch -----------------------------

def test_api_watch_replay_equals_the_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import transitwatch as tw

    paths = flapping_history(tmp_path)
    seen: list[WatchEvent] = []
    ended: list[Any] = []
    result = tw.watch("AS131279", tw.files(paths), detect="all", tz="Asia/Pyongyang",
                      registry=REGISTRY_DIR, on_event=seen.append, on_end=ended.append)
    assert ended == [result] and seen == result.events
    ups = [e for e in result.events if e.type.endswith("_upstream")]
    assert kept(ups) == [("new_upstream", 20485, T0 + 3600), ("lost_upstream", 20485, T0 + 7200)]
    assert main(["watch", "AS131279", *map(str, paths), "--json", "--detect", "all",
                 "--tz", "Asia/Pyongyang", "--registry-dir", str(REGISTRY_DIR)]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert all(line.pop("record") == "event" for line in lines)
    assert lines == json.loads(json.dumps(result.to_dict()["events"]))
    assert f"{len(result.events)} event(s) for AS131279" in err
    assert result.status["observations"] > 0 and result.to_dict()["live"] is None
    frame = result.to_pandas()
    assert list(frame["type"]) == [e.type for e in result.events]
    assert str(frame["onset"].dtype) == "datetime64[us, UTC]"
    assert f"{len(result.events)} event(s) for AS131279" in repr(result)


def test_api_watch_live_with_for_seconds() -> None:
    import transitwatch as tw

    with LocalWebsocketServer(SCRIPTS, expect_subscriptions=expected_subscriptions()) as server:
        notes: list[str] = []
        result = tw.watch(["AS131279"], tw.live("AS131279", ris_live_url=server.url), for_seconds="2.5s",
                          backoff=0.01, baseline=0, registry=REGISTRY_DIR, on_note=notes.append)
    assert kept(result.events) == [("new_upstream", 20485, T + 1200)]
    assert notes[0].startswith(f"following {server.url} for AS131279")
    doc = result.to_dict()
    assert doc["live"]["url"] == server.url and doc["live"]["connections"] >= 2
    assert [n["kind"] for n in doc["notices"]].count("gap") >= 1


@pytest.mark.parametrize(("kwargs", "message", "param"), [
    ({"targets": "ASfoo", "live": True}, "unknown target 'ASfoo'", "targets"),
    ({"targets": []}, "nothing to watch", "targets"),
    ({"targets": "AS131279"}, "give MRT FILES to replay, or --live", "src"),
    ({"targets": "AS131279", "live": True, "min_duration": "soon"}, "soon", "settings"),
    ({"targets": "AS131279", "live": True, "detect": "upstreams"}, "unknown detector 'upstreams'",
     "settings"),
    ({"targets": "AS131279", "live": True, "tz": "Mars/Olympus"}, "Mars/Olympus", None),
    ({"targets": "AS131279", "live": True, "config": "/nonexistent/alerts.toml"}, "cannot read", "config"),
    ({"targets": "AS131279", "live": True, "ris_live_url": "http://127.0.0.1:1/", "for_seconds": 5},
     "not a ws:// or wss:// URL", "ris_live_url"),
])
def test_api_watch_bad_input_is_one_line_error(kwargs: dict[str, Any], message: str,
                                               param: str | None) -> None:
    import transitwatch as tw
    from transitwatch.errors import TransitwatchError

    targets = kwargs.pop("targets")
    with pytest.raises(TransitwatchError) as exc:
        tw.watch(targets, registry=REGISTRY_DIR, **kwargs)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    if param is not None:
        assert exc.value.param == param  # type: ignore[attr-defined]
