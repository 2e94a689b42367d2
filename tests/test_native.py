"""A compiled extension built from another version of its C source is refused with one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import transitwatch.sources.mrt as mrt
from transitwatch import native

SOURCES = Path(mrt.__file__).parent


def test_the_installed_extension_matches_its_source() -> None:
    assert mrt._mrt.SOURCE_SHA256 == native.source_sha256(SOURCES / "_mrt.c")


def _copy_package(tmp_path: Path) -> Path:
    """The whole package beside an edited _mrt.c, with the .so built from the original."""
    root = tmp_path / "site"
    shutil.copytree(Path(mrt.__file__).parents[1], root / "transitwatch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_stale_extension_is_one_line_from_the_cli(tmp_path: Path) -> None:
    root = _copy_package(tmp_path)
    c = root / "transitwatch" / "sources" / "_mrt.c"
    c.write_text(c.read_text() + "\n/* a newer source */\n")
    run = subprocess.run([sys.executable, "-c", "import sys; from transitwatch.cli.main import main; "
                          "sys.exit(main(['dump', 'x.mrt']))"],
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert "_mrt" in lines[0] and "make .venv/.installed" in lines[0]


def test_a_stale_extension_raises_importerror_in_python(tmp_path: Path) -> None:
    root = _copy_package(tmp_path)
    c = root / "transitwatch" / "sources" / "_mrt.c"
    c.write_text(c.read_text().replace("C core", "C  core", 1))
    run = subprocess.run([sys.executable, "-c", "import transitwatch.sources.mrt"],
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "StaleExtensionError" in run.stderr and "rebuild it" in run.stderr


def test_no_source_beside_it_is_not_checked(tmp_path: Path) -> None:
    # A wheel installs the .so without the C file: nothing to compare, so it imports.
    root = _copy_package(tmp_path)
    (root / "transitwatch" / "sources" / "_mrt.c").unlink()
    code = "import transitwatch.sources.mrt as m; print(m._mrt.SOURCE_SHA256)"
    run = subprocess.run([sys.executable, "-c", code],
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == mrt._mrt.SOURCE_SHA256


@pytest.mark.parametrize("value", [None, "unknown"])
def test_a_module_without_a_hash_is_stale(tmp_path: Path, value: str | None) -> None:
    source = tmp_path / "_x.c"
    source.write_text("int x;\n")
    module = ModuleType("_x")
    if value is not None:
        module.SOURCE_SHA256 = value  # type: ignore[attr-defined]
    with pytest.raises(native.StaleExtensionError, match="rebuild it"):
        native.check(module, source)
