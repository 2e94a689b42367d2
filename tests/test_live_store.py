"""The live writer and service in this process: live writes give the rows ingest gives, a gap
whose archive cannot be reached stays a gap (with why), alerts are sent once per onset and end,
and the API's query forms, coverage and schemas."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from test_store import KP, write_demo_history
from transitwatch.api.app import create_app
from transitwatch.errors import TransitwatchError
from transitwatch.live.service import LiveService, ServerLock, read_lock
from transitwatch.live.watch import WatchSettings, WatchTarget
from transitwatch.sources.files import read_files
from transitwatch.store import Store, ingest
from transitwatch.store.live import LiveWriter

_ROUTES = """SELECT p.collector, p.peer_ip, x.prefix, r.path_id, a.as_path, r.t_start,
       CAST(r.start_cause AS VARCHAR), r.start_offset, r.last_seen, r.t_end, CAST(r.end_cause AS VARCHAR),
       r.end_offset, r.safi
FROM routes r JOIN peers p USING (peer_id) JOIN prefixes x USING (prefix_id) JOIN aspaths a USING (aspath_id)
ORDER BY ALL"""


def _rows(db: Path) -> dict[str, Any]:
    with Store(db, read_only=True) as store:
        cur = store.con
        return {"routes": cur.execute(_ROUTES).fetchall(),
                "sessions": cur.execute("SELECT peer_id, time, up FROM sessions ORDER BY ALL").fetchall(),
                "peers": cur.execute("SELECT * FROM peers ORDER BY ALL").fetchall(),
                "aspaths": cur.execute("SELECT * FROM aspaths ORDER BY ALL").fetchall()}


def test_live_writes_equal_ingest_in_any_batching(tmp_path: Path) -> None:
    paths = write_demo_history(tmp_path / "mrt")
    ribs = [p for p in paths if p.name.startswith("bview")]
    updates = [p for p in paths if not p.name.startswith("bview")]
    with Store(tmp_path / "files.duckdb") as store:
        ingest(store, paths)
    observations = list(read_files([str(p) for p in updates]))
    for size in (5, 10_000):
        db = tmp_path / f"live{size}.duckdb"
        with Store(db) as store:
            ingest(store, ribs)
            writer = LiveWriter(store)
            writer.begin_segment("ris-live:test", 0.0)
            for i in range(0, len(observations), size):
                if i == len(observations) // 2:
                    writer = LiveWriter(store)  # a restart half way: state read back from the database
                    writer.begin_segment("ris-live:test", 1.0)
                writer.write(observations[i:i + size])
        assert _rows(db) == _rows(tmp_path / "files.duckdb"), size
    with Store(tmp_path / "live5.duckdb", read_only=True) as store:
        segments = store.con.execute(
            "SELECT path, observations FROM files WHERE starts_with(path, 'ris-live:') ORDER BY path"
        ).fetchall()
    assert [n for _, n in segments] and sum(n for _, n in segments) == len(observations)


def test_a_quiet_connected_feed_still_covers(tmp_path: Path) -> None:
    from transitwatch.observation import Observation
    from transitwatch.store.live import live_high_water

    with Store(tmp_path / "quiet.duckdb") as store:
        writer = LiveWriter(store)
        writer.begin_segment("ris-live:test", 1000.0)
        writer.write([Observation(time=1000.0, kind="announce", peer_ip="192.0.2.1", peer_asn=3333,
                                  prefix="175.45.176.0/24", as_path="3333 4837 131279", origin="IGP",
                                  next_hop="192.0.2.1", collector="rrc00")])
        writer.touch(4600.0)  # an hour later, still connected, nothing changed
        assert live_high_water(store) == {"rrc00": 4600.0}
        writer.touch(10.0)  # never backwards
        assert live_high_water(store) == {"rrc00": 4600.0}


def test_unreachable_archive_leaves_the_gap_with_why(tmp_path: Path) -> None:
    with Store(tmp_path / "gap.duckdb") as store:
        service = LiveService(store, [WatchTarget.parse(KP)], archive_urls={"ris": "http://127.0.0.1:9/"},
                              cache_dir=tmp_path / "cache", backfill_retry=0.1)
        end = time.time() - 3600
        service._gap("rrc00", end - 600, end, "connection dropped")
        deadline = time.monotonic() + 20
        while not [g for g in service.gaps() if g["status"] != "open"]:
            assert time.monotonic() < deadline, service.gaps()
            time.sleep(0.1)
        (gap,) = service.gaps()
        assert gap["status"] == "unfilled" and "unreachable" in gap["detail"] and gap["collector"] == "rrc00"
        app = create_app(tmp_path / "gap.duckdb", store=store, live=service)
        coverage = TestClient(app, base_url="http://127.0.0.1").get("/api/coverage").json()
        assert coverage["gaps"][0]["reason"] == "connection dropped"
        service.stop(1)


def test_alerts_once_per_onset_and_end_across_restarts(tmp_path: Path) -> None:
    from transitwatch.scenarios.scenario import load_scenario

    paths = load_scenario("kp-2014-12-outage").write_mrt(tmp_path / "mrt")
    db = tmp_path / "alerts.duckdb"
    sent: list[Any] = []

    class Channel:
        def send(self, event: Any) -> None:
            sent.append(event)

        def notice(self, notice: Any) -> None:
            pass

        def close(self, timeout: float) -> None:
            pass

    settings = WatchSettings(detectors=("outage",))
    for _ in range(2):  # the second run is a restart on the same database
        with Store(db) as store:
            ingest(store, paths)
            service = LiveService(store, [WatchTarget.parse(KP)], settings=settings, dispatcher=Channel())
            service.status.started = 0.0  # alert the stored history too (as if it had been live)
            service.check()
            service.check()
    phases = [(e.type, e.phase) for e in sent]
    assert phases.count(("outage", "onset")) == 1 and phases.count(("outage", "end")) == 1


def test_query_forms_coverage_and_response_schemas(tmp_path: Path) -> None:
    paths = write_demo_history(tmp_path / "mrt")
    db = tmp_path / "demo.duckdb"
    with Store(db) as store:
        ingest(store, [p for p in paths if ".0930." not in p.name and ".0935." not in p.name and
                       ".0940." not in p.name and ".0945." not in p.name])
    client = TestClient(create_app(db), base_url="http://127.0.0.1")
    by_path = client.get("/api/upstreams/175.45.176.0/22").json()
    by_query = client.get("/api/upstreams", params={"target": "175.45.176.0/22"}).json()
    assert by_path == by_query and by_path["upstreams"]
    line = client.get("/api/timeline", params={"target": KP, "buckets": 8}).json()
    assert line == client.get(f"/api/timeline/{KP}", params={"buckets": 8}).json()
    coverage = client.get("/api/coverage").json()
    assert [(g["start"], g["end"]) for g in coverage["gaps"]] == [("2017-10-01T09:30:00Z",
        "2017-10-01T09:50:00Z")]
    assert coverage["uncovered"] == [{"start": "2017-10-01T09:30:00Z", "end": "2017-10-01T09:50:00Z"}]
    assert client.get("/api/coverage", params={"from": "2017-10-01T10:00Z"}).json()["gaps"] == []
    assert client.get("/api/coverage", params={"from": "x"}).status_code == 400
    spec = client.get("/openapi.json").json()
    for path in ("/api/upstreams", "/api/upstreams/{target}", "/api/events", "/api/timeline",
                 "/api/timeline/{target}", "/api/coverage", "/api/summary", "/api/countries"):
        schema = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in schema, path
    assert "EventsAnswer" in spec["components"]["schemas"]
    # Nothing for ingest without a live service behind it, and never without the token.
    assert client.post("/api/ingest", json={"paths": ["x"]}).status_code == 403


def test_ingest_into_a_read_only_served_database_says_how(tmp_path: Path) -> None:
    from transitwatch.cli.serve import hand_over_ingest

    db = tmp_path / "served.duckdb"
    lock = ServerLock(db, "http://127.0.0.1:8047", read_only=True)
    lock.acquire()
    assert oct(os.stat(lock.path).st_mode & 0o777) == "0o600"  # it holds the ingest token
    assert read_lock(db) is not None
    args = argparse.Namespace(db=db, files=[], workers=None, scheduler=None, collector=None, watch=None,
                              min_peers=2, min_duration="5m", json=False)
    with pytest.raises(TransitwatchError, match="served read-only .* --writable"):
        hand_over_ingest(args)
    lock.release()
    assert read_lock(db) is None and not lock.path.exists()
    # A lock file left by a process that is gone (kill -9) is not an owner.
    lock.path.write_text(json.dumps({"pid": 2 ** 22 + 12345, "url": "http://127.0.0.1:1"}))
    assert read_lock(db) is None


def test_a_refreshed_answer_is_given_stale_while_it_is_recomputed() -> None:
    import asyncio
    import threading

    from transitwatch.api.flight import Gate

    gate = Gate(workers=1, deadline=5)
    release = threading.Event()
    calls: list[int] = []

    def compute(value: int, wait: bool = False) -> int:
        calls.append(value)
        if wait:
            release.wait(5)
        return value

    async def scenario() -> list[int]:
        got = [await gate.run("k", lambda: compute(1))]
        gate.refresh()  # a live batch: the cached answer is now stale
        got.append(await gate.run("k", lambda: compute(2, wait=True)))  # at once, stale
        got.append(await gate.run("k", lambda: compute(3)))  # still computing 2: stale again, no 2nd run
        release.set()
        for _ in range(100):
            await asyncio.sleep(0.01)
            hit, value = gate.cached("k")
            if hit:
                got.append(value)
                break
        gate.invalidate()  # an ingest: no stale answer, the next request waits for the new one
        got.append(await gate.run("k", lambda: compute(4)))
        return got

    assert asyncio.run(scenario()) == [1, 1, 1, 2, 4]
    assert calls == [1, 2, 4]
    gate.close()
