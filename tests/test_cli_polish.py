"""Small defects a user of the command line hits, each on the written 2017 demo scenario (known
truth) or the real 2015 table: notes said once, answers only at moments the data covers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from transitwatch.cli.main import main

EARLY = "2017-10-01T07:00Z"     # the demo's data starts at 08:00
LATE = "2030-01-01T00:00Z"      # and ends at 12:00


@pytest.mark.parametrize("command", [["upstreams", "AS131279"], ["upstreams", "--country", "KP"],
                                     ["upstreams", "KP"], ["hegemony", "AS131279"],
                                     ["hegemony", "--country", "KP"], ["countries"]])
def test_no_data_covers_is_said_once(demo: list[str], command: list[str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, *command, *demo, "--at", EARLY)
    assert code == 0, err
    both = out + err
    assert both.count("no data covers 2017-10-01T07:00:00Z") == 1, both
    assert "no route to" not in both            # unknown then, not absent


def test_no_answer_after_the_data(demo: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # Two years after the data nothing is known: hegemony had printed the note *and* the 12:00 scores,
    # resilience answered "cut off" from the last routes seen.
    code, out, err = run_cli(capsys, "hegemony", "AS131279", *demo, "--at", LATE, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["hegemony"] == [] and doc["peers"] == 0, doc
    assert any(n.startswith("no data covers 2030-01-01T00:00:00Z") for n in doc["notices"])
    code, out, err = run_cli(capsys, "resilience", "--fail", "4837", "AS131279", *demo, "--at", LATE)
    assert code == 2 and err.startswith("transitwatch: error: no data covers 2030-01-01T00:00:00Z")
    assert err.count("\n") == 1
    # inside the data the answers stand
    code, out, err = run_cli(capsys, "resilience", "--fail", "4837", "AS131279", *demo,
                          "--at", "2017-10-01T11:00Z")
    assert code == 0 and "3 of 4 prefixes stay reachable" in out, out + err


def test_real_table_after_its_end(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = str(shared_data / "mrt/bgpdump-corpus/input/updates.et-header.2015.gz")
    code, out, err = run_cli(capsys, "hegemony", "AS131279", table, "--at", "2017-10-01T07:00Z")
    assert code == 0 and "AS4837" not in out, out    # it was "AS4837 1.000" two years on
    assert (out + err).count("no data covers 2017-10-01T07:00:00Z") == 1
    code, out, err = run_cli(capsys, "hegemony", "AS131279", table)
    assert code == 0 and "AS4837" in out             # at the end of the data it answers


@pytest.mark.parametrize(("option", "value"), [
    ("--backoff", "-1"), ("--backoff", "0"), ("--backoff", "nan"), ("--for", "-1s"), ("--for", "0"),
    ("--min-duration", "-5m"), ("--baseline", "-1"), ("--resync", "-1m"),
])
def test_watch_refuses_negative_and_zero_durations(demo: list[str], option: str, value: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # `watch --backoff -1` was accepted (and 0 would reconnect in a busy loop): a usage error now.
    code, out, err = run_cli(capsys, "watch", "AS131279", *demo[:2], option, value)
    assert code == 2 and out == "", out
    assert err.count("\n") == 1 and err.startswith("transitwatch: error: ") and value in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["hegemony", "AS131279", "{files}", "--every", "-1h"],
    ["hegemony", "AS131279", "{files}", "--every", "0"],
    ["events", "AS131279", "{files}", "--min-duration", "-1m"],
    ["events", "AS131279", "{files}", "--buckets", "0"],
    ["visibility", "AS131279", "{files}", "--resolution", "-5m"], ["countries", "{files}", "--limit", "-1"],
    ["serve", "--db", "{tmp}/live.duckdb", "--live", "AS131279", "--backoff", "-2"],
    ["serve", "--db", "{tmp}/live.duckdb", "--live", "AS131279", "--backfill-wait", "-2m"],
])
def test_every_command_refuses_negative_durations(demo: list[str], argv: list[str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    args = [a for item in argv for a in (demo[:2] if item == "{files}" else [item.format(tmp=tmp_path)])]
    try:
        code = main(args)
    except SystemExit as exc:     # argparse's own checks (--limit's type) end the parse
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and argv[-1] in err, err
    assert not (tmp_path / "live.duckdb").exists()   # refused before anything was made


def test_country_answers_carry_at_as_upstreams_does(demo: list[str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # "time" stays (issues fixed it); "at" is the key `upstreams` uses for the moment answered.
    code, out, _ = run_cli(capsys, "upstreams", "--country", "KP", *demo, "--at", "2017-10-01T10:00Z",
                           "--json")
    doc = json.loads(out)
    assert code == 0 and doc["at"] == doc["time"] == "2017-10-01T10:00:00Z"
    assert doc["at_local"] == doc["time_local"] == "2017-10-01T18:30:00+08:30"   # Pyongyang, UTC+8:30
    code, out, _ = run_cli(capsys, "upstreams", "AS131279", *demo, "--at", "2017-10-01T10:00Z", "--json")
    assert json.loads(out)["at"] == doc["at"]
    code, out, _ = run_cli(capsys, "countries", *demo, "--at", "2017-10-01T10:00Z", "--json")
    ranking = json.loads(out)
    assert code == 0 and ranking["at"] == ranking["time"] == "2017-10-01T10:00:00Z" and ranking["countries"]


@pytest.mark.parametrize("target", ["0.0.0.0/0", "::/0", "10.0.0.0/1", "AS131279,2000::/3"])
def test_over_broad_prefix_targets_are_refused_as_the_api_does(demo: list[str], target: str, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from fastapi import HTTPException

    from transitwatch.api import params

    with pytest.raises(HTTPException) as refused:        # the HTTP API's edge: 400
        params.target(target)
    detail = str(refused.value.detail)
    assert refused.value.status_code == 400 and "too broad" in detail
    db = tmp_path / "w.duckdb"
    for argv in (["upstreams", target, *demo[:2]], ["events", target, *demo[:2]],
                 ["visibility", target, *demo[:2]], ["hegemony", target, *demo[:2]],
                 ["resilience", "--spof", target, *demo[:2]], ["watch", target, *demo[:2]],
                 ["ingest", "--db", str(db), *demo[:2], "--watch", target],
                 ["serve", "--db", str(db), "--live", target]):
        code, out, err = run_cli(capsys, *argv)
        # the same rule and the same words as the API, one line, before any work
        assert code == 2 and err == f"transitwatch: error: {detail}\n", (argv, err)
        assert out == "" and not db.exists(), argv


def test_a_slash_8_is_still_a_target(demo: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "upstreams", "175.0.0.0/8", *demo, "--json")
    doc = json.loads(out)
    assert code == 0 and {u["asn"] for u in doc["upstreams"]} == {4837, 20485}, err


@pytest.fixture(scope="module")
def quiet_hour(tmp_path_factory: pytest.TempPathFactory, demo: list[str]) -> list[str]:
    """The demo, then an hour of update files with nothing in them (a collector with nothing to say:
    gzip of no records, as the archives publish; `fetch` already accepts them as such)."""
    from transitwatch.sources.mrt_writer import write_mrt

    folder = tmp_path_factory.mktemp("quiet") / "rrc00"
    folder.mkdir()
    quiet = [folder / f"updates.20171001.12{m:02d}.gz" for m in range(0, 60, 5)]
    for path in quiet:
        write_mrt(path, [], compression="gzip")
    return [*demo, *map(str, quiet)]


def test_quiet_update_files_are_one_note(quiet_hour: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    quiet = [p for p in quiet_hour if "/quiet" in p]
    code, out, err = run_cli(capsys, "upstreams", "AS131279", *quiet_hour, "--at", "2017-10-01T12:30Z")
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("transitwatch: note:")]
    # 44 demo update files hold no route of AS131279, and the 12 quiet ones nothing at all: one line
    assert notes == [f"transitwatch: note: 56 files had no route of AS131279: first "
                     f"{quiet_hour[1]}, last {quiet[-1]}"], err
    # the quiet hour is covered (it was "not an MRT file", left out: a gap, "no data covers")
    assert "AS4837" in out and "AS20485" in out and "no data covers" not in out + err
    code, out, err = run_cli(capsys, "upstreams", "AS131279", *quiet_hour, "--at", "2017-10-01T12:30Z",
                             "--json")
    doc = json.loads(out)
    assert doc["coverage"]["peers"] > 0 and not doc["coverage"]["gaps"]
    # --json keeps one notice per file
    assert [n for n in doc["notices"] if n.endswith(": no observations")][-12:] == \
        [f"{p}: no observations" for p in quiet]
    for command in (["countries"], ["events", "AS131279"], ["watch", "AS131279"], ["visibility", "AS131279"]):
        code, out, err = run_cli(capsys, *command, *quiet_hour)
        assert code == 0, (command, err)
        notes = [line for line in err.splitlines() if "files had no route" in line]
        assert len(notes) == 1 and f"last {quiet[-1]}" in notes[0], (command, err)
        assert "/quiet/rrc00/updates.20171001.1205.gz" not in err, (command, err)   # not one per file


def test_an_empty_file_on_disk_is_still_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty, garbage = tmp_path / "updates.20171001.1200", tmp_path / "updates.20171001.1205.gz"
    empty.write_bytes(b"")              # 0 bytes: a failed download, not a quiet interval
    import gzip

    garbage.write_bytes(gzip.compress(b"\x00\x01"))   # compressed, but not MRT inside
    for path, why in ((empty, "empty file"), (garbage, "not an MRT file")):
        code, _, err = run_cli(capsys, "countries", str(path))
        assert code == 2 and why in err and err.count("\n") == 1, err


def _upstream_relationships(doc_events: list[dict[str, object]]) -> dict[tuple[object, object], object]:
    return {(e["type"], e["upstream"]): e["relationship"] for e in doc_events
            if e["type"] in ("new_upstream", "lost_upstream")}


@pytest.mark.parametrize("as_rel", [None, "peer"])
def test_watch_and_events_agree_on_relationships(demo: list[str], as_rel: str | None, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # `watch` replaying the demo said AS20485 was "unknown" where `events` says "provider"
    extra: list[str] = []
    if as_rel is not None:   # a CAIDA serial-1 file saying otherwise answers for both, named
        rel_file = tmp_path / "20171001.as-rel.txt"
        rel_file.write_text("# source: test\n4837|131279|-1\n20485|131279|0\n")
        extra = ["--as-rel", str(rel_file)]
    code, out, err = run_cli(capsys, "events", "AS131279", *demo, "--detect", "upstream", "--json", *extra)
    events = json.loads(out)
    assert code == 0, err
    code, out, err = run_cli(capsys, "watch", "AS131279", *demo, "--json", *extra)
    assert code == 0, err
    watched = [json.loads(line) for line in out.splitlines()]
    expected = {("new_upstream", 20485): "provider" if as_rel is None else "peer"}
    assert _upstream_relationships(events["events"]) == expected
    assert _upstream_relationships(watched) == expected
    # each says which source answered
    source = events["relationships"]["source"]
    assert f"transitwatch: note: relationships: {source}\n" in err
    assert ("inferred (AS-Rank)" in source) if as_rel is None else ("20171001.as-rel.txt" in source)


def test_upstream_events_carry_their_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 09:08 two peers hear three KP /24s through TransTelecom; 10:02 both are back on China Unicom:
    # the new upstream ends when it is lost, with the key names outages use ("end", "duration").
    from test_country import KP, PEERS, T0, baseline, obs, transtelecom
    from transitwatch.sources.mrt_writer import write_mrt

    back = T0 + 2 * 3600 + 120      # 10:02 UTC
    reverted = [obs("announce", back + i, peer, prefix, f"{PEERS[peer][1]} 4837 131279")
                for i, peer in enumerate(["ntt", "level3"]) for prefix in (KP[0], KP[2], KP[3])]
    folder = tmp_path / "rrc00"
    folder.mkdir()
    files = [folder / "bview.20171001.0800.gz"]
    write_mrt(files[0], baseline(), compression="gzip")
    for minute in range(8 * 60, 10 * 60 + 10, 5):       # every 5-minute file, quiet ones empty
        path = folder / f"updates.20171001.{minute // 60:02d}{minute % 60:02d}.gz"
        start = T0 + (minute - 8 * 60) * 60
        write_mrt(path, [o for o in transtelecom() + reverted if start <= o.time < start + 300],
                  compression="gzip")
        files.append(path)
    args = [str(p) for p in files]
    code, out, err = run_cli(capsys, "events", "AS131279", *args, "--detect", "upstream", "--json",
                          "--tz", "Asia/Pyongyang")
    assert code == 0, err
    events = {e["type"]: e for e in json.loads(out)["events"]}
    assert set(events) == {"new_upstream", "lost_upstream"}
    new, lost = events["new_upstream"], events["lost_upstream"]
    assert new["upstream"] == lost["upstream"] == 20485
    assert new["onset"] == "2017-10-01T09:08:00Z"
    assert new["end"] == lost["onset"] == "2017-10-01T10:02:00Z"
    assert new["duration"] == 54 * 60 and new["end_local"] == "2017-10-01T18:32:00+08:30"
    assert lost["end"] is None and lost["duration"] is None       # not regained in the input
    # watch replays the same: each change once, no separate "end" alert for an upstream change
    code, out, err = run_cli(capsys, "watch", "AS131279", *args, "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(r["type"], r["phase"]) for r in lines] == [("new_upstream", "onset"), ("lost_upstream", "onset")]


def test_country_answers_are_not_stale_after_the_data(demo: list[str], shared_data: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # `countries --at 2030` ranked the demo's 12:00 routes as if they held in 2030
    for command in (["countries"], ["upstreams", "--country", "KP"]):
        code, out, err = run_cli(capsys, *command, *demo, "--at", LATE, "--json")
        doc = json.loads(out)
        assert code == 0 and doc.get("countries", doc.get("upstreams")) == [], doc
        assert [n for n in doc["notices"] if n.startswith("no data covers 2030-01-01T00:00:00Z")], doc
        code, out, err = run_cli(capsys, *command, *demo, "--at", LATE)
        assert (out + err).count("no data covers 2030-01-01T00:00:00Z") == 1, out + err
    table = str(shared_data / "mrt/bgpdump-corpus/input/updates.et-header.2015.gz")
    code, out, err = run_cli(capsys, "upstreams", "--country", "KP", table, "--at", "2017-10-01T07:00Z",
                          "--json")
    doc = json.loads(out)
    assert doc["upstreams"] == [] and doc["at"] == "2017-10-01T07:00:00Z"
    assert any(n.startswith("no data covers 2017-10-01T07:00:00Z") for n in doc["notices"])
    code, out, err = run_cli(capsys, "upstreams", "--country", "KP", table, "--json")   # its own end answers
    assert {u["asn"] for u in json.loads(out)["upstreams"]} >= {4837}


def test_api_country_answers_are_not_stale_after_the_data(demo: list[str], tmp_path: Path) -> None:
    # the HTTP API answers as tw.countries / tw.country_upstreams on the same store
    from fastapi.testclient import TestClient

    import transitwatch as tw
    from transitwatch.api.app import create_app

    db = tmp_path / "kp.duckdb"
    tw.ingest(db, demo)
    facade = tw.countries(tw.store(db), at=LATE).to_dict()
    assert facade["countries"] == [] and facade["notices"][0].startswith("no data covers 2030-01-01")
    client = TestClient(create_app(db), base_url="http://127.0.0.1")
    ranking = client.get("/api/countries", params={"at": LATE}).json()
    assert ranking["countries"] == [] and ranking["notices"] == facade["notices"]
    answer = client.get("/api/upstreams/KP", params={"at": LATE})
    assert answer.status_code == 200 and answer.json()["upstreams"] == []
    assert answer.json()["notices"] == tw.country_upstreams("KP", tw.store(db), at=LATE).notices
    inside = client.get("/api/upstreams/KP", params={"at": "2017-10-01T10:00Z"}).json()
    assert {u["asn"] for u in inside["upstreams"]} >= {4837} and inside["at"] == inside["time"]
    assert client.get("/api/countries", params={"at": "2017-10-01T10:00Z"}).json()["countries"]
