"""Dated registry snapshots: the RIR delegated-extended files and CAIDA AS-organisation names of
one day, kept side by side so a question about 2015 is answered with 2015's registry.

Layout (under the registry directory, ``$XDG_CACHE_HOME/transitwatch/registry`` by default)::

    <registry dir>/                     the "latest" files ('registry update')
    <registry dir>/snapshots/2017-10-01/  one dated snapshot ('registry update --at 2017-10-01')

Each RIR keeps an archive of its daily files; CAIDA publishes AS-to-organisation files
quarterly (1 January, April, July, October). ``archive_urls(day)`` gives the six URLs for a
day (the CAIDA file is the last quarter's at or before it); ``with_mirror`` points them at a
mirror that keeps the same paths (``--mirror http://mirror/`` fetches
``http://mirror/stats/apnic/2017/delegated-apnic-extended-20171001.gz``).

``choose`` picks the snapshot nearest a moment; ``SnapshotChoice`` says which one was used and
how far it is from the data, flagged beyond ``FLAG_AFTER_DAYS``.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from transitwatch.registry.rir import UpdateResult, update_registry

__all__ = [
    "ARCHIVE_URLS", "FLAG_AFTER_DAYS", "SNAPSHOTS_DIR", "SnapshotChoice", "archive_urls",
    "as2org_quarter", "choose", "list_snapshots", "snapshot_dir", "update_snapshot", "with_mirror",
]

SNAPSHOTS_DIR = "snapshots"
#: registry data further than this from the data's time is flagged
FLAG_AFTER_DAYS = 365
#: The RIRs' dated archives and CAIDA's quarterly as2org files ({Y}: year, {D}: YYYYMMDD;
#: {Q}: the CAIDA quarter's YYYYMMDD).
ARCHIVE_URLS: dict[str, str] = {
    "afrinic": "https://ftp.afrinic.net/pub/stats/afrinic/{Y}/delegated-afrinic-extended-{D}",
    "apnic": "https://ftp.apnic.net/stats/apnic/{Y}/delegated-apnic-extended-{D}.gz",
    "arin": "https://ftp.arin.net/pub/stats/arin/archive/{Y}/delegated-arin-extended-{D}",
    "lacnic": "https://ftp.lacnic.net/pub/stats/lacnic/delegated-lacnic-extended-{D}",
    "ripencc": "https://ftp.ripe.net/pub/stats/ripencc/{Y}/delegated-ripencc-extended-{D}.bz2",
    "as2org": "https://publicdata.caida.org/datasets/as-organizations/{Q}.as-org2info.txt.gz",
}
_DAY_DIR = re.compile(r"\d{4}-\d{2}-\d{2}")


def as2org_quarter(day: date) -> date:
    """The CAIDA as2org release at or before ``day`` (they are dated 1 Jan/Apr/Jul/Oct)."""
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def archive_urls(day: date) -> dict[str, str]:
    """The six URLs of the snapshot of ``day``."""
    values = {"Y": f"{day:%Y}", "D": f"{day:%Y%m%d}", "Q": f"{as2org_quarter(day):%Y%m%d}"}
    return {key: template.format(**values) for key, template in ARCHIVE_URLS.items()}


def with_mirror(urls: Mapping[str, str], mirror: str) -> dict[str, str]:
    """The same paths on a mirror: ``https://ftp.apnic.net/stats/...`` ->
    ``<mirror>/stats/...`` (the mirror's own path is kept as a prefix)."""
    base = mirror.rstrip("/")
    return {key: base + urlsplit(url).path for key, url in urls.items()}


def snapshot_dir(registry_dir: Path, day: date) -> Path:
    return registry_dir / SNAPSHOTS_DIR / day.isoformat()


def list_snapshots(registry_dir: Path) -> list[tuple[date, Path]]:
    """The dated snapshots present (with at least one finished file), oldest first."""
    root = registry_dir / SNAPSHOTS_DIR
    found: list[tuple[date, Path]] = []
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        if not (child.is_dir() and _DAY_DIR.fullmatch(child.name)):
            continue
        try:
            day = date.fromisoformat(child.name)
        except ValueError:
            continue
        if any(f.is_file() and not f.name.endswith(".part") for f in child.iterdir()):
            found.append((day, child))
    return found


def update_snapshot(
    registry_dir: Path,
    day: date,
    *,
    urls: Mapping[str, str] | None = None,
    mirror: str | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool = False,
    deadline: float = 900.0,
) -> list[UpdateResult]:
    """Download the snapshot of ``day`` into ``snapshots/YYYY-MM-DD`` (resuming cut downloads).

    ``urls`` replaces single sources (key -> URL); ``mirror`` rewrites every URL's host. One
    failed source does not stop the others; each result says where its file went or why not.
    Every file is size- and time-bounded and must look like a registry file (else quarantined).
    """
    chosen = archive_urls(day)
    if mirror:
        chosen = with_mirror(chosen, mirror)
    chosen.update(urls or {})
    # the same download, checks and quarantine as the undated registry, into the day's folder
    return update_registry(snapshot_dir(registry_dir, day), chosen, timeout=timeout, retries=retries,
                           progress=progress, deadline=deadline)


@dataclass(frozen=True)
class SnapshotChoice:
    """Which registry data answered, how far from the data's moment, and whether that is too far.

    ``date`` is the snapshot's day (the "latest" files' own date when no dated snapshot is
    nearer); ``source`` names its parts (``"rir+as2org"``, ``"rir+asnames"``, ``"none"``);
    ``days_from_data`` is None when the data's time is unknown."""

    date: _dt.date | None
    source: str
    path: str | None
    data_time: float | None
    days_from_data: float | None
    flagged: bool
    geolocation_date: _dt.date | None = None
    geolocation_days: float | None = None
    geolocation_flagged: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat() if self.date else None,
            "source": self.source,
            "path": self.path,
            "days_from_data": round(self.days_from_data, 1) if self.days_from_data is not None else None,
            "flagged": self.flagged,
            "geolocation": {
                "date": self.geolocation_date.isoformat() if self.geolocation_date else None,
                "source": "geolocation",
                "days_from_data": (round(self.geolocation_days, 1)
                                   if self.geolocation_days is not None else None),
                "flagged": self.geolocation_flagged,
            },
        }

    def describe(self) -> str:
        """One line for text output."""
        parts = []
        if self.date is None:
            parts.append("registry: no RIR or AS-name data loaded (AS names: none; countries from "
                         "geolocation)")
        else:
            parts.append(f"registry: {self.source} snapshot of {self.date.isoformat()}"
                         + _distance(self.days_from_data, self.flagged))
        if self.geolocation_date is not None:
            parts.append(f"geolocation of {self.geolocation_date.isoformat()}"
                         + _distance(self.geolocation_days, self.geolocation_flagged))
        return "; ".join(parts)


def _distance(days: float | None, flagged: bool) -> str:
    if days is None:
        return ""
    text = f" ({abs(days):.0f} days {'before' if days > 0 else 'after'} the data"
    if flagged:
        text += f"; more than {FLAG_AFTER_DAYS} days away: may not be true for this date"
    return text + ")"


def days_between(data_time: float | None, day: date | None) -> float | None:
    """Days from ``day`` to the data (positive: the registry is older than the data)."""
    if data_time is None or day is None:
        return None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    return (data_time - start) / 86400


def choose(candidates: list[tuple[date, Any]], data_time: float | None) -> tuple[date, Any] | None:
    """The candidate nearest ``data_time`` (the newest when the time is unknown); ties go to the
    older one, which existed at the time."""
    if not candidates:
        return None
    if data_time is None:
        return max(candidates, key=lambda c: c[0])
    return min(candidates, key=lambda c: (abs(days_between(data_time, c[0]) or 0.0), c[0]))
