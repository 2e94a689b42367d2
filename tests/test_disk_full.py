"""A full disk or an unwritable database (issue 16): `ingest` and `serve` say so in one line and
exit 1, nothing half-written; `serve --live` keeps serving reads and says it cannot write, then
records the unstored time as a gap once it can write again. Real file systems: small tmpfs mounts
(needs root; skipped otherwise)."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_ws import LocalWebsocketServer, Wait
from routing_fixture import four_peers
from test_serve_live import KP, Served, _announce, _up
from test_store import write_demo_history
from transitwatch.cli.main import main
from transitwatch.store import Store


@contextlib.contextmanager
def tmpfs(size: str) -> Iterator[Path]:
    where = Path("/tmp") / f"tw-tmpfs-{uuid.uuid4().hex[:8]}"
    where.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small file system to fill ({done.stderr.strip() or 'not root'})")
        try:
            yield where
        finally:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)
    finally:
        with contextlib.suppress(OSError):
            where.rmdir()


def fill(folder: Path) -> Path:
    """Write a file until the file system is full (to the last byte)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 4096, 1):
            block = b"\0" * size
            try:
                while True:
                    os.write(fd, block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def transitwatch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().err


def test_ingest_on_a_full_disk_is_one_line_exit_1_and_keeps_what_was_there(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = write_demo_history(tmp_path / "mrt")
    history = four_peers()
    history.background(history.start + 3600)
    more = history.write(tmp_path / "more")
    with tmpfs("4m") as fs:
        db = fs / "x.duckdb"
        code, err = transitwatch(capsys, "ingest", *map(str, small), "--db", str(db))
        assert code == 0, err
        with Store(db, read_only=True) as store:
            before = store.summary()
        fill(fs)
        code, err = transitwatch(capsys, "ingest", *map(str, more), "--db", str(db))
        assert code == 1, err[-2000:]
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err
        assert lines[0].startswith(f"transitwatch: error: {db}: cannot write the database")
        assert "No space left on device" in lines[0]
        with Store(db, read_only=True) as store:  # nothing half-written: as before the attempt
            after = store.summary()
        assert after == before and after["files"] == len(small)


def test_ingest_and_serve_on_a_read_only_file_system(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    small = write_demo_history(tmp_path / "mrt")
    with tmpfs("8m") as fs:
        db = fs / "x.duckdb"
        assert transitwatch(capsys, "ingest", *map(str, small), "--db", str(db))[0] == 0
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        code, err = transitwatch(capsys, "ingest", *map(str, small), "--db", str(db))
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert "Read-only file system" in err and "Traceback" not in err
        import transitwatch as tw  # the API says the same: not bad input, a StoreWriteError
        from transitwatch.errors import TransitwatchError
        from transitwatch.store import StoreWriteError
        with pytest.raises(StoreWriteError, match="Read-only file system") as exc:
            tw.ingest(db, small)
        assert not isinstance(exc.value, TransitwatchError) and "\n" not in str(exc.value)
        code, err = transitwatch(capsys, "serve", "--db", str(db), "--live", KP, "--ris-live-url",
                                 "ws://127.0.0.1:9/", "--port", "0")
        assert code == 1 and "Read-only file system" in err and len(err.strip().splitlines()) == 1, err


def test_serve_live_keeps_serving_reads_when_the_disk_fills(tmp_path: Path) -> None:
    t0 = time.time() - 600
    filled, freed = threading.Event(), threading.Event()
    flaps = [_announce("p1", t0 + 10 + i, 4837 if i % 2 else 20485) for i in range(200)]
    script = [_up("p1", t0 - 400), _up("p2", t0 - 400), _announce("p1", t0, 4837),
              _announce("p2", t0 + 1, 4837), Wait(filled), *flaps,
              Wait(freed), _announce("p1", t0 + 300, 20485), _announce("p2", t0 + 301, 20485)]
    with tmpfs("6m") as fs, LocalWebsocketServer([script], expect_subscriptions=2) as ws:
        db = fs / "live.duckdb"
        server = Served(["--db", str(db), "--live", KP, "--ris-live-url", ws.url, "--no-backfill",
                         "--baseline", "0", "--backoff", "0.05"], tmp_path / "serve.log")
        try:
            server.wait_for("the first routes", lambda: server.get("/api/live")["observations"] >= 2)
            filler = fill(fs)
            filled.set()
            live = server.wait_for("the write failure", lambda: (
                lambda s: s if not s["writable"] else None)(server.get("/api/live")), timeout=30)
            assert "No space left on device" in live["write_error"] and live["not_stored"] > 0
            # reads go on: the API answers from what is stored
            assert server.get("/api/summary")["files"] >= 0
            assert {u["asn"] for u in server.get(f"/api/upstreams/{KP}")["upstreams"]} == {4837}
            log = (tmp_path / "serve.log").read_text()
            assert log.count("still serving what is stored") == 1  # said once, not per batch
            os.unlink(filler)
            freed.set()
            server.wait_for("writing again", lambda: server.get("/api/live")["writable"], timeout=30)
            gaps = server.wait_for("the unstored time as a gap", lambda: [
                g for g in server.get("/api/coverage")["gaps"] if "could not be written" in g["reason"]])
            assert gaps[0]["collector"] == "rrc00"
            assert "writable again" in (tmp_path / "serve.log").read_text()
        finally:
            server.stop()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
