"""The dashboard in real headless Chromium, served by a real uvicorn server on 127.0.0.1: the chart,
the events with UTC and local times and the country ranking are drawn."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from test_store import KP, write_demo_history
from transitwatch.api.app import create_app
from transitwatch.store import Store, ingest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian package 'chromium'; .ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("dash")
    db = root / "demo.duckdb"
    with Store(db) as store:
        # Four update files missing (09:20-09:40): a gap in the data, drawn and listed as one.
        files = [p for p in write_demo_history(root / "mrt")
                 if not any(f".{hhmm}." in p.name for hhmm in ("0920", "0925", "0930", "0935"))]
        ingest(store, files, watch_targets=[KP])
    port = _free_port()
    config = uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    assert httpx.get(f"{base}/api/summary").status_code == 200
    yield base
    srv.should_exit = True
    thread.join(timeout=10)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1300",
           "--virtual-time-budget=15000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_dashboard_draws_chart_events_and_countries(server: str, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", f"{server}/#{KP}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-ready="1"' in html and 'data-countries="1"' in html
    assert 'class="uplot' in html and "<canvas" in html          # the chart was drawn
    assert html.count('class="event"') == 2                       # KP's new upstream, a session down
    assert "vantage point lost" in html
    assert "AS20485" in html and "2017-10-01 09:08:00 UTC" in html
    assert "2017-10-01 17:38:00+08:30" in html                    # Pyongyang time, UTC+8:30 then
    assert "updates.20171001.0905.gz @" in html                   # evidence: file and offset
    assert html.count('class="strip"') == 2                       # which upstream when: 4837, 20485
    assert "Korea (North)" in html                                 # country ranking


def test_country_search_and_screenshot(server: str, tmp_path: Path) -> None:
    shot = tmp_path / "kp.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", f"{server}/#KP")
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 1300)
    assert len(data) > 60_000  # a drawn page, not a blank one (a blank page is a few kB)
    dom = _chromium(tmp_path, "--dump-dom", f"{server}/#KP")
    assert "KP Korea (North)" in dom.stdout and "75% of the address space" in dom.stdout


def test_unknown_target_shows_the_api_message(server: str, tmp_path: Path) -> None:
    dom = _chromium(tmp_path, "--dump-dom", f"{server}/#AS64500")
    assert 'data-ready="1"' in dom.stdout
    assert "no route to AS64500 in the database" in dom.stdout


def test_permalink_range_local_axis_and_gaps(server: str, tmp_path: Path) -> None:
    url = f"{server}/#{KP}?from=2017-10-01T09:00:00Z&to=2017-10-01T10:00:00Z&axis=local"
    dom = _chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-ready="1"' in html and 'class="uplot' in html
    assert html.count('class="event"') == 1                 # the range keeps 09:08's change, not 10:52's
    assert "axis: Asia/Pyongyang" in html                    # the target's local time on the axis
    assert 'data-gaps="1"' in html and "rrc00 2017-10-01 09:20:00 UTC → 2017-10-01 09:40:00 UTC" in html
    assert "at 2017-10-01 10:00:00 UTC" in html              # the upstreams at the end of the range
    whole = _chromium(tmp_path, "--dump-dom", f"{server}/#{KP}").stdout
    assert "axis: UTC" in whole and html.count('class="event"') < whole.count('class="event"')
