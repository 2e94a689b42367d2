"""Country -> its main IANA time zone, and country code -> name, from tzdata's own tables.

The ``tzdata`` package ships ``zone.tab`` (one row per country and zone) and ``iso3166.tab``
(country names) as package resources, so this works offline on a fresh install. For a country
with one zone the answer is that zone. For a country with several, ``zone.tab`` lists them in a
geographic order, which sometimes starts at an outlying region (Australia at Lord Howe Island,
Russia at Kaliningrad); for those few the capital's zone is named in ``_CAPITAL_ZONES``.
"""

from __future__ import annotations

import functools
import importlib.resources
from zoneinfo import ZoneInfo

__all__ = ["country_name", "known_countries", "timezone_of", "zones_of"]

# Countries whose first zone.tab row is not the zone of the capital / most people.
_CAPITAL_ZONES = {
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "FM": "Pacific/Pohnpei",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "UZ": "Asia/Tashkent",
}


# Codes tzdata's tables lack that the registry data uses for a country: GeoLite2 (the bundled
# geolocation) places Kosovo's prefixes in XK (user-assigned, as the EU and RIPE NCC use it), so
# `countries` ranked XK while `upstreams --country XK` was "unknown country code".
# EU is no country: RIRs and GeoLite2 use it for space registered to the European Union or to
# networks spread over Europe. It is ranked like the others, so it can be asked about; its local
# time is UTC (no one zone is its own), and its name says what it is.
_EXTRA_COUNTRIES = {"XK": ("Kosovo", "Europe/Belgrade"),
                    "EU": ("European Union (a registry code for space not tied to one country)", "UTC")}


def _read_tab(name: str) -> list[list[str]]:
    text = importlib.resources.files("tzdata.zoneinfo").joinpath(name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@functools.cache
def _zones_by_country() -> dict[str, tuple[str, ...]]:
    zones: dict[str, list[str]] = {}
    for row in _read_tab("zone.tab"):
        zones.setdefault(row[0], []).append(row[2])
    for cc, (_name, zone) in _EXTRA_COUNTRIES.items():
        zones.setdefault(cc, [zone])
    return {cc: tuple(names) for cc, names in zones.items()}


@functools.cache
def _country_names() -> dict[str, str]:
    names = {row[0]: row[1] for row in _read_tab("iso3166.tab")}
    for cc, (name, _zone) in _EXTRA_COUNTRIES.items():
        names.setdefault(cc, name)
    return names


def known_countries() -> frozenset[str]:
    """Every ISO 3166 alpha-2 code tzdata knows (249 of them), XK (Kosovo) and EU."""
    return frozenset(_country_names())


def country_name(cc: str) -> str | None:
    """``"KP"`` -> ``"Korea (North)"`` (tzdata's spelling), or None for an unknown code."""
    return _country_names().get(cc.upper())


def zones_of(cc: str) -> tuple[str, ...]:
    """All IANA zones of a country, in zone.tab's order (empty for an unknown code)."""
    return _zones_by_country().get(cc.upper(), ())


def timezone_of(cc: str) -> ZoneInfo | None:
    """The country's main zone: ``timezone_of("KP")`` is ``ZoneInfo("Asia/Pyongyang")``.

    None for a code tzdata does not know.
    """
    cc = cc.upper()
    name = _CAPITAL_ZONES.get(cc)
    if name is None:
        zones = zones_of(cc)
        if not zones:
            return None
        name = zones[0]
    return ZoneInfo(name)
