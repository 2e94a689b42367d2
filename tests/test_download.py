"""download_file against a real HTTP server on 127.0.0.1: resume after a cut, size checks, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from local_http import LocalHTTPServer, ServedFile
from transitwatch.sources.download import DownloadError, download_file

BODY = os.urandom(300_000)


def test_plain_download(tmp_path: Path) -> None:
    served = ServedFile(BODY)
    with LocalHTTPServer({"/f.bin": served}) as server:
        out = download_file(server.url("/f.bin"), tmp_path / "f.bin")
    assert out == tmp_path / "f.bin"
    assert out.read_bytes() == BODY
    assert not (tmp_path / "f.bin.part").exists()
    assert served.requests == [None]


def test_resume_after_cut_connection(tmp_path: Path) -> None:
    served = ServedFile(BODY, cut_after=100_000)
    with LocalHTTPServer({"/f.bin": served}) as server:
        out = download_file(server.url("/f.bin"), tmp_path / "f.bin", backoff=0.01)
    assert out.read_bytes() == BODY
    # first request whole file, second resumes exactly where the cut happened
    assert served.requests == [None, "bytes=100000-"]


def test_resume_from_part_left_by_earlier_run(tmp_path: Path) -> None:
    (tmp_path / "f.bin.part").write_bytes(BODY[:12345])
    served = ServedFile(BODY)
    with LocalHTTPServer({"/f.bin": served}) as server:
        download_file(server.url("/f.bin"), tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert served.requests == ["bytes=12345-"]


def test_server_ignoring_range_restarts_from_zero(tmp_path: Path) -> None:
    served = ServedFile(BODY, cut_after=50_000, honour_range=False)
    with LocalHTTPServer({"/f.bin": served}) as server:
        download_file(server.url("/f.bin"), tmp_path / "f.bin", backoff=0.01)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert served.requests == [None, "bytes=50000-"]


def test_complete_part_file_is_accepted_after_416(tmp_path: Path) -> None:
    (tmp_path / "f.bin.part").write_bytes(BODY)
    with LocalHTTPServer({"/f.bin": ServedFile(BODY)}) as server:
        download_file(server.url("/f.bin"), tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == BODY


def test_gives_up_after_retries_and_keeps_part(tmp_path: Path) -> None:
    served = ServedFile(BODY, cut_after=1000, cut_times=10)
    with LocalHTTPServer({"/f.bin": served}) as server:
        url = server.url("/f.bin")
        with pytest.raises(DownloadError) as info:
            download_file(url, tmp_path / "f.bin", retries=2, backoff=0.01)
    message = str(info.value)
    assert url in message and "\n" not in message and "3 attempts" in message
    assert not (tmp_path / "f.bin").exists()
    assert (tmp_path / "f.bin.part").stat().st_size == 3000  # three cuts of 1000 bytes, appended
    assert len(served.requests) == 3


def test_expected_size_mismatch(tmp_path: Path) -> None:
    with LocalHTTPServer({"/f.bin": ServedFile(BODY)}) as server:
        url = server.url("/f.bin")
        with pytest.raises(DownloadError, match="expected 10"):
            download_file(url, tmp_path / "f.bin", expected_size=10, retries=0)
    assert not (tmp_path / "f.bin").exists()


def test_http_404_is_not_retried(tmp_path: Path) -> None:
    with LocalHTTPServer({}) as server:
        url = server.url("/missing")
        with pytest.raises(DownloadError, match="404") as info:
            download_file(url, tmp_path / "x", retries=5, backoff=5.0)
    assert url in str(info.value)


def test_unreachable_server(tmp_path: Path) -> None:
    with LocalHTTPServer({}) as server:
        url = server.url("/x")
    # server shut down: nothing listens on that port any more
    with pytest.raises(DownloadError, match="cannot connect|refused") as info:
        download_file(url, tmp_path / "x", retries=1, backoff=0.01, timeout=2)
    assert url in str(info.value)


def test_progress_callback_reaches_total(tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    with LocalHTTPServer({"/f.bin": ServedFile(BODY)}) as server:
        download_file(server.url("/f.bin"), tmp_path / "f.bin",
                      on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(BODY), len(BODY))
