"""The C core built with AddressSanitizer and UndefinedBehaviorSanitizer, run over every real file
and the damaged-input tests (issue 14, section 6). One build per test session (a few seconds);
skipped, with the reason, where no compiler or sanitizer runtime is installed. The long fuzzing
runs are `make fuzz` / `make fuzz-short` (docs/data.md)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import MRT_DATA

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "transitwatch" / "sources" / "_mrt.c"

_DECODE_ALL = """
import json, sys
import transitwatch.sources._mrt as m
from transitwatch.sources.mrt import MrtError, MrtReader
assert m.__file__.startswith(sys.argv[1]), m.__file__
counts = {}
for path in sys.argv[2:]:
    lines = 0
    reader = MrtReader(path, safi=None, chunk_size=65521)  # records cut at odd places
    try:
        for batch in reader.batches():
            lines += m.format_bgpdump(batch).count(b"\\n")
    except MrtError:
        pass
    rows = 0  # the decoder's column mode (what ingest reads) over the same bytes
    try:
        for cols in MrtReader(path, safi=None, chunk_size=65521, columns=True).batches():
            rows += len(cols)
    except MrtError:
        pass
    counts[path] = [lines, rows]
print(json.dumps(counts))
"""


def _runtime(compiler: str, name: str) -> str | None:
    out = subprocess.run([compiler, f"-print-file-name={name}"], capture_output=True, text=True,
                         timeout=30).stdout.strip()
    return out if os.path.isabs(out) and os.path.exists(out) else None


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A copy of the package whose _mrt extension is built with -fsanitize=address,undefined,
    and the environment that loads the sanitizer runtimes into an uninstrumented Python."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler (gcc) to build the sanitized extension")
    libs = [_runtime(compiler, "libasan.so"), _runtime(compiler, "libubsan.so")]
    if None in libs:
        pytest.skip(f"{compiler} has no AddressSanitizer/UBSan runtime (libasan.so, libubsan.so)")
    root = tmp_path_factory.mktemp("asan")
    shutil.copytree(ROOT / "src" / "transitwatch", root / "transitwatch",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    target = root / "transitwatch" / "sources" / ("_mrt" + sysconfig.get_config_var("EXT_SUFFIX"))
    build = subprocess.run(
        [compiler, "-shared", "-fPIC", "-g", "-O1", "-fno-omit-frame-pointer",
         "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
         # decode buffers of exactly the bytes held: a read one byte past the data is caught
         "-DEXACT_BUFFER=1", "-DFIRST_BUFFER=64",
         f'-DSOURCE_SHA256="{hashlib.sha256(SOURCE.read_bytes()).hexdigest()}"',
         f"-I{sysconfig.get_paths()['include']}", str(SOURCE), "-o", str(target)],
        capture_output=True, text=True, timeout=120)
    if build.returncode != 0:
        pytest.skip(f"the sanitized build failed: {build.stderr.strip()[:300]}")
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONMALLOC="malloc",
               LD_PRELOAD=" ".join(str(x) for x in libs), ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1")
    return root, env


def test_real_files_under_sanitizers(sanitized: tuple[Path, dict[str, str]]) -> None:
    root, env = sanitized
    if not (MRT_DATA / "bgpdump-corpus").is_dir():
        pytest.skip(f"real data not found at {MRT_DATA} (CI always has it)")
    files = sorted(str(p) for p in MRT_DATA.rglob("*")
                   if p.is_file() and "expected" not in str(p.relative_to(MRT_DATA)))
    assert len(files) >= 20
    run = subprocess.run([sys.executable, "-c", _DECODE_ALL, str(root), *files], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr, run.stderr[-3000:]
    import json

    from transitwatch.sources.mrt import MrtReader, format_bgpdump

    counts = json.loads(run.stdout)
    for path in files:  # the sanitized build says exactly what the normal one says
        lines = sum(format_bgpdump(b).count(b"\n") for b in MrtReader(path, safi=None).batches())
        rows = sum(len(b) for b in MrtReader(path, safi=None).batches())
        assert counts[path] == [lines, rows], path


def test_damage_tests_under_sanitizers(sanitized: tuple[Path, dict[str, str]]) -> None:
    root, env = sanitized
    tests = [str(ROOT / "tests" / name) for name in ("test_mrt_damage.py", "test_mrt_hostile.py")]
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                         capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    assert "runtime error" not in run.stdout + run.stderr
