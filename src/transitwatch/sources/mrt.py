"""Read MRT files (RFC 6396) into :class:`~transitwatch.observation.Observation` objects.

The record decoding is done by the C core (``_mrt``); this module opens files, detects the
compression by magic bytes (gzip, bzip2, xz, or none), feeds decompressed chunks to the decoder and
turns damage into clear, counted reports. Memory stays bounded: only one chunk and the incomplete
record at its end are held at any time.

>>> from transitwatch.sources.mrt import MrtReader
>>> reader = MrtReader("updates.20171001.0905.gz")
>>> for obs in reader:                                    # doctest: +SKIP
...     ...
>>> reader.stats.routes                                   # doctest: +SKIP
"""

from __future__ import annotations

import bz2
import lzma
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import transitwatch.sources._mrt as _mrt
from transitwatch import native
from transitwatch.observation import SAFI_UNICAST, Observation

native.check(_mrt, Path(__file__).with_name("_mrt.c"))

CHUNK_SIZE = 1 << 18

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"


class MrtError(Exception):
    """Input that cannot be read. ``str()`` is one line naming the file (and byte offset)."""

    def __init__(self, path: str, message: str, offset: int | None = None) -> None:
        self.path = path
        self.message = message
        self.offset = offset
        where = f" at byte offset {offset}" if offset is not None else ""
        super().__init__(f"{path}: {message}{where}")


@dataclass
class Damage:
    """One damaged spot of a file: the decompressed byte offset and what was wrong."""

    offset: int
    message: str

    def __str__(self) -> str:
        return f"byte offset {self.offset}: {self.message}"


@dataclass
class DecodeStats:
    """What a reader did with a file: records and routes decoded, what was skipped and why."""

    path: str
    compression: str = "none"
    records: int = 0
    routes: int = 0
    bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    record_types: dict[int, int] = field(default_factory=dict)
    damage: list[Damage] = field(default_factory=list)
    fatal: str | None = None
    filtered: int = 0
    first_time: float | None = None
    last_time: float | None = None
    #: routes of another SAFI than the one asked for (e.g. multicast when reading unicast), left out
    safi_filtered: int = 0
    #: NLRI blocks not decoded, by kind ("SAFI 128 (MPLS-labeled VPN) NLRI, not decoded"): valid
    #: BGP whose NLRI are not IP prefixes. Also counted in ``skipped``, but not damage.
    unsupported: dict[str, int] = field(default_factory=dict)

    @property
    def damaged(self) -> bool:
        return any(why not in self.unsupported for why in self.skipped) or self.fatal is not None

    def summary(self) -> str:
        """One line: '<file>: 1,234 records, 5,678 routes; skipped: 2 bad attribute'."""
        line = f"{self.path}: {self.records:,} records, {self.routes:,} routes"
        if self.skipped:
            line += "; skipped: " + ", ".join(f"{n:,} {why}" for why, n in sorted(self.skipped.items()))
        if self.safi_filtered:
            line += f"; {self.safi_filtered:,} routes of other SAFIs left out"
        if self.fatal:
            line += f"; {self.fatal}"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "compression": self.compression,
            "records": self.records,
            "routes": self.routes,
            "bytes": self.bytes,
            "skipped": dict(self.skipped),
            "unsupported": dict(self.unsupported),
            "safi_filtered": self.safi_filtered,
            "damage": [{"offset": d.offset, "message": d.message} for d in self.damage],
            "fatal": self.fatal,
        }


def _open_raw(path: str) -> IO[bytes]:
    p = Path(path)
    if p.is_dir():
        raise MrtError(path, "is a directory, not an MRT file")
    try:
        return open(p, "rb")  # noqa: SIM115 - closed by the reader
    except FileNotFoundError:
        raise MrtError(path, "no such file") from None
    except PermissionError:
        raise MrtError(path, "permission denied") from None
    except OSError as exc:
        raise MrtError(path, exc.strerror or str(exc)) from None


def _rows(batch: Any) -> int:
    """Observations in what the decoder returned: a list, or a column-mode tuple (rows first)."""
    return len(batch) if isinstance(batch, list) else int(batch[0])


def detect_compression(head: bytes) -> str:
    """'gzip', 'bzip2', 'xz' or 'none', from the first bytes (never from the file name)."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return "none"


def _decompressed_chunks(raw: IO[bytes], path: str, kind: str, chunk: int) -> Iterator[bytes]:
    """Decompressed data in pieces of at most ``chunk`` bytes, so memory stays bounded whatever
    the compression ratio. Multi-member gzip and multi-stream bzip2 are followed. Damage raises
    MrtError naming the compressed byte offset reached."""
    if kind == "none":
        while data := raw.read(chunk):
            yield data
        return

    def new() -> Any:
        if kind == "gzip":
            return zlib.decompressobj(wbits=31)
        if kind == "bzip2":
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor()

    errors: tuple[type[Exception], ...] = (zlib.error, OSError, EOFError, lzma.LZMAError)
    dec = new()
    consumed = 0          # compressed bytes handed to decompressors so far
    data = b""
    out = b""
    while True:
        # zlib may hold output of input it already took when `chunk` stopped it: ask for it
        # before reading more (a full chunk out means there may be more).
        if not data and not (kind == "gzip" and len(out) == chunk):
            data = raw.read(chunk // 4)
            if not data:
                break
            consumed += len(data)
        try:
            if kind == "gzip":
                out = dec.decompress(data, chunk)
                # At the end of a member zlib leaves the bytes after it in both unused_data and
                # unconsumed_tail: only unused_data is used below, or they would be fed twice.
                data = b"" if dec.eof else dec.unconsumed_tail
            else:
                out = dec.decompress(data, chunk)
                data = b""
                while not dec.eof and not dec.needs_input:
                    if out:
                        yield out
                    out = dec.decompress(b"", chunk)
        except errors as exc:
            raise MrtError(path, f"corrupt {kind} data ({exc})", consumed - len(data)) from None
        if out:
            yield out
        if dec.eof:
            # another gzip member / bzip2 stream may follow; trailing zero padding is common
            rest = dec.unused_data
            data = b""
            out = b""
            while not rest.strip(b"\x00"):
                rest = raw.read(chunk // 4)
                if not rest:
                    return
                consumed += len(rest)
            data = rest
            dec = new()
    if not dec.eof:
        raise MrtError(path, f"truncated {kind} data: the compressed stream ends early", consumed)


@dataclass(frozen=True)
class RouteFilter:
    """Keep only the announcements a consumer watching some ASes or prefixes needs.

    Applied inside the C decoder, before any Python object is built, so watching one network over
    a full feed costs a fraction of decoding everything. Only BGP4MP announcements are filtered:
    an announcement passes when its AS path (or AS4_PATH) contains one of ``asns`` or its prefix
    lies inside one of ``prefixes``, or its prefix was seen before in such a route (by any peer,
    in any file read with this filter): a target route replaced by a path without the target
    must still reach the state. RIB dump entries, withdrawals and state changes always pass,
    so a RIB dump still replaces a peer's table and withdrawals still reach the state.
    With ``own_space``, the prefixes that ``asns`` originate are learnt as they are read (RIB
    entries and announcements), and an announcement of one of them or of a more-specific passes
    whatever its path: a watched AS's address space announced by another origin (a possible
    hijack) reaches the state without the user listing the AS's prefixes.
    Use one filter per run (it remembers prefixes).
    """

    asns: frozenset[int] = frozenset()
    prefixes: tuple[str, ...] = ()
    own_space: bool = False
    seen: _mrt.PrefixSet = field(default_factory=_mrt.PrefixSet, compare=False, repr=False)
    own: _mrt.PrefixSet = field(default_factory=_mrt.PrefixSet, compare=False, repr=False)

    def install(self, decoder: Any) -> None:
        """Set this filter on a C ``Decoder`` (subclasses may set another kind of filter)."""
        if self.own_space and self.asns:
            decoder.set_filter(*self._c_args(), self.seen, self.own)
        else:
            decoder.set_filter(*self._c_args(), self.seen)

    def _c_args(self) -> tuple[list[int], list[tuple[int, bytes, int]]]:
        import ipaddress

        nets = []
        for text in self.prefixes:
            net = ipaddress.ip_network(text, strict=False)
            nets.append((1 if net.version == 4 else 2, net.network_address.packed, net.prefixlen))
        return sorted(self.asns), nets


class MrtReader:
    """Iterate the observations of one MRT file, keeping statistics and damage reports.

    ``collector`` names the route collector (RIS/RouteViews file names are parsed by
    :mod:`transitwatch.sources.files`); ``strict`` turns any damage into :class:`MrtError`.
    ``safi``: yield only routes of this subsequent address family, 1 (unicast, the default: what
    routing state, metrics and the store hold) or 2 (multicast, to study those); None yields every
    route the file holds; ``"bgpdump"`` the routes ``bgpdump -m`` prints (it prints multicast
    BGP4MP routes but not TABLE_DUMP_V2 multicast entries). State changes are always yielded.
    After iteration, :attr:`stats` holds counts of records and routes, and what was skipped.
    Iterating raises :class:`MrtError` only when nothing at all can be read (missing file,
    not MRT) or, with ``strict``, at the first damage.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, collector: str | None = None, strict: bool = False,
        chunk_size: int = CHUNK_SIZE, route_filter: RouteFilter | None = None,
        safi: int | Literal["bgpdump"] | None = SAFI_UNICAST, columns: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self.columns = columns
        self.safi = safi
        self.route_filter = route_filter
        self.collector = collector or ""
        self.strict = strict
        self.chunk_size = chunk_size
        self.stats = DecodeStats(self.path)

    def __iter__(self) -> Iterator[Observation]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[Any]:
        """The observations in lists, one per decompressed chunk (fast path for bulk consumers);
        with ``columns=True``, as :class:`~transitwatch.sources.columns.RouteColumns` instead."""
        if self.columns:  # numpy: imported only by the consumers that ask for columns
            from transitwatch.sources.columns import RouteColumns

            for packed in self._decoded():
                if packed[0]:
                    yield RouteColumns.from_decoder(self.path, packed)
            return
        for batch in self._decoded():
            if batch:
                yield batch

    def _decoded(self) -> Iterator[Any]:
        path = self.path
        raw = _open_raw(path)
        with raw:
            head = raw.read(6)
            if not head:
                raise MrtError(path, "empty file")
            raw.seek(0)
            kind = detect_compression(head)
            self.stats.compression = kind
            decoder = _mrt.Decoder(path, self.collector)
            if self.route_filter is not None:
                self.route_filter.install(decoder)
            decoder.select_safi(-1 if self.safi == "bgpdump" else self.safi or 0)
            if self.columns:
                decoder.set_columns(True)
            seen_errors = 0
            try:
                for data in _decompressed_chunks(raw, path, kind, self.chunk_size):
                    batch = decoder.feed(data)
                    if decoder.not_mrt:
                        self._update(decoder)
                        raise MrtError(path, "not an MRT file (it starts with a run of empty type-0 "
                                       "records: zeros, not MRT data)", 0)
                    seen_errors = self._check(decoder, seen_errors)
                    yield batch
            except MrtError as exc:
                if decoder.not_mrt:
                    raise
                # damaged compression: keep what was decoded, report the rest
                self.stats.fatal = exc.message + (f" at byte offset {exc.offset}" if exc.offset else "")
                batch = decoder.finish()
                self._update(decoder)
                if self.strict or (not self.stats.routes and not _rows(batch) and not self.stats.records):
                    raise
                yield batch
                return
            batch = decoder.finish()
            if decoder.not_mrt:
                self._update(decoder)
                raise MrtError(path, "not an MRT file (nothing but empty type-0 records: zeros, not MRT "
                               "data)", 0)
            self._check(decoder, seen_errors)
            self._update(decoder)
            yield batch
            if self.stats.records == 0 and not (kind != "none" and self.stats.bytes == 0
                                                and not self.stats.damage):
                first = self.stats.damage[0].message if self.stats.damage else "no MRT records"
                raise MrtError(path, f"not an MRT file ({first})", 0)
            # (a compressed file holding nothing is an update file of a quiet interval: valid,
            # no records; a file of 0 bytes on disk stays "empty file" above)

    def _check(self, decoder: Any, seen: int) -> int:
        errors = decoder.errors
        if self.strict and len(errors) > seen:
            offset, message = errors[seen]
            self._update(decoder)
            raise MrtError(self.path, message, offset)
        return len(errors)

    def _update(self, decoder: Any) -> None:
        s = decoder.stats
        st = self.stats
        st.records, st.routes, st.bytes = s["records"], s["routes"], s["bytes"]
        st.filtered = s["filtered"]
        st.first_time, st.last_time = s["first_time"], s["last_time"]
        st.safi_filtered = s["safi_filtered"]
        st.unsupported = dict(s["unsupported"])
        st.skipped = dict(s["skipped"]) | st.unsupported
        st.record_types = dict(s["record_types"])
        st.damage = [Damage(o, m) for o, m in decoder.errors]


def first_record_time(path: str | os.PathLike[str]) -> float | None:
    """The time of the file's first MRT record, reading only its first bytes; None when the
    start of the file cannot be read (the reader then says why)."""
    p = os.fspath(path)
    try:
        with _open_raw(p) as raw:
            kind = detect_compression(raw.read(6))
            raw.seek(0)
            head = b""
            for chunk in _decompressed_chunks(raw, p, kind, 4096):
                head += chunk
                if len(head) >= 16:
                    break
    except (MrtError, OSError):
        return None
    if len(head) < 16:
        return None
    seconds, kind_code = int.from_bytes(head[0:4], "big"), int.from_bytes(head[4:6], "big")
    if kind_code in (17, 33, 49):  # _ET types: microseconds first in the body
        return seconds + int.from_bytes(head[12:16], "big") / 1e6
    return float(seconds)


def read_mrt(
    path: str | os.PathLike[str], *, collector: str | None = None, strict: bool = False,
    route_filter: RouteFilter | None = None, safi: int | None = SAFI_UNICAST,
) -> Iterator[Observation]:
    """All observations of one MRT file (plain, gzip, bzip2 or xz), in file order; unicast routes
    only unless ``safi`` says otherwise (see :class:`MrtReader`).

    Use :class:`MrtReader` directly to see the statistics and damage reports afterwards.
    """
    return iter(MrtReader(path, collector=collector, strict=strict, route_filter=route_filter, safi=safi))


def format_bgpdump(observations: list[Observation]) -> bytes:
    """The lines ``bgpdump -m`` prints for these observations (bytes, newline terminated)."""
    return _mrt.format_bgpdump(observations)
