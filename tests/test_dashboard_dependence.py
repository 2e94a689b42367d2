"""The dashboard's dependence panel in real headless Chromium (real uvicorn on 127.0.0.1), and its
two endpoints: AS hegemony over time and the what-if of the shown target."""

from __future__ import annotations

from pathlib import Path

import httpx

from test_dashboard import _chromium, pytestmark, server  # noqa: F401  (module fixture, skip mark)
from test_store import KP


def test_endpoints(server: str) -> None:  # noqa: F811
    heg = httpx.get(f"{server}/api/hegemony/{KP}", params={"every": 1800}).json()
    series = heg["series"]
    first = {s["asn"]: s["score"] for s in series[0]["hegemony"]}
    last = {s["asn"]: s["score"] for s in series[-1]["hegemony"]}
    assert first[4837] == 1.0 and 20485 not in first
    assert last[4837] < 1.0 and last[20485] > 0
    assert heg["every"] >= 1800
    whatif = httpx.get(f"{server}/api/resilience/{KP}", params={"fail": "AS4837"}).json()
    (sc,) = whatif["scenarios"]
    assert sc["failed"] == [4837] and whatif["model"] == "observed"
    assert 0 < sc["reachable_share"] < 1
    assert {a for p in sc["prefixes"] if p["reachable"] for a in p["via"]} == {20485}
    before = httpx.get(f"{server}/api/resilience/{KP}",
                       params={"fail": "4837", "at": series[0]["at"]}).json()
    assert before["scenarios"][0]["reachable_share"] == 0.0
    top = httpx.get(f"{server}/api/resilience/{KP}").json()   # no fail: the top ASes one by one
    assert top["scenarios"][0]["failed"] == [4837]
    bad = httpx.get(f"{server}/api/resilience/{KP}", params={"fail": "China"})
    assert bad.status_code == 400 and "not an AS number" in bad.json()["detail"]
    assert httpx.get(f"{server}/api/hegemony/AS64500").status_code == 404


def test_panel_draws_hegemony_and_what_if(server: str, tmp_path: Path) -> None:  # noqa: F811
    dom = _chromium(tmp_path, "--dump-dom", f"{server}/#{KP}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-dependence="1"' in html
    panel = html[html.index('id="dependence-panel"'):html.index('id="events-panel"')]
    assert "<canvas" in panel                                   # the hegemony chart was drawn
    assert "AS4837" in panel and "AS20485" in panel
    assert panel.count('class="whatif-row') >= 2
    assert "If AS4837" in panel and "stays reachable" in panel
