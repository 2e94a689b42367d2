"""Bad input: clear one-line errors, nothing lost before or after the damage, never a traceback."""

from __future__ import annotations

import bz2
import gzip
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transitwatch.sources.mrt import MrtError, MrtReader, read_mrt

SAMPLE = "bgpdump-corpus/input/updates.20071015.1505.gz"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "transitwatch", *args], capture_output=True, text=True,
                          timeout=120)


def _record_starts(raw: bytes) -> list[int]:
    starts, off = [], 0
    while off + 12 <= len(raw):
        starts.append(off)
        off += 12 + struct.unpack(">I", raw[off + 8:off + 12])[0]
    return starts


@pytest.fixture(scope="module")
def intact(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[tuple[object, ...]]]:
    path = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mrt" / SAMPLE
    if not path.exists():
        pytest.skip(f"real data not found at {path} (CI always has it)")
    raw = gzip.decompress(path.read_bytes())
    plain = tmp_path_factory.mktemp("intact") / "plain.mrt"
    plain.write_bytes(raw)
    return raw, [_key(o) for o in read_mrt(plain)]


def _key(o: object) -> tuple[object, ...]:
    fields = o.fields()  # type: ignore[attr-defined]
    return tuple(fields[:-2]) + (fields[-1],)  # everything but the source path


def _decode_all(path: Path) -> list[tuple[object, ...]]:
    try:
        return [_key(o) for o in MrtReader(path)]
    except MrtError:
        return []


def test_missing_directory_empty_and_not_mrt(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mrt"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("this is not an MRT file, just some words about BGP\n" * 20)
    cases = {
        str(tmp_path / "missing.gz"): "no such file",
        str(tmp_path): "is a directory",
        str(empty): "empty file",
        str(text): "not an MRT file",
    }
    for path, message in cases.items():
        run = _cli("dump", "-m", path)
        assert run.returncode == 1, path
        assert run.stdout == ""
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and path in lines[0] and message in lines[0], run.stderr
        assert "Traceback" not in run.stderr


def test_truncated_gzip_keeps_what_came_before(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / "mrt" / SAMPLE).read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) // 2])
    run = _cli("dump", "-m", str(cut))
    assert run.returncode == 0  # something could be read
    assert "truncated gzip" in run.stderr and str(cut) in run.stderr and "byte offset" in run.stderr
    full = _cli("dump", "-m", "-q", str(shared_data / "mrt" / SAMPLE)).stdout.splitlines()
    got = run.stdout.splitlines()
    assert 0 < len(got) < len(full)
    assert got == full[: len(got)]
    strict = _cli("dump", "-m", "--strict", str(cut))
    assert strict.returncode == 1 and "Traceback" not in strict.stderr


def test_truncated_bzip2_is_an_error_naming_the_file(tmp_path: Path, intact: tuple[bytes, list]) -> None:
    raw, _ = intact
    cut = tmp_path / "cut.bz2"
    cut.write_bytes(bz2.compress(raw)[:5000])
    run = _cli("dump", "-m", str(cut))
    assert run.returncode == 1
    assert "truncated bzip2" in run.stderr and str(cut) in run.stderr
    assert "Traceback" not in run.stderr


def test_corrupted_type_resynchronises(tmp_path: Path, intact: tuple[bytes, list]) -> None:
    raw, full = intact
    starts = _record_starts(raw)
    victim = starts[len(starts) // 2]
    damaged = bytearray(raw)
    damaged[victim + 4:victim + 6] = b"\x00\x63"  # type 99
    path = tmp_path / "badtype.mrt"
    path.write_bytes(bytes(damaged))
    reader = MrtReader(path)
    got = [_key(o) for o in reader]
    lost = [k for k in full if k[-1] == victim]
    assert got == [k for k in full if k[-1] != victim]  # everything else kept
    assert reader.stats.skipped == {"bad record header": 1}
    assert reader.stats.damage[0].offset == victim
    assert len(lost) >= 1
    run = _cli("dump", "-m", str(path))
    assert run.returncode == 0 and f"byte offset {victim}" in run.stderr
    assert "1 bad record header" in run.stderr
    assert _cli("dump", "-m", "--strict", str(path)).returncode == 1


def test_corrupted_length_resynchronises(tmp_path: Path, intact: tuple[bytes, list]) -> None:
    raw, full = intact
    starts = _record_starts(raw)
    victim = starts[100]
    damaged = bytearray(raw)
    damaged[victim + 8:victim + 12] = struct.pack(">I", 0x7FFFFFF0)
    path = tmp_path / "badlen.mrt"
    path.write_bytes(bytes(damaged))
    got = _decode_all(path)
    before = [k for k in full if k[-1] < victim]
    assert got[: len(before)] == before
    after = [k for k in full if k[-1] > victim + 200]
    assert set(after) <= set(got)  # the decoder found its way back


def test_record_cut_short_at_end(tmp_path: Path, intact: tuple[bytes, list]) -> None:
    raw, full = intact
    starts = _record_starts(raw)
    cut_at = starts[200] + 20
    path = tmp_path / "cut.mrt"
    path.write_bytes(raw[:cut_at])
    reader = MrtReader(path)
    got = [_key(o) for o in reader]
    assert got == [k for k in full if k[-1] < starts[200]]
    assert reader.stats.skipped == {"truncated record": 1}
    assert reader.stats.damage[0].offset == starts[200]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_cut_and_flip_property(tmp_path: Path, intact: tuple[bytes, list], data: st.DataObject) -> None:
    """Cut the file anywhere and flip a few bytes anywhere after a point: no exception but
    MrtError escapes, and every record that ends before the damage decodes as in the intact file."""
    raw, full = intact
    damage_at = data.draw(st.integers(0, len(raw) - 1), label="damage_at")
    damaged = bytearray(raw)
    if data.draw(st.booleans(), label="cut"):
        damaged = damaged[:damage_at]
    else:
        for _ in range(data.draw(st.integers(1, 4), label="flips")):
            pos = data.draw(st.integers(damage_at, len(raw) - 1), label="pos")
            damaged[pos] ^= data.draw(st.integers(1, 255), label="mask")
    path = tmp_path / "damaged.mrt"
    path.write_bytes(bytes(damaged))
    got = _decode_all(path)
    starts = _record_starts(raw)
    intact_before = {s for s, e in zip(starts, starts[1:] + [len(raw)], strict=True) if e <= damage_at}
    expected_prefix = [k for k in full if k[-1] in intact_before]
    assert got[: len(expected_prefix)] == expected_prefix
