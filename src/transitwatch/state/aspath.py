"""AS paths in bgpdump notation, parsed and cleaned for analysis.

``parse_as_path("2914 1239 1239 4837 {4134,4809} 131279")`` gives an :class:`ASPath` whose
``hops`` are ``(2914, 1239, 4837, frozenset({4134, 4809}), 131279)``: prepending is collapsed,
an AS_SET stays one hop (a frozenset), confederation segments (``(..)`` and ``[..]``, internal to
the peer's confederation) are dropped and flagged, private/reserved ASNs are listed and loops
(an AS that reappears after another one) are noted. Parsing is cached: paths repeat a lot.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = [
    "ASPath", "ASPathError", "Hop", "origin_of", "parse_as_path", "parse_asn", "parsed_origin",
    "reserved_asn_reason",
]

#: One hop of a cleaned path: an ASN, or an AS_SET (aggregated, order unknown).
Hop = int | frozenset[int]


class ASPathError(ValueError):
    """An AS path that is not valid bgpdump notation."""


def reserved_asn_reason(asn: int) -> str | None:
    """Why ``asn`` should not appear in a public AS path, or None when it is an ordinary ASN.

    RFC 7607 (0), RFC 6793 (23456 AS_TRANS), RFC 5398 (documentation), RFC 6996 (private use),
    RFC 7300 (last ASNs), IANA reserved 65552-131071.
    """
    if asn == 0:
        return "reserved (RFC 7607)"
    if asn == 23456:
        return "AS_TRANS (RFC 6793)"
    if 64496 <= asn <= 64511 or 65536 <= asn <= 65551:
        return "documentation (RFC 5398)"
    if 64512 <= asn <= 65534 or 4200000000 <= asn <= 4294967294:
        return "private use (RFC 6996)"
    if asn in (65535, 4294967295):
        return "reserved last ASN (RFC 7300)"
    if 65552 <= asn <= 131071:
        return "reserved (IANA)"
    if asn > 4294967295 or asn < 0:
        return "out of range"
    return None


def parse_asn(text: str) -> int:
    """``"131279"``, ``"AS131279"``, asdot ``"2.1"`` -> int; ASPathError otherwise."""
    raw = text.strip()
    if raw[:2].upper() == "AS":
        raw = raw[2:]
    try:
        if "." in raw:
            high, low = raw.split(".")
            value = int(high) * 65536 + int(low)
            if not (0 <= int(low) < 65536):
                raise ValueError
        else:
            value = int(raw)
    except ValueError:
        raise ASPathError(f"not an AS number: {text!r}") from None
    if not 0 <= value <= 4294967295:
        raise ASPathError(f"AS number out of range: {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class ASPath:
    """A cleaned AS path. Build with :func:`parse_as_path`.

    ``text`` the original bgpdump text · ``hops`` prepending collapsed, AS_SETs as frozensets,
    confederation segments removed · ``prepended`` whether any hop was repeated · ``confed``
    whether confederation segments were dropped · ``loop`` whether an AS reappears after another
    one · ``reserved`` private/reserved ASNs present (sorted) · ``asns`` every ASN of the
    sequence hops (for cheap membership tests).
    """

    text: str
    hops: tuple[Hop, ...]
    prepended: bool
    confed: bool
    loop: bool
    reserved: tuple[int, ...]
    asns: frozenset[int]

    @property
    def origin(self) -> Hop | None:
        """The last hop (the origin AS, or an AS_SET), None for an empty path."""
        return self.hops[-1] if self.hops else None

    def __len__(self) -> int:
        return len(self.hops)

    def __str__(self) -> str:
        return " ".join(
            str(h) if isinstance(h, int) else "{" + ",".join(map(str, sorted(h))) + "}" for h in self.hops
        )

    def upstream_of(self, asns: frozenset[int] | set[int], *, origin_run: bool = False) -> Hop | None:
        """The hop just before the target's run of hops, or None when there is none.

        Without ``origin_run``: the run starts at the first (leftmost) hop whose ASN is in
        ``asns``; returns None when no hop is (or the peer itself is in the target).
        With ``origin_run`` (prefix targets): the run is the origin plus the hops in ``asns`` just
        before it, so the answer is the origin's upstream.
        """
        hops = self.hops
        if origin_run:
            i = len(hops) - 1
            if i < 0:
                return None
            while i > 0 and isinstance(hops[i - 1], int) and hops[i - 1] in asns:
                i -= 1
            return hops[i - 1] if i > 0 else None
        for i, hop in enumerate(hops):
            if isinstance(hop, int) and hop in asns:
                return hops[i - 1] if i > 0 else None
        return None


_TOKEN = re.compile(r"\{[^}]*\}|\([^)]*\)|\[[^\]]*\]|[^\s{}()\[\]]+")


@functools.lru_cache(maxsize=1 << 16)
def parse_as_path(text: str) -> ASPath:
    """Parse a bgpdump-notation AS path (``"2914 1239 4837 131279"``, ``{1,2}`` AS_SET,
    ``(1 2)`` confed sequence, ``[1,2]`` confed set) into a cleaned :class:`ASPath`.

    Raises :class:`ASPathError` on anything else.
    """
    stripped = text.strip()
    digits = stripped.replace(" ", "")
    if digits.isdigit() and digits.isascii():
        # Plain sequences (nearly every path of a table): no tokenizer, no per-token validation
        # beyond the range; the same ASPath as the general parse below (tests compare them).
        values = [int(t) for t in stripped.split()]
        if max(values) <= 4294967295:
            return _plain_path(text, values)
    return _parse_general(text)


def _plain_path(text: str, values: list[int]) -> ASPath:
    hops: list[int] = []
    prepended = loop = False
    seen: set[int] = set()
    last = -1
    for hop in values:
        if hop == last:
            prepended = True
            continue
        last = hop
        if hop in seen:
            loop = True
        seen.add(hop)
        hops.append(hop)
    reserved = tuple(sorted(a for a in seen if not (0 < a < 23456 or 23456 < a < 64496
                                                    or 131071 < a < 4200000000) and reserved_asn_reason(a)))
    return ASPath(text=text, hops=tuple(hops), prepended=prepended, confed=False, loop=loop,
                  reserved=reserved, asns=frozenset(seen))


def _parse_general(text: str) -> ASPath:
    """Any bgpdump notation (AS_SETs, confederations, asdot, "AS" prefixes), token by token."""
    hops: list[Hop] = []
    prepended = confed = loop = False
    seen: set[int] = set()
    reserved: set[int] = set()
    pos = 0
    stripped = text.strip()
    for match in _TOKEN.finditer(stripped):
        if stripped[pos:match.start()].strip():
            raise ASPathError(f"bad AS path {text!r}")
        pos = match.end()
        token = match.group()
        hop: Hop
        if token[0] in "([":
            confed = True
            for part in re.split(r"[\s,]+", token[1:-1].strip()):
                if part:
                    parse_asn(part)  # validate; confed members are internal to the peer
            continue
        if token[0] == "{":
            members = [p for p in re.split(r"[\s,]+", token[1:-1].strip()) if p]
            if not members:
                raise ASPathError(f"empty AS_SET in AS path {text!r}")
            hop = frozenset(parse_asn(p) for p in members)
            for asn in hop:
                if reserved_asn_reason(asn):
                    reserved.add(asn)
        else:
            try:
                hop = parse_asn(token)
            except ASPathError:
                raise ASPathError(f"bad AS path {text!r}: {token!r} is not an AS number") from None
            if reserved_asn_reason(hop):
                reserved.add(hop)
        if hops and hops[-1] == hop:
            prepended = True
            continue
        if isinstance(hop, int):
            if hop in seen:
                loop = True
            seen.add(hop)
        hops.append(hop)
    if stripped[pos:].strip():
        raise ASPathError(f"bad AS path {text!r}")
    return ASPath(
        text=text,
        hops=tuple(hops),
        prepended=prepended,
        confed=confed,
        loop=loop,
        reserved=tuple(sorted(reserved)),
        asns=frozenset(seen),
    )


def origin_of(path: str | None) -> int | None:
    """The origin AS of a path text (None for an empty or unparsable path, or an AS_SET origin);
    cheap for plain sequences, which need no full parse."""
    if not path:
        return None
    tail = path.rstrip().rpartition(" ")[2]
    if tail.isdigit():
        return int(tail)
    return parsed_origin(path)


def parsed_origin(path: str) -> int | None:
    """The origin AS of a path text after a full parse: None for an unparsable path or an AS_SET
    origin (stricter than :func:`origin_of`, which trusts a numeric last token)."""
    try:
        origin = parse_as_path(path).origin
    except ASPathError:
        return None
    return origin if isinstance(origin, int) else None
