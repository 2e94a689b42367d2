"""Record layouts where a strict reading loses or garbles routes (issue 14, sections 1 and 2):
the early RIS multi-entry TABLE_DUMP records, and AS4_PATH with confederation segments."""

from __future__ import annotations

import gzip
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mrt_bytes import attr, bgp4mp, prefix4, segment, update
from transitwatch import Observation
from transitwatch.sources.mrt import MrtReader, format_bgpdump
from transitwatch.sources.mrt_writer import write_mrt

T0 = 947_000_000.0  # 2000-01-04, when rrc00 wrote such dumps


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "transitwatch", *args], capture_output=True, text=True,
                          timeout=120)


def _rib(n: int) -> list[Observation]:
    """A RIB dump over two seconds: n entries from 5 peers, with aggregators and communities."""
    out = []
    for i in range(n):
        out.append(Observation(
            time=T0 + (i * 2) // n, kind="rib", peer_ip=f"193.0.0.{i % 5 + 1}", peer_asn=3333 + i % 5,
            prefix=f"{10 + i // 65536}.{(i // 256) % 256}.{i % 256}.0/24",
            as_path=f"{3333 + i % 5} 1103 {i % 60000 + 1}", origin=("IGP", "EGP", "INCOMPLETE")[i % 3],
            next_hop=f"193.0.0.{i % 5 + 1}", originated=int(T0) - i,
            med=i if i % 4 == 0 else None, aggregator="1103 10.0.0.1" if i % 7 == 0 else None,
            communities="1103:1 no-export" if i % 3 == 0 else None))
    return out


@pytest.mark.parametrize("chunk", [1 << 18, 4096, 97])
def test_early_ris_multi_entry_table_dump(tmp_path: Path, chunk: int) -> None:
    rib = _rib(1000)
    early = tmp_path / "bview.20000104.1500.gz"
    records = write_mrt(early, rib, rib_format="table_dump_early_ris")
    assert records == 4  # 500 entries a second: 256 + 244, twice (a new record when the second changes)
    reader = MrtReader(early, chunk_size=chunk)
    back = list(reader)
    assert [o.fields()[:-2] for o in back] == [o.replace(record_type="TABLE_DUMP").fields()[:-2] for o in rib]
    assert reader.stats.records == records and reader.stats.routes == 1000
    assert not reader.stats.damaged
    # the same routes, one per RFC 6396 record: the same bgpdump lines
    plain = tmp_path / "bview.plain"
    assert write_mrt(plain, rib, rib_format="table_dump", compression="none") == 1000
    plain_lines = format_bgpdump(list(MrtReader(plain)))
    assert format_bgpdump(back) == plain_lines
    assert _cli("dump", "-m", "-q", str(early)).stdout.encode() == plain_lines
    if shutil.which("bgpdump"):
        theirs = subprocess.run(["bgpdump", "-m", str(plain)], capture_output=True, timeout=60).stdout
        assert theirs == plain_lines
        # bgpdump reads the first entry of the early layout and loses the rest (documented)
        assert len(subprocess.run(["bgpdump", "-m", str(early)], capture_output=True,
                                  timeout=60).stdout.splitlines()) < 5


def test_plain_table_dump_stays_plain(tmp_path: Path) -> None:
    """RFC 6396 TABLE_DUMP records (one entry each) never pass for the early layout, whatever
    the chunk boundaries; a damaged early record is reported, the records after it kept."""
    rib = _rib(300)
    plain = tmp_path / "plain.mrt"
    write_mrt(plain, rib, rib_format="table_dump", compression="none")
    for chunk in (1 << 18, 61):
        reader = MrtReader(plain, chunk_size=chunk)
        assert len(list(reader)) == 300 and reader.stats.records == 300 and not reader.stats.damaged
    early = tmp_path / "early.mrt"
    write_mrt(early, rib, rib_format="table_dump_early_ris", compression="none")
    data = bytearray(early.read_bytes())
    # the first entry's attribute length grows by one: the walk no longer ends at the next header
    alen = 16 + 4 + 1 + 1 + 4 + 4 + 2
    data[alen + 1] += 1
    (tmp_path / "damaged.mrt").write_bytes(bytes(data))
    reader = MrtReader(tmp_path / "damaged.mrt")
    kept = list(reader)
    assert reader.stats.damaged and reader.stats.damage[0].offset == 0
    assert 0 < len(kept) < 300 and kept[-1].prefix == rib[-1].prefix


def test_early_ris_resync_after_a_damaged_header(tmp_path: Path) -> None:
    """A destroyed record header in an early RIS dump: the decoder skips to the next record of that
    layout (its header is 4 bytes further than a plain reading expects) and keeps the rest."""
    rib = _rib(1000)
    early = tmp_path / "early.mrt"
    write_mrt(early, rib, rib_format="table_dump_early_ris", compression="none")
    data = bytearray(early.read_bytes())
    data[4:8] = b"\xff\xff\xff\xff"  # type 65535, subtype 65535: the first header is garbage
    (tmp_path / "damaged.mrt").write_bytes(bytes(data))
    reader = MrtReader(tmp_path / "damaged.mrt")
    kept = list(reader)
    assert [o.prefix for o in kept] == [o.prefix for o in rib[256:]]  # the first record (256 entries) lost
    assert reader.stats.damage[0].offset == 0


def test_early_ris_layout_gzip_member_per_record(tmp_path: Path) -> None:
    """Records cut anywhere by the decompressed chunks still decode: each record in its own gzip
    member, read in pieces of 5 bytes."""
    early = tmp_path / "early.mrt"
    write_mrt(early, _rib(600), rib_format="table_dump_early_ris", compression="none")
    data = early.read_bytes()
    cuts = [0, 13, 700, 4000, len(data) // 2, len(data)]
    members = b"".join(gzip.compress(data[a:b]) for a, b in zip(cuts, cuts[1:], strict=False))
    (tmp_path / "mm.gz").write_bytes(members)
    reader = MrtReader(tmp_path / "mm.gz", chunk_size=20)
    assert len(list(reader)) == 600 and not reader.stats.damaged


# -- AS4_PATH with confederation segments (RFC 6793 section 6) --------------------------------------

def _as2_update(as_path: list[tuple[int, list[int]]], as4_path: list[tuple[int, list[int]]] | None) -> bytes:
    attrs = attr(1, b"\x00") + attr(2, b"".join(segment(k, a, 2) for k, a in as_path))
    attrs += attr(3, socket.inet_aton("192.0.2.1"))
    if as4_path is not None:
        attrs += attr(17, b"".join(segment(k, a, 4) for k, a in as4_path), flags=0xC0)
    return bgp4mp(update(attrs, prefix4("198.51.100.0/24")), as4=False, peer_asn=13237)


def test_as4_path_confederation_segments_are_dropped_and_the_rest_merged(tmp_path: Path) -> None:
    # RouteViews 2009: AS_PATH 13237 1103 1125 23456 12654, AS4_PATH (64600 65031) 1103 1125 196613 12654
    confed = _as2_update([(2, [13237, 1103, 1125, 23456, 12654])],
                         [(3, [64600, 65031]), (2, [1103, 1125, 196613, 12654])])
    plain = _as2_update([(2, [13237, 1103, 1125, 23456, 12654])], [(2, [1103, 1125, 196613, 12654])])
    confed_set = _as2_update([(2, [13237, 23456, 12654])], [(4, [64512, 64513]), (2, [196613, 12654])])
    only_confed = _as2_update([(2, [13237, 23456])], [(3, [64600])])
    path = tmp_path / "updates.20090101.0000"
    path.write_bytes(confed + plain + confed_set + only_confed)
    paths = [o.as_path for o in MrtReader(path)]
    assert paths == ["13237 1103 1125 196613 12654", "13237 1103 1125 196613 12654",
                     "13237 196613 12654", "13237 23456"]
    out = _cli("dump", "-m", str(path))
    assert out.stdout.splitlines()[0] == ("BGP4MP|1230768000|A|192.0.2.1|13237|198.51.100.0/24|"
                                          "13237 1103 1125 196613 12654|IGP|192.0.2.1|0|0||NAG||")
    if shutil.which("bgpdump"):
        # the one deliberate difference from bgpdump, which drops the whole AS4_PATH here
        theirs = subprocess.run(["bgpdump", "-m", str(path)], capture_output=True, text=True,
                                timeout=60).stdout
        assert theirs.splitlines()[0].split("|")[6] == "13237 1103 1125 23456 12654"
        assert theirs.splitlines()[1] == out.stdout.splitlines()[1]
