"""The JSON shapes the detectors share (detect._common): key order, local times, flat records."""

from __future__ import annotations

from transitwatch.detect._common import flat_event_records, onset_end_fields
from transitwatch.detect.origin_change import ORIGIN_CHANGE, OriginEvent
from transitwatch.detect.outage import VantageLost
from transitwatch.detect.upstream_change import Evidence
from transitwatch.state.table import PeerKey
from transitwatch.state.target import Target

T0 = 1506848880.0  # 2017-10-01T09:08:00Z, 17:38 in Pyongyang (UTC+8:30 then)
PEER = PeerKey("rrc00", "192.0.2.1", 3356)


def test_onset_end_fields_order_and_local_times() -> None:
    target = Target.parse("AS131279")
    with_zone = onset_end_fields("outage", target, T0, T0 + 600, "Asia/Pyongyang")
    assert list(with_zone) == ["type", "target", "onset", "onset_local", "end", "end_local"]
    assert with_zone["onset"] == "2017-10-01T09:08:00Z"
    assert with_zone["onset_local"].startswith("2017-10-01T17:38:00+08:30")
    assert with_zone["end"] == "2017-10-01T09:18:00Z"
    ongoing = onset_end_fields("outage", target, T0, None, "Asia/Pyongyang")
    assert list(ongoing) == ["type", "target", "onset", "onset_local", "end"] and ongoing["end"] is None
    assert onset_end_fields("outage", target, T0, T0 + 1, None) == {
        "type": "outage", "target": "AS131279", "onset": "2017-10-01T09:08:00Z",
        "end": "2017-10-01T09:08:01Z"}


def test_events_open_with_the_shared_fields_and_flatten_alike() -> None:
    target = Target.parse("175.45.176.0/22")
    evidence = Evidence(peer=PEER, time=T0, prefix="175.45.176.0/24", as_path="3356 666", source="f.gz",
                        offset=12, cause="announce")
    origin = OriginEvent(type=ORIGIN_CHANGE, target=target, prefix="175.45.176.0/24", origin=666,
                         covering="175.45.176.0/24", usual=[131279], onset=T0, end=None, last_seen=T0 + 60,
                         peer_list=[PEER], evidence=[evidence])
    lost = VantageLost(target=target, onset=T0, end=T0 + 300, reason="session down", peer_list=[PEER],
                       collector="rrc00", routes=4)
    for event in (origin, lost):
        d = event.to_dict("Asia/Pyongyang")
        head = onset_end_fields(event.type, target, event.onset, event.end, "Asia/Pyongyang")
        assert list(d)[:len(head)] == list(head) and all(d[k] == v for k, v in head.items())
    [o, v] = flat_event_records([origin, lost], "Asia/Pyongyang")
    assert "evidence" not in o and "peer_list" not in o and o["origin"] == 666 and o["peers"] == 1
    assert "evidence" not in v and "peer_list" not in v and v["reason"] == "session down"
    assert list(o) == [k for k in origin.to_dict("Asia/Pyongyang") if k not in ("evidence", "peer_list")]
