"""Hostile lengths and data that is not MRT (issue 14, sections 5 and 6): each a counted warning
with its byte offset, the records around it kept; never a crash, a hang or a huge allocation."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from mrt_bytes import attr, basic_attrs, bgp4mp, prefix4, record, segment, update
from transitwatch.sources.mrt import MrtError, MrtReader

ROOT = Path(__file__).resolve().parent.parent
GOOD_PATH = segment(2, [64500, 3356], 4)


def _good(prefix: str = "198.51.100.0/24") -> bytes:
    return bgp4mp(update(basic_attrs(GOOD_PATH), prefix4(prefix)))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "transitwatch", *args], capture_output=True, text=True,
                          timeout=120)


def _check(tmp_path: Path, hostile: bytes, reason: str, *, kept_inside: list[str] | None = None) -> None:
    """A good record, the hostile one, a good one: the hostile one is one counted warning at its
    offset (stats and the dump command's stderr), both good records are kept, memory stays small."""
    before, after = _good("192.0.2.0/24"), _good("203.0.113.0/24")
    path = tmp_path / "hostile.mrt"
    path.write_bytes(before + hostile + after)
    tracemalloc.start()
    started = time.monotonic()
    try:
        reader = MrtReader(path, safi=None)
        prefixes = [o.prefix for o in reader]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 10
    assert peak < 64 << 20, f"{peak} bytes allocated"
    assert prefixes[0] == "192.0.2.0/24" and prefixes[-1] == "203.0.113.0/24"
    assert prefixes[1:-1] == (kept_inside or [])
    st = reader.stats
    assert sum(st.skipped.values()) == 1 and st.skipped.get(reason) == 1, st.skipped
    assert [d.offset for d in st.damage][:1] == [len(before)], st.damage
    out = _cli("dump", "-m", str(path))
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 2 + len(kept_inside or [])
    assert f"byte offset {len(before)}: {reason}" in out.stderr


def test_attribute_length_past_the_record(tmp_path: Path) -> None:
    attrs = attr(1, b"\x00") + attr(2, GOOD_PATH) + struct.pack(">BBH", 0x50, 8, 60000) + b"\x00" * 8
    _check(tmp_path, bgp4mp(update(attrs, prefix4("10.0.0.0/8"))), "bad attribute")


def test_mrt_length_0xffffffff(tmp_path: Path) -> None:
    header = struct.pack(">IHHI", 1_230_768_000, 16, 4, 0xFFFFFFFF)
    # the bytes after the bad header: the resync skips them and finds the next record
    _check(tmp_path, header + b"\x00" * 40, "bad record header")


def test_ipv4_prefix_length_200(tmp_path: Path) -> None:
    nlri = prefix4("10.0.0.0/8") + bytes((200,)) + b"\x0a\x00\x00\x00"
    # the prefix before the damage is kept (as bgpdump does), the rest is reported
    _check(tmp_path, bgp4mp(update(basic_attrs(GOOD_PATH), nlri)), "bad prefix", kept_inside=["10.0.0.0/8"])


def test_rib_entry_prefix_length_200(tmp_path: Path) -> None:
    peers = struct.pack(">4sHH", b"\xc0\x00\x02\x01", 0, 1)
    peers += struct.pack(">B4s4sI", 2, bytes(4), bytes(4), 64500)  # one IPv4 peer, 4-byte ASN
    rib = struct.pack(">IB", 0, 200) + b"\x0a" * 4 + struct.pack(">H", 0)
    hostile = record(13, 1, peers) + record(13, 2, rib)
    path = tmp_path / "rib.mrt"
    path.write_bytes(hostile + _good())
    reader = MrtReader(path)
    assert [o.prefix for o in reader] == ["198.51.100.0/24"]
    assert reader.stats.skipped == {"bad prefix": 1}
    assert reader.stats.damage[0].offset == len(record(13, 1, peers))


def test_as_path_segment_count_past_the_attribute(tmp_path: Path) -> None:
    lying = struct.pack(">BB", 2, 200) + struct.pack(">2I", 64500, 3356)  # says 200 ASNs, holds 2
    _check(tmp_path, bgp4mp(update(basic_attrs(lying), prefix4("10.0.0.0/8"))), "bad attribute")


def test_mp_reach_with_unknown_afi(tmp_path: Path) -> None:
    nh = socket.inet_aton("192.0.2.1")
    mp = attr(14, struct.pack(">HBB", 99, 1, 4) + nh + b"\x00" + prefix4("10.0.0.0/8"), flags=0x80)
    # the IPv4 NLRI of the same UPDATE is still decoded
    _check(tmp_path, bgp4mp(update(basic_attrs(GOOD_PATH) + mp, prefix4("10.1.0.0/16"))),
           "unsupported address family", kept_inside=["10.1.0.0/16"])
    reader = MrtReader(tmp_path / "hostile.mrt")
    list(reader)
    assert reader.stats.damage[0].message == "unsupported address family: MP_REACH_NLRI AFI 99 SAFI 1"


def test_a_sparse_file_of_zeros_is_not_mrt(tmp_path: Path) -> None:
    zeros = tmp_path / "zeros.mrt"
    with open(zeros, "wb") as f:
        f.truncate(2 << 30)  # 2 GB, sparse: read at once, it would take minutes
    started = time.monotonic()
    out = _cli("dump", "-m", str(zeros))
    assert time.monotonic() - started < 20
    assert out.returncode == 1 and out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and str(zeros) in lines[0] and "not an MRT file" in lines[0], lines
    with pytest.raises(MrtError, match="not an MRT file"):
        list(MrtReader(zeros))


@pytest.mark.parametrize("size", [12, 100, 191, 192, 4096])
def test_a_small_file_of_zeros_is_not_mrt(tmp_path: Path, size: int) -> None:
    zeros = tmp_path / "zeros.mrt"
    zeros.write_bytes(bytes(size))
    with pytest.raises(MrtError, match="not an MRT file"):
        list(MrtReader(zeros))


def test_zeros_inside_a_file_are_damage(tmp_path: Path) -> None:
    path = tmp_path / "padded.mrt"
    path.write_bytes(_good("192.0.2.0/24") + b"\x00" * 4096 + _good("203.0.113.0/24"))
    reader = MrtReader(path)
    assert [o.prefix for o in reader] == ["192.0.2.0/24", "203.0.113.0/24"]
    assert reader.stats.damaged and "empty type-0 records" in reader.stats.damage[0].message


def test_bgp4mp_entry_ending_at_the_end_of_the_buffer(tmp_path: Path) -> None:
    """The ASan finding: a 38-byte BGP4MP_ENTRY, after 1 MiB of records, ending exactly at the end
    of the decode buffer; its 12-byte fixed part is cut short: a counted warning."""
    good = _good()
    filler = good * ((1 << 20) // len(good) + 1)
    entry = (ROOT / "fuzz" / "regressions" / "bgp4mp_entry_short_tail").read_bytes()[1:]
    assert len(entry) == 38
    path = tmp_path / "entry.mrt"
    path.write_bytes(filler + entry)
    reader = MrtReader(path)
    assert len(list(reader)) == len(filler) // len(good)
    assert reader.stats.skipped == {"malformed record": 1}
    assert reader.stats.damage[0].offset == len(filler)


def test_fuzz_regressions_decode_without_error(tmp_path: Path) -> None:
    """Every input the fuzzer once crashed on (fuzz/regressions, first byte: the harness's chunk
    size) decodes, in one piece and in pieces, without a Python error."""
    import transitwatch.sources._mrt as _mrt

    cases = sorted((ROOT / "fuzz" / "regressions").iterdir())
    assert cases
    for case in cases:
        data = case.read_bytes()[1:]
        for step in (len(data) or 1, 7, 1):
            decoder = _mrt.Decoder("fuzz", "")
            for i in range(0, len(data), step):
                decoder.feed(data[i:i + step])
            decoder.finish()
            assert decoder.stats["records"] >= 0
