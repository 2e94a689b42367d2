"""docs/python.md is a notebook: its Python cells run here, in order, in one namespace, and each
cell's printed output is compared with the text block shown under it."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "python.md"


def cells(text: str) -> list[tuple[str, str | None]]:
    """(python code, the text block right after it or None)."""
    blocks = re.findall(r"```(python|text)\n(.*?)```", text, flags=re.S)
    out: list[tuple[str, str | None]] = []
    for i, (kind, body) in enumerate(blocks):
        if kind != "python":
            continue
        shown = blocks[i + 1][1] if i + 1 < len(blocks) and blocks[i + 1][0] == "text" else None
        out.append((body, shown))
    return out


def test_the_python_tutorial_runs_and_shows_what_it_prints(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    found = cells(DOC.read_text())
    assert len(found) >= 10
    for code, shown in found:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - the doc's own code
        if shown is not None:
            printed = [line.rstrip() for line in buffer.getvalue().strip().splitlines()]
            expected = [line.rstrip() for line in shown.strip().splitlines()]
            assert printed == expected, code
    assert os.path.exists(tmp_path / "kp.duckdb")
