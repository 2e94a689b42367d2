"""Shared test fixtures: where the real data lives, and a skip when it is absent."""

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
