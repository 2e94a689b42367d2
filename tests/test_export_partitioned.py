"""`export --partitioned DIR`: the store as Hive-partitioned Parquet that DuckDB and Dask read as
is, and that transitwatch itself answers from (`--db DIR`, `tw.store(DIR)`) as from the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import transitwatch as tw
from test_store import KP, table_contents, write_demo_history
from transitwatch.store import Store, StoreError


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("partitioned")
    history = write_demo_history(work / "mrt", ("rrc00", "rrc01"))
    db = work / "history.duckdb"
    result = tw.ingest(db, history, watch=[KP])
    assert result.to_dict()["ingested"] == len(history) and result.records()[0]["status"] == "ingested"
    out = work / "history"
    written = tw.export(db, out)
    assert out / "routes" in written.paths
    return db, out


def test_hive_layout_by_collector_and_day(exported: tuple[Path, Path]) -> None:
    db, out = exported
    assert (out / "_transitwatch.json").is_file()
    days = sorted(p.relative_to(out / "routes").as_posix() for p in (out / "routes").glob("*/*"))
    assert days == ["collector=rrc00/day=2017-10-01", "collector=rrc01/day=2017-10-01"]
    assert list((out / "routes" / "collector=rrc00" / "day=2017-10-01").glob("*.parquet"))


def test_duckdb_reads_it_as_is(exported: tuple[Path, Path]) -> None:
    db, out = exported
    with Store(db, read_only=True) as store:
        want = store.con.execute(
            """SELECT p.collector, count(*), count(DISTINCT r.prefix_id) FROM routes r
               JOIN peers p USING (peer_id) GROUP BY 1 ORDER BY 1""").fetchall()
    con = duckdb.connect()
    got = con.execute(
        f"""SELECT collector, count(*), count(DISTINCT prefix) FROM
            read_parquet('{out}/routes/**/*.parquet', hive_partitioning = true)
            GROUP BY 1 ORDER BY 1""").fetchall()
    assert got == want and sum(row[1] for row in got) > 500
    # the flat columns answer without joins: North Korea's routes and their upstream
    kp = con.execute(
        f"""SELECT DISTINCT prefix FROM read_parquet('{out}/routes/**/*.parquet', hive_partitioning = true)
            WHERE origin = 131279 ORDER BY 1""").fetchall()
    assert [r[0] for r in kp] == ["175.45.176.0/24", "175.45.177.0/24", "175.45.178.0/24", "175.45.179.0/24"]


def test_dask_reads_it_as_is(exported: tuple[Path, Path]) -> None:
    dd = pytest.importorskip("dask.dataframe")
    db, out = exported
    frame = dd.read_parquet(str(out / "routes"))
    with Store(db, read_only=True) as store:
        total = store.con.execute("SELECT count(*) FROM routes").fetchone()
    assert total is not None and len(frame) == total[0]
    assert {"collector", "day", "peer_ip", "prefix", "as_path", "start_utc", "end_utc"} <= set(frame.columns)
    per_collector = frame.groupby("collector").size().compute()
    assert {str(k) for k in per_collector.index} == {"rrc00", "rrc01"}
    moved = frame[(frame.origin == 131279) & frame.as_path.str.contains(" 20485 ")].compute()
    assert len(moved) and (moved.start_utc.dt.strftime("%H:%M") >= "09:08").all()


def test_the_folder_is_a_store(exported: tuple[Path, Path]) -> None:
    db, out = exported
    assert table_contents(out) == table_contents(db)
    with Store(out, read_only=True) as store:
        assert store.summary()["collectors"] == ["rrc00", "rrc01"]
    with pytest.raises(StoreError, match="read-only"):
        Store(out)


@pytest.mark.parametrize("question", [
    ["upstreams", KP, "--at", "2017-10-01T09:30Z"],
    ["events", KP],
])
def test_commands_answer_from_the_folder_as_from_the_file(
    exported: tuple[Path, Path], question: list[str]
) -> None:
    db, out = exported
    answers = []
    for store in (db, out):
        proc = subprocess.run([sys.executable, "-m", "transitwatch", *question, "--db", str(store), "--json"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        answers.append(json.loads(proc.stdout))
    assert answers[0] == answers[1]
    assert "4837" in json.dumps(answers[0])


def test_export_refuses_a_foreign_folder_and_replaces_its_own(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    db, _ = exported
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    proc = subprocess.run([sys.executable, "-m", "transitwatch", "export", "--db", str(db), "--partitioned",
                           str(foreign)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "not a transitwatch export" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and (foreign / "notes.txt").exists()
    again = tmp_path / "again"
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "transitwatch", "export", "--db", str(db),
                               "--partitioned", str(again), "--json"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    assert table_contents(again) == table_contents(db)
    # a folder is a store: it exports again, to the same rows
    assert tw.export(again, tmp_path / "copy").partitioned
    assert table_contents(tmp_path / "copy") == table_contents(db)
