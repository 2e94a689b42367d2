"""The HTTP API through httpx (FastAPI's TestClient): shapes as the CLI's --json, clear errors,
bounded results, read-only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from test_store import KP, table_contents, write_demo_history
from transitwatch.api.app import MAX_LIMIT, create_app
from transitwatch.api.params import scrub_paths
from transitwatch.detect.upstream_change import changes_of
from transitwatch.metrics.upstreams import upstreams_of
from transitwatch.sources.files import read_files
from transitwatch.store import Store, StoreError, ingest
from transitwatch.times import parse_time


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("api")
    paths = write_demo_history(root / "mrt")
    db = root / "demo.duckdb"
    with Store(db) as store:
        ingest(store, paths, watch_targets=[KP])
    return db, paths


@pytest.fixture(scope="module")
def client(demo: tuple[Path, list[Path]]) -> TestClient:
    return TestClient(create_app(demo[0]), base_url="http://127.0.0.1")


def test_upstreams_same_shape_as_cli_json(client: TestClient, demo: tuple[Path, list[Path]]) -> None:
    at = "2017-10-01T09:30:00Z"
    res = client.get(f"/api/upstreams/{KP}", params={"at": at, "tz": "Asia/Pyongyang"})
    assert res.status_code == 200
    body = res.json()
    expected = upstreams_of(KP, read_files(demo[1]), parse_time(at)).to_dict("Asia/Pyongyang")
    for key in ("notices",):
        body.pop(key), expected.pop(key)
    names, zone = body.pop("names"), body.pop("timezone_used")
    # What the CLI adds too: the scope counted and where relationships came from (none here).
    assert body.pop("scope") == "own" and body.pop("relationships")["source"] is None
    assert body == expected
    assert {u["asn"] for u in body["upstreams"]} == {4837, 20485}
    assert set(names) == {"4837", "20485"} and zone == "Asia/Pyongyang"
    # Without tz, the target's own zone (AS131279 is in KP) gives the local times.
    own = client.get("/api/upstreams/131279", params={"at": at}).json()
    assert own["timezone_used"] == "Asia/Pyongyang" and own["at_local"] == "2017-10-01T18:00:00+08:30"


def test_events_for_a_target_a_country_and_all_watched(
    client: TestClient, demo: tuple[Path, list[Path]]
) -> None:
    every = client.get("/api/events", params={"target": KP}).json()
    # Every detector's events, not only upstream changes (the session going down in the demo).
    assert {"new_upstream", "vantage_point_lost"} <= {e["type"] for e in every["events"]}
    assert all("/" not in e.get("source", "") for event in every["events"] for e in event.get("evidence", []))
    body = client.get("/api/events", params={"target": KP, "tz": "Asia/Pyongyang",
                                             "type": "new_upstream,lost_upstream"}).json()
    # the same as the CLI's, except that evidence names its file, not where the server keeps it
    expected = scrub_paths(changes_of(KP, read_files(demo[1])).to_dict("Asia/Pyongyang"))
    assert all("/" not in e["source"] for event in body["events"] for e in event["evidence"])
    names = ("upstream_name", "upstream_name_hint")
    without_names = [{k: v for k, v in e.items() if k not in names} for e in body["events"]]
    assert without_names == expected["events"]
    assert body["events"][0]["onset_local"] == "2017-10-01T17:38:00+08:30"
    assert body["total"] == len(expected["events"])

    country = client.get("/api/events", params={"country": "kp"}).json()
    assert country["country"] == "KP" and country["timezone_used"] == "Asia/Pyongyang"
    assert [e["upstream"] for e in country["events"] if e["type"] == "new_upstream"] == [20485]

    stored = client.get("/api/events").json()
    assert stored["total"] >= 1 and stored["events"][0]["target"] == KP
    # every detector's events are stored, with their end (the session reset at 10:52 came back)
    assert [(e["type"], e.get("end")) for e in stored["events"]] == [
        ("new_upstream", None), ("vantage_point_lost", "2017-10-01T10:54:05Z")]
    lost = client.get("/api/events", params={"type": "vantage_point_lost"}).json()
    assert lost["total"] == 1 and lost["events"][0]["reason"] == "session down"
    window = client.get("/api/events", params={"from": "2017-10-01T09:30Z", "to": "2017-10-01T10:30Z"}).json()
    assert window["total"] == 0 and window["events"] == []
    page = client.get("/api/events", params={"target": KP, "limit": 1, "offset": 5}).json()
    assert page["events"] == [] and page["limit"] == 1


def test_timeline_and_countries(client: TestClient) -> None:
    line = client.get(f"/api/timeline/{KP}", params={"buckets": 16}).json()
    assert len(line["edges"]) == 17 and len(line["peers"]) == 16
    assert line["upstreams"]["4837"][0] > 0 and line["upstreams"]["20485"][0] == 0
    assert max(line["upstreams"]["20485"]) >= 2
    window = client.get(f"/api/timeline/{KP}", params={"from": "2017-10-01T09:00Z", "to": "2017-10-01T10:00Z",
                                                       "buckets": 4}).json()
    assert window["edges"][0] == "2017-10-01T09:00:00Z" and window["edges"][-1] == "2017-10-01T10:00:00Z"
    countries = client.get("/api/countries", params={"limit": 3}).json()
    assert len(countries["countries"]) == 3 and countries["total"] >= 3
    kp = client.get("/api/upstreams/KP").json()
    assert kp["country"] == "KP" and {u["asn"] for u in kp["upstreams"]} == {4837, 20485}


@pytest.mark.parametrize(("url", "status", "message"), [
    ("/api/upstreams/AS131279?at=yesterday-ish", 400, "at: cannot read time"),
    ("/api/upstreams/not-a-target", 400, "unknown target"),
    ("/api/upstreams/AS64500", 404, "no route to AS64500"),
    ("/api/upstreams/XX", 404, "unknown country code"),
    ("/api/timeline/AS131279?from=2017-10-01T10:00Z&to=2017-10-01T09:00Z", 400, "to must be after from"),
    ("/api/events?target=AS131279&country=KP", 400, "not both"),
    ("/api/upstreams/AS131279?tz=Mars/Olympus", 400, "unknown time zone"),
    (f"/api/events?limit={MAX_LIMIT + 1}", 422, "less than or equal"),
])
def test_bad_parameters_get_clear_errors(client: TestClient, url: str, status: int, message: str) -> None:
    res = client.get(url)
    assert res.status_code == status
    assert message in str(res.json()["detail"])


def test_injection_is_just_a_bad_target(client: TestClient, demo: tuple[Path, list[Path]]) -> None:
    before = table_contents(demo[0])
    for text in ["AS1; DROP TABLE routes", "1' OR '1'='1", "175.45.176.0/22'--"]:
        assert client.get(f"/api/upstreams/{text}").status_code in (400, 404)
        assert client.get("/api/search", params={"q": text}).status_code == 200
    assert table_contents(demo[0]) == before


def test_read_only_and_openapi(client: TestClient, demo: tuple[Path, list[Path]]) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/upstreams/{target}", "/api/events", "/api/timeline/{target}", "/api/countries"} <= set(
        schema["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200
    # the API documentation works offline: every script and style sheet is served by us
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert client.post("/api/events").status_code == 405
    # The server holds the file read-only: a writer in this process is refused, not given a copy.
    with pytest.raises(StoreError):
        Store(demo[0])


def test_dashboard_assets_are_local(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "transitwatch" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: works offline
    for asset in ("/static/app.js", "/static/app.css", "/static/vendor/uplot/uPlot.iife.min.js",
                  "/static/vendor/uplot/uPlot.min.css", "/static/vendor/uplot/LICENSE"):
        res = client.get(asset)
        assert res.status_code == 200 and len(res.content) > 500, asset


def test_serve_command(demo: tuple[Path, list[Path]], tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    import httpx

    serve = [sys.executable, "-m", "transitwatch", "serve", "--db"]
    missing = subprocess.run([*serve, str(tmp_path / "no.db")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no database here" in missing.stderr
    assert "Traceback" not in missing.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "transitwatch", "serve", "--db", str(demo[0]),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                res = httpx.get(f"http://127.0.0.1:{port}/api/upstreams/{KP}", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.1)
        assert res.status_code == 200 and res.json()["target"] == KP
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "warning" not in err  # the default host needs no warning


def test_countries_and_timeline_answer_as_the_python_api(demo: tuple[Path, list[Path]]) -> None:
    """/api/countries and /api/timeline are the facade's computations (on the service's caches):
    the same rows as tw.countries on the store, the same bars as tw.events(timeline=N)."""
    import json

    import transitwatch as tw
    from transitwatch.registry import Registry

    db = demo[0]
    facade = tw.countries(tw.store(db), registry=Registry.load()).to_dict()
    facade_line = tw.events(KP, tw.store(db), timeline=16).to_dict()["timeline"]
    fresh = TestClient(create_app(db), base_url="http://127.0.0.1")
    answer = fresh.get("/api/countries", params={"limit": 2}).json()
    assert answer["total"] == len(facade["countries"]) >= 2
    assert answer["countries"] == json.loads(json.dumps(facade["countries"][:2]))
    assert answer["registry"] == json.loads(json.dumps(facade["registry"]))
    line = fresh.get(f"/api/timeline/{KP}", params={"buckets": 16}).json()
    assert {key: line[key] for key in facade_line} == json.loads(json.dumps(facade_line))
