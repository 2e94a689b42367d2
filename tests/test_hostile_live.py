"""The live feed treats every byte as hostile: a RIS Live server sending crafted messages cannot
crash, hang or mislead `watch`, and `--for` always ends the run (issue 16)."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from local_ws import PAUSE, LocalWebsocketServer
from routing_fixture import KP, T0, four_peers
from transitwatch.cli.main import main
from transitwatch.detect.outage import outages_of
from transitwatch.live.watch import Watcher, WatchTarget, watch_live
from transitwatch.live.watchdog import Watchdog, WatchdogExpired
from transitwatch.observation import Observation
from transitwatch.sources.files import read_files
from transitwatch.sources.rislive import (
    MAX_DEPTH,
    MAX_MESSAGE_BYTES,
    LiveStats,
    MalformedMessage,
    RisLiveError,
    parse_message,
    read_ris_live_file,
)

T = 1506844800.0  # 2017-10-01T08:00:00Z


def msg(timestamp: Any = T, *, peer: Any = "195.66.225.76", peer_asn: Any = "3356",
        path: Any = None, prefixes: Any = None, raw_time: str | None = None, **extra: Any) -> str:
    data: dict[str, Any] = {"timestamp": timestamp, "peer": peer, "peer_asn": peer_asn, "host": "rrc01",
                            "type": "UPDATE", "path": [3356, 4837, 131279] if path is None else path,
                            "origin": "igp",
                            "announcements": [{"next_hop": "195.66.225.76",
                                               "prefixes": prefixes or [KP[0]]}], **extra}
    text = json.dumps({"type": "ris_message", "data": data})
    if raw_time is not None:  # values json.dumps would not write
        text = text.replace(json.dumps(timestamp), raw_time, 1)
    return text


DEEP = '{"type": "ris_message", "data": ' + "[" * 200_000 + "]" * 200_000 + "}"
HOSTILE: list[tuple[str, str]] = [
    (DEEP, "too deep"),
    ("[" * 100_000, "too deep"),  # unclosed, too
    ('{"a": "' + "[" * 100 + '"}', "unknown type"),  # brackets inside a string are not nesting
    ("x" * (MAX_MESSAGE_BYTES + 1), "too large"),
    (msg(0, raw_time="1e300"), "bad timestamp"),
    (msg(0, raw_time="Infinity"), "invalid JSON"),
    (msg(0, raw_time="NaN"), "invalid JSON"),
    (msg(0, raw_time="-Infinity"), "invalid JSON"),
    (msg(0, raw_time="1" * 400), "bad timestamp"),
    (msg(time.time() + 86400 * 365), "bad timestamp"),  # a year ahead would confirm events early
    (msg(-1.0), "bad timestamp"),
    (msg(peer_asn=2**32), "bad AS number"),
    (msg(peer_asn="1" * 5000), "bad AS number"),
    (msg(peer_asn=1.5), "bad AS number"),
    (msg(path=[3356, [4837, -1], 131279]), "bad AS number"),
    (msg(path=[3356, 2**64]), "bad AS number"),
    (msg(prefixes=["175.45.176.0/33"]), "bad prefix"),
    (msg(prefixes=[["175.45.176.0/24"]]), "bad prefix"),
    (msg(prefixes=["a" * 10_000]), "bad prefix"),
    (msg(peer="not-an-ip"), "bad peer"),
    (msg(peer=None), "bad peer"),
    (msg(med=-1), "bad field"),
    (msg(med=2**70), "bad field"),
    (msg(community=[[1, 70000]]), "bad field"),
    (msg(community=[[1, 1.5]]), "bad field"),
    (msg(aggregator="64513:not-an-ip"), "bad aggregator"),
    (msg(host={"x": 1}), "bad field"),
    (json.dumps({"type": "ris_message", "data": {
        "type": "UPDATE", "timestamp": T, "peer": "10.0.0.1", "peer_asn": 1, "origin": "igp",
        "announcements": [{"next_hop": 5, "prefixes": []}]}}), "bad next_hop"),
    ("\ud800", "invalid JSON"),
    (b"\xff\xfe{}", "invalid JSON"),
]


@pytest.mark.parametrize(("message", "reason"), HOSTILE,
                         ids=[f"{i}-{r}" for i, (_, r) in enumerate(HOSTILE)])
def test_each_hostile_message_is_malformed_with_a_reason_and_one_line(message: str, reason: str) -> None:
    with pytest.raises(MalformedMessage) as info:
        parse_message(message)
    assert info.value.reason == reason
    text = str(info.value)
    assert "\n" not in text and len(text) < 300


def test_valid_messages_near_the_limits_still_parse() -> None:
    (o,) = parse_message(msg(peer_asn=2**32 - 1, path=[2**32 - 1, [0, 1]], med=2**32 - 1,
                             community=[[65535, 0]], large_community=[[2**32 - 1, 0, 1]]))
    assert o.peer_asn == 2**32 - 1 and o.as_path == "4294967295 {0,1}" and o.med == 2**32 - 1
    assert o.communities == "65535:0" and o.time == T
    nested = {"type": "ris_message", "data": {"type": "KEEPALIVE", "x": [[[[[[[[1]]]]]]]]}}
    assert parse_message(json.dumps(nested)) == []
    with pytest.raises(MalformedMessage, match="deeper than"):
        parse_message(json.dumps({"a": json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)}))


def test_a_capture_file_with_hostile_lines_is_read_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "capture.ndjson"
    path.write_text("\n".join([msg(T), DEEP, msg(0, raw_time="NaN"), msg(0, raw_time="1e300"), msg(T + 1)]))
    stats = LiveStats()
    got = list(read_ris_live_file(path, stats=stats))
    assert [o.time for o in got] == [T, T + 1]
    assert stats.dropped == {"too deep": 1, "invalid JSON": 1, "bad timestamp": 1}
    assert stats.dropped_text() == "3 malformed (1 bad timestamp, 1 invalid JSON, 1 too deep)"
    assert any(f"{path}: byte " in p for p in stats.problems)


def test_a_flood_is_counted_but_described_only_a_few_times() -> None:
    stats = LiveStats()
    for _ in range(1000):
        try:
            parse_message(msg(0, raw_time="NaN"))
        except MalformedMessage as exc:
            stats.drop(exc)
    assert stats.dropped == {"invalid JSON": 1000} and stats.malformed == 1000


def _outage_observations(tmp_path: Path) -> list[Observation]:
    h = four_peers()
    for name in h.peers:
        for prefix in KP:
            h.withdraw(T0 + 600, name, prefix)
    h.background(T0 + 7200)
    return list(read_files(h.write(tmp_path)))


def test_a_nan_time_cannot_stall_the_outage_detector(tmp_path: Path) -> None:
    observations = _outage_observations(tmp_path)
    poisoned = [*observations[:5], observations[5].replace(time=math.nan), *observations[5:]]
    result: list[Any] = []
    runner = threading.Thread(target=lambda: result.append(outages_of("AS131279", poisoned)), daemon=True)
    runner.start()
    runner.join(20)
    assert result, "outage_changes did not finish on a NaN time"
    assert [e.type for e in result[0].events] == [e.type for e in outages_of("AS131279", observations).events]


def test_the_watcher_never_applies_a_time_that_is_not_finite(tmp_path: Path) -> None:
    observations = _outage_observations(tmp_path)
    watcher = Watcher([WatchTarget.parse("AS131279")])
    watcher.feed(observations[:10])
    clock = watcher.clock()
    watcher.feed([observations[10].replace(time=math.nan), observations[11].replace(time=math.inf)])
    assert watcher.clock() == clock and watcher.observations == 10


def test_the_watchdog_interrupts_a_stuck_loop() -> None:
    started = time.monotonic()
    with pytest.raises(WatchdogExpired, match="did not end"), Watchdog(0.3, hard_exit=False):
        while True:
            pass
    assert time.monotonic() - started < 3
    with Watchdog(5, hard_exit=False) as quick:  # a run that ends in time is left alone
        pass
    assert not quick.fired


def test_watch_for_ends_even_when_the_watch_is_stuck() -> None:
    """A stuck check (here: a stop() that never returns) cannot outlive the deadline."""
    def stuck() -> bool:
        while True:
            pass

    with LocalWebsocketServer([[msg(T)]], expect_subscriptions=2) as server:
        watcher = Watcher([WatchTarget.parse("AS131279")])
        started = time.monotonic()
        with pytest.raises(WatchdogExpired), Watchdog(1.0, hard_exit=False):
            asyncio.run(watch_live(watcher, server.url, duration=0.5, stop=stuck, backoff=0.01))
    assert time.monotonic() - started < 5


def test_cli_watch_survives_a_hostile_server_and_reports_drops_by_reason(
        capsys: pytest.CaptureFixture[str]) -> None:
    big = msg(T, prefixes=[KP[0]], junk="x" * (MAX_MESSAGE_BYTES + 10))
    script = [
        msg(T, peer="195.66.225.76", peer_asn="3356", path=[3356, 4837, 131279]),
        DEEP, msg(0, raw_time="NaN"), msg(0, raw_time="1e300"), msg(0, raw_time="Infinity"),
        msg(time.time() + 86400 * 30), msg(peer_asn=2**40), msg(prefixes=["1.2.3.4/99"]), big,
        json.dumps({"type": "ris_error", "data": {"message": "x\n" * 10_000}}),
        PAUSE,
        msg(T + 1200, peer="195.66.224.175", peer_asn="8359", path=[8359, 20485, 131279]),
        msg(T + 1210, peer="80.249.208.1", peer_asn="1299", path=[1299, 20485, 131279]),
    ]
    with LocalWebsocketServer([script], expect_subscriptions=2) as server:
        started = time.monotonic()
        code = main(["watch", "AS131279", "--live", "--ris-live-url", server.url, "--for", "2s",
                     "--backoff", "0.01", "--baseline", "0", "--min-peers", "2",
                     "--detect", "upstream,outage,origin"])
        elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 0 and elapsed < 8
    assert out.startswith("new_upstream: AS131279 new upstream AS20485")
    assert "Traceback" not in err and "RecursionError" not in err
    assert ("8 malformed (2 bad timestamp, 2 invalid JSON, 1 bad AS number, 1 bad prefix, 1 too deep, "
            "1 too large)") in err
    assert "server error: x x" in err and max(len(line) for line in err.splitlines()) < 1000


def test_ris_error_text_is_one_bounded_line() -> None:
    with pytest.raises(RisLiveError) as info:
        parse_message(json.dumps({"type": "ris_error", "data": {"message": "a\nb" * 1000}}))
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
