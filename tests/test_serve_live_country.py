"""`transitwatch serve --live --country KP` end to end, as a real process fed by a local RIS Live
server (websocket on 127.0.0.1): North Korea's address space (175.45.176.0/22, origin AS131279)
reached through AS4837 China Unicom, then one of its prefixes also through AS20485 TransTelecom,
as on 2017-10-01. Checked as a user would: what the service subscribed to, the country's
upstreams over the HTTP API before and after, the country's events, and one alert for the new
international upstream (not repeated by later detector runs or a re-sent announcement)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from local_ws import PAUSE, LocalWebsocketServer, Wait
from test_serve_live import Served, _alerts, cleanup  # noqa: F401  (cleanup: a fixture)
from transitwatch.times import iso_utc

REGISTRY_DIR = Path(__file__).parent / "data" / "registry"  # KP: AS131279, 175.45.176.0/22
PEERS = {"p1": ("192.0.2.1", 3333), "p2": ("192.0.2.2", 4444)}
CHINA_UNICOM, TRANSTELECOM = 4837, 20485


def _up(peer: str, t: float) -> str:
    ip, asn = PEERS[peer]
    return json.dumps({"type": "ris_message", "data": {
        "type": "RIS_PEER_STATE", "timestamp": t, "peer": ip, "peer_asn": str(asn), "host": "rrc00",
        "state": "connected"}})


def _announce(peer: str, t: float, upstream: int, prefix: str) -> str:
    ip, asn = PEERS[peer]
    return json.dumps({"type": "ris_message", "data": {
        "type": "UPDATE", "timestamp": t, "peer": ip, "peer_asn": str(asn), "host": "rrc00",
        "path": [asn, upstream, 131279], "origin": "igp",
        "announcements": [{"next_hop": ip, "prefixes": [prefix]}]}})


def test_serve_live_country_sees_a_new_international_upstream(tmp_path: Path, cleanup: list[Served]) -> None:  # noqa: F811
    t0 = time.time() - 120
    switch, resend = threading.Event(), threading.Event()
    script: list[Any] = [
        _up("p1", t0 - 400), _up("p2", t0 - 400),
        # the baseline: both KP /24s through China Unicom, seen by two peers
        *(_announce(p, t0 + i, CHINA_UNICOM, f"175.45.{176 + k}.0/24")
          for i, (p, k) in enumerate([("p1", 0), ("p2", 0), ("p1", 1), ("p2", 1)])),
        Wait(switch),
        # 175.45.178.0/24 appears through TransTelecom, seen by both peers: a new upstream of KP
        _announce("p1", t0 + 60, TRANSTELECOM, "175.45.178.0/24"),
        _announce("p2", t0 + 61, TRANSTELECOM, "175.45.178.0/24"),
        Wait(resend),
        # the same route announced again (a duplicate update): nothing new to say
        _announce("p1", t0 + 90, TRANSTELECOM, "175.45.178.0/24"), PAUSE,
    ]
    db = tmp_path / "live.duckdb"
    alerts = tmp_path / "alerts.jsonl"
    config = tmp_path / "alerts.toml"
    config.write_text(f'[[channels]]\ntype = "log"\npath = "{alerts}"\n')
    with LocalWebsocketServer([script], expect_subscriptions=3) as ws:
        served = Served(["--db", str(db), "--live", "--country", "KP", "--registry-dir", str(REGISTRY_DIR),
                         "--ris-live-url", ws.url, "--config", str(config), "--min-duration", "30s",
                         "--baseline", "0", "--backoff", "0.05", "--no-backfill"], tmp_path / "serve.log")
        cleanup.append(served)
        # RIS Live cannot filter by country: KP's registered prefixes and its origin AS.
        subscribed = [json.loads(m)["data"] for m in ws.received[0]]
        assert {s.get("prefix") for s in subscribed if "prefix" in s} == {"175.45.176.0/22", "2400:6c00::/32"}
        assert [s["path"] for s in subscribed if "path" in s] == ["131279$"]
        live = served.get("/api/live")
        assert live["targets"] == ["KP"]

        def upstreams() -> set[int]:
            res = httpx.get(f"{served.base}/api/upstreams/KP", timeout=10)
            if res.status_code == 404:  # before the first batch is written: no route to KP yet
                assert "no route to a prefix of KP" in res.json()["detail"]
                return set()
            assert res.status_code == 200, res.text[:300]
            return {u["asn"] for u in res.json()["upstreams"]}

        served.wait_for("the baseline", lambda: upstreams() == {CHINA_UNICOM})
        assert served.get("/api/upstreams", target="KP")["upstreams"] == served.get("/api/upstreams/KP")[
            "upstreams"]
        time.sleep(1.2)  # a detector run on the baseline: no alert for what was there from the start
        assert _alerts(alerts) == []

        switch.set()
        (alert,) = served.wait_for("the new upstream's alert", lambda: _alerts(alerts))
        assert (alert["type"], alert["target"], alert["phase"]) == ("new_upstream", "KP", "onset")
        assert (alert["subject"], alert["event"]["upstream"]) == ("AS20485", TRANSTELECOM)
        assert alert["event"]["onset"] == iso_utc(t0 + 60) and alert["event"]["peers"] == 2
        assert {e["prefix"] for e in alert["event"]["evidence"]} == {"175.45.178.0/24"}
        # named from the registry, as `watch --country` names it
        assert alert["event"]["upstream_name"] == "TRANSTELECOM" and "(TRANSTELECOM)" in alert["summary"]
        # The country's upstreams now: China Unicom and TransTelecom, each over its prefixes.
        served.wait_for("the new upstream in the API", lambda: upstreams() == {CHINA_UNICOM, TRANSTELECOM})
        answer = served.get("/api/upstreams/KP")
        by_asn = {u["asn"]: u for u in answer["upstreams"]}
        assert json.dumps(answer).count("175.45.178.0/24") >= 1
        assert by_asn[TRANSTELECOM] != by_asn[CHINA_UNICOM]
        # The country's events: the new upstream, dated, through either way of asking.
        for events in (served.get("/api/events", target="KP", min_duration=30),
                       served.get("/api/events", country="KP", min_duration=30)):
            kinds = [(e["type"], e.get("upstream"), e.get("onset")) for e in events["events"]]
            assert kinds == [("new_upstream", TRANSTELECOM, iso_utc(t0 + 60))], events

        # Further detector runs and a duplicate announcement: still one alert.
        seen = served.get("/api/live")["observations"]
        resend.set()
        served.wait_for("the duplicate", lambda: served.get("/api/live")["observations"] > seen)
        time.sleep(1.5)
        assert len(_alerts(alerts)) == 1
        assert upstreams() == {CHINA_UNICOM, TRANSTELECOM}
        served.stop()
    assert "event: " in (tmp_path / "serve.log").read_text()
