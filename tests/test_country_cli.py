"""`transitwatch countries` / `upstreams --country` / `events --country` on MRT files written by the
project's own writer (exact fixtures built in the test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_country import baseline, transtelecom
from transitwatch.cli.main import main
from transitwatch.sources.mrt_writer import write_mrt


@pytest.fixture
def mrt_files(tmp_path: Path) -> list[str]:
    rib = tmp_path / "bview.20171001.0800.gz"
    updates = tmp_path / "updates.20171001.0905.gz"
    write_mrt(rib, baseline(), compression="gzip")
    write_mrt(updates, transtelecom(), compression="gzip")
    # the quiet 5-minute files between them: data with no change (without them the hour after
    # the dump is a gap, and the dump's routes are unknown after it)
    quiet = [tmp_path / f"updates.20171001.{h:02d}{m:02d}.gz" for h, m in
             [(8, m) for m in range(0, 60, 5)] + [(9, 0)]]
    for path in quiet:
        write_mrt(path, [], compression="gzip")
    return [str(rib), *map(str, quiet), str(updates)]


def test_countries_json(mrt_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["countries", *mrt_files, "--json"]) == 0
    rows = {r["country"]: r for r in json.loads(capsys.readouterr().out)["countries"]}
    assert rows["KP"]["upstreams"] == 3 and rows["KP"]["top_upstream"] == 4837
    assert rows["KP"]["top_share"] == 0.8


def test_countries_text_and_at(mrt_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["countries", *mrt_files, "--at", "2017-10-01T09:00Z"]) == 0
    out = capsys.readouterr().out
    kp = next(line for line in out.splitlines() if " KP " in line)
    assert "Korea (North)" in kp and "AS4837" in kp and "80%" in kp


def test_countries_at_an_uncovered_moment(mrt_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # Before the RIB dump nothing is known: "no route" would be untrue, the note says so.
    assert main(["countries", *mrt_files, "--at", "2017-10-01T07:00Z", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["countries"] == []
    assert any(n.startswith("no data covers 2017-10-01T07:00:00Z") for n in doc["notices"]), doc["notices"]
    assert "no route to a prefix" not in captured.err
    db = str(Path(mrt_files[0]).parent / "kp.duckdb")      # a store answers alike
    import transitwatch as tw  # not main(["ingest"]): it keeps pandas out of this process

    tw.ingest(db, mrt_files)
    assert main(["countries", "--db", db, "--at", "2017-10-01T07:00Z", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["countries"] == [] and any(n.startswith("no data covers") for n in doc["notices"])
    assert main(["countries", "--db", db, "--at", "2017-10-01T09:00Z", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["countries"] and not any("no data covers" in n for n in doc["notices"])
    assert doc["coverage"]["collectors"] == [""] and doc["coverage"]["peers"] == 3


def test_country_upstreams_uncovered(mrt_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upstreams", "--country", "KP", *mrt_files, "--at", "2017-10-01T07:00Z", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["upstreams"] == [] and any(n.startswith("no data covers") for n in doc["notices"])
    assert main(["upstreams", "--country", "KP", *mrt_files, "--at", "2017-10-01T07:00Z"]) == 0
    out = capsys.readouterr().out
    assert "no data covers 2017-10-01T07:00:00Z" in out and "no route to a prefix" not in out
    assert "no address space seen" in out and "0 ipv6 addresses" not in out   # not a family it lacks


def test_countries_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.mrt"
    bad.write_bytes(b"not an MRT file at all")
    assert main(["countries", str(tmp_path / "missing.gz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.gz" in err
    assert main(["countries", str(bad), "--registry-dir", str(tmp_path / "nope")]) == 2
    assert "registry directory not found" in capsys.readouterr().err


def test_upstreams_country_json_local_time(mrt_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upstreams", "--country", "KP", *mrt_files, "--at", "2017-10-01T09:00Z", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["country"] == "KP" and out["timezone"] == "Asia/Pyongyang"
    assert out["time_local"] == "2017-10-01T17:30:00+08:30"  # Pyongyang's own zone, not asked for
    assert [(u["asn"], u["share"]) for u in out["upstreams"]] == [(4837, 0.8), (9929, 0.2)]
    assert out["upstreams"][0]["country"] == "CN" and out["upstreams"][0]["peers"] == 3


def test_upstreams_country_text(mrt_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upstreams", "--country", "kp", *mrt_files]) == 0
    out = capsys.readouterr().out
    assert "+08:30" in out and "AS20485" in out and "RU" in out
    assert "210.52.109.0/24  geolite2" in out  # which source placed the prefix in KP


def test_events_country(mrt_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "--country", "KP", *mrt_files, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["country"] == "KP"
    event = out["events"][0]
    assert (event["type"], event["upstream"], event["country"]) == ("new_upstream", 20485, "KP")
    assert event["onset_local"] == "2017-10-01T17:38:00+08:30" and event["upstream_country"] == "RU"
    assert event["evidence"][0]["as_path"].endswith("20485 131279")


def test_country_code_as_target_is_country(mrt_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # `upstreams kp FILES` once raised AttributeError (a traceback); it is `--country KP`.
    assert main(["upstreams", "--country", "KP", *mrt_files, "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    assert main(["upstreams", "kp", *mrt_files, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == expected and expected["country"] == "KP"
    assert main(["upstreams", "ZZ", *mrt_files]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown country code 'ZZ'" in err


def test_country_flag_errors(mrt_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upstreams", "--country", "ZZ", *mrt_files]) == 2
    assert "unknown country code 'ZZ'" in capsys.readouterr().err
    assert main(["events", "--country", "KP", "/nonexistent/file.gz"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/nonexistent/file.gz" in err


def test_countries_limit_must_be_positive(mrt_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # --limit -1 once printed "top 5" of 6 (a Python slice); now a usage error
    with pytest.raises(SystemExit) as exit_:
        main(["countries", *mrt_files, "--limit", "-1"])
    assert exit_.value.code == 2 and "--limit" in capsys.readouterr().err
    assert main(["countries", *mrt_files, "--limit", "1"]) == 0
    assert "(top 1)" in capsys.readouterr().out


def test_country_text_on_a_terminal_is_a_rich_table(mrt_files: list[str]) -> None:
    """On a terminal the same rows are a rich table (rich is imported only then: pipes skip it)."""
    import io

    import transitwatch as tw
    from transitwatch.cli.render_country import print_country_upstreams

    result = tw.country_upstreams("KP", tw.files(mrt_files))
    plain, table = io.StringIO(), io.StringIO()
    print_country_upstreams(result.report, tz=result.tz, rich=False, file=plain)
    print_country_upstreams(result.report, tz=result.tz, rich=True, file=table)
    assert "AS20485" in plain.getvalue() and "AS20485" in table.getvalue()
    assert "━" in table.getvalue() or "─" in table.getvalue()  # box drawing: rich rendered it
    assert "─" not in plain.getvalue() and "━" not in plain.getvalue()
