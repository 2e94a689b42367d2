"""The country view over an archive window: files fetched from a (local) RIS-layout archive by
--collector/--from/--to, then KP's international upstreams, named, in Pyongyang time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_http import LocalHTTPServer, ServedFile
from transitwatch.cli.main import main
from transitwatch.scenarios.scenario import load_scenario


def test_country_upstreams_and_events_from_an_archive_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = load_scenario("kp-2017-transtelecom").write_mrt(tmp_path / "made")
    # RIS layout: /ris/rrc00/2017.10/<file>
    tree = {f"/ris/rrc00/2017.10/{p.name}": ServedFile(p.read_bytes()) for p in written}
    with LocalHTTPServer(tree) as server:
        window = ["--collector", "rrc00", "--from", "2017-10-01T08:00", "--to", "2017-10-01T12:00",
                  "--archive-url", f"ris={server.url('/ris')}", "--cache-dir", str(tmp_path / "cache")]
        assert main(["upstreams", "--country", "KP", *window, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["country"] == "KP"
        assert {(u["asn"], u["country"]) for u in out["upstreams"]} == {(4837, "CN"), (20485, "RU")}
        assert main(["events", "--country", "KP", *window, "--json"]) == 0
        events = json.loads(capsys.readouterr().out)["events"]
        assert [(e["type"], e["upstream"], e["onset_local"]) for e in events] == [
            ("new_upstream", 20485, "2017-10-01T17:38:00+08:30")]
    cached = sorted(p.name for p in (tmp_path / "cache").rglob("*.gz"))
    assert cached == sorted(p.name for p in written)
    # files and a window together: one clear error
    assert main(["upstreams", "--country", "KP", str(written[0]), "--collector", "rrc00",
                 "--from", "2017-10-01T08:00", "--to", "2017-10-01T09:00"]) == 2
    assert "either MRT files or --from/--to" in capsys.readouterr().err
