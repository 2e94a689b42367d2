"""The store: ingest is incremental, idempotent, order-independent and crash-safe; queries give
the same answers as replaying the files."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from transitwatch.detect.upstream_change import changes_of
from transitwatch.metrics.upstreams import upstream_timeline, upstreams_of
from transitwatch.scenarios.scenario import load_scenario
from transitwatch.sources.files import read_files
from transitwatch.state.view import target_view as file_target_view
from transitwatch.store import (
    Store,
    StoreError,
    TargetTooBroad,
    ingest,
    state_at,
    stored_events,
    timeline_of,
    upstream_changes_of,
    upstreams_at,
)
from transitwatch.store.db import TABLES
from transitwatch.times import parse_time

ROOT = Path(__file__).resolve().parent.parent
KP = "AS131279"


def write_demo_history(out: Path, collectors: tuple[str, ...] = ("rrc00",)) -> list[Path]:
    """The bundled KP 2017 scenario written as RIS-named MRT files, once per collector (other
    collectors get another seed, so their bytes and background churn differ)."""
    scenario = load_scenario("kp-2017-transtelecom")
    paths: list[Path] = []
    for i, collector in enumerate(collectors):
        variant = dataclasses.replace(scenario, collector=collector)
        paths += variant.write_mrt(out, seed=scenario.seed + i)
    return paths


def table_contents(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted (file paths and ingest times aside: they say where and
    when, not what)."""
    out = {}
    with Store(db, read_only=True) as store:
        for table in TABLES:
            exclude = " EXCLUDE (ingested_at, path)" if table == "files" else ""
            out[table] = store.con.execute(f"SELECT *{exclude} FROM {table} ORDER BY ALL").fetchall()
    return out


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_demo_history(tmp_path_factory.mktemp("mrt"), ("rrc00", "rrc01"))


@pytest.fixture(scope="module")
def reference_db(history: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("ref") / "ref.duckdb"
    with Store(db) as store:
        report = ingest(store, history, watch_targets=[KP])
    assert len(report.ingested) == len(history)
    assert report.events and report.events >= 1
    return db


def test_schema_keeps_intervals_not_updates(reference_db: Path, history: list[Path]) -> None:
    with Store(reference_db, read_only=True) as store:
        summary = store.summary()
        counts = store.counts()
    observations = sum(1 for _ in read_files(history))
    assert summary["files"] == len(history) and summary["observations"] == observations
    assert summary["collectors"] == ["rrc00", "rrc01"]
    # Intervals, not a copy of every update: re-announcements of the same path fold into one.
    assert 0 < counts["routes"] < observations
    assert counts["aspaths"] < counts["routes"]


def test_answers_equal_a_replay_of_the_files(reference_db: Path, history: list[Path]) -> None:
    scenario = load_scenario("kp-2017-transtelecom")
    with Store(reference_db, read_only=True) as store:
        for at in (None, scenario.start + 600, parse_time("2017-10-01T09:07:59Z"),
                   parse_time("2017-10-01T09:30Z"), parse_time("2017-10-01T11:00Z")):
            stored = upstreams_at(store, KP, at).to_dict()
            replayed = upstreams_of(KP, read_files(history), at).to_dict()
            stored.pop("notices"), replayed.pop("notices")
            assert stored == replayed, at
        # The story: TransTelecom beside China Unicom after 09:08.
        before = upstreams_at(store, KP, parse_time("2017-10-01T09:00Z"))
        after = upstreams_at(store, KP, parse_time("2017-10-01T09:30Z"))
        assert before.asns == {4837} and after.asns == {4837, 20485}

        stored_changes = upstream_changes_of(store, KP).to_dict("Asia/Pyongyang")
        replayed_changes = changes_of(KP, read_files(history)).to_dict("Asia/Pyongyang")
        stored_changes.pop("notices"), replayed_changes.pop("notices")
        assert stored_changes == replayed_changes
        new = [e for e in stored_changes["events"] if e["type"] == "new_upstream"]
        assert new[0]["upstream"] == 20485 and new[0]["onset_local"].startswith("2017-10-01T17:3")

        stored_line = timeline_of(store, KP, buckets=24).to_dict()
        replayed_line = upstream_timeline(file_target_view(KP, read_files(history)), 24).to_dict()
        assert stored_line == replayed_line
        assert max(stored_line["upstreams"]["20485"]) >= 2


def test_prefix_target_and_state_at(reference_db: Path, history: list[Path]) -> None:
    with Store(reference_db, read_only=True) as store:
        at = parse_time("2017-10-01T09:30Z")
        stored = upstreams_at(store, "175.45.178.0/23", at).to_dict()
        replayed = upstreams_of("175.45.178.0/23", read_files(history), at).to_dict()
        stored.pop("notices"), replayed.pop("notices")
        assert stored == replayed and stored["prefixes"] == ["175.45.178.0/24", "175.45.179.0/24"]
        state = state_at(store, at)
    from transitwatch.state.table import RoutingState
    replay = RoutingState().replay(read_files(history), until=at)
    assert sorted(map(str, state.to_records())) == sorted(map(str, replay.to_records()))


def test_stored_events_for_watched_targets(reference_db: Path) -> None:
    with Store(reference_db, read_only=True) as store:
        page = stored_events(store, target="131279", tz="Asia/Pyongyang")
        assert page.total == len(page.events) >= 1
        first = page.events[0]
        assert first["target"] == KP and first["evidence"]
        assert first["evidence"][0]["time_local"].endswith("+08:30")
        assert first["evidence"][0]["source"].endswith(".gz")
        late = stored_events(store, start=parse_time("2017-10-01T23:00Z"))
        assert late.total == 0 and late.events == []
        assert stored_events(store, limit=1, offset=page.total).events == []


def test_reingest_is_a_no_op(reference_db: Path, history: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "again.duckdb"
    with Store(db) as store:
        ingest(store, history, watch_targets=[KP])
        report = ingest(store, history)
    assert not report.ingested and len(report.skipped) == len(history)
    assert table_contents(db) == table_contents(reference_db)


def test_columnar_ingest_equals_the_row_by_row_reference(
    reference_db: Path, history: list[Path], tmp_path: Path
) -> None:
    # reference_db is written by the default (columnar) ingest; the row-by-row path is the spec
    db = tmp_path / "rowwise.duckdb"
    with Store(db) as store:
        ingest(store, history, watch_targets=[KP], method="reference")
    assert table_contents(db) == table_contents(reference_db)


def test_in_order_batches_equal_one_run(reference_db: Path, history: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "batches.duckdb"
    ordered = sorted(history, key=lambda p: (p.parent.parent.name, p.name))
    with Store(db) as store:
        ingest(store, [], watch_targets=[KP])
        modes = set()
        for i in range(0, len(ordered), 7):
            report = ingest(store, ordered[i:i + 7])
            modes.update(report.collectors.values())
    assert modes == {"append"}
    assert table_contents(db) == table_contents(reference_db)


def test_late_and_shuffled_files_equal_one_run(
    reference_db: Path, history: list[Path], tmp_path: Path
) -> None:
    db = tmp_path / "shuffled.duckdb"
    shuffled = list(history)
    random.Random(5).shuffle(shuffled)
    with Store(db) as store:
        ingest(store, [], watch_targets=[KP])
        modes = set()
        for i in range(0, len(shuffled), 10):
            report = ingest(store, shuffled[i:i + 10])
            modes.update(report.collectors.values())
    assert "rebuild" in modes
    assert table_contents(db) == table_contents(reference_db)


def test_rebuild_names_a_missing_file(tmp_path: Path) -> None:
    paths = write_demo_history(tmp_path / "mrt")
    db = tmp_path / "db.duckdb"
    bview, updates = paths[0], paths[1:]
    with Store(db) as store:
        ingest(store, updates[5:])
        moved = updates[6].with_suffix(".moved")
        updates[6].rename(moved)
        with pytest.raises(StoreError, match=r"updates\.20171001\.0830\.gz is missing"):
            ingest(store, [bview])
        # Given again (from wherever it is now), the rebuild goes through.
        report = ingest(store, [bview, moved])
    assert report.collectors == {"rrc00": "rebuild"}
    assert {f.status for f in report.files} >= {"ingested", "replayed", "skipped"}


_KILLER = textwrap.dedent("""
    import os, signal, sys
    import transitwatch.store.ingestion as ingest_module
    import transitwatch.store.intervals as intervals_module
    from transitwatch.store import Store, ingest

    db, victim, method, *paths = sys.argv[1:]
    flushes = {"n": 0}

    def killing(real):
        def flush(self, *args, **kw):
            real(self, *args, **kw)
            if self.collector == victim:
                flushes["n"] += 1
                if flushes["n"] == 3:
                    print("killing", flush=True)
                    os.kill(os.getpid(), signal.SIGKILL)
        return flush

    ingest_module._Deriver.flush = killing(ingest_module._Deriver.flush)
    intervals_module.IntervalBuilder.flush = killing(intervals_module.IntervalBuilder.flush)
    # write many small batches, so the kill lands mid-transaction
    ingest_module._FLUSH_ROWS = intervals_module._FLUSH_ROWS = 40
    ingest_module._GROUP = 300
    with Store(db) as store:
        ingest(store, paths, watch_targets=["AS131279"], method=method)
    print("finished", flush=True)
""")


@pytest.mark.parametrize("method", ["columnar", "reference"])
def test_sigkill_mid_ingest_then_rerun_equals_uninterrupted(
    reference_db: Path, history: list[Path], tmp_path: Path, method: str
) -> None:
    db = tmp_path / "killed.duckdb"
    script = tmp_path / "killer.py"
    script.write_text(_KILLER)
    args = [sys.executable, str(script), str(db), "rrc01", method, *map(str, history)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "killing" in proc.stdout and "finished" not in proc.stdout
    # rrc00 was committed, rrc01's half-written transaction is gone, and events were never computed.
    with Store(db) as store:
        collectors = [r[0] for r in store.con.execute("SELECT DISTINCT collector FROM files").fetchall()]
        assert collectors == ["rrc00"]
        assert store.con.execute("SELECT count(*) FROM peers WHERE collector = 'rrc01'").fetchone() == (0,)
        report = ingest(store, history)
    assert report.collectors == {"rrc01": "append"} and len(report.skipped) == len(history) // 2
    assert table_contents(db) == table_contents(reference_db)


def test_bounded_and_clear_errors(reference_db: Path, tmp_path: Path) -> None:
    with Store(reference_db, read_only=True) as store:
        from transitwatch.store.query import target_view
        with pytest.raises(TargetTooBroad, match="more than 10 route intervals"):
            target_view(store, KP, max_intervals=10)
        assert upstreams_at(store, "AS64500").empty
    with pytest.raises(StoreError, match="no database here"):
        Store(tmp_path / "nothing.duckdb", read_only=True)
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="junk.duckdb"):
        Store(junk)
    with Store(tmp_path / "empty.duckdb") as store:
        with pytest.raises(FileNotFoundError, match="nope.gz: no such file"):
            ingest(store, [tmp_path / "nope.gz"])


def test_real_table_exchange(shared_data: Path, tmp_path: Path) -> None:
    """PCH's full table from AS3856 (2015): KP's four /24s through China Unicom, as from the file."""
    path = shared_data / "mrt" / "bgpdump-corpus" / "input" / "updates.et-header.2015.gz"
    with Store(tmp_path / "real.duckdb") as store:
        report = ingest(store, [path])
        assert report.observations > 500_000
        stored = upstreams_at(store, KP).to_dict()
    replayed = upstreams_of(KP, read_files([path])).to_dict()
    stored.pop("notices"), replayed.pop("notices")
    assert stored == replayed
    assert [u["asn"] for u in stored["upstreams"]] == [4837] and len(stored["prefixes"]) == 4
    assert json.dumps(stored)  # JSON-serialisable as the CLI prints it


def test_cli_ingest_json(history: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    cmd = [sys.executable, "-m", "transitwatch", "ingest", "--db", str(db), "--watch", KP, "--json",
           *map(str, history[:10])]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["ingested"] == 10 and out["skipped"] == 0 and out["collectors"] == {"rrc00": "append"}
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert json.loads(again.stdout)["skipped"] == 10
    missing = subprocess.run([sys.executable, "-m", "transitwatch", "ingest", "--db", str(db),
                              str(tmp_path / "nope.gz")], capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and missing.stderr.strip().endswith("nope.gz: no such file")
    assert "Traceback" not in missing.stderr


def test_api_ingest_equals_the_cli_json_and_reports_progress(
        history: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ingest` only parses and renders around tw.ingest: the same document, the same store."""
    import transitwatch as tw
    from transitwatch.cli.main import main

    files = history[:6]
    heard: list[tuple[str, int, int]] = []
    api = tw.ingest(tmp_path / "api.duckdb", files, watch=[KP], min_duration="5m",
                    progress=lambda c, n, f: heard.append((c, n, f)))
    assert main(["ingest", "--db", str(tmp_path / "cli.duckdb"), "--watch", KP, "--json",
                 *map(str, files)]) == 0
    cli = json.loads(capsys.readouterr().out)
    doc = json.loads(json.dumps(api.to_dict()))
    for d in (doc, cli):
        d.pop("seconds")
        d["database"].pop("path")
    assert cli == doc and doc["ingested"] == 6
    assert heard and heard[-1][0] == "rrc00" and heard[-1][1] == api.report.observations
    assert table_contents(tmp_path / "api.duckdb") == table_contents(tmp_path / "cli.duckdb")


def test_api_ingest_bad_input_is_one_line_error(tmp_path: Path, history: list[Path]) -> None:
    import transitwatch as tw
    from transitwatch.errors import TransitwatchError

    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database at all" * 100)
    cases = [
        (lambda: tw.ingest(tmp_path / "a.duckdb", [tmp_path / "nope.gz"]), "nope.gz: no such file"),
        (lambda: tw.ingest(tmp_path / "a.duckdb", []), "give MRT files to ingest"),
        (lambda: tw.ingest(tmp_path / "a.duckdb", history[:1], min_duration="soon"), "cannot read duration"),
        (lambda: tw.ingest(tmp_path / "a.duckdb", history[:1], watch=["ASfoo"]), "ASfoo"),
        (lambda: tw.ingest(junk, history[:1]), "junk.duckdb"),
    ]
    for call, message in cases:
        with pytest.raises(TransitwatchError) as exc:
            call()
        assert message in str(exc.value) and "\n" not in str(exc.value)
