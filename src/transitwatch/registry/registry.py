"""The registry facade: one object that answers "which country, which name, which time zone".

Sources, best first, and how each answer says where it came from:

* prefix -> country: the geolocation data shipped with geoip2fast (``"geolite2"``), else the RIR
  allocation that holds the prefix (``"rir:apnic"``...) when RIR files are loaded. With
  ``prefix_source="rir"`` the order is reversed.
* AS -> country: the RIR registration (``"rir:apnic"``), else RIPE's ``asn.txt``
  (``"asnames"``), else the country most of the AS's originated address space maps to
  (``"origins"``, needs the routes: feed them with ``add_origins``).
* AS -> name: ``asn.txt`` (``"asnames"``), else the organisation name most of the AS's
  originated address space maps to in GeoLite2 ASN (``"geolite2"``).
* country -> time zone: tzdata's zone tables.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from transitwatch.registry import geo, timezones
from transitwatch.registry.rir import (
    RegistryFileError,
    RirData,
    default_registry_dir,
    load_registry_dir,
)

__all__ = ["AsInfo", "Registry", "UnknownCountryError", "normalise_country"]

GEO_SOURCE = "geolite2"


class UnknownCountryError(ValueError):
    """A country code that is not ISO 3166 alpha-2 (one line, suggests how to find codes)."""


def normalise_country(cc: str) -> str:
    """``"kp"`` -> ``"KP"``; raises :class:`UnknownCountryError` for codes tzdata does not know."""
    code = cc.strip().upper()
    if code not in timezones.known_countries():
        raise UnknownCountryError(
            f"unknown country code {cc!r}: use an ISO 3166 alpha-2 code such as KP, CN or RU")
    return code


@dataclass(frozen=True, slots=True)
class AsInfo:
    """Everything the registry knows about one AS, with the source of each answer."""

    asn: int
    name: str | None
    name_source: str | None
    country: str | None
    country_source: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"asn": self.asn, "name": self.name, "name_source": self.name_source,
                "country": self.country, "country_source": self.country_source}


class Registry:
    """Countries, names and time zones for prefixes and ASes (see the module docstring).

    ``Registry()`` works offline with the bundled geolocation data only;
    ``Registry.load()`` also reads RIR files from the cache directory if there are any.
    """

    def __init__(self, rir: RirData | None = None, *, use_geo: bool = True,
                 prefix_source: str = "geo") -> None:
        if prefix_source not in ("geo", "rir"):
            raise ValueError("prefix_source must be 'geo' or 'rir'")
        self.rir = rir if rir is not None else RirData()
        self.use_geo = use_geo
        self.prefix_source = prefix_source
        self.registry_dir: Path | None = None
        self._origins: dict[int, set[str]] = defaultdict(set)
        self._as_cache: dict[int, AsInfo] = {}
        self._prefix_cache: dict[str, tuple[str | None, str | None]] = {}

    @classmethod
    def load(cls, registry_dir: Path | None = None, *, use_geo: bool = True,
             prefix_source: str = "geo") -> Registry:
        """Read the RIR files in ``registry_dir`` (default: the XDG cache directory).

        An explicitly given directory that does not exist is an error; the default one may be
        missing (nothing downloaded yet). Unusable files become ``warnings``.
        """
        if registry_dir is not None and not Path(registry_dir).is_dir():
            raise RegistryFileError(f"{registry_dir}: registry directory not found")
        directory = Path(registry_dir) if registry_dir is not None else default_registry_dir()
        registry = cls(load_registry_dir(directory), use_geo=use_geo, prefix_source=prefix_source)
        registry.registry_dir = directory
        return registry

    @property
    def warnings(self) -> list[str]:
        """One-line warnings about stale or partly unreadable registry files."""
        return list(self.rir.warnings)

    # -- prefixes ---------------------------------------------------------------------------
    def country_of_prefix(self, prefix: str) -> tuple[str | None, str | None]:
        """``(country, source)`` of a prefix: ``("KP", "geolite2")``, ``("CN", "rir:apnic")``,
        or ``(None, None)`` when no loaded source knows it (cached)."""
        known = self._prefix_cache.get(prefix)
        if known is not None:
            return known
        answer: tuple[str | None, str | None] = (None, None)
        order = ("geo", "rir") if self.prefix_source == "geo" else ("rir", "geo")
        for source in order:
            if source == "geo" and self.use_geo:
                found = geo.lookup_prefix(prefix)
                if found.country:
                    answer = (found.country, GEO_SOURCE)
                    break
            elif source == "rir" and self.rir:
                hit = self.rir.country_of_prefix(prefix)
                if hit:
                    answer = (hit[0], f"rir:{hit[1]}")
                    break
        self._prefix_cache[prefix] = answer
        return answer

    # -- ASes -------------------------------------------------------------------------------
    def add_origins(self, pairs: Iterable[tuple[int, str]]) -> None:
        """Feed ``(origin AS, prefix)`` pairs seen in routes; AS countries and names that no
        registry file gives are derived from them (majority by address space)."""
        for asn, prefix in pairs:
            if prefix not in self._origins[asn]:
                self._origins[asn].add(prefix)
                self._as_cache.pop(asn, None)

    def prefixes_of(self, asn: int) -> frozenset[str]:
        """The prefixes fed with ``add_origins`` for this AS."""
        return frozenset(self._origins.get(asn, ()))

    def as_info(self, asn: int) -> AsInfo:
        """Name and country of an AS, each with its source (cached)."""
        cached = self._as_cache.get(asn)
        if cached is not None:
            return cached
        name = name_source = country = country_source = None
        registered = self.rir.country_of_asn(asn) if self.rir else None
        if registered:
            country, country_source = registered[0], f"rir:{registered[1]}"
        listed = self.rir.as_names.get(asn)
        if listed:
            name, name_source = listed[0], "asnames"
            if country is None:
                country, country_source = listed[1], "asnames"
        if (name is None or country is None) and self._origins.get(asn):
            countries: Counter[str] = Counter()
            names: Counter[str] = Counter()
            for prefix in self._origins[asn]:
                size = geo.prefix_size(prefix)
                cc, _source = self.country_of_prefix(prefix)
                if cc:
                    countries[cc] += size
                if self.use_geo:
                    geo_name = geo.lookup_prefix(prefix).name
                    if geo_name:
                        names[geo_name] += size
            if country is None and countries:
                country, country_source = countries.most_common(1)[0][0], "origins"
            if name is None and names:
                name, name_source = names.most_common(1)[0][0], GEO_SOURCE
        info = AsInfo(asn, name, name_source, country, country_source)
        self._as_cache[asn] = info
        return info

    def as_name(self, asn: int) -> str | None:
        return self.as_info(asn).name

    def as_country(self, asn: int) -> str | None:
        return self.as_info(asn).country

    # -- countries --------------------------------------------------------------------------
    @staticmethod
    def timezone_of(cc: str) -> ZoneInfo | None:
        """The country's main IANA zone (``KP`` -> ``Asia/Pyongyang``)."""
        return timezones.timezone_of(cc)

    @staticmethod
    def country_name(cc: str) -> str | None:
        return timezones.country_name(cc)

    def describe(self) -> dict[str, Any]:
        """What is loaded, for ``transitwatch registry show``: sources, dates, ages, warnings."""
        info: dict[str, Any] = {
            "registry_dir": str(self.registry_dir) if self.registry_dir else None,
            "prefix_source": self.prefix_source,
            "geolocation": None,
            "rir_files": [f.to_dict() for f in self.rir.files],
            "rir_counts": self.rir.counts(),
            "warnings": self.warnings,
        }
        if self.use_geo:
            try:
                info["geolocation"] = geo.geo_info()
            except geo.GeoError as exc:
                info["warnings"].append(str(exc))
        return info
