"""Origin-change detector (MOAS, more-specifics) on exact MRT fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing_fixture import KP, T0, four_peers
from transitwatch.detect.origin_change import MORE_SPECIFIC, ORIGIN_CHANGE, origin_events, origin_of
from transitwatch.sources.files import read_files
from transitwatch.state.target import Target
from transitwatch.state.view import target_view


def _moas(tmp_path: Path) -> list[Path]:
    h = four_peers()
    start, stop = T0 + 600, T0 + 1200
    for name, delay in (("ntt", 0), ("level3", 7)):
        asn = h.peers[name].asn
        h.announce(start + delay, name, KP[1], f"{asn} 666")           # best path now a hijack
        h.announce(stop + delay, name, KP[1], f"{asn} 4837 131279")    # and back
    h.background(T0 + 1800)
    return h.write(tmp_path)


def test_moas_seen_from_an_as_target(tmp_path: Path) -> None:
    # The AS view only keeps routes through AS131279: the hijack shows as the route that
    # replaced the target's at a peer, lasting until the peer's next target route.
    view = target_view("AS131279", read_files(_moas(tmp_path)))
    events = origin_events(view)
    assert [(e.type, e.prefix, e.origin) for e in events] == [(ORIGIN_CHANGE, KP[1], 666)]
    e = events[0]
    assert (e.onset, e.end, e.usual) == (T0 + 600, T0 + 1207, [131279])
    assert [p.asn for p in e.peer_list] == [2914, 3356]
    assert e.evidence[0].as_path == "2914 666" and e.evidence[0].offset is not None
    d = e.to_dict("Asia/Pyongyang")
    assert {"type", "target", "onset", "onset_local", "end", "peers", "evidence"} <= set(d)
    assert d["peers"] == 2 and d["onset_local"] == "2014-12-22T09:10:00+09:00"


def test_moas_seen_from_a_prefix_target(tmp_path: Path) -> None:
    view = target_view("175.45.176.0/22", read_files(_moas(tmp_path)))
    events = origin_events(view)
    assert [(e.type, e.prefix, e.origin, e.peers) for e in events] == [(ORIGIN_CHANGE, KP[1], 666, 2)]
    assert (events[0].onset, events[0].end) == (T0 + 600, T0 + 1207)
    assert origin_events(view, min_peers=3) == []


def test_more_specific_hijack(tmp_path: Path) -> None:
    h = four_peers()
    for name, delay in (("ntt", 0), ("level3", 5), ("cogent", 9)):
        asn = h.peers[name].asn
        h.announce(T0 + 600 + delay, name, "175.45.178.0/25", f"{asn} 3356 666")
    # A deaggregate by the usual origin is not a hijack.
    h.announce(T0 + 700, "telia", "175.45.176.0/25", "1299 4837 131279")
    h.background(T0 + 1800)
    files = h.write(tmp_path)
    view = target_view("AS131279,175.45.176.0/22", read_files(files))
    events = origin_events(view)
    assert [(e.type, e.prefix, e.origin, e.covering) for e in events] == [
        (MORE_SPECIFIC, "175.45.178.0/25", 666, KP[2])]
    e = events[0]
    assert (e.onset, e.end, e.peers, e.usual) == (T0 + 600, None, 3, [131279])
    assert e.last_seen == view.end
    # The AS alone learns the prefixes it originates and sees the same more-specific (issue 11:
    # no need to list the prefixes), through the decoder's route filter too.
    as_filter = Target.parse("AS131279").route_filter()
    for reader in (read_files(files), read_files(files, route_filter=as_filter)):
        alone = origin_events(target_view("AS131279", reader))
        assert [(e.type, e.prefix, e.origin, e.covering, e.peers) for e in alone] == [
            (MORE_SPECIFIC, "175.45.178.0/25", 666, KP[2], 3)]


def test_no_events_without_changes(tmp_path: Path) -> None:
    h = four_peers()
    h.background(T0 + 1800)
    view = target_view("175.45.176.0/22", read_files(h.write(tmp_path)))
    assert origin_events(view) == []


def test_origin_of() -> None:
    assert origin_of("2914 4837 131279") == 131279
    assert origin_of("2914 {1,2}") is None
    assert origin_of("") is None


def test_cli_events_beside_upstream_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from transitwatch.cli.main import main

    h = four_peers()
    h.announce(T0 + 300, "ntt", KP[1], "2914 666")                      # MOAS at one peer
    h.reset(T0 + 900, T0 + 1200, "telia")                               # a vantage point lost
    for prefix in KP:
        h.announce(T0 + 1210, "telia", prefix, "1299 4837 131279")
        for name, delay in (("ntt", 0), ("level3", 4), ("cogent", 8), ("telia", 12)):
            h.withdraw(T0 + 3600 + delay, name, prefix)               # then an outage
    h.background(T0 + 2 * 3600)
    files = [str(p) for p in h.write(tmp_path)]
    assert main(["events", "AS131279", *files, "--json", "--tz", "Asia/Pyongyang"]) == 0
    out = json.loads(capsys.readouterr().out)
    # The target vanishing everywhere is an outage; the upstream detector does not also call it
    # the loss of the only upstream (the peers' upstreams stay stale until the target returns).
    assert [(e["type"], e["onset"]) for e in out["events"]] == [
        ("origin_change", "2014-12-22T00:05:00Z"), ("outage", "2014-12-22T01:00:00Z")]
    assert out["events"][1]["onset_local"] == "2014-12-22T10:00:00+09:00"
    assert out["events"][1]["end"] is None and out["baseline"] == [4837]
    assert [(v["reason"], v["onset"]) for v in out["vantage_lost"]] == [
        ("session down", "2014-12-22T00:15:00Z")]
    assert out["detectors"] == ["upstream", "outage", "origin"]
    assert main(["events", "AS131279", *files, "--json", "--detect", "origin"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [e["type"] for e in out["events"]] == ["origin_change"] and "baseline" not in out
    assert main(["events", "AS131279", *files]) == 0
    text = capsys.readouterr().out
    assert "outage" in text and "vantage points lost" in text and "session down" in text
    assert main(["events", "AS131279", *files, "--detect", "hijacks"]) == 2
    assert "unknown detector 'hijacks'" in capsys.readouterr().err
