"""Write MRT files (RFC 6396) from :class:`~transitwatch.observation.Observation` objects.

Used for exact test fixtures and demo scenarios: whatever the writer produces, the project's decoder
and ``bgpdump`` read back as the same routes.

Mapping:

* ``rib`` observations become TABLE_DUMP_V2 dumps. Consecutive rib observations with the same whole
  second form one dump: a PEER_INDEX_TABLE listing every (peer_ip, peer_asn) of the dump, then one
  RIB_IPV4_UNICAST / RIB_IPV6_UNICAST record per run of consecutive observations with the same
  prefix (give a prefix's entries together, as RIB dumps do, to get one record per prefix), one RIB
  entry per observation. Observations with a ``path_id`` go to the ADD-PATH subtypes (RFC 8050),
  multicast ones (``safi`` 2) to the RIB_*_MULTICAST subtypes.
  ``rib_format="table_dump"`` writes the older TABLE_DUMP records instead (RFC 6396 4.2: one entry
  per record, 2-byte ASNs), and ``rib_format="table_dump_early_ris"`` the layout of the first RIS
  collector (1999 to about 2001): consecutive entries of the same second packed into one record
  (at most 256), view and sequence once, and a header length that leaves those 4 bytes out.
* ``announce`` / ``withdraw`` become BGP4MP_MESSAGE_AS4 records, one BGP UPDATE each (IPv4 in the
  classic fields, IPv6 and multicast (``safi`` 2) in MP_REACH_NLRI / MP_UNREACH_NLRI); ``state`` becomes
  BGP4MP_STATE_CHANGE_AS4. With ``extended_time=True`` a fractional ``time`` is written as
  BGP4MP_ET with microseconds; otherwise times are truncated to whole seconds.

Observations are written in the order given, so decoding a written file yields them in that order.
"""

from __future__ import annotations

import bz2
import gzip
import os
import re
import shutil
import socket
import struct
import tempfile
from collections.abc import Iterable
from functools import lru_cache
from types import TracebackType
from typing import IO, Any, cast

from transitwatch.observation import ANNOUNCE, RIB, STATE, WITHDRAW, Observation

__all__ = ["RIB_FORMATS", "MrtWriter", "write_mrt"]

# MRT types and subtypes (RFC 6396, RFC 8050).
_TABLE_DUMP_V2 = 13
_BGP4MP = 16
_BGP4MP_ET = 17
_PEER_INDEX_TABLE = 1
#: RIB subtype by (IP version, ADD-PATH, SAFI): RIB_IPV4_UNICAST 2, RIB_IPV4_MULTICAST 3, ...
_RIB_SUBTYPE = {
    (4, False, 1): 2, (4, False, 2): 3, (6, False, 1): 4, (6, False, 2): 5,
    (4, True, 1): 8, (4, True, 2): 9, (6, True, 1): 10, (6, True, 2): 11,
}
_TABLE_DUMP = 12
_TABLE_DUMP_SUBTYPE = {4: 1, 6: 2}  # AFI_IPv4, AFI_IPv6 (2-byte ASNs)
_EARLY_RIS_ENTRIES = 256
RIB_FORMATS = ("table_dump_v2", "table_dump", "table_dump_early_ris")
_BGP4MP_STATE_CHANGE_AS4 = 5
_BGP4MP_MESSAGE_AS4 = 4
_BGP4MP_MESSAGE_AS4_ADDPATH = 9

# BGP path attribute flags and type codes (RFC 4271, 1997, 4760, 8092).
_OPTIONAL = 0x80
_TRANSITIVE = 0x40
_EXTENDED_LENGTH = 0x10
_ATTR_ORIGIN = 1
_ATTR_AS_PATH = 2
_ATTR_NEXT_HOP = 3
_ATTR_MED = 4
_ATTR_LOCAL_PREF = 5
_ATTR_ATOMIC_AGGREGATE = 6
_ATTR_AGGREGATOR = 7
_ATTR_COMMUNITIES = 8
_ATTR_MP_REACH_NLRI = 14
_ATTR_MP_UNREACH_NLRI = 15
_ATTR_LARGE_COMMUNITIES = 32

_ORIGIN_CODES = {"IGP": 0, "EGP": 1, "INCOMPLETE": 2}
_AS_SEQUENCE, _AS_SET, _AS_CONFED_SEQUENCE, _AS_CONFED_SET = 2, 1, 3, 4
#: Well-known communities under the names bgpdump prints for them (RFC 1997).
_COMMUNITY_NAMES = {"no-export": 0xFFFFFF01, "no-advertise": 0xFFFFFF02, "local-AS": 0xFFFFFF03}

_BGP_MARKER = b"\xff" * 16
_BGP_UPDATE = 2
_AFI = {4: 1, 6: 2}
_SAFI_UNICAST = 1
_SAFIS = (1, 2)  # unicast, multicast: the SAFIs whose NLRI is a plain prefix list
_MAX_U32 = 0xFFFFFFFF
_MAX_RIB_ENTRIES = 0xFFFF
_FLUSH_BYTES = 1 << 20
#: A dump's RIB records wait here until the peer index table (which must come first) is known.
_SPOOL_IN_MEMORY_BYTES = 32 << 20

_DEFAULT_LOCAL_IP = {4: "193.0.4.28", 6: "2001:7f8::1"}
_COMPRESSIONS = {
    "gzip": "gzip", "gz": "gzip", "bz2": "bz2", "bzip2": "bz2", "none": "none", "": "none",
}


# ---------------------------------------------------------------------------------------------------
# Field encoders. Each raises ValueError naming the field and the offending value; the cached ones
# are called with the same values over and over (peers, paths, attribute sets repeat across routes).


@lru_cache(maxsize=4096)
def _ip(value: Any, field: str) -> tuple[int, bytes]:
    """(4 or 6, packed address) of an IP address string."""
    if not isinstance(value, str):
        raise ValueError(f"{field} {value!r} is not an IP address")
    family = socket.AF_INET6 if ":" in value else socket.AF_INET
    try:
        packed = socket.inet_pton(family, value)
    except OSError:
        raise ValueError(f"{field} {value!r} is not an IP address") from None
    return (6 if family == socket.AF_INET6 else 4), packed


@lru_cache(maxsize=1024)  # a dump gives each prefix's entries (one per peer) one after another
def _prefix(value: Any) -> tuple[int, bytes]:
    """(4 or 6, NLRI encoding: length byte + significant address bytes) of a CIDR prefix."""
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"prefix {value!r} is not a CIDR prefix")
    address, _, length_text = value.partition("/")
    try:
        version, packed = _ip(address, "prefix")
    except ValueError:
        raise ValueError(f"prefix {value!r} is not a CIDR prefix") from None
    bits = len(packed) * 8
    if not length_text.isdigit() or int(length_text) > bits:
        raise ValueError(f"prefix {value!r} has a bad length")
    length = int(length_text)
    if length < bits and int.from_bytes(packed, "big") & ((1 << (bits - length)) - 1):
        raise ValueError(f"prefix {value!r} has host bits set beyond /{length}")
    return version, bytes((length,)) + packed[: (length + 7) // 8]


def _u32(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_U32:
        raise ValueError(f"{field} {value!r} is not a 32-bit unsigned integer")
    return value


def _attribute(flags: int, code: int, body: bytes) -> bytes:
    if len(body) > 255:
        if len(body) > 0xFFFF:
            raise ValueError(f"path attribute {code} is {len(body)} bytes, more than BGP allows")
        return struct.pack(">BBH", flags | _EXTENDED_LENGTH, code, len(body)) + body
    return struct.pack(">BBB", flags, code, len(body)) + body


_AS_PATH_TOKEN = re.compile(r"\s*(?:(\d+)|\{([^{}]*)\}|\(([^()]*)\)|\[([^\[\]]*)\])")
_SET_SEPARATOR = re.compile(r"[\s,]+")


def _asns(text: str, path: str) -> list[int]:
    asns: list[int] = []
    for token in _SET_SEPARATOR.split(text.strip()):
        if not token.isdigit() or int(token) > _MAX_U32:
            raise ValueError(f"as_path {path!r}: {token!r} is not an AS number")
        asns.append(int(token))
    return asns


def _segment(kind: int, asns: list[int], width: int = 4) -> bytes:
    return struct.pack(f">BB{len(asns)}{'I' if width == 4 else 'H'}", kind, len(asns), *asns)


@lru_cache(maxsize=65536)
def _as_path_body(path: str, width: int = 4) -> bytes:
    """AS_PATH attribute body with 4-byte (or, ``width=2``, 2-byte) ASNs, from bgpdump notation
    (``1 2 {3,4} (5 6) [7,8]``)."""
    segments: list[bytes] = []
    sequence: list[int] = []

    def segment(kind: int, asns: list[int]) -> bytes:
        if width == 2 and any(asn > 0xFFFF for asn in asns):
            raise ValueError(f"as_path {path!r}: a 4-byte AS number does not fit a 2-byte ASN record")
        return _segment(kind, asns, width)

    def end_sequence(kind: int = _AS_SEQUENCE) -> None:
        # A segment holds at most 255 ASNs; longer sequences continue in the next segment.
        for start in range(0, len(sequence), 255):
            segments.append(segment(kind, sequence[start : start + 255]))
        sequence.clear()

    position = 0
    while position < len(path) and not path[position:].isspace():
        match = _AS_PATH_TOKEN.match(path, position)
        if match is None:
            raise ValueError(f"as_path {path!r} is not in bgpdump notation (at character {position})")
        position = match.end()
        asn, as_set, confed_sequence, confed_set = match.groups()
        if asn is not None:
            sequence.append(_asns(asn, path)[0])
            continue
        end_sequence()
        if confed_sequence is not None:
            sequence.extend(_asns(confed_sequence, path))
            end_sequence(_AS_CONFED_SEQUENCE)
            continue
        members = _asns(as_set if as_set is not None else confed_set, path)
        if len(members) > 255:
            raise ValueError(f"as_path {path!r}: a set of {len(members)} ASNs does not fit one segment")
        segments.append(segment(_AS_SET if as_set is not None else _AS_CONFED_SET, members))
    end_sequence()
    return b"".join(segments)


def _communities_body(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"communities {text!r} is not a string like '65000:1 65000:2'")
    values: list[int] = []
    for token in text.split():
        if token in _COMMUNITY_NAMES:
            values.append(_COMMUNITY_NAMES[token])
            continue
        high, sep, low = token.partition(":")
        if not (sep and high.isdigit() and low.isdigit() and int(high) <= 0xFFFF and int(low) <= 0xFFFF):
            raise ValueError(f"communities {text!r}: {token!r} is not a community 'a:b' (16-bit a, b)")
        values.append(int(high) << 16 | int(low))
    return struct.pack(f">{len(values)}I", *values)


def _large_communities_body(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"large_communities {text!r} is not a string like '65000:1:2'")
    values: list[int] = []
    for token in text.split():
        parts = token.split(":")
        if len(parts) != 3 or not all(p.isdigit() and int(p) <= _MAX_U32 for p in parts):
            raise ValueError(f"large_communities {text!r}: {token!r} is not a large community 'a:b:c'")
        values.extend(int(p) for p in parts)
    return struct.pack(f">{len(values)}I", *values)


def _aggregator_body(text: Any, width: int = 4) -> bytes:
    parts = text.split() if isinstance(text, str) else []
    if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) > (_MAX_U32 if width == 4 else 0xFFFF):
        raise ValueError(f"aggregator {text!r} is not 'ASN IPv4-address' ({width}-byte ASN)")
    version, address = _ip(parts[1], "aggregator")
    if version != 4:
        raise ValueError(f"aggregator {text!r} is not 'ASN IPv4-address'")
    return struct.pack(">I" if width == 4 else ">H", int(parts[0])) + address


@lru_cache(maxsize=65536)
def _attribute_blocks(
    origin: Any,
    as_path: Any,
    next_hop_v4: bytes | None,
    med: Any,
    local_pref: Any,
    atomic_aggregate: Any,
    aggregator: Any,
    communities: Any,
    large_communities: Any,
    width: int = 4,
) -> tuple[bytes, bytes]:
    """The encoded path attributes before and after MP_REACH_NLRI (type 14), in type-code order;
    ``width``: the ASN size of the record (2 for TABLE_DUMP and BGP4MP_MESSAGE).

    Cached: a table's routes share a few hundred thousand distinct attribute sets at most.
    """
    low: list[bytes] = []
    if origin is not None:
        if origin not in _ORIGIN_CODES:
            raise ValueError(f"origin {origin!r} is not one of IGP, EGP, INCOMPLETE")
        low.append(_attribute(_TRANSITIVE, _ATTR_ORIGIN, bytes((_ORIGIN_CODES[origin],))))
    if as_path is not None:
        if not isinstance(as_path, str):
            raise ValueError(f"as_path {as_path!r} is not a string")
        low.append(_attribute(_TRANSITIVE, _ATTR_AS_PATH, _as_path_body(as_path, width)))
    if next_hop_v4 is not None:
        low.append(_attribute(_TRANSITIVE, _ATTR_NEXT_HOP, next_hop_v4))
    if med is not None:
        low.append(_attribute(_OPTIONAL, _ATTR_MED, struct.pack(">I", _u32(med, "med"))))
    if local_pref is not None:
        local_pref_body = struct.pack(">I", _u32(local_pref, "local_pref"))
        low.append(_attribute(_TRANSITIVE, _ATTR_LOCAL_PREF, local_pref_body))
    if atomic_aggregate:
        low.append(_attribute(_TRANSITIVE, _ATTR_ATOMIC_AGGREGATE, b""))
    if aggregator is not None:
        low.append(_attribute(_OPTIONAL | _TRANSITIVE, _ATTR_AGGREGATOR, _aggregator_body(aggregator, width)))
    if communities is not None:
        low.append(_attribute(_OPTIONAL | _TRANSITIVE, _ATTR_COMMUNITIES, _communities_body(communities)))
    high = b""
    if large_communities is not None:
        body = _large_communities_body(large_communities)
        high = _attribute(_OPTIONAL | _TRANSITIVE, _ATTR_LARGE_COMMUNITIES, body)
    return b"".join(low), high


def _safi(obs: Observation) -> int:
    safi = _SAFI_UNICAST if obs.safi is None else obs.safi
    if safi not in _SAFIS:
        raise ValueError(f"safi {obs.safi!r} is not unicast (1) or multicast (2)")
    return int(safi)


def _route_parts(obs: Observation) -> tuple[int, bytes, int | None, bytes | None]:
    """(prefix version, prefix NLRI, path id or None, next hop bytes or None) of a route."""
    version, nlri = _prefix(obs.prefix)
    path_id = None if obs.path_id is None else _u32(obs.path_id, "path_id")
    next_hop = None
    if obs.next_hop is not None:
        hop_version, next_hop = _ip(obs.next_hop, "next_hop")
        if hop_version != version:
            raise ValueError(
                f"next_hop {obs.next_hop!r} is IPv{hop_version} but prefix {obs.prefix!r} is IPv{version}"
            )
    return version, nlri, path_id, next_hop


def _attributes(obs: Observation, version: int, next_hop: bytes | None, width: int = 4,
                mp_next_hop: bool = False) -> tuple[bytes, bytes]:
    """``mp_next_hop``: the next hop goes into MP_REACH_NLRI (IPv6, multicast), not NEXT_HOP."""
    return _attribute_blocks(
        obs.origin,
        obs.as_path,
        next_hop if version == 4 and not mp_next_hop else None,
        obs.med,
        obs.local_pref,
        bool(obs.atomic_aggregate),
        obs.aggregator,
        obs.communities,
        obs.large_communities,
        width,
    )


def _split_time(value: Any) -> tuple[int, int]:
    """(whole seconds, microseconds) of an epoch time."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= _MAX_U32:
        raise ValueError(f"time {value!r} is not an epoch time in seconds")
    seconds = int(value)
    micros = round((value - seconds) * 1_000_000)
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    return seconds, micros


def _mrt_header(seconds: int, mrt_type: int, subtype: int, length: int) -> bytes:
    return struct.pack(">IHHI", seconds, mrt_type, subtype, length)


def _open_output(path: str | os.PathLike[str], compression: str | None) -> tuple[IO[bytes], IO[bytes]]:
    """(stream to write to, underlying file to close last)."""
    if compression is None:
        name = os.fspath(path)
        kind = "gzip" if name.endswith(".gz") else "bz2" if name.endswith(".bz2") else "none"
    elif compression.lower() in _COMPRESSIONS:
        kind = _COMPRESSIONS[compression.lower()]
    else:
        raise ValueError(f"compression {compression!r} is not one of gzip, bz2, none")
    raw = open(path, "wb")  # noqa: SIM115 - closed by MrtWriter.close
    if kind == "gzip":
        # No file name and mtime 0 in the gzip header: the same observations give the same bytes.
        stream = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0)
        return cast(IO[bytes], stream), raw
    if kind == "bz2":
        return bz2.BZ2File(raw, "wb"), raw
    return raw, raw


class MrtWriter:
    """Stream observations into an MRT file; see the module docstring for the mapping.

    ``with MrtWriter("rrc00/updates.20171001.0900.gz") as writer: writer.write(obs)``.
    A bad observation raises ValueError naming the field and value, and writes nothing of it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compression: str | None = None,
        bgp_id: str = "192.0.2.1",
        view_name: str = "",
        local_asn: int = 12654,
        local_ip: str | None = None,
        extended_time: bool = False,
        rib_format: str = "table_dump_v2",
    ) -> None:
        """``compression``: None infers it from the suffix (.gz, .bz2), or "gzip", "bz2", "none".
        ``rib_format``: how ``rib`` observations are written, one of :data:`RIB_FORMATS` (see the
        module docstring).
        ``bgp_id`` and ``view_name`` go into each PEER_INDEX_TABLE. ``local_asn``/``local_ip`` are
        the collector's side in BGP4MP records; ``local_ip`` replaces the default of its own address
        family (193.0.4.28 for IPv4 peers, 2001:7f8::1 for IPv6 peers).
        """
        self._path = os.fspath(path)
        bgp_id_version, self._bgp_id = _ip(bgp_id, "bgp_id")
        if bgp_id_version != 4:
            raise ValueError(f"bgp_id {bgp_id!r} is not an IPv4 address")
        self._view_name = view_name.encode()
        if len(self._view_name) > 0xFFFF:
            raise ValueError("view_name is longer than 65535 bytes")
        self._local_asn = _u32(local_asn, "local_asn")
        self._local_ip = {v: _ip(a, "local_ip")[1] for v, a in _DEFAULT_LOCAL_IP.items()}
        if local_ip is not None:
            version, packed = _ip(local_ip, "local_ip")
            self._local_ip[version] = packed
        self._extended_time = extended_time
        if rib_format not in RIB_FORMATS:
            raise ValueError(f"rib_format {rib_format!r} is not one of {', '.join(RIB_FORMATS)}")
        self._rib_format = rib_format
        # TABLE_DUMP (v1): the sequence number, and the early RIS record being filled
        self._td_sequence = 0
        self._td_key: tuple[int, int] | None = None
        self._td_entries: list[bytes] = []
        self._stream, self._raw = _open_output(path, compression)
        self._pending = bytearray()
        self._records = 0
        self._observations = 0
        self._closed = False
        # The open RIB dump: its time, peers, spooled records, and the record being filled.
        self._dump_time: int | None = None
        self._peers: dict[tuple[str, int], int] = {}
        self._peer_entries: list[bytes] = []
        self._spool: IO[bytes] | None = None
        self._dump_records = 0
        self._rib_key: tuple[Any, bool, int] | None = None
        self._rib_head = b""
        self._rib_entries: list[bytes] = []

    @property
    def records_written(self) -> int:
        """MRT records written so far (a RIB dump's records count once the dump is complete)."""
        return self._records

    def __enter__(self) -> MrtWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def write(self, obs: Observation) -> None:
        """Append one observation (raises ValueError, naming the field, if it cannot be encoded)."""
        if self._closed:
            raise ValueError(f"MrtWriter for {self._path} is closed")
        try:
            if obs.kind == RIB:
                self._write_rib(obs)
            else:
                self._end_dump()
                if obs.kind in (ANNOUNCE, WITHDRAW):
                    self._write_update(obs)
                elif obs.kind == STATE:
                    self._write_state(obs)
                else:
                    raise ValueError(f"kind {obs.kind!r} is not one of announce, withdraw, rib, state")
        except ValueError as error:
            raise ValueError(f"{self._path}: observation #{self._observations}: {error}") from None
        self._observations += 1

    def close(self) -> None:
        """Finish the open RIB dump, flush and close the file. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._end_dump()
            self._flush()
        finally:
            if self._spool is not None:
                self._spool.close()
            self._stream.close()
            if self._raw is not self._stream:
                self._raw.close()

    # -- output --------------------------------------------------------------------------------------

    def _emit(self, record: bytes) -> None:
        self._pending += record
        self._records += 1
        if len(self._pending) >= _FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._stream.write(self._pending)
            self._pending.clear()

    def _bgp4mp_record(self, obs: Observation, subtype: int, payload: bytes) -> bytes:
        seconds, micros = _split_time(obs.time)
        version, peer_ip = _ip(obs.peer_ip, "peer_ip")
        head = struct.pack(">IIHH", _u32(obs.peer_asn, "peer_asn"), self._local_asn, 0, _AFI[version])
        body = b"".join((head, peer_ip, self._local_ip[version], payload))
        if self._extended_time and micros:
            return _mrt_header(seconds, _BGP4MP_ET, subtype, len(body) + 4) + struct.pack(">I", micros) + body
        return _mrt_header(seconds, _BGP4MP, subtype, len(body)) + body

    # -- BGP4MP ----------------------------------------------------------------------------------------

    def _write_update(self, obs: Observation) -> None:
        version, nlri, path_id, next_hop = _route_parts(obs)
        safi = _safi(obs)
        # IPv4 unicast in the classic UPDATE fields; IPv6 and multicast in MP_(UN)REACH_NLRI
        classic = version == 4 and safi == _SAFI_UNICAST
        if path_id is not None:
            nlri = struct.pack(">I", path_id) + nlri
        withdrawn = b""
        attributes = b""
        announced = b""
        if obs.kind == WITHDRAW:
            if classic:
                withdrawn = nlri
            else:
                mp_unreach = struct.pack(">HB", _AFI[version], safi) + nlri
                attributes = _attribute(_OPTIONAL, _ATTR_MP_UNREACH_NLRI, mp_unreach)
        else:
            if next_hop is None:
                # BGP requires one (RFC 4271 5.1.3, RFC 4760); bgpdump misreads an empty MP next hop.
                raise ValueError(f"next_hop is missing; an announcement of {obs.prefix} needs one")
            low, high = _attributes(obs, version, next_hop, mp_next_hop=not classic)
            if classic:
                attributes = low + high
                announced = nlri
            else:
                mp_head = struct.pack(">HBB", _AFI[version], safi, len(next_hop))
                mp_reach = mp_head + next_hop + b"\x00" + nlri
                attributes = low + _attribute(_OPTIONAL, _ATTR_MP_REACH_NLRI, mp_reach) + high
        length = 19 + 2 + len(withdrawn) + 2 + len(attributes) + len(announced)
        if length > 0xFFFF:
            raise ValueError(f"the BGP UPDATE would be {length} bytes, more than 65535")
        message = b"".join((
            _BGP_MARKER,
            struct.pack(">HBH", length, _BGP_UPDATE, len(withdrawn)),
            withdrawn,
            struct.pack(">H", len(attributes)),
            attributes,
            announced,
        ))
        subtype = _BGP4MP_MESSAGE_AS4 if path_id is None else _BGP4MP_MESSAGE_AS4_ADDPATH
        self._emit(self._bgp4mp_record(obs, subtype, message))

    def _write_state(self, obs: Observation) -> None:
        states = []
        for field in ("old_state", "new_state"):
            value = getattr(obs, field)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
                raise ValueError(f"{field} {value!r} is not a BGP state number (1-6)")
            states.append(value)
        self._emit(self._bgp4mp_record(obs, _BGP4MP_STATE_CHANGE_AS4, struct.pack(">HH", *states)))

    # -- TABLE_DUMP_V2 ---------------------------------------------------------------------------------

    def _write_rib(self, obs: Observation) -> None:
        if self._rib_format != "table_dump_v2":
            self._write_table_dump(obs)
            return
        seconds, _ = _split_time(obs.time)
        version, nlri, path_id, next_hop = _route_parts(obs)
        safi = _safi(obs)
        low, high = _attributes(obs, version, next_hop)
        if version == 6 and next_hop is not None:
            # RFC 6396 4.3.4: in RIB entries MP_REACH_NLRI holds only the next hop length and address.
            low += _attribute(_OPTIONAL, _ATTR_MP_REACH_NLRI, bytes((len(next_hop),)) + next_hop)
        attributes = low + high
        if len(attributes) > 0xFFFF:
            raise ValueError(f"the RIB entry's attributes would be {len(attributes)} bytes, more than 65535")
        originated = seconds if obs.originated is None else _u32(obs.originated, "originated")
        peer_version, peer_ip = _ip(obs.peer_ip, "peer_ip")
        peer_key = (obs.peer_ip, _u32(obs.peer_asn, "peer_asn"))
        # Everything is validated: from here on the writer's state changes.
        if self._dump_time != seconds:
            self._end_dump()
            self._dump_time = seconds
        peer_index = self._peers.get(peer_key)
        if peer_index is None:
            if len(self._peers) == 0xFFFF:
                raise ValueError("a RIB dump can list at most 65535 peers")
            peer_index = self._peers[peer_key] = len(self._peers)
            peer_id = peer_ip if peer_version == 4 else bytes(4)
            peer_type = 0x02 | (0x01 if peer_version == 6 else 0)  # AS4 always; IPv6 address flag
            self._peer_entries.append(struct.pack(">B4s", peer_type, peer_id) + peer_ip
                                      + struct.pack(">I", obs.peer_asn))
        key = (obs.prefix, path_id is not None, safi)
        if key != self._rib_key or len(self._rib_entries) == _MAX_RIB_ENTRIES:
            self._end_rib_record()
            self._rib_key = key
            self._rib_head = bytes((_RIB_SUBTYPE[version, path_id is not None, safi],)) + nlri
        entry = struct.pack(">HI", peer_index, originated)
        if path_id is not None:
            entry += struct.pack(">I", path_id)
        self._rib_entries.append(entry + struct.pack(">H", len(attributes)) + attributes)

    def _end_rib_record(self) -> None:
        if not self._rib_entries:
            return
        assert self._dump_time is not None
        subtype, nlri = self._rib_head[0], self._rib_head[1:]
        body = b"".join((
            struct.pack(">I", self._dump_records), nlri, struct.pack(">H", len(self._rib_entries)),
            *self._rib_entries,
        ))
        if self._spool is None:
            self._spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)
        self._spool.write(_mrt_header(self._dump_time, _TABLE_DUMP_V2, subtype, len(body)) + body)
        self._dump_records += 1
        self._rib_entries.clear()
        self._rib_key = None

    # -- TABLE_DUMP (v1), and the early RIS multi-entry layout -----------------------------------------

    def _write_table_dump(self, obs: Observation) -> None:
        seconds, _ = _split_time(obs.time)
        version, nlri, path_id, next_hop = _route_parts(obs)
        if path_id is not None:
            raise ValueError(f"path_id {obs.path_id!r}: TABLE_DUMP records have no ADD-PATH identifier")
        if _safi(obs) != _SAFI_UNICAST:
            raise ValueError(f"safi {obs.safi!r}: TABLE_DUMP records hold unicast routes only")
        peer_version, peer_ip = _ip(obs.peer_ip, "peer_ip")
        if peer_version != version:
            raise ValueError(f"peer_ip {obs.peer_ip!r}: TABLE_DUMP peers and prefixes share a family")
        peer_asn = _u32(obs.peer_asn, "peer_asn")
        if peer_asn > 0xFFFF:
            raise ValueError(f"peer_asn {peer_asn}: TABLE_DUMP records have 2-byte AS numbers")
        low, high = _attributes(obs, version, next_hop, width=2)
        if version == 6 and next_hop is not None:
            mp_reach = struct.pack(">HBB", _AFI[6], _SAFI_UNICAST, len(next_hop)) + next_hop + b"\x00"
            low += _attribute(_OPTIONAL, _ATTR_MP_REACH_NLRI, mp_reach)
        attributes = low + high
        if len(attributes) > 0xFFFF:
            raise ValueError(f"the RIB entry's attributes would be {len(attributes)} bytes, more than 65535")
        originated = seconds if obs.originated is None else _u32(obs.originated, "originated")
        _, address = _ip(obs.prefix.partition("/")[0], "prefix")
        entry = b"".join((
            address, struct.pack(">BBI", nlri[0], 1, originated), peer_ip,  # status 1: unused, always 1
            struct.pack(">HH", peer_asn, len(attributes)), attributes,
        ))
        subtype = _TABLE_DUMP_SUBTYPE[version]
        if self._rib_format == "table_dump":
            self._emit(self._table_dump_record(seconds, subtype, entry, len(entry) + 4))
            return
        if self._td_key != (seconds, subtype) or len(self._td_entries) == _EARLY_RIS_ENTRIES:
            self._end_td_record()
            self._td_key = (seconds, subtype)
        self._td_entries.append(entry)

    def _table_dump_record(self, seconds: int, subtype: int, entries: bytes, length: int) -> bytes:
        view_sequence = struct.pack(">HH", 0, self._td_sequence)
        self._td_sequence = (self._td_sequence + 1) & 0xFFFF
        return _mrt_header(seconds, _TABLE_DUMP, subtype, length) + view_sequence + entries

    def _end_td_record(self) -> None:
        """Write the early RIS record being filled: its length leaves out view and sequence."""
        if not self._td_entries or self._td_key is None:
            return
        entries = b"".join(self._td_entries)
        self._emit(self._table_dump_record(self._td_key[0], self._td_key[1], entries, len(entries)))
        self._td_entries.clear()
        self._td_key = None

    def _end_dump(self) -> None:
        """Write the open dump: its PEER_INDEX_TABLE, then the RIB records spooled so far."""
        self._end_td_record()
        if self._dump_time is None:
            return
        self._end_rib_record()
        body = b"".join((
            self._bgp_id, struct.pack(">H", len(self._view_name)), self._view_name,
            struct.pack(">H", len(self._peer_entries)), *self._peer_entries,
        ))
        self._emit(_mrt_header(self._dump_time, _TABLE_DUMP_V2, _PEER_INDEX_TABLE, len(body)) + body)
        self._flush()
        if self._spool is not None:
            self._spool.seek(0)
            shutil.copyfileobj(self._spool, self._stream, _FLUSH_BYTES)
            self._spool.close()
            self._spool = None
        self._records += self._dump_records
        self._dump_time = None
        self._dump_records = 0
        self._peers.clear()
        self._peer_entries.clear()


def write_mrt(
    path: str | os.PathLike[str],
    observations: Iterable[Observation],
    *,
    compression: str | None = None,
    bgp_id: str = "192.0.2.1",
    view_name: str = "",
    local_asn: int = 12654,
    local_ip: str | None = None,
    extended_time: bool = False,
    rib_format: str = "table_dump_v2",
) -> int:
    """Write ``observations`` to an MRT file at ``path``, in order; return the number of MRT records.

    Example: ``write_mrt("rrc00/bview.20171001.0800.gz", rib_observations)``. Parameters as for
    :class:`MrtWriter`. A bad observation raises ValueError naming the field and value (the file
    then holds the observations before it).
    """
    with MrtWriter(
        path,
        compression=compression,
        bgp_id=bgp_id,
        view_name=view_name,
        local_asn=local_asn,
        local_ip=local_ip,
        extended_time=extended_time,
        rib_format=rib_format,
    ) as writer:
        for obs in observations:
            writer.write(obs)
    return writer.records_written
