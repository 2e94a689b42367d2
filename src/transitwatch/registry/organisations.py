"""Which ASes belong to one organisation, at the data's date (CAIDA's AS-to-organisation files).

Siblings -- ASes run by one organisation, such as China Unicom's AS4837 and AS9929 -- cannot be
told from AS paths: they pass each other routes in every direction. CAIDA derives them from its
as2org files, and so does transitwatch: :func:`organisations_at` finds the as2org file nearest
the data's time among the registry's dated snapshots (``registry update --at DAY``) and its latest
files, and gives ASN -> organisation id. A file more than ``FLAG_AFTER_DAYS`` from the data is
not used (organisations merge and split; a sibling of 2024 says nothing about 2015).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from transitwatch.registry.rir import AS2ORG_MARK, RegistryFileError, date_in_name, parse_as2org, read_lines
from transitwatch.registry.snapshots import FLAG_AFTER_DAYS, choose, days_between, list_snapshots

__all__ = ["Organisations", "organisations_at"]


@dataclass(frozen=True)
class Organisations:
    """ASN -> organisation id from one as2org file, and what to call that source in outputs."""

    org_of: dict[int, str]
    path: str
    day: date
    days_from_data: float | None

    @property
    def label(self) -> str:
        days = self.days_from_data
        away = f", {abs(days):.0f} days from the data" if days is not None else ""
        return f"as2org {self.day.isoformat()} ({Path(self.path).name}{away})"


_CACHE: dict[tuple[str, float], dict[int, str]] = {}
_LOCK = threading.Lock()


def _as2org_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and AS2ORG_MARK in p.name and not p.name.endswith(".part"))


def organisations_at(registry_dir: Path, data_time: float | None) -> Organisations | None:
    """The organisations of the as2org file nearest ``data_time`` (None: the newest), or None when
    there is none within ``FLAG_AFTER_DAYS`` of it, or it cannot be read."""
    candidates: list[tuple[date, Path]] = []
    for day, folder in list_snapshots(registry_dir):
        for path in _as2org_files(folder):
            candidates.append((date_in_name(path.name) or day, path))
    for path in _as2org_files(registry_dir):
        day = date_in_name(path.name) or date.fromtimestamp(path.stat().st_mtime)
        candidates.append((day, path))
    picked = choose(candidates, data_time)
    if picked is None:
        return None
    day, path = picked
    days = days_between(data_time, day)
    if days is not None and abs(days) > FLAG_AFTER_DAYS:
        return None
    try:
        key = (str(path), path.stat().st_mtime)
        with _LOCK:
            org_of = _CACHE.get(key)
            if org_of is None:
                org_of = {}
                parse_as2org(read_lines(path), org_of)
                if len(_CACHE) >= 2:
                    _CACHE.pop(next(iter(_CACHE)))
                _CACHE[key] = org_of
    except (OSError, EOFError, RegistryFileError):
        return None
    if not org_of:
        return None
    return Organisations(org_of, str(path), day, days)
