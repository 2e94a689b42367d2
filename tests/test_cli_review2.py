"""What a first-time user of the command line hits, each on the written 2017 demo scenario
(known truth): options between a target and its files, ..."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from transitwatch.cli.main import main


@pytest.mark.parametrize("command", [["upstreams", "AS131279", "--json"],
                                     ["upstreams", "KP", "--json"],
                                     ["hegemony", "AS131279", "--json"],
                                     ["resilience", "AS131279", "--spof", "--json"],
                                     ["events", "AS131279", "--detect", "upstream", "--json"]])
def test_options_between_target_and_files(demo: list[str], command: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    # `upstreams AS131279 --json FILES` was "unrecognized arguments: FILES" (exit 2): argparse
    # filled the files' nargs="*" once, before the option. Same answer as the options last.
    code, between, err = run_cli(capsys, *command, *demo)
    assert code == 0, err
    code, last, err = run_cli(capsys, *command[:2], *demo, *command[2:])
    assert code == 0, err
    assert json.loads(between) == json.loads(last)
    doc = json.loads(between)
    assert doc.get("target", doc.get("country")) in ("AS131279", "KP")


def test_unknown_options_are_still_refused(demo: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["upstreams", "AS131279", "--bogus", *demo])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --bogus" in err and err.count("\n") == 1


def test_api_country_answer_has_at_local_as_the_cli(demo: list[str], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # cli.md: `at` and `at_local` beside `time` / `time_local`, and the HTTP API answers "same
    # shapes as the CLI --json": /api/upstreams/KP had `at` but no `at_local`.
    from fastapi.testclient import TestClient

    from transitwatch.api.app import create_app

    db = tmp_path / "kp.duckdb"
    code, _, err = run_cli(capsys, "ingest", *demo, "--db", str(db))
    assert code == 0, err
    at = "2017-10-01T09:30:00Z"
    code, out, err = run_cli(capsys, "upstreams", "--country", "KP", "--db", str(db), "--at", at, "--json")
    assert code == 0, err
    cli = json.loads(out)
    body = TestClient(create_app(db), base_url="http://127.0.0.1").get(
        "/api/upstreams/KP", params={"at": at}).json()
    assert cli["at_local"] == cli["time_local"] == "2017-10-01T18:00:00+08:30"
    assert body["at_local"] == body["time_local"] == cli["at_local"]
    assert body["at"] == cli["at"] == "2017-10-01T09:30:00Z"


def _country_events(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "events", "--country", "KP", *argv, "--detect", "upstream", "--json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_stored_country_view_uses_the_registry_of_the_datas_time(demo: list[str], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # A registry folder with the newest RIR file placing 175.45.176.0/22 in CN and a snapshot of
    # 2017-10-01 placing it in KP. From files the 2017 snapshot answers (the new upstream AS20485
    # of 09:08); `--db` chose no snapshot at all: the newest file placed KP's prefixes in CN, and
    # `events --country KP --db` found nothing, with `registry: null`.
    reg = tmp_path / "registry"
    (reg / "snapshots" / "2017-10-01").mkdir(parents=True)
    (reg / "snapshots" / "2017-10-01" / "delegated-apnic-extended-20171001").write_text(
        "2|apnic|20171001|1|19830101|20171001|+0000\napnic|KP|ipv4|175.45.176.0|1024|20091016|allocated\n")
    (reg / "delegated-apnic-extended-latest").write_text(
        "2|apnic|20300101|1|19830101|20300101|+0000\napnic|CN|ipv4|175.45.176.0|1024|20091016|allocated\n")
    db = tmp_path / "kp.duckdb"
    assert run_cli(capsys, "ingest", *demo, "--db", str(db))[0] == 0
    options = ("--registry-dir", str(reg), "--country-source", "rir")
    files = _country_events(capsys, *demo, *options)
    stored = _country_events(capsys, "--db", str(db), *options)
    assert [(e["type"], e["upstream"], e["onset"]) for e in files["events"]] == [
        ("new_upstream", 20485, "2017-10-01T09:08:00Z")]
    assert [(e["type"], e["upstream"], e["onset"]) for e in stored["events"]] == [
        (e["type"], e["upstream"], e["onset"]) for e in files["events"]]
    assert stored["registry"]["date"] == files["registry"]["date"] == "2017-10-01"
    assert stored["registry"]["source"] == files["registry"]["source"] == "rir"
    # the view still ends where the data ends (visibility of the stored country: every point)
    code, out, err = run_cli(capsys, "visibility", "KP", "--db", str(db), "--json")
    assert code == 0 and len(json.loads(out)["points"]) == 48, err


def test_unattributed_routes_are_explained_truly(shared_data: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # PCH's peer AS3856 does not put its own AS first: AS15169's routes there are paths "15169"
    # from a peer that is not Google. The note said "or the peer is in the target".
    table = str(shared_data / "mrt/bgpdump-corpus/input/updates.et-header.2015.gz")
    code, out, err = run_cli(capsys, "upstreams", "AS15169", table, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["unattributed_routes"] > 300, err
    assert {p["peer_asn"] for u in doc["upstreams"] for p in u["peer_list"]} == {3856}
    code, out, err = run_cli(capsys, "upstreams", "AS15169", table)
    assert f"{doc['unattributed_routes']} route(s) have no single upstream" in out
    assert "the peer is in the target" not in out and "does not put its own AS first" in out


def test_resilience_spof_repr_names_them(demo: list[str]) -> None:
    # repr(tw.resilience(..., spof=True)) was "AS131279 without nothing (observed): 4/4 prefixes":
    # the single points of failure asked for were not in it.
    import transitwatch as tw

    src = tw.files(demo)
    before = tw.resilience("AS131279", src, spof=True, at="2017-10-01T09:00Z")
    assert [s["asn"] for s in before.to_dict()["spof"]] == [4837]
    assert "single points of failure: AS4837 (0% left)" in repr(before)
    after = tw.resilience("AS131279", src, spof=True, at="2017-10-01T11:00Z")
    assert after.to_dict()["spof"] == [] and "single points of failure: none" in repr(after)
    assert "single points of failure" not in repr(tw.resilience("AS131279", src, fail=["AS4837"]))


def test_no_route_says_when(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # At 02:01:40 the 2015 update file has not yet announced North Korea's /24s (02:01:48): the
    # answer said "no route to AS131279 in the input", which has four routes to it.
    table = str(shared_data / "mrt/bgpdump-corpus/input/updates.et-header.2015.gz")
    code, out, err = run_cli(capsys, "upstreams", "AS131279", table, "--at", "1445565700")
    assert code == 0 and "no route to AS131279 in the input at 2015-10-23T02:01:40Z" in out, out + err
    code, out, err = run_cli(capsys, "upstreams", "AS131279", table, "--at", "1445565700", "--json")
    assert json.loads(out)["upstreams"] == []
    assert "note: no route to AS131279 in the input at 2015-10-23T02:01:40Z" in err
    code, out, err = run_cli(capsys, "upstreams", "AS131279", table)
    assert "AS4837" in out and "no route" not in out


def test_visibility_chart_of_nothing_visible_has_a_plain_axis() -> None:
    from transitwatch.cli.render_events import visibility_chart
    from transitwatch.metrics.visibility import VisibilityPoint, VisibilitySeries

    dark = VisibilitySeries("AS131279", 300.0, points=[
        VisibilityPoint(time=1445565600.0 + 300 * i, prefixes=0, slash24=0.0, slash48=0.0, peers=0,
                        peers_up=1, low_slash24=0.0, low_slash48=0.0) for i in range(3)])
    lines = visibility_chart(dark)
    assert lines[0].strip().startswith("1 │") and not any("e-0" in line for line in lines), lines
    half = VisibilitySeries("AS131279", 300.0, points=[
        VisibilityPoint(time=1445565600.0, prefixes=1, slash24=0.5, slash48=0.0, peers=1,
                        peers_up=1, low_slash24=0.5, low_slash48=0.0)])
    assert visibility_chart(half)[0].strip().startswith("0.5 │")


def test_countries_json_keeps_the_limit(demo: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # `countries FILES --limit 3 --json` printed every country (6 in the demo)
    code, out, err = run_cli(capsys, "countries", *demo, "--json")
    every = json.loads(out)["countries"]
    assert code == 0 and len(every) > 3, err
    code, out, err = run_cli(capsys, "countries", *demo, "--limit", "3", "--json")
    assert code == 0 and json.loads(out)["countries"] == every[:3], err


def test_every_ranked_country_can_be_asked(shared_data: Path) -> None:
    # `countries` ranked XK (Kosovo: GeoLite2's code) while `upstreams --country XK` was
    # "unknown country code 'XK'"; EU (a registry code, not a country) likewise.
    import transitwatch as tw
    from transitwatch.registry import UnknownCountryError, normalise_country

    src = tw.files([str(shared_data / "mrt/bgpdump-corpus/input/updates.et-header.2015.gz")])
    rows = {r["country"]: r for r in tw.countries(src).to_dict()["countries"]}
    refused = set()
    for cc in rows:
        try:
            normalise_country(cc)
        except UnknownCountryError:
            refused.add(cc)
    assert not refused, refused
    assert rows["XK"]["name"] == "Kosovo"
    eu = tw.country_upstreams("EU", src).to_dict()
    assert eu["timezone"] == "UTC" and eu["name"].startswith("European Union")
    assert max(u["share"] for u in eu["upstreams"]) == pytest.approx(rows["EU"]["top_share"], abs=1e-4)
    kosovo = tw.country_upstreams("XK", src).to_dict()
    assert kosovo["timezone"] == "Europe/Belgrade"
    assert max(u["share"] for u in kosovo["upstreams"]) == pytest.approx(rows["XK"]["top_share"], abs=1e-4)


def test_live_watch_that_never_connects_fails(capsys: pytest.CaptureFixture[str]) -> None:
    # `watch --live` against a feed it never reached ended "0 messages, 0 gap(s)" with exit 0.
    import socket

    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = run_cli(capsys, "watch", "AS131279", "--live", "--ris-live-url",
                          f"ws://127.0.0.1:{port}/v1/ws/", "--for", "1s", "--backoff", "0.2")
    assert code == 1, err
    assert err.strip().splitlines()[-1].startswith("transitwatch: error: the live feed could not be reached")
    assert "the feed never connected" in err and "gap(s)" not in err
    assert out == ""


def test_hegemony_and_resilience_answer_from_db(demo: list[str], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # cli.md: "Inputs are the same everywhere: FILES, an archive window, or --db"; hegemony and
    # resilience said "unrecognized arguments: --db". Same answers as from the files.
    db = tmp_path / "kp.duckdb"
    assert run_cli(capsys, "ingest", *demo, "--db", str(db))[0] == 0

    def same_from_files_and_db(*argv: str) -> dict[str, Any]:
        code, out, err = run_cli(capsys, *argv, *demo, "--json")
        assert code == 0, err
        files = json.loads(out)
        code, out, err = run_cli(capsys, *argv, "--db", str(db), "--json")
        assert code == 0, err
        stored: dict[str, Any] = json.loads(out)
        for doc in (files, stored):
            doc.pop("notices"), doc.pop("relationships", None)   # a database infers none
        assert stored == files, argv
        return stored

    for argv in (["hegemony", "AS131279", "--at", "2017-10-01T09:00Z"],
                 ["hegemony", "AS131279", "--every", "2h"],
                 ["resilience", "AS131279", "--fail", "AS4837", "--at", "2017-10-01T11:00Z"],
                 ["resilience", "AS131279", "--spof", "--at", "2017-10-01T09:00Z"]):
        same_from_files_and_db(*argv)
    code, out, err = run_cli(capsys, "resilience", "AS131279", "--db", str(db), "--spof", "--json")
    assert [s["asn"] for s in json.loads(out)["spof"]] == []   # at the end AS20485 is there too
    # --country from --db too (it said "answered from MRT FILES only"): the same answers, up to
    # the end of the last stored file, and unknown where no stored file covers the moment
    for argv in (["hegemony", "--country", "KP", "--at", "2017-10-01T12:00Z"],
                 ["hegemony", "KP", "--every", "2h"],
                 ["resilience", "--country", "KP", "--fail", "AS4837", "--at", "2017-10-01T11:00Z"],
                 ["resilience", "--country", "KP", "--spof", "--at", "2017-10-01T08:30Z"]):
        stored = same_from_files_and_db(*argv)
        assert stored["target"] == "KP"
        assert stored.get("hegemony") or stored.get("series") or stored.get("prefixes")
    code, out, err = run_cli(capsys, "hegemony", "--country", "KP", "--at", "2017-10-02T12:00Z",
                             "--db", str(db), "--json")
    assert code == 0 and json.loads(out)["hegemony"] == [] and "no data covers" in out + err
    code, out, err = run_cli(capsys, "hegemony", "--country", "KP", *demo[:1], "--db", str(db))
    assert code == 2 and "give MRT FILES or --db, not both" in err
    code, out, err = run_cli(capsys, "hegemony", "AS131279", *demo[:1], "--db", str(db))
    assert code == 2 and "give MRT FILES or --db, not both" in err


def test_api_dependence_endpoints_take_target_query(demo: list[str], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # cli.md: every endpoint takes the target as ?target=; /api/hegemony?target=AS131279 was a
    # 307 to an empty answer. Same answers as the path forms.
    from fastapi.testclient import TestClient

    from transitwatch.api.app import create_app

    db = tmp_path / "kp.duckdb"
    assert run_cli(capsys, "ingest", *demo, "--db", str(db))[0] == 0
    client = TestClient(create_app(db), base_url="http://127.0.0.1")
    for path, query in (("/api/hegemony", {"every": "7200"}),
                        ("/api/resilience", {"fail": "4837", "at": "2017-10-01T11:00Z"})):
        by_query = client.get(path, params={"target": "AS131279", **query}, follow_redirects=False)
        assert by_query.status_code == 200, by_query.text
        assert by_query.json() == client.get(f"{path}/AS131279", params=query).json()
    assert client.get("/api/resilience", params={"target": "AS131279", "fail": "4837",
                                                  "at": "2017-10-01T11:00Z"}).json()[
        "scenarios"][0]["reachable_share"] == 0.75
    assert client.get("/api/hegemony", params={"target": "0.0.0.0/0"}).status_code in (400, 422)


def test_visibility_says_points_before_the_data(demo: list[str], shared_data: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # The 2015 table's grid point 02:00:00 precedes its first record (02:01:18): it showed "0
    # prefixes, 0/0 peers" without a word; no data covers it.
    table = str(shared_data / "mrt/bgpdump-corpus/input/updates.et-header.2015.gz")
    code, out, err = run_cli(capsys, "visibility", "AS131279", table, "--json")
    doc = json.loads(out)
    assert code == 0 and [p["time"] for p in doc["points"]] == ["2015-10-23T02:00:00Z"], err
    assert any(n.startswith("1 of 1 point(s) lie before the data's first record "
                            "(2015-10-23T02:01:18.509481Z)") for n in doc["notices"]), doc["notices"]
    # the demo's RIB dump is at the first grid point: nothing to say
    code, out, err = run_cli(capsys, "visibility", "AS131279", *demo, "--json")
    assert code == 0 and not any("before the data" in n for n in json.loads(out)["notices"])
