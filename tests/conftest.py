"""Shared test fixtures: where the real data lives (a skip when it is absent), the written 2017
scenario's files, and running the CLI in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
MRT_DATA = SHARED_DATA / "mrt"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip: the real MRT files are never copied into the repo."""
    if not (MRT_DATA / "bgpdump-corpus").is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (CI always has it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The files of the written 2017 scenario (``kp-2017-transtelecom``), written once; read only."""
    from transitwatch.scenarios.scenario import load_scenario

    sc = load_scenario("kp-2017-transtelecom")
    return [str(p) for p in sc.write_mrt(tmp_path_factory.mktemp("kp2017"))]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``transitwatch ARGV...`` in this process: exit code, stdout, stderr."""
    from transitwatch.cli.main import main

    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
