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

import functools
import ipaddress
import socket
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["GEO_DATA_FILE", "GeoError", "PrefixGeo", "geo_info", "lookup_prefix"]

GEO_DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"
#: look-ups spent on one prefix before the majority is taken from what was seen
MAX_STEPS = 64
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
    db = _database()
    addr_type = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    countries: Counter[str] = Counter()
    names: Counter[str] = Counter()

    def count(address: int, weight: int, result: Any = None) -> None:
        if result is None:
            result = db.lookup(str(addr_type(address)))
        if not result.is_private:
            if result.country_code not in _NOT_A_COUNTRY:
                countries[result.country_code] += weight
            if result.asn_name and result.asn_name not in _NOT_A_COUNTRY:
                names[result.asn_name] += weight

    # Fast path (most prefixes): the geolocation block holding the first address is at least as
    # large as the prefix, and CIDR blocks either nest or are disjoint, so it holds all of it.
    result = db.lookup(prefix.partition("/")[0] if version == 4 else str(addr_type(first)))
    _, _, block_len = result.cidr.rpartition("/")
    if block_len.isdigit() and int(block_len) <= length:
        count(first, last - first + 1, result)
        return _majority(countries, names, last - first + 1)
    here = first
    for _ in range(MAX_STEPS):
        if here != first:
            result = db.lookup(str(addr_type(here)))
        end = _range_end(result.cidr, version)
        if end is None or end < here:
            # not found: skip to the next /24 (IPv4) or /48 (IPv6) boundary
            end = here | ((1 << (8 if version == 4 else 80)) - 1)
        count(here, min(end, last) - here + 1, result)
        here = end + 1
        if here > last:
            break
    else:
        # Too many ranges (a /8, say): estimate the rest from evenly spaced samples.
        rest = last - here + 1
        stride = max(rest // MAX_STEPS, 1)
        for k in range(min(MAX_STEPS, rest)):
            count(here + k * stride, stride if k < MAX_STEPS - 1 else rest - k * stride)
    return _majority(countries, names, last - first + 1)


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
