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


def test_update_and_show_are_the_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command only parses and renders: its --json is tw.registry_update's / registry_show's."""
    import bz2

    import transitwatch as tw

    body = (FIXTURES / "asn.txt").read_bytes()
    rel = bz2.compress(b"# serial-1\n4837|131279|-1\n20485|131279|0\n")
    served = {"/asn.txt": ServedFile(body),
              "/datasets/as-relationships/serial-1/20171001.as-rel.txt.bz2": ServedFile(rel)}
    with LocalHTTPServer(served) as server:
        urls = {"asnames": server.url("/asn.txt"), "arin": server.url("/gone")}
        api = tw.registry_update(tmp_path / "api", urls=urls)
        rc = main(["registry", "update", "--registry-dir", str(tmp_path / "cli"), "--json",
                   *[f"--url={k}={v}" for k, v in urls.items()]])
        cli = json.loads(capsys.readouterr().out)
        api_rel = tw.registry_update(tmp_path / "api", at="2017-09-25", mirror=server.url("/"), as_rel=True)
        assert main(["registry", "update", "--registry-dir", str(tmp_path / "cli"), "--as-rel", "--json",
                     "--at", "2017-09-25", "--mirror", server.url("/")]) == 0
        cli_rel = json.loads(capsys.readouterr().out)
    assert rc == 1 and not api.ok and [s["source"] for s in api.failed] == ["arin"]
    strip = [{**s, "path": s["path"] and Path(s["path"]).name} for s in cli]
    assert strip == [{**s, "path": s["path"] and Path(s["path"]).name} for s in api.to_dict()["sources"]]
    assert [r["source"] for r in api.records()] == ["asnames", "arin"]
    assert (tmp_path / "api" / "asn.txt").read_bytes() == body
    assert api_rel.relationships.date is not None and api_rel.date.isoformat() == "2017-09-25"
    assert {**cli_rel, "path": None, "source": None} == {**api_rel.to_dict()["sources"][0], "path": None,
                                                          "source": None}
    assert api_rel.records()[0]["source"] == "as-rel"
    assert cli_rel["p2c"] == 1 and cli_rel["p2p"] == 1

    shown = tw.registry_show(tmp_path / "api")
    assert main(["registry", "show", "--registry-dir", str(tmp_path / "api"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(shown.to_dict()))
    assert [r["kind"] for r in shown.records()] == ["asnames"] and "1 RIR files" in repr(shown)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"at": "2017-13-01"}, "at '2017-13-01': expected a day"),
    ({"at": "2017-10-01", "mirror": "ftp://x"}, "mirror 'ftp://x': expected an http:// or https:// URL"),
    ({"as_rel": True, "at": "2017-10-01", "urls": {"as-rel": "http://127.0.0.1:9/x.as-rel.txt"}},
     "as-rel http://127.0.0.1:9/x.as-rel.txt:"),
])
def test_update_bad_input_is_one_line_error(tmp_path: Path, kwargs: dict, message: str) -> None:
    import transitwatch as tw
    from transitwatch.errors import TransitwatchError

    with pytest.raises(TransitwatchError) as exc:
        tw.registry_update(tmp_path, **kwargs)
    assert str(exc.value).startswith(message) and "\n" not in str(exc.value)


def test_show_missing_folder_is_an_error(tmp_path: Path) -> None:
    import transitwatch as tw
    from transitwatch.errors import TransitwatchError

    with pytest.raises(TransitwatchError, match="registry directory not found"):
        tw.registry_show(tmp_path / "missing")
