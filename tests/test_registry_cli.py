"""`transitwatch registry update|show` end to end, against a local HTTP server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_http import LocalHTTPServer, ServedFile
from transitwatch.cli.main import main

FIXTURES = Path(__file__).parent / "data" / "registry"


def test_update_then_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = (FIXTURES / "delegated-apnic-extended-latest").read_bytes()
    with LocalHTTPServer({"/d": ServedFile(body, cut_after=100)}) as server:
        rc = main(["registry", "update", "--registry-dir", str(tmp_path),
                   "--url", f"apnic={server.url('/d')}"])
    out = capsys.readouterr()
    assert rc == 0 and "ok" in out.out and "apnic" in out.out
    assert (tmp_path / "d").read_bytes() == body  # stored under the URL's name, found by content

    rc = main(["registry", "show", "--registry-dir", str(tmp_path), "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert shown["rir_files"][0]["registry"] == "apnic" and shown["rir_files"][0]["records"] == 8
    assert shown["rir_files"][0]["stale"] is True  # the fixture's header is from 2024
    assert shown["geolocation"]["ipv6"] is True


def test_update_partial_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = (FIXTURES / "asn.txt").read_bytes()
    with LocalHTTPServer({"/asn.txt": ServedFile(body)}) as server:
        rc = main(["registry", "update", "--registry-dir", str(tmp_path), "--url",
                   f"asnames={server.url('/asn.txt')}", "--url", f"arin={server.url('/gone')}"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "404" in err and "/gone" in err and "1 of 2 sources failed" in err
    assert (tmp_path / "asn.txt").read_bytes() == body


def test_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "update", "--registry-dir", str(tmp_path), "--url", "nourl"]) == 2
    assert "expected NAME=URL" in capsys.readouterr().err
    assert main(["registry", "show", "--registry-dir", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "registry directory not found" in err
