"""Parallel ingest (--workers, --scheduler): each collector derived in a worker, written here one
transaction each; the database is the one-process database, table for table."""

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

from test_store import KP, table_contents, write_demo_history
from transitwatch.engine.parallel import WorkPool
from transitwatch.store import Store, ingest
from transitwatch.store.ingestion import CollectorJob, derive_collector

COLLECTORS = ("rrc00", "rrc01", "rrc03")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_demo_history(tmp_path_factory.mktemp("mrt"), COLLECTORS)


@pytest.fixture(scope="module")
def sequential_db(history: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("seq") / "seq.duckdb"
    with Store(db) as store:
        report = ingest(store, history, watch_targets=[KP], workers=1)
    assert len(report.ingested) == len(history) and report.events
    return db


def _by_collector(history: list[Path]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for p in history:
        out.setdefault(p.parent.parent.name, []).append(p)
    return out


@pytest.mark.parametrize("how", [{"workers": 2}, {"workers": 2, "scheduler": "local"}],
                         ids=["processes", "dask-local"])
def test_parallel_ingest_equals_sequential(
    how: dict[str, Any], history: list[Path], sequential_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "par.duckdb"
    with Store(sequential_db, read_only=True) as store:
        reference_counts = store.counts()
    with Store(db) as store:
        report = ingest(store, history, watch_targets=[KP], **how)
    assert report.failures == []
    assert report.collectors == {c: "append" for c in COLLECTORS}
    assert len(report.ingested) == len(history)
    assert table_contents(db) == table_contents(sequential_db)
    assert reference_counts["routes"] > 0 and reference_counts["events"] >= 1


def test_parallel_batches_append_and_rebuild_equal_one_run(
    history: list[Path], sequential_db: Path, tmp_path: Path
) -> None:
    """Appends restore each collector's stored state in the worker; late files rebuild it."""
    db = tmp_path / "batches.duckdb"
    groups = _by_collector(history)
    with Store(db) as store:
        ingest(store, [], watch_targets=[KP])
        # Every collector's first half, in order (new), then its second half (append).
        first = [p for ps in groups.values() for p in ps[: len(ps) // 2]]
        second = [p for ps in groups.values() for p in ps[len(ps) // 2:]]
        late = [p for p in second if p.parent.parent.name == "rrc01"]
        second = [p for p in second if p not in late]
        ingest(store, first, workers=2)
        report = ingest(store, second, workers=2)
        assert set(report.collectors.values()) == {"append"}
        stored = store.con.execute("SELECT count(*) FROM files WHERE collector = 'rrc01'").fetchone()
        assert stored == (len(groups["rrc01"]) - len(late),)
        # rrc01's later half, shuffled: still after everything stored, so appended.
        rng = random.Random(3)
        rng.shuffle(late)
        report = ingest(store, late, workers=2)
        assert report.collectors == {"rrc01": "append"}
    assert table_contents(db) == table_contents(sequential_db)

    # Out of order: every collector's later half first, then the earlier half (rebuilds).
    db2 = tmp_path / "rebuild.duckdb"
    with Store(db2) as store:
        ingest(store, [], watch_targets=[KP])
        ingest(store, [p for ps in groups.values() for p in ps[len(ps) // 2:]], workers=2)
        report = ingest(store, [p for ps in groups.values() for p in ps[: len(ps) // 2]], workers=2)
        assert report.collectors == {c: "rebuild" for c in COLLECTORS}
        again = ingest(store, history, workers=2)
    assert not again.ingested and len(again.skipped) == len(history)  # idempotent
    assert table_contents(db2) == table_contents(sequential_db)


class _FarPool(WorkPool):
    """Runs tasks here, as workers that do not see one collector's files (a cluster node without
    the shared file system): the job names paths that do not exist there."""

    def __init__(self, hidden: str) -> None:
        super().__init__(scheduler="inline")
        self.hidden = hidden

    def submit(self, fn: Any, arg: Any) -> Any:
        if isinstance(arg, CollectorJob) and arg.collector == self.hidden:
            arg = dataclasses.replace(arg, paths=tuple(p + ".not-here" for p in arg.paths))
        return super().submit(fn, arg)


def test_a_failing_collector_is_reported_and_the_others_written(
    history: list[Path], sequential_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "failing.duckdb"
    with Store(db) as store:
        report = ingest(store, history, watch_targets=[KP], pool=_FarPool("rrc01"))
        assert report.collectors == {"rrc00": "append", "rrc01": "failed", "rrc03": "append"}
        assert len(report.failures) == 1 and "\n" not in report.failures[0]
        assert ".not-here: no such file" in report.failures[0] and "rrc01 not ingested" in report.failures[0]
        assert json.loads(json.dumps(report.to_dict()))["failures"] == report.failures
        query = "SELECT DISTINCT collector FROM files ORDER BY 1"
        stored = [r[0] for r in store.con.execute(query).fetchall()]
        assert stored == ["rrc00", "rrc03"]
        assert store.con.execute("SELECT count(*) FROM peers WHERE collector = 'rrc01'").fetchone() == (0,)
        # The next ingest does the rest; the database is then the one-process database.
        rerun = ingest(store, history, workers=2)
        assert rerun.collectors == {"rrc01": "append"} and rerun.failures == []
    assert table_contents(db) == table_contents(sequential_db)


def test_derive_collector_returns_errors(tmp_path: Path) -> None:
    missing = str(tmp_path / "rrc00" / "updates.20171001.0800.gz")
    rows = derive_collector(CollectorJob("rrc00", (missing,), {missing: 1}, None, None))
    assert rows.error is not None and rows.error.endswith("no such file") and missing in rows.error
    assert rows.batches == []


def test_local_workers_hand_rows_over_in_files(history: list[Path], tmp_path: Path) -> None:
    # A local worker leaves its rows as Arrow IPC files (no pickling through a pipe): the same rows,
    # and the writer removes the files once they are written.
    from transitwatch.store.ingestion import _spill_path, _unspilled

    paths = tuple(str(p) for p in history if "rrc00" in str(p))
    ids = {p: i + 1 for i, p in enumerate(paths)}
    kept = derive_collector(CollectorJob("rrc00", paths, ids, None, None))
    spilled = derive_collector(CollectorJob("rrc00", paths, ids, None, None, spill=str(tmp_path)))
    assert kept.error is None and spilled.error is None and kept.batches
    assert [t for t, _ in spilled.batches] == [t for t, _ in kept.batches]
    assert all(isinstance(d, str) and Path(d).parent == tmp_path for _, d in spilled.batches)
    assert all(_unspilled(d).equals(k) for (_, d), (_, k) in zip(spilled.batches, kept.batches, strict=True))
    db = tmp_path / "spill.duckdb"
    with Store(db) as store:
        assert ingest(store, history, workers=2).failures == []
    with Store(db) as store:
        folder = Path(_spill_path(store))
        assert not folder.exists()   # removed at the end
        folder.mkdir()
        (folder / "left-by-a-killed-ingest.arrow").write_bytes(b"x")
        ingest(store, history[:1])   # the next ingest of this database removes it, whatever its kind
        assert not folder.exists()


_KILLER = textwrap.dedent("""
    import os, signal, sys
    import transitwatch.store.ingestion as ingest_module
    from transitwatch.store import Store, ingest

    db, victim, *paths = sys.argv[1:]
    real_record = ingest_module._record_files

    def record(store, plan, *args, **kw):
        real_record(store, plan, *args, **kw)
        if plan.collector == victim:     # rows and files written, transaction not committed
            print("killing", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    ingest_module._record_files = record
    with Store(db) as store:
        ingest(store, paths, watch_targets=["AS131279"], workers=2)
    print("finished", flush=True)
""")


def test_sigkill_mid_parallel_ingest_then_rerun_equals_sequential(
    history: list[Path], sequential_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "killed.duckdb"
    script = tmp_path / "killer.py"
    script.write_text(_KILLER)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    # Output to files, not pipes: the killed ingest's pool processes would hold pipes open.
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, str(script), str(db), "rrc01", *map(str, history)],
                                stdout=stdout, stderr=stderr, cwd=tmp_path, start_new_session=True)
        try:
            returncode = proc.wait(timeout=120)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its pool processes, orphaned by the kill
            except ProcessLookupError:
                pass
    assert returncode == -signal.SIGKILL, err.read_text()
    assert "killing" in out.read_text() and "finished" not in out.read_text()
    with Store(db) as store:
        assert store.con.execute("SELECT count(*) FROM files WHERE collector = 'rrc01'").fetchone() == (0,)
        assert store.con.execute("SELECT count(*) FROM peers WHERE collector = 'rrc01'").fetchone() == (0,)
        report = ingest(store, history, workers=2)
        assert "rrc01" in report.collectors and report.failures == []
    assert table_contents(db) == table_contents(sequential_db)


def test_cli_ingest_workers(history: list[Path], sequential_db: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    outputs = {}
    for name, extra in {"one": ["--workers", "1"], "two": ["--workers", "2"], "default": []}.items():
        db = tmp_path / f"{name}.duckdb"
        cmd = [sys.executable, "-m", "transitwatch", "ingest", "--db", str(db), "--watch", KP, "--json",
               *extra, *map(str, history)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["failures"] == [] and out["ingested"] == len(history)
        outputs[name] = (out["observations"], out["route_intervals"], out["events"])
        assert table_contents(db) == table_contents(sequential_db), name
    assert outputs["one"] == outputs["two"] == outputs["default"]
    bad = subprocess.run([sys.executable, "-m", "transitwatch", "ingest", "--db", str(tmp_path / "x.duckdb"),
                          "--workers", "0", str(history[0])], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.strip().endswith("--workers must be at least 1")
