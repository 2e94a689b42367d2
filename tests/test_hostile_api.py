"""The HTTP API treats every request as hostile (issue 16): bad values are 400/422 with a message,
never 500; over-broad targets are refused before any work; identical concurrent requests are
computed once; slow answers give 503 + Retry-After; every response carries the security headers;
only the bound Host names are answered; no file system path leaks. Real uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from test_store import KP, write_demo_history
from transitwatch.api.app import create_app
from transitwatch.api.flight import Busy, Gate, SingleFlight
from transitwatch.api.security import CSP, allowed_hosts_for
from transitwatch.store import Store, ingest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile-api")
    path = root / "demo.duckdb"
    with Store(path) as store:
        ingest(store, write_demo_history(root / "mrt"), watch_targets=[KP])
    return path


@pytest.fixture(scope="module")
def client(db: Path) -> TestClient:
    return TestClient(create_app(db), base_url="http://127.0.0.1", raise_server_exceptions=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, app: object) -> None:
        self.port = _free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


BAD_REQUESTS = [
    ("/api/upstreams/AS131279", {"at": "99999999999999"}),
    ("/api/upstreams/AS131279", {"at": "-99999999999999"}),
    ("/api/upstreams/AS131279", {"at": "1e400"}),
    ("/api/upstreams/AS131279", {"at": "nan"}),
    ("/api/upstreams/AS131279", {"at": "9999-12-31T23:59:59-14:00"}),
    ("/api/upstreams/AS131279", {"at": "x" * 5000}),
    ("/api/upstreams/AS131279", {"tz": "../../../../etc/passwd"}),
    ("/api/upstreams/AS131279", {"tz": "\x00"}),
    ("/api/upstreams/AS99999999999999999999", {}),
    ("/api/upstreams/AS-1", {}),
    ("/api/upstreams/" + ",".join(["AS1"] * 100), {}),
    ("/api/upstreams/" + "1" * 600, {}),
    ("/api/upstreams/ZZ", {}),
    ("/api/timeline/AS131279", {"to": "253402300800"}),
    ("/api/timeline/AS131279", {"from": "1" * 400}),
    ("/api/timeline/AS131279", {"buckets": "10" * 30}),
    ("/api/timeline/AS131279", {"buckets": "-1"}),
    ("/api/events", {"offset": "9" * 50}),
    ("/api/events", {"offset": "-1"}),
    ("/api/events", {"limit": "1" * 30}),
    ("/api/events", {"min_duration": "nan"}),
    ("/api/events", {"min_duration": "inf"}),
    ("/api/events", {"min_duration": "1e400"}),
    ("/api/events", {"min_peers": "9" * 40}),
    ("/api/events", {"from": "1" * 400}),
    ("/api/events", {"to": "253402300800"}),
    ("/api/events", {"target": KP, "country": "KP"}),
    ("/api/events", {"country": "XX1"}),
    ("/api/countries", {"at": "99999999999999"}),
    ("/api/countries", {"offset": "9" * 50}),
    ("/api/search", {"q": "x" * 1000}),
    ("/api/search", {"limit": "9" * 50}),
    ("/api/upstreams", {"target": "0.0.0.0/0"}),
    ("/api/timeline", {"target": "::/0", "from": "1e400"}),
    ("/api/hegemony/AS131279", {"every": "nan"}),
    ("/api/hegemony/0.0.0.0/0", {}),
    ("/api/resilience/AS131279", {"fail": "AS" + "9" * 100}),
    ("/api/resilience/AS131279", {"at": "99999999999999"}),
    # the ?target= forms of the dependence endpoints get the same checks as the path forms
    ("/api/hegemony", {}),
    ("/api/hegemony", {"target": "0.0.0.0/0"}),
    ("/api/hegemony", {"target": "x" * 10_000}),
    ("/api/hegemony", {"target": "AS" + "9" * 100, "every": "-1"}),
    ("/api/resilience", {"target": "::/0", "fail": "4837"}),
    ("/api/resilience", {"target": KP, "fail": "AS" + "9" * 100}),
    ("/api/resilience", {"target": "\x00\ufffd", "at": "nan"}),
    ("/api/coverage", {"from": "9" * 40}),
    ("/api/coverage", {"to": "253402300800"}),
]


@pytest.mark.parametrize(("path", "params"), BAD_REQUESTS, ids=[f"{p} {sorted(q)}" for p, q in BAD_REQUESTS])
def test_bad_values_get_a_4xx_with_a_message_never_a_500(client: TestClient, path: str,
                                                          params: dict[str, str]) -> None:
    r = client.get(path, params=params)
    assert r.status_code in (400, 404, 422), (r.status_code, r.text[:300])
    detail = r.json()["detail"]
    assert detail and "Traceback" not in str(detail)


@pytest.mark.parametrize("target", ["0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/7", "2000::/3",
                                    "AS131279,0.0.0.0/0"])
def test_over_broad_targets_are_refused_before_any_work(db: Path, target: str) -> None:
    app = create_app(db)
    c = TestClient(app, base_url="http://127.0.0.1")
    for path, params in ((f"/api/upstreams/{target}", {}), ("/api/events", {"target": target}),
                         (f"/api/timeline/{target}", {})):
        started = time.monotonic()
        r = c.get(path, params=params)
        assert r.status_code == 400 and "too broad" in r.json()["detail"]
        assert time.monotonic() - started < 1
    assert app.state.service.gate.computed == 0  # refused at the edge: nothing was computed


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/docs", "/openapi.json", "/static/app.js", "/static/docs.js", "/api/summary",
                 "/api/upstreams/AS64500", "/api/upstreams/0.0.0.0/0", "/api/events?offset=x", "/nothing"):
        r = client.get(path)
        assert r.status_code in (200, 400, 404, 422), path
        assert r.headers["content-security-policy"] == CSP
        assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_dashboard_and_docs_have_no_inline_script_or_style(client: TestClient) -> None:
    for path in ("/", "/docs"):
        html = client.get(path).text
        assert "<script>" not in html and "<script type" not in html and "<style" not in html
        assert " style=" not in html and " onclick=" not in html and " onload=" not in html
        assert html.count("<script src=") >= 1


def test_only_the_bound_host_names_are_answered(db: Path) -> None:
    c = TestClient(create_app(db), base_url="http://127.0.0.1")
    for host in ("127.0.0.1", "127.0.0.1:8047", "localhost:8047", "LOCALHOST", "[::1]:8047"):
        assert c.get("/api/summary", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8047", "127.0.0.1.nip.io", "localhost.evil.example", ""):
        r = c.get("/api/summary", headers={"Host": host})
        assert r.status_code == 400 and "Host" in r.json()["detail"], host
        assert r.headers["x-frame-options"] == "DENY"
    wide = TestClient(create_app(db, allowed_hosts=allowed_hosts_for("0.0.0.0", ["tw.example.org"])),
                      base_url="http://127.0.0.1")
    assert wide.get("/api/summary", headers={"Host": "tw.example.org:443"}).status_code == 200
    assert wide.get("/api/summary", headers={"Host": "0.0.0.0"}).status_code == 400
    assert allowed_hosts_for("192.0.2.7") == ("127.0.0.1", "localhost", "::1", "192.0.2.7")


def test_no_file_system_path_in_answers(client: TestClient, db: Path) -> None:
    summary = client.get("/api/summary")
    assert summary.status_code == 200 and "path" not in summary.json()
    assert summary.json()["files"] >= 1
    for path in ("/api/summary", f"/api/events?target={KP}", "/api/events", f"/api/upstreams/{KP}",
                 "/api/countries", f"/api/timeline/{KP}"):
        text = client.get(path).text
        assert str(db.parent) not in text and str(Path.home()) + "/" not in text, path
    events = client.get("/api/events", params={"target": KP}).json()["events"]
    assert events[0]["evidence"][0]["source"].startswith("updates.")  # which file, not where


def test_identical_concurrent_requests_are_computed_once(db: Path) -> None:
    app = create_app(db)
    service = app.state.service

    async def burst(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as h:
            return await asyncio.gather(*(h.get(f"/api/upstreams/{KP}") for _ in range(40)),
                                        *(h.get(f"/api/timeline/{KP}") for _ in range(10)))

    with Served(app) as srv:
        answers = asyncio.run(burst(srv.base))
    assert [r.status_code for r in answers] == [200] * 50
    assert len({r.text for r in answers[:40]}) == 1
    assert service.gate.computed == 2      # one upstreams answer, one timeline answer
    assert service._views.computed == 1    # both from the one view of the target


def test_a_slow_answer_gets_503_with_retry_after_and_is_ready_for_the_retry(db: Path) -> None:
    app = create_app(db, deadline=0.001, workers=1)
    with Served(app) as srv:
        first = httpx.get(f"{srv.base}/api/upstreams/{KP}", timeout=10)
        assert first.status_code == 503 and int(first.headers["retry-after"]) >= 1
        assert "try again" in first.json()["detail"]
        deadline = time.monotonic() + 20
        while True:  # the computation went on: the retry is answered from the cache
            again = httpx.get(f"{srv.base}/api/upstreams/{KP}", timeout=10)
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert again.status_code == 200 and again.json()["upstreams"]


def test_gate_limits_pending_work_and_keeps_cached_answers_off_the_pool() -> None:
    release = threading.Event()
    gate = Gate(workers=1, deadline=5, max_pending=2)

    def slow(value: int) -> int:
        release.wait(10)
        return value

    async def scenario() -> tuple[list[object], int, float]:
        await gate.run("cached", lambda: 7)
        first = [asyncio.ensure_future(gate.run(k, lambda k=k: slow(k))) for k in (1, 2)]
        await asyncio.sleep(0.05)
        try:
            await gate.run(3, lambda: slow(3))
            third: object = "answered"
        except Busy as exc:
            third = exc
        started = time.monotonic()
        cached = await gate.run("cached", lambda: 0)  # the pool is full: answered without it
        elapsed = time.monotonic() - started
        release.set()
        return [*(await asyncio.gather(*first)), third], cached, elapsed

    results, cached, elapsed = asyncio.run(scenario())
    assert results[:2] == [1, 2] and isinstance(results[2], Busy) and results[2].retry_after >= 1
    assert cached == 7 and elapsed < 0.05
    gate.close()


def test_single_flight_shares_one_computation_and_is_bounded() -> None:
    flight: SingleFlight[int] = SingleFlight(max_entries=3)
    calls = []
    gate = threading.Event()

    def compute() -> int:
        calls.append(1)
        gate.wait(5)
        return 42

    got: list[int] = []
    threads = [threading.Thread(target=lambda: got.append(flight.get("k", compute))) for _ in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    gate.set()
    for t in threads:
        t.join(5)
    assert got == [42] * 20 and len(calls) == 1
    for i in range(10):
        flight.get(i, lambda i=i: i)
    assert len(flight) == 3
    with pytest.raises(ZeroDivisionError):
        flight.get("bad", lambda: 1 // 0)
    assert flight.get("bad", lambda: 5) == 5  # failures are not cached


def test_single_flight_does_not_keep_a_value_computed_across_a_clear() -> None:
    """A live write clears the caches while an answer is being computed from the data before it:
    that answer goes to its callers, but it is not kept, and later callers compute anew."""
    flight: SingleFlight[str] = SingleFlight(max_entries=8)
    started, release = threading.Event(), threading.Event()

    def before_the_write() -> str:
        started.set()
        release.wait(5)
        return "old"

    got: list[str] = []
    t = threading.Thread(target=lambda: got.append(flight.get("k", before_the_write)))
    t.start()
    assert started.wait(5)
    flight.clear()  # the data changed meanwhile
    assert flight.get("k", lambda: "new") == "new"  # not the computation under way
    release.set()
    t.join(5)
    assert got == ["old"]
    assert flight.get("k", lambda: "again") == "new"  # the old value did not replace the new one


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian package 'chromium')")
def test_swagger_docs_still_work_under_the_csp(db: Path, tmp_path: Path) -> None:
    with Served(create_app(db)) as srv:
        cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
               "--virtual-time-budget=10000", "--dump-dom", f"{srv.base}/docs"]
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "opblock" in dom.stdout and "/api/upstreams/{target}" in dom.stdout


def test_a_prefix_target_in_the_path_is_answered(client: TestClient) -> None:
    """Prefixes have a '/' (the dashboard sends it as %2F): they reach the handler."""
    for path in ("/api/upstreams/175.45.176.0/22", "/api/upstreams/175.45.176.0%2F22",
                 "/api/timeline/175.45.176.0/22"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:200])
