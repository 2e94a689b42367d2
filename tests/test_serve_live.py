"""`transitwatch serve --live` end to end, as a real process: a local RIS Live server (websocket on
127.0.0.1) feeds it an upstream switch, cuts the connection (a gap, backfilled from a local RIS
archive), the server is killed with SIGKILL and restarted; alerts go to a log channel. Checked:
what is stored (no duplicate route, the backfilled route), alerts on onset and end each once
across the restart, the gaps recorded, the API (path and query forms, every event type), the
server-sent stream, and `ingest` handing files to the running server."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from local_http import LocalHTTPServer, ServedFile
from local_ws import DROP, PAUSE, LocalWebsocketServer, Wait
from test_store import write_demo_history
from transitwatch.cli.main import main
from transitwatch.observation import Observation
from transitwatch.sources.mrt_writer import write_mrt
from transitwatch.store import Store

KP = "AS131279"
PREFIX = "175.45.176.0/24"
PEERS = {"p1": ("192.0.2.1", 3333), "p2": ("192.0.2.2", 4444), "p3": ("192.0.2.3", 5555)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _announce(peer: str, t: float, upstream: int, prefix: str = PREFIX) -> str:
    ip, asn = PEERS[peer]
    return json.dumps({"type": "ris_message", "data": {
        "type": "UPDATE", "timestamp": t, "peer": ip, "peer_asn": str(asn), "host": "rrc00",
        "path": [asn, upstream, 131279], "origin": "igp",
        "announcements": [{"next_hop": ip, "prefixes": [prefix]}]}})


def _withdraw(peer: str, t: float, prefix: str = PREFIX) -> str:
    ip, asn = PEERS[peer]
    return json.dumps({"type": "ris_message", "data": {
        "type": "UPDATE", "timestamp": t, "peer": ip, "peer_asn": str(asn), "host": "rrc00",
        "withdrawals": [prefix]}})


def _up(peer: str, t: float) -> str:
    ip, asn = PEERS[peer]
    return json.dumps({"type": "ris_message", "data": {
        "type": "RIS_PEER_STATE", "timestamp": t, "peer": ip, "peer_asn": str(asn), "host": "rrc00",
        "state": "connected"}})


def _archive(t0: float, until: float) -> dict[str, ServedFile]:
    """RIS-layout update files for rrc00 covering [t0, until]: the one holding t0 + 100 has p3's
    announcement through AS20485 (what happened during the cut); the others only foreign routes."""
    files: dict[str, ServedFile] = {}
    slot = datetime.fromtimestamp(t0, tz=UTC).replace(second=0, microsecond=0)
    slot -= timedelta(minutes=slot.minute % 5)
    while slot.timestamp() <= until:
        start = slot.timestamp()
        ip, asn = PEERS["p3"]
        obs = [Observation(time=start + 1, kind="announce", peer_ip="198.51.100.9", peer_asn=9,
            prefix="192.0.2.0/24",
                           as_path="9 64500", origin="IGP", next_hop="198.51.100.9", collector="rrc00")]
        if start <= t0 + 100 < start + 300:
            obs.append(Observation(time=t0 + 100, kind="announce", peer_ip=ip, peer_asn=asn, prefix=PREFIX,
                                   as_path=f"{asn} 20485 131279", origin="IGP", next_hop=ip,
                                       collector="rrc00"))
            obs.sort(key=lambda o: o.time)
        raw = io.BytesIO()
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tw-archive-{os.getpid()}-{int(start)}"
        write_mrt(path, obs)
        raw.write(gzip.compress(path.read_bytes()))
        path.unlink()
        files[f"/rrc00/{slot:%Y.%m}/updates.{slot:%Y%m%d.%H%M}.gz"] = ServedFile(raw.getvalue())
        slot += timedelta(minutes=5)
    return files


class Served:
    """One `transitwatch serve --live` process."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "transitwatch", "serve", "--port", str(self.port),
                                      *args], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, f"serve exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{self.base}/api/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)

    def get(self, path: str, **params: Any) -> Any:
        res = httpx.get(f"{self.base}{path}", params=params, timeout=10)
        assert res.status_code == 200, (path, res.status_code, res.text[:300])
        return res.json()

    def wait_for(self, what: str, check: Any, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def cleanup() -> Iterator[list[Served]]:
    servers: list[Served] = []
    yield servers
    for s in servers:
        s.stop(signal.SIGKILL)


def _alerts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_serve_live_end_to_end(tmp_path: Path, cleanup: list[Served],
                               capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.time() - 600  # the feed's times: ten minutes ago, so the cut's window is archived
    go_on = threading.Event()
    scripts: list[list[Any]] = [
        # 1: sessions up (settled before the outage), both peers through AS4837, then both switch
        # to AS20485; then a cut.
        [_up("p1", t0 - 400), _up("p2", t0 - 400), _announce("p1", t0, 4837), _announce("p2", t0 + 1, 4837),
         PAUSE, _announce("p1", t0 + 60, 20485), _announce("p2", t0 + 61, 20485), PAUSE, PAUSE, DROP],
        # 2: after the gap: the prefix withdrawn everywhere (an outage), back 100 s later.
        [Wait(go_on), _withdraw("p1", t0 + 200), _withdraw("p2", t0 + 200), _withdraw("p3", t0 + 200), PAUSE,
         _announce("p1", t0 + 300, 20485), _announce("p2", t0 + 300, 20485), _announce("p3", t0 + 301,
             20485)],
        # 3: after the restart: one confirmation.
        [_announce("p1", t0 + 400, 20485)],
    ]
    db = tmp_path / "live.duckdb"
    alerts = tmp_path / "alerts.jsonl"
    config = tmp_path / "alerts.toml"
    config.write_text(f'[[channels]]\ntype = "log"\npath = "{alerts}"\n')
    with LocalHTTPServer(_archive(t0, time.time() + 60)) as archive, \
            LocalWebsocketServer(scripts, expect_subscriptions=2) as ws:
        args = ["--db", str(db), "--live", KP, "--ris-live-url", ws.url, "--config", str(config),
                "--archive-url", f"ris={archive.url('')}", "--cache-dir", str(tmp_path / "cache"),
                "--min-duration", "30s", "--baseline", "0", "--backoff", "0.05", "--backfill-wait", "0"]
        first = Served(args, tmp_path / "serve1.log")
        cleanup.append(first)
        # The switch of upstream: alerted once each, stored, answered by the API.
        first.wait_for("the switch alerts", lambda: {a["type"] for a in _alerts(alerts)} >= {
            "new_upstream", "lost_upstream"})
        filled = first.wait_for("the backfilled gap", lambda: first.get("/api/coverage")["backfilled"])
        assert filled[0]["collector"] == "rrc00" and "1 observation(s) written" in filled[0]["detail"]
        assert first.get("/api/coverage")["gaps"] == []  # filled from the archive: covered
        up = first.get(f"/api/upstreams/{PREFIX}")  # the path form takes a prefix
        assert {u["asn"] for u in up["upstreams"]} == {20485}
        assert up["upstreams"][0]["peers"] == 3  # p3 came from the archive during the cut
        assert first.get("/api/upstreams", target=PREFIX)["upstreams"] == up["upstreams"]

        # The dashboard's stream hears the next batch.
        heard: list[str] = []

        def listen() -> None:
            with httpx.stream("GET", f"{first.base}/api/stream", timeout=15) as res:
                for line in res.iter_lines():
                    if line.startswith("event: "):
                        heard.append(line[7:])
                        if "event" in heard and len(heard) > 2:
                            return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        first.wait_for("the stream", lambda: first.get("/api/live")["listeners"] >= 1)
        go_on.set()
        listener.join(15)
        assert heard[0] == "hello" and "observations" in heard and "event" in heard

        first.wait_for("the outage's end", lambda: any(
            a["type"] == "outage" and a["phase"] == "end" for a in _alerts(alerts)))
        events = first.get("/api/events", target=KP, min_duration=30)
        assert {"new_upstream", "lost_upstream", "outage"} <= set(events["types"])

        # kill -9, then a restart: what was committed is there, nothing is alerted twice.
        before = _alerts(alerts)
        first.stop(signal.SIGKILL)
        assert (Path(f"{db}.serve.json")).exists()  # stale: the restart must take over
        second = Served(args, tmp_path / "serve2.log")
        cleanup.append(second)
        second.wait_for("the restart's data", lambda: second.get("/api/live")["observations"] >= 1)
        def restart_gap() -> bool:
            cov = second.get("/api/coverage")
            return any(g["reason"] == "transitwatch was not running" for g in cov["gaps"] + cov["backfilled"])

        second.wait_for("the restart gap", restart_gap)
        time.sleep(1.5)  # a few detector runs after the restart
        after = _alerts(alerts)
        keys = [(a["type"], a["subject"], a["event"]["onset"], a["phase"]) for a in after]
        assert len(keys) == len(set(keys)), keys
        assert len(after) == len(before)
        # What was committed before the kill is there: the switch, the outage and its recovery.
        kept = second.get("/api/events", target=KP, min_duration=30)
        assert {"new_upstream", "lost_upstream", "outage"} <= set(kept["types"])
        assert {(a["type"], a["phase"]) for a in after} >= {("outage", "onset"), ("outage", "end")}

        # ingest while serve owns the database: the files are handed over, no lock error.
        demo = write_demo_history(tmp_path / "mrt", ("rrc01",))
        capsys.readouterr()
        assert main(["ingest", *map(str, demo), "--db", str(db)]) == 0  # in this process: no start-up cost
        out, err = capsys.readouterr()
        assert "handing the files" in err and f"{len(demo)} files ingested" in out
        assert "rrc01" in second.get("/api/summary")["collectors"]
        # Old files of a collector the feed writes: one clear line, nothing written.
        old = write_demo_history(tmp_path / "old", ("rrc00",))[:1]
        assert main(["ingest", str(old[0]), "--db", str(db)]) == 2
        assert "the live feed has written collector rrc00" in capsys.readouterr().err
        time.sleep(1.5)
        assert len(_alerts(alerts)) == len(after)  # 2017's events are history: stored, not alerted
        assert "new_upstream" in second.get("/api/events", target=KP, **{"from": "2017-10-01",
            "to": "2017-10-02"})[
            "types"]
        second.stop()
    assert not Path(f"{db}.serve.json").exists()
    with Store(db, read_only=True) as store:
        dupes = store.con.execute(
            "SELECT count(*) FROM (SELECT peer_id, prefix_id, path_id FROM routes WHERE t_end IS NULL "
            "GROUP BY ALL HAVING count(*) > 1)").fetchone()
        assert dupes == (0,)
        live = store.con.execute("SELECT count(*) FROM files WHERE starts_with(path, 'ris-live:')").fetchone()
        assert live is not None and live[0] >= 2  # a segment per connection


def test_serve_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    # --port 99999 reached socket.bind and ended in an OverflowError traceback
    run = subprocess.run([sys.executable, "-m", "transitwatch", "serve", "--db", str(tmp_path / "x.duckdb"),
                          "--port", "99999"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "--port: 99999 is not a port (0-65535)" in run.stderr
