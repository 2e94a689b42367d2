"""Prefix -> country and organisation name from the geolocation data shipped by ``geoip2fast``.

geoip2fast (MIT) bundles MaxMind GeoLite2 Country and GeoLite2 ASN tables as pickled data files
inside the wheel; this module uses ``geoip2fast-asn-ipv6.dat.gz`` (IPv4 + IPv6, country + AS
*organisation name*). The ASN table holds names per address range but **not AS numbers**, so
"the name of AS X" is derived from the prefixes X originates (see ``Registry``).

A BGP prefix can span several geolocation ranges; ``lookup_prefix`` walks the ranges inside the
prefix (up to ``MAX_STEPS`` look-ups) and returns the country and name that cover most addresses.
geoip2fast keeps its tables in module globals, so only one data file can be loaded per process:
this module loads it once, lazily, and shares it.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GEO_DATA_FILE", "GeoError", "PrefixGeo", "country_of_prefix", "geo_info", "lookup_prefix", "prefix_size",
]

GEO_DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"
#: look-ups spent on one prefix before the majority is taken from what was seen
MAX_STEPS = 64
#: geoip2fast numbers private/reserved/IANA blocks as country ids 0-15
_PRIVATE_IDS = 16
_NOT_A_COUNTRY = {"", "--", "-1", "-2", "-3", "-4", "<unknown>"}
_lock = threading.Lock()
_db: Any = None


class GeoError(Exception):
    """The geolocation data could not be loaded (one line)."""


@dataclass(frozen=True, slots=True)
class PrefixGeo:
    """What the geolocation data says about a prefix: majority country and organisation name
    (by address space), and the share of the prefix's addresses that country covers."""

    country: str | None
    name: str | None
    country_share: float

    def to_dict(self) -> dict[str, Any]:
        return {"country": self.country, "name": self.name, "country_share": self.country_share}


def _database() -> Any:
    global _db
    if _db is None:
        with _lock:
            if _db is None:
                try:
                    from geoip2fast import GeoIP2Fast
                except ImportError as exc:
                    raise GeoError(f"geoip2fast is not installed ({exc})") from None
                try:
                    _db = GeoIP2Fast(geoip2fast_data_file=GEO_DATA_FILE)
                except Exception as exc:  # geoip2fast raises its own GeoIPError with details
                    raise GeoError(f"cannot load geoip2fast data {GEO_DATA_FILE}: {exc}") from None
    return _db


class _Table:
    """One of geoip2fast's range tables flattened into sorted lists, so a look-up is one bisect
    (geoip2fast's own ``lookup`` builds a result object and formats addresses on every call,
    many times slower, which matters when a full routing table is looked up)."""

    def __init__(self, chunks_first: list[list[int]], chunks_len: list[list[int]],
                 chunks_id: list[list[int]], labels: list[str]) -> None:
        self.first = [v for chunk in chunks_first for v in chunk]
        self.length = [v for chunk in chunks_len for v in chunk]
        self.ids = [v for chunk in chunks_id for v in chunk]
        self.labels = labels
        if not (len(self.first) == len(self.length) == len(self.ids)) or not self.first:
            raise GeoError("geoip2fast tables have an unexpected layout")

    def find(self, value: int, version: int) -> tuple[int, int, int] | None:
        """(label id, block first, block last) of the block holding ``value``, or None."""
        i = bisect.bisect_right(self.first, value) - 1
        if i < 0:
            return None
        first = self.first[i]
        last = first + (1 << ((32 if version == 4 else 128) - self.length[i])) - 1
        if value > last:
            return None
        return self.ids[i], first, last


_tables: tuple[_Table, _Table | None, list[str]] | None = None
_no_tables = False


def _flat_tables() -> tuple[_Table, _Table | None, list[str]] | None:
    """(country table, AS-name table, country codes) from geoip2fast's module data, or None when
    this geoip2fast keeps its data differently (then its public ``lookup`` is used)."""
    global _tables, _no_tables
    if _tables is None and not _no_tables:
        db = _database()
        with _lock:
            if _tables is None and not _no_tables:
                try:
                    from geoip2fast import geoip2fast as module

                    codes = [item.split(":")[0] for item in module.mainListNamesCountry]
                    country = _Table(module.mainListFirstIP, module.mainListNetlength,
                                     module.mainListIDCountryCodes, codes)
                    names = _Table(module.mainListFirstIPASN, module.mainListNetlengthASN,
                                   module.mainListIDASN, module.mainListNamesASN) if db.asn else None
                    _tables = (country, names, codes)
                except (AttributeError, GeoError, TypeError, ValueError):
                    _no_tables = True
    return _tables


def geo_info() -> dict[str, Any]:
    """What is loaded: package version, data file, MaxMind source and date (``20240618``)."""
    import geoip2fast

    db = _database()
    source = str(db.source_info)  # e.g. "MAXMIND:GeoLite2-CountryASN-IPv4IPv6-en-20240618"
    date = source.rsplit("-", 1)[-1] if source[-8:].isdigit() else None
    return {
        "package": "geoip2fast",
        "version": getattr(geoip2fast, "__version__", "?"),
        "data_file": str(db.get_database_path()),
        "source": source,
        "date": f"{date[:4]}-{date[4:6]}-{date[6:]}" if date else None,
        "ipv6": bool(db.ipv6),
        "asn_names": bool(db.asn),
    }


def prefix_size(prefix: str) -> int:
    """Number of addresses in a CIDR prefix (0 when malformed), without ipaddress objects."""
    parsed = _parse_prefix(prefix)
    if parsed is None:
        return 0
    return 1 << ((32 if parsed[0] == 4 else 128) - parsed[2])


def country_of_prefix(prefix: str) -> str | None:
    """Majority country of a prefix (cached; see :func:`lookup_prefix`)."""
    return lookup_prefix(prefix).country


@functools.lru_cache(maxsize=1 << 20)
def lookup_prefix(prefix: str) -> PrefixGeo:
    """Majority country and organisation name of a CIDR prefix (cached).

    Unknown or unparsable prefixes give ``PrefixGeo(None, None, 0.0)``; private and reserved
    space has no country.
    """
    parsed = _parse_prefix(prefix)
    if parsed is None:
        return PrefixGeo(None, None, 0.0)
    version, first, length = parsed
    bits = 32 if version == 4 else 128
    last = first | ((1 << (bits - length)) - 1)
    if length < 8 or (version == 6 and first <= 0xFFFFFFFF):
        # A default route or /1-/7 covers the world: no country. And geoip2fast keys IPv4 and
        # IPv6 by integer in one table, so IPv6 under ::/96 would read as IPv4.
        return PrefixGeo(None, None, 0.0)
    probe = _fast_probe if _flat_tables() is not None else _slow_probe
    cc, name, end = probe(first, version)
    if end is not None and end >= last:
        # Most prefixes: one geolocation block holds the whole prefix.
        return PrefixGeo(cc, name, 1.0 if cc else 0.0)
    countries: Counter[str] = Counter()
    names: Counter[str] = Counter()
    here = first
    for step in range(MAX_STEPS):
        if step:
            cc, name, end = probe(here, version)
        if end is None or end < here:
            # not found: skip to the next /24 (IPv4) or /48 (IPv6) boundary
            end = here | ((1 << (8 if version == 4 else 80)) - 1)
        weight = min(end, last) - here + 1
        if cc:
            countries[cc] += weight
        if name:
            names[name] += weight
        here = end + 1
        if here > last:
            break
    else:
        # Too many blocks (a /8, say): estimate the rest from evenly spaced samples.
        rest = last - here + 1
        stride = max(rest // MAX_STEPS, 1)
        for k in range(min(MAX_STEPS, rest)):
            cc, name, _ = probe(here + k * stride, version)
            weight = stride if k < MAX_STEPS - 1 else rest - k * stride
            if cc:
                countries[cc] += weight
            if name:
                names[name] += weight
    return _majority(countries, names, last - first + 1)


def _fast_probe(value: int, version: int) -> tuple[str | None, str | None, int | None]:
    """(country, organisation name, last address of the country block) at one address."""
    tables = _flat_tables()
    assert tables is not None
    country_table, name_table, codes = tables
    found = country_table.find(value, version)
    if found is None:
        return None, None, None
    index, _, end = found
    if index < _PRIVATE_IDS:  # geoip2fast's first country ids are private/reserved space
        return None, None, end
    cc = codes[index]
    name = None
    if name_table is not None:
        named = name_table.find(value, version)
        if named is not None:
            name = name_table.labels[named[0]]
    return (None if cc in _NOT_A_COUNTRY else cc,
            None if name is None or name in _NOT_A_COUNTRY else name, end)


def _slow_probe(value: int, version: int) -> tuple[str | None, str | None, int | None]:
    """The same through geoip2fast's public ``lookup`` (a fallback for other package layouts)."""
    address = ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)
    result = _database().lookup(str(address))
    end = _range_end(result.cidr, version)
    if result.is_private:
        return None, None, end
    cc = None if result.country_code in _NOT_A_COUNTRY else result.country_code
    name = None if not result.asn_name or result.asn_name in _NOT_A_COUNTRY else result.asn_name
    return cc, name, end


def _parse_prefix(prefix: str) -> tuple[int, int, int] | None:
    """``"1.2.3.0/24"`` -> (4, network as int, 24), host bits cleared; None if malformed.
    (socket's parsers: ipaddress is several times slower, and this runs once per route.)"""
    address, slash, length_text = prefix.partition("/")
    try:
        if ":" in address:
            version, raw = 6, socket.inet_pton(socket.AF_INET6, address)
        else:
            version, raw = 4, socket.inet_pton(socket.AF_INET, address)
        bits = 32 if version == 4 else 128
        length = int(length_text) if slash else bits
    except (OSError, ValueError):
        return None
    if not 0 <= length <= bits:
        return None
    value = int.from_bytes(raw, "big") >> (bits - length) << (bits - length)
    return version, value, length


def _majority(countries: Counter[str], names: Counter[str], size: int) -> PrefixGeo:
    country, weight = countries.most_common(1)[0] if countries else (None, 0)
    name = names.most_common(1)[0][0] if names else None
    return PrefixGeo(country, name, weight / size)


def _range_end(cidr: str, version: int) -> int | None:
    if not cidr:
        return None
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    if net.version != version:
        return None
    return int(net.broadcast_address)
