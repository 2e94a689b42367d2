"""Is a downloaded file what it claims to be? Checked before it enters a cache (and before a cut
download is resumed), so that an HTML error page served with status 200, or a truncated or foreign
file, is never taken for data.

* :func:`verify_mrt`: gzip / bzip2 / xz (by magic bytes) or plain, and the decompressed start is
  MRT: the first records' headers have known MRT types and plausible lengths.
* :func:`verify_registry`: an RIR delegated file or the AS names list (optionally compressed):
  text, not HTML, with the lines of its format.

Each raises :class:`NotVerified` with a one-line reason; ``partial=True`` checks only what the
start of a file can show (for resuming from a ``.part``).
"""

from __future__ import annotations

import bz2
import lzma
import os
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["NotVerified", "verifier_for", "verify_mrt", "verify_registry"]

#: MRT types (RFC 6396, RFC 8050): TABLE_DUMP, TABLE_DUMP_V2, BGP4MP(_ET), ISIS(_ET), OSPFv3(_ET),
#: and the legacy BGP/RIP/IDRP/OSPFv2 ones bgpdump still reads.
MRT_TYPES = frozenset({5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 32, 33, 48, 49})
_HEAD = 1 << 16
_MAX_RECORD = 1 << 24  # no real MRT record is 16 MB


class NotVerified(ValueError):
    """A file that is not what it should be; the text says why (one line)."""


def _decompressed_head(path: Path) -> tuple[str, bytes]:
    """(compression, up to 64 KiB of decompressed data from the start)."""
    with open(path, "rb") as handle:
        raw = handle.read(_HEAD)
    d: Any
    if raw[:2] == b"\x1f\x8b":
        kind, d = "gzip", zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif raw[:3] == b"BZh":
        kind, d = "bzip2", bz2.BZ2Decompressor()
    elif raw[:6] == b"\xfd7zXZ\x00":
        kind, d = "xz", lzma.LZMADecompressor()
    else:
        return "none", raw
    try:
        out = d.decompress(raw, _HEAD) if kind == "gzip" else d.decompress(raw, max_length=_HEAD)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        raise NotVerified(f"{kind} data is damaged at its start ({str(exc)[:80]})") from None
    return kind, bytes(out)


def _looks_like_html(data: bytes) -> bool:
    start = data[:1024].lstrip().lower()
    return start.startswith(b"<") or b"<html" in start


def verify_mrt(path: str | os.PathLike[str], *, partial: bool = False) -> None:
    """NotVerified unless ``path`` is (the start of) an MRT file, compressed or not."""
    p = Path(path)
    kind, head = _decompressed_head(p)
    if not head:
        if kind != "none" and not partial:
            return  # a compressed empty file: a collector with nothing to say in that interval
        raise NotVerified("empty, not an MRT file")
    offset, records = 0, 0
    while offset + 12 <= len(head) and records < 4:
        mrt_type = int.from_bytes(head[offset + 4:offset + 6], "big")
        length = int.from_bytes(head[offset + 8:offset + 12], "big")
        if mrt_type not in MRT_TYPES or length > _MAX_RECORD:
            if records == 0 and _looks_like_html(head):
                inside = "" if kind == "none" else f" (inside {kind})"
                raise NotVerified(f"an HTML page, not an MRT file{inside}")
            what = "the first" if records == 0 else f"record {records + 1}"
            raise NotVerified(f"not an MRT file ({what} record header has type {mrt_type}, "
                              f"length {length}){'' if kind == 'none' else f' inside {kind}'}")
        offset += 12 + length
        records += 1
    if records == 0 and not partial:
        raise NotVerified(f"too short for an MRT record ({len(head)} bytes)")


_DELEGATED = re.compile(rb"^[^|\n]*\|[^|\n]*\|(asn|ipv4|ipv6|\*)\|[^|\n]*\|[^|\n]*\|", re.MULTILINE)
_ASNAME = re.compile(rb"^\d+ \S", re.MULTILINE)
#: CAIDA's as2org files announce their sections with "# format:org_id|..." / "# format:aut|..."
_AS2ORG = re.compile(rb"^# format:(aut|org_id)\|", re.MULTILINE)


def verify_registry(path: str | os.PathLike[str], *, partial: bool = False) -> None:
    """NotVerified unless ``path`` is (the start of) a delegated file or an AS names list."""
    p = Path(path)
    _, head = _decompressed_head(p)
    if _looks_like_html(head):
        raise NotVerified("an HTML page, not a registry file")
    if b"\x00" in head:
        raise NotVerified("binary data, not a registry file")
    if len(head) < 16 and not partial:
        raise NotVerified(f"too short for a registry file ({len(head)} bytes)")
    sample = head if partial else head[: _HEAD - 1]
    if partial and len(sample) < 4096:
        return  # too little to judge the format yet; the complete file is checked
    if not (_DELEGATED.search(sample) or _ASNAME.search(sample) or _AS2ORG.search(sample)):
        raise NotVerified("neither an RIR delegated file nor an AS names list (asn.txt, as2org)")


def verifier_for(name: str) -> Callable[..., None]:
    """The check for a downloaded file called ``name`` (registry files by their names)."""
    lowered = name.lower()
    if "delegated" in lowered or lowered.startswith("asn") or lowered.endswith(".txt"):
        return verify_registry
    return verify_mrt
