"""RIS Live: message parsing (recorded and written messages) and the websocket client against a
local server that replays messages, sends malformed ones, drops and closes connections."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from local_ws import CLOSE, COLLECT, DROP, PAUSE, LocalWebsocketServer
from transitwatch import Observation
from transitwatch.sources.rislive import (
    RECORD_TYPE,
    LiveGap,
    LiveStats,
    MalformedMessage,
    RisLiveError,
    parse_message,
    read_ris_live_file,
    ris_live_observations,
    ris_live_stream,
    subscriptions,
)

NK_PREFIXES = ["175.45.176.0/24", "175.45.177.0/24", "175.45.178.0/24", "175.45.179.0/24"]


def update(time: float, peer: str, peer_asn: int, path: list[Any], prefixes: list[str], *,
           host: str = "rrc01", withdrawals: list[str] | None = None, **extra: Any) -> str:
    data: dict[str, Any] = {"timestamp": time, "peer": peer, "peer_asn": str(peer_asn), "host": host,
                            "type": "UPDATE", "path": path, "origin": "igp", **extra}
    if prefixes:
        data["announcements"] = [{"next_hop": peer, "prefixes": prefixes}]
    data["withdrawals"] = withdrawals or []
    return json.dumps({"type": "ris_message", "data": data})


# Before: North Korea's AS131279 reached only through China Unicom AS4837 (as on 2015-10-23 in
# the PCH capture). After 2017-10-01 09:08 UTC: also through TransTelecom AS20485.
BEFORE = update(1506848400.0, "195.66.225.76", 3356, [3356, 4837, 131279], NK_PREFIXES)
AFTER = update(1506848880.5, "195.66.224.175", 8359, [8359, 20485, 131279], ["175.45.178.0/24"])
LAST = update(1506849000.0, "195.66.225.76", 3356, [], [], withdrawals=["175.45.179.0/24"])


# --- parsing -------------------------------------------------------------------------------------

def test_recorded_stream_file(shared_data: Path) -> None:
    path = shared_data / "rislive" / "ris-live-stream.json"
    stats = LiveStats()
    problems: list[str] = []
    observations = list(read_ris_live_file(path, stats=stats, on_problem=problems.append))
    announce, state = observations
    assert announce == Observation(
        time=1553627987.89, kind="announce", peer_ip="72.22.223.9", peer_asn=11708,
        prefix="45.161.192.0/23",
        as_path="11708 32097 1299 52320 263009 263009 263009 263009 263009 52993 268481 268481",
        origin="IGP", next_hop="72.22.223.9", record_type=RECORD_TYPE, collector="rrc00",
        source=str(path), offset=0)
    assert (state.kind, state.peer_ip, state.peer_asn, state.collector) == (
        "state", "195.66.224.59", 24931, "rrc01")
    assert (state.old_state, state.new_state) == (6, 1)  # "down"
    assert state.offset == len(path.read_bytes().splitlines(keepends=True)[0])
    # 7 messages: OPEN, NOTIFICATION, KEEPALIVE carry no routes, one ris_error, the last is cut short
    assert stats.messages == 7 and stats.observations == 2
    assert stats.server_errors == ["server error: this is a test error message"]
    assert stats.malformed == 1
    last_line_offset = sum(len(line) for line in path.read_bytes().splitlines(keepends=True)[:-1])
    assert problems[-1].startswith(f"{path}: byte {last_line_offset}: invalid JSON")
    with pytest.raises(MalformedMessage, match=f"byte {last_line_offset}"):
        list(read_ris_live_file(path, strict=True))


def test_bgpkit_form_of_a_ris_live_message(shared_data: Path) -> None:
    path = shared_data / "rislive" / "ris_live_raw_full.json"
    observations = list(read_ris_live_file(path))
    assert [o.prefix for o in observations] == [
        "2a0e:97c7::/48", "2a0e:97c6:fe::/48", "2a10:cc42:17b7::/48", "2a10:cc42:1feb::/48"]
    first = observations[0]
    assert first.as_path == "201333 6762 174 20473" and first.peer_asn == 201333
    assert first.communities == "6762:30 6762:14400" and first.med == 0
    assert first.local_pref is None  # no LOCAL_PREF attribute in the message, whatever elems say
    assert first.collector == "rrc10" and first.kind == "announce" and first.time == 1636245154.8


def test_written_update_with_every_attribute() -> None:
    text = update(1506848880.5, "2001:db8::1", 64500, [64500, 3356, [64512, 64513]], ["2001:db8:100::/40"],
                  withdrawals=["192.0.2.0/24"], community=[[3356, 100], [64500, 2]],
                  large_community=[[64500, 1, 2]], med=10, aggregator="64513:10.0.0.1")
    data = json.loads(text)
    data["data"]["announcements"][0]["next_hop"] = "2001:db8::1,fe80::1"
    withdraw, announce = parse_message(json.dumps(data), source="ws://x")
    assert withdraw == Observation(time=1506848880.5, kind="withdraw", peer_ip="2001:db8::1", peer_asn=64500,
                                   prefix="192.0.2.0/24", record_type="RIS_LIVE", collector="rrc01",
                                   source="ws://x")
    assert announce.as_path == "64500 3356 {64512,64513}"
    assert announce.next_hop == "2001:db8::1"
    assert announce.communities == "3356:100 64500:2" and announce.large_communities == "64500:1:2"
    assert announce.med == 10 and announce.aggregator == "64513 10.0.0.1" and announce.origin == "IGP"


def test_peer_connected_and_routeless_messages() -> None:
    up = json.dumps({"type": "ris_message", "data": {
        "timestamp": 1506848880, "peer": "10.0.0.1", "peer_asn": "65000", "host": "rrc21",
        "type": "RIS_PEER_STATE", "state": "connected"}})
    (state,) = parse_message(up)
    assert (state.kind, state.old_state, state.new_state, state.collector) == ("state", None, 6, "rrc21")
    assert parse_message({"type": "ris_message", "data": {"type": "KEEPALIVE"}}) == []
    assert parse_message('{"type": "pong", "data": null}') == []


@pytest.mark.parametrize(("message", "why"), [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "JSON object, not list"),
    ('{"type": "ris_mesage", "data": {}}', "unknown message type 'ris_mesage'"),
    ('{"type": "ris_message"}', "without a data object"),
    (update(1.0, "10.0.0.1", 1, [1], ["999.1.2.0/24"]), "bad prefix '999.1.2.0/24'"),
    (update(1.0, "10.0.0.1", 1, "1 2", ["10.0.0.0/8"]), "path is str"),
    (update(1.0, "10.0.0.1", 1, [1, "x"], ["10.0.0.0/8"]), "bad AS number 'x'"),
    (update(1.0, "10.0.0.1", -5, [1], ["10.0.0.0/8"]), "AS number out of range"),
    (update("soon", "10.0.0.1", 1, [1], ["10.0.0.0/8"]), "timestamp is 'soon'"),  # type: ignore[arg-type]
    (update(1.0, "10.0.0.1", 1, [1], ["10.0.0.0/8"], community=[[1]]), "community is not a list"),
    (update(1.0, "10.0.0.1", 1, [1], ["10.0.0.0/8"], origin="maybe"), "bad origin"),
    ('{"type": "ris_message", "data": {"type": "RIS_PEER_STATE", "state": "sleepy"}}', "unknown peer state"),
])
def test_malformed_messages_raise_one_line(message: str, why: str) -> None:
    with pytest.raises(MalformedMessage, match=why) as info:
        parse_message(message)
    assert "\n" not in str(info.value)


def test_server_error_message() -> None:
    with pytest.raises(RisLiveError, match="server error: bad subscription"):
        parse_message('{"type": "ris_error", "data": {"message": "bad subscription"}}')


def test_subscriptions_for_prefixes_and_paths() -> None:
    subs = subscriptions(["175.45.176.0/22", "2001:db8::/32"], ["131279$"])
    assert [s["type"] for s in subs] == ["ris_subscribe"] * 4
    assert [s["data"] for s in subs] == [
        {"type": "UPDATE", "prefix": "175.45.176.0/22", "moreSpecific": True},
        {"type": "UPDATE", "prefix": "2001:db8::/32", "moreSpecific": True},
        {"type": "UPDATE", "path": "131279$"},
        {"type": "RIS_PEER_STATE"},
    ]
    assert subscriptions(peer_state=False, host="rrc00") == [
        {"type": "ris_subscribe", "data": {"host": "rrc00", "type": "UPDATE"}}]
    with pytest.raises(RisLiveError, match="not an IP prefix"):
        subscriptions(["175.45.176/22x"])
    with pytest.raises(RisLiveError, match="cannot watch path 'AS131279'"):
        subscriptions(paths=["AS131279"])


# --- the client against a local websocket server ------------------------------------------------

def upstreams_of(observations: list[Observation], origin: int) -> set[int]:
    """Neighbours of ``origin`` on announced paths (what the detectors will look at)."""
    found = set()
    for o in observations:
        if o.kind == "announce" and o.as_path and o.as_path.split()[-1] == str(origin):
            found.add(int(o.as_path.split()[-2]))
    return found


async def collect(url: str, until: int, **options: Any) -> tuple[list[Any], LiveStats]:
    """Run the async client until ``until`` observations have arrived; gaps are logged inline."""
    stats = LiveStats()
    log: list[Any] = []
    stream = ris_live_stream(url, stats=stats, on_gap=log.append, **options)
    async for observation in stream:
        log.append(observation)
        if sum(isinstance(x, Observation) for x in log) == until:
            break
    await stream.aclose()
    return log, stats


def test_client_survives_bad_messages_drops_and_closes(shared_data: Path) -> None:
    recorded = (shared_data / "rislive" / "ris-live-stream.json").read_text().splitlines()
    watch = {"prefixes": ["175.45.176.0/22"], "paths": ["131279$"]}
    expected_subs = [json.dumps(s) for s in subscriptions(**watch)]
    scripts = [
        # connection 1: the recorded capture (an UPDATE, a peer going down, a ris_error, OPEN,
        # NOTIFICATION, KEEPALIVE, and a message cut short), junk we wrote, then the "before" view,
        # then the TCP connection dies without a close frame.
        [*recorded, "{not json", update(5.0, "10.0.0.1", 1, [1], ["999.0.0.0/8"]), BEFORE, PAUSE, DROP],
        # connection 2: the new upstream appears, then the server goes away cleanly.
        [AFTER, PAUSE, CLOSE],
        # connection 3: the stream goes on.
        [LAST],
    ]
    with LocalWebsocketServer(scripts, expect_subscriptions=len(expected_subs)) as server:
        log, stats = asyncio.run(collect(server.url, until=2 + 4 + 1 + 1, backoff=0.01, **watch))
    observations = [x for x in log if isinstance(x, Observation)]
    gaps = [x for x in log if isinstance(x, LiveGap)]

    # every connection re-subscribed with the same server-side filters, and named the client
    assert server.received == [expected_subs] * 3
    assert all(p.endswith("?client=transitwatch") for p in server.paths)
    # the survived problems are counted and described
    assert stats.malformed == 3 and stats.server_errors == ["server error: this is a test error message"]
    assert any("malformed message #9 skipped: bad prefix '999.0.0.0/8'" in p for p in stats.problems)
    assert stats.connections == 3 and stats.messages == len(recorded) + 2 + 1 + 1 + 1
    # two gaps, reported in stream order: after the "before" routes, before the "after" route
    assert [g.reason for g in gaps] == [
        "connection dropped", "server closed the connection (code 1001, going away)"]
    assert all(0 <= g.seconds < 5 for g in gaps)
    kinds = ["gap" if isinstance(x, LiveGap) else x.prefix for x in log]
    assert kinds[2:] == [*NK_PREFIXES, "gap", "175.45.178.0/24", "gap", "175.45.179.0/24"]
    assert "RIS Live gap" in str(gaps[0]) and "were not seen" in str(gaps[0])
    # the change is there to detect: AS131279 gains AS20485 beside AS4837 after the first gap
    before = [o for o in observations if o.time < 1506848880]
    assert upstreams_of(before, 131279) == {4837}
    assert upstreams_of(observations, 131279) == {4837, 20485}
    after = next(o for o in observations if o.prefix == "175.45.178.0/24" and o.peer_asn == 8359)
    assert (after.as_path, after.time, after.collector, after.source) == (
        "8359 20485 131279", 1506848880.5, "rrc01", server.url)
    assert observations[-1].kind == "withdraw"


def test_blocking_iterator_and_stats_to_dict() -> None:
    with LocalWebsocketServer([[BEFORE, DROP], [AFTER]], expect_subscriptions=2) as server:
        stats = LiveStats()
        gaps: list[LiveGap] = []
        got = []
        for observation in ris_live_observations(server.url, paths=["131279$"], backoff=0.01, stats=stats,
                                                 on_gap=gaps.append):
            got.append(observation)
            if len(got) == 5:
                break
    assert [o.as_path for o in got] == ["3356 4837 131279"] * 4 + ["8359 20485 131279"]
    assert len(gaps) == 1
    as_dict = stats.to_dict()
    assert as_dict["connections"] == 2 and as_dict["gaps"][0]["reason"] == "connection dropped"
    json.dumps(as_dict)


def test_follow_prefixes_so_that_withdrawals_arrive() -> None:
    follow = [json.dumps({"type": "ris_subscribe",
                          "data": {"type": "UPDATE", "prefix": p, "moreSpecific": False}})
              for p in NK_PREFIXES]
    base = [json.dumps(s) for s in subscriptions(["175.45.178.0/23"], ["131279"], peer_state=False)]
    # connection 1: BEFORE announces four prefixes via a watched path; the /23 covers two of them
    # connection 2: the client re-subscribes to the followed prefixes, then a bare withdrawal comes
    with LocalWebsocketServer([[BEFORE, COLLECT, DROP], [LAST]],
                              expect_subscriptions=[len(base), len(base) + 2]) as server:
        log, stats = asyncio.run(collect(server.url, until=5, backoff=0.01, prefixes=["175.45.178.0/23"],
                                         paths=["131279"], peer_state=False, follow_prefixes=True))
    assert server.received[0] == [*base, *follow[:2]]  # 176 and 177; 178 and 179 are in the /23
    assert server.received[1] == [*base, *follow[:2]]
    assert log[-1].kind == "withdraw" and len(stats.gaps) == 1


def test_follow_cap_is_reported() -> None:
    with LocalWebsocketServer([[BEFORE]], expect_subscriptions=1) as server:
        log, stats = asyncio.run(collect(server.url, until=4, paths=["131279$"], peer_state=False,
                                         follow_prefixes=True, max_followed=3))
    assert len(server.received[0]) == 1 + 3
    assert any("following 3 prefixes, the cap" in p for p in stats.problems)


def test_unreachable_server_gives_up_with_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    problems: list[str] = []

    async def run() -> None:
        async for _ in ris_live_stream(f"ws://127.0.0.1:{port}/", max_attempts=2, backoff=0.01,
                                       on_problem=problems.append):
            pass

    with pytest.raises(RisLiveError, match=r"gave up after 3 attempts: cannot connect"):
        asyncio.run(run())
    assert len(problems) == 2 and all("reconnecting in" in p for p in problems)


def test_refused_handshake_and_no_reconnect() -> None:
    async def first(url: str, **options: Any) -> None:
        async for _ in ris_live_stream(url, backoff=0.01, **options):
            pass

    with LocalWebsocketServer([], refuse_with=403) as server, \
            pytest.raises(RisLiveError, match=r"server refused the websocket \(HTTP 403\)"):
        asyncio.run(first(server.url))
    with LocalWebsocketServer([[DROP]]) as server, pytest.raises(RisLiveError, match="connection dropped"):
        asyncio.run(first(server.url, reconnect=False))
    with pytest.raises(RisLiveError, match="not a ws:// or wss:// URL"):
        asyncio.run(first("http://127.0.0.1:1/"))


def test_python_api_live_source_follows_and_notes_gaps() -> None:
    import transitwatch as tw

    src = tw.live(["AS131279", "175.45.176.0/22"], ris_live_url="ws://127.0.0.1:1/unused", backoff=0.01)
    prefixes, paths = src.subscriptions()
    assert prefixes == ["175.45.176.0/22"] and paths == ["131279"]
    expected = len(subscriptions(prefixes, paths))
    with LocalWebsocketServer([[BEFORE, DROP], [AFTER]], expect_subscriptions=expected) as server:
        src = tw.live("AS131279,175.45.176.0/22", ris_live_url=server.url, backoff=0.01)
        got = []
        for observation in src:
            got.append(observation)
            if len(got) == 5:
                break
    assert [o.as_path for o in got] == ["3356 4837 131279"] * 4 + ["8359 20485 131279"]
    assert len(server.received[0]) == expected and server.received[0] == server.received[1]
    assert any("gap" in n for n in src.notices)
