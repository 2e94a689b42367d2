"""Full-table paths that keep CompactRoutingState instead of the dict RoutingState give the
answers the dict state gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transitwatch.cli.main import main
from transitwatch.scenarios.synthetic import SyntheticInternet, write_workload
from transitwatch.sources.files import read_files
from transitwatch.state.table import RoutingState
from transitwatch.times import parse_time


@pytest.mark.parametrize("at", [None, "2017-10-01T08:12Z"])
def test_one_process_countries_equal_the_dict_state(
    at: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("geoip2fast")
    from transitwatch.metrics.country import countries_ranking
    from transitwatch.registry import Registry

    net = SyntheticInternet(prefixes=1200, peers=4, seed=9)
    paths = [str(p) for p in write_workload(tmp_path, net, collectors=["rrc00", "route-views2"],
                                            update_files=4, updates_per_file=800, move_target_after=2)]
    argv = ["countries", *paths, "--json", "--workers", "1"] + (["--at", at] if at else [])
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)["countries"]
    state = RoutingState().replay(read_files(paths), until=parse_time(at) if at else None)
    expected = [r.to_dict() for r in countries_ranking(state, Registry())]
    assert printed == json.loads(json.dumps(expected)) and len(printed) > 5
