"""AS and prefix metadata: countries, names, time zones (offline by default).

``Registry`` is the facade; ``geo`` (bundled GeoLite2 data via geoip2fast), ``rir`` (RIR
delegated statistics and CAIDA as2org names, downloaded on demand, latest or dated:
``snapshots``) and ``timezones`` (tzdata's zone tables) are its
sources.
"""

from transitwatch.registry.registry import AsInfo, Registry, UnknownCountryError, normalise_country
from transitwatch.registry.rir import (
    DEFAULT_URLS,
    RegistryFileError,
    default_registry_dir,
    update_registry,
)
from transitwatch.registry.snapshots import SnapshotChoice, archive_urls, update_snapshot
from transitwatch.registry.timezones import country_name, timezone_of

__all__ = [
    "DEFAULT_URLS",
    "AsInfo",
    "Registry",
    "RegistryFileError",
    "SnapshotChoice",
    "UnknownCountryError",
    "archive_urls",
    "country_name",
    "default_registry_dir",
    "normalise_country",
    "timezone_of",
    "update_registry",
    "update_snapshot",
]
