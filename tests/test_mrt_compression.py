"""Multi-member gzip and multi-stream bzip2 (bgzip, pigz, `cat a.gz b.gz`): every member is decoded,
wherever members and decompressed chunks cut the records (issue 14, section 4)."""

from __future__ import annotations

import bz2
import gzip
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transitwatch.sources.mrt import MrtReader

UPDATES_2016 = "mrt/bgpdump-corpus/input/updates.20160811.1600.gz"
JINX = "mrt/caida-2015/routeviews.route-views.jinx.updates.1427846400.bz2"
SMALL = "mrt/caida-2015/ris.rrc06.updates.1427846400.gz"


def _fields(reader: MrtReader) -> list[tuple[object, ...]]:
    return [o.fields()[:-2] for o in reader]  # all but source and offset


def _key(reader: MrtReader) -> list[tuple[object, ...]]:
    return [o.fields()[:-2] + (o.offset,) for o in reader]  # all but source


def test_concatenated_gzip_decodes_every_member(shared_data: Path, tmp_path: Path) -> None:
    single = shared_data / UPDATES_2016
    doubled = tmp_path / "mm.gz"
    doubled.write_bytes(single.read_bytes() * 2)
    one = MrtReader(single, safi=None)
    once = _fields(one)
    two = MrtReader(doubled, safi=None)
    twice = _fields(two)
    assert len(once) == 41_234  # routes and state changes: the lines bgpdump -m prints
    assert twice == once + once
    assert two.stats.fatal is None and not two.stats.damaged
    if shutil.which("bgpdump"):
        lines = subprocess.run(["bgpdump", "-m", str(doubled)], capture_output=True, timeout=120).stdout
        assert len(lines.splitlines()) == len(twice) == 82_468


def test_concatenated_bzip2_decodes_every_stream(shared_data: Path, tmp_path: Path) -> None:
    single = shared_data / JINX
    doubled = tmp_path / "mm.bz2"
    doubled.write_bytes(single.read_bytes() + single.read_bytes())
    once = _fields(MrtReader(single))
    assert _fields(MrtReader(doubled)) == once + once


_RAW: list[bytes] = []


def _small_raw() -> bytes:
    if not _RAW:
        path = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / SMALL
        if not path.exists():
            pytest.skip(f"real data not found at {path} (CI always has it)")
        _RAW.append(gzip.decompress(path.read_bytes()))
    return _RAW[0]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), codec=st.sampled_from(["gzip", "bzip2"]))
def test_members_cut_anywhere(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
                              codec: str) -> None:
    """Members cut the decompressed bytes (of a real file) at arbitrary places, mid-record too,
    and the reader's chunk size puts the decompressed pieces' boundaries anywhere: the
    observations are those of the plain file."""
    raw = _small_raw()
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(raw)), max_size=6))) | {0, len(raw)})
    chunk = data.draw(st.sampled_from([16, 64, 1000, 4096, 1 << 18]) | st.integers(8, 70_000))
    level = data.draw(st.integers(1, 9))
    compress = (lambda b: gzip.compress(b, compresslevel=level)) if codec == "gzip" else (
        lambda b: bz2.compress(b, compresslevel=level))
    folder = tmp_path_factory.mktemp("mm")
    plain, packed = folder / "plain.mrt", folder / "packed"
    plain.write_bytes(raw)
    packed.write_bytes(b"".join(compress(raw[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)))
    expected = _key(MrtReader(plain, safi=None))
    reader = MrtReader(packed, safi=None, chunk_size=chunk)
    assert _key(reader) == expected
    assert reader.stats.fatal is None and not reader.stats.damaged


def test_truncated_second_member_is_reported(shared_data: Path, tmp_path: Path) -> None:
    """A second member cut short: the first member's routes are kept, the cut is reported."""
    single = (shared_data / SMALL).read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(single + single[: len(single) // 2])
    reader = MrtReader(cut, safi=None)
    kept = list(reader)
    once = len(list(MrtReader(shared_data / SMALL, safi=None)))
    assert once <= len(kept) < 2 * once
    assert reader.stats.fatal is not None and "gzip" in reader.stats.fatal
