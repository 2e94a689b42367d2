"""Write fuzzing seeds from every real MRT file in ../shared/data.

Each seed is a short run of consecutive records (decompressed), taken at the start of a file and
wherever a (type, subtype) first appears, so the fuzzer starts from every record layout the real
files hold rather than from random bytes. Usage: python fuzz/seeds.py SHARED_DATA_DIR OUT_DIR
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from transitwatch.sources.mrt import _decompressed_chunks, _open_raw, detect_compression

MAX_SEED = 4096      # bytes per seed: libFuzzer mutates short inputs far faster
PER_FILE = 40        # seeds per file at most


def records(data: bytes) -> list[tuple[int, int, int, int]]:
    """(offset, type, subtype, length) of the records, walking RFC 6396 headers."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        typ = int.from_bytes(data[pos + 4:pos + 6], "big")
        sub = int.from_bytes(data[pos + 6:pos + 8], "big")
        length = int.from_bytes(data[pos + 8:pos + 12], "big")
        out.append((pos, typ, sub, length))
        pos += 12 + length
    return out


def seeds_of(path: Path) -> list[bytes]:
    with _open_raw(str(path)) as raw:
        kind = detect_compression(raw.read(6))
        raw.seek(0)
        data = b"".join(_decompressed_chunks(raw, str(path), kind, 1 << 20))
    recs = records(data)
    picked: list[bytes] = [b"\x00" + data[:MAX_SEED]]
    seen: set[tuple[int, int]] = set()
    peer_index = b""
    for off, typ, sub, length in recs:
        rec = data[off:off + 12 + length]
        if (typ, sub) == (13, 1):
            peer_index = rec
        if (typ, sub) in seen or len(rec) > MAX_SEED:
            continue
        seen.add((typ, sub))
        # TABLE_DUMP_V2 RIB entries need the peer index table before them
        prefix = peer_index if typ == 13 and sub != 1 and len(peer_index) + len(rec) <= MAX_SEED else b""
        picked.append(b"\x00" + prefix + rec)
        # the same record fed in small pieces (first byte = piece size / 7)
        picked.append(b"\x03" + prefix + rec)
        if len(picked) >= PER_FILE:
            break
    return picked


def main() -> int:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in sorted(src.rglob("*")):
        if not path.is_file() or "expected" in str(path.relative_to(src)) or path.suffix in (".md", ".json"):
            continue
        for seed in seeds_of(path):
            (out / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
            n += 1
    print(f"{n} seeds from {src} in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
