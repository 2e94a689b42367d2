"""Hand-made MRT records for tests of what the project's writer cannot (or must not) produce:
2-byte ASN UPDATEs with AS4_PATH, non-unicast SAFIs, hostile lengths."""

from __future__ import annotations

import socket
import struct

T0 = 1_230_768_000  # 2009-01-01 00:00 UTC


def attr(code: int, body: bytes, flags: int = 0x40) -> bytes:
    if len(body) > 255:
        return struct.pack(">BBH", flags | 0x10, code, len(body)) + body
    return struct.pack(">BBB", flags, code, len(body)) + body


def segment(kind: int, asns: list[int], width: int) -> bytes:
    return struct.pack(f">BB{len(asns)}{'H' if width == 2 else 'I'}", kind, len(asns), *asns)


def prefix4(text: str) -> bytes:
    address, _, length = text.partition("/")
    n = int(length)
    return bytes((n,)) + socket.inet_aton(address)[: (n + 7) // 8]


def prefix6(text: str) -> bytes:
    address, _, length = text.partition("/")
    n = int(length)
    return bytes((n,)) + socket.inet_pton(socket.AF_INET6, address)[: (n + 7) // 8]


def update(attributes: bytes, nlri: bytes = b"", withdrawn: bytes = b"") -> bytes:
    """A BGP UPDATE message."""
    length = 19 + 2 + len(withdrawn) + 2 + len(attributes) + len(nlri)
    return (b"\xff" * 16 + struct.pack(">HBH", length, 2, len(withdrawn)) + withdrawn
            + struct.pack(">H", len(attributes)) + attributes + nlri)


def bgp4mp(message: bytes, *, as4: bool = True, peer: str = "192.0.2.1", peer_asn: int = 64500,
           time: int = T0) -> bytes:
    """A BGP4MP_MESSAGE(_AS4) record from an IPv4 peer carrying ``message``."""
    if as4:
        head = struct.pack(">IIHH", peer_asn, 12654, 0, 1)
    else:
        head = struct.pack(">HHHH", peer_asn, 12654, 0, 1)
    body = head + socket.inet_aton(peer) + socket.inet_aton("193.0.4.28") + message
    return struct.pack(">IHHI", time, 16, 4 if as4 else 1, len(body)) + body


def record(mrt_type: int, subtype: int, body: bytes, *, time: int = T0, length: int | None = None) -> bytes:
    return struct.pack(">IHHI", time, mrt_type, subtype, len(body) if length is None else length) + body


def basic_attrs(path: bytes, next_hop: str = "192.0.2.1") -> bytes:
    return attr(1, b"\x00") + attr(2, path) + attr(3, socket.inet_aton(next_hop))
