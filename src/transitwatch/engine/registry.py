"""``tw.registry_update`` / ``tw.registry_show``: the registry data behind names and countries,
as ``transitwatch registry update|show`` handle it.

``registry_update`` downloads RIR delegated files and AS names (the "latest" set, or the dated
snapshot of ``at=``), or CAIDA's AS relationships (``as_rel=True``); one failed source does not
stop the others, the result says which failed. Bad input (a day that is not one, a mirror that
is not http(s), a relationship file that cannot be had) raises
:class:`~transitwatch.errors.TransitwatchError` naming the parameter.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from transitwatch.errors import TransitwatchError
from transitwatch.results import Result

__all__ = ["registry_update", "registry_show", "RegistryUpdateResult", "RegistryInfo"]


class RegistryUpdateResult(Result):
    """What ``tw.registry_update`` fetched: one row per source (where it went, or why not).

    ``to_dict()`` is ``{"registry_dir", "date", "as_rel", "sources": [...]}``; ``registry update
    --json`` prints its ``sources`` (with ``as_rel=True``: the one source, with the relationship
    counts)."""

    columns = ("source", "url", "path", "error")

    def __init__(self, registry_dir: Path, day: date | None, sources: list[dict[str, Any]],
                 as_rel: Any = None, destinations: list[str] | None = None) -> None:
        self.registry_dir = registry_dir   # where the files went (the snapshot folder for at=)
        self.date = day                    # the snapshot's (or relationship file's) day; None: latest
        self.sources = sources
        self.relationships = as_rel        # the loaded Relationships when as_rel=True
        # per source, the file it went to or would have gone to (a failed one has no "path")
        self.destinations = destinations or [str(s["path"]) for s in sources]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [s for s in self.sources if s.get("error")]

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {"registry_dir": str(self.registry_dir),
                "date": self.date.isoformat() if self.date else None,
                "as_rel": self.relationships is not None,
                "sources": [dict(s) for s in self.sources]}

    def records(self) -> list[dict[str, Any]]:
        # an as-rel row names itself "key" ("source" is the relationship file there)
        return [{"source": s["key"] if "key" in s else s["source"], "url": s["url"], "path": s["path"],
                 "error": s.get("error")} for s in self.sources]

    def _summary(self) -> str:
        done = len(self.sources) - len(self.failed)
        return f"{done} of {len(self.sources)} sources into {self.registry_dir}"


class RegistryInfo(Result):
    """What a registry folder holds (``tw.registry_show``): one row per RIR / AS-name file.

    ``to_dict()`` is what ``registry show --json`` prints."""

    columns = ("kind", "registry", "date", "age_days", "records", "stale", "path")

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info

    @property
    def warnings(self) -> list[str]:
        return list(self.info["warnings"])

    def to_dict(self) -> dict[str, Any]:
        return dict(self.info)

    def records(self) -> list[dict[str, Any]]:
        return [{k: f.get(k) for k in self.columns} for f in self.info["rir_files"]]

    def _summary(self) -> str:
        files, snaps = len(self.info["rir_files"]), len(self.info["snapshots"])
        return f"{files} RIR files, {snaps} dated snapshots in {self.info['registry_dir']}"


def _day(at: Any) -> date:
    """The UTC day of ``at`` (a day, ISO 8601, epoch seconds, ``now-30d``, a datetime or date)."""
    from transitwatch.times import parse_time

    if isinstance(at, date) and not isinstance(at, datetime):
        return at
    try:
        return datetime.fromtimestamp(parse_time(at), tz=UTC).date()
    except (ValueError, OverflowError, OSError):
        raise TransitwatchError(f"at {str(at)!r}: expected a day, YYYY-MM-DD (e.g. 2017-10-01)") from None


def _http(what: str, url: str) -> None:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise TransitwatchError(f"{what} {url!r}: expected an http:// or https:// URL")


def registry_update(
    registry_dir: str | os.PathLike[str] | None = None,
    *,
    at: Any = None,
    mirror: str | None = None,
    urls: Mapping[str, str] | None = None,
    as_rel: bool = False,
    progress: bool = False,
) -> RegistryUpdateResult:
    """Download the registry data into ``registry_dir`` (default: the XDG cache).

    - no ``at``: the five RIRs' delegated-extended "latest" files and RIPE's asn.txt;
    - ``at=DAY``: the dated snapshot of that UTC day (RIR archives + CAIDA as2org) into
      ``snapshots/DAY/``; queries use the snapshot nearest their data's time;
    - ``as_rel=True``: CAIDA's AS relationships (serial-1) of the month nearest ``at`` (default:
      now) into ``as-rel/`` (``urls={"as-rel": URL}`` for another file).

    ``mirror`` fetches every source's path from another host; ``urls`` (name -> URL) replaces
    single sources (alone, without ``at``/``mirror``: downloads just those). Cut downloads resume;
    each file is checked before it replaces the previous one. One source failing does not stop
    the others (``result.failed``); a relationship file that cannot be had raises.
    """
    from transitwatch.registry import DEFAULT_URLS, default_registry_dir

    directory = Path(registry_dir) if registry_dir is not None else default_registry_dir()
    if mirror is not None:
        _http("mirror", mirror)
    chosen = dict(urls or {})
    if as_rel:
        return _update_as_rel(directory, at, mirror, chosen.get("as-rel"), progress)
    from transitwatch.registry.rir import file_name_for, update_registry

    day: date | None = None
    if at is not None:
        from transitwatch.registry.snapshots import snapshot_dir, update_snapshot

        day = _day(at)
        found = update_snapshot(directory, day, urls=chosen, mirror=mirror, progress=progress)
        directory = snapshot_dir(directory, day)
    else:
        if mirror:
            from transitwatch.registry.snapshots import with_mirror

            chosen = {**with_mirror(DEFAULT_URLS, mirror), **chosen}
        elif not chosen:
            chosen = dict(DEFAULT_URLS)
        found = update_registry(directory, chosen, progress=progress)
    return RegistryUpdateResult(directory, day, [r.to_dict() for r in found],
                                destinations=[r.path or str(directory / file_name_for(r.key, r.url))
                                              for r in found])


def _update_as_rel(directory: Path, at: Any, mirror: str | None, url: str | None,
                   progress: bool) -> RegistryUpdateResult:
    from transitwatch.registry.relationships import as_rel_url, load_as_rel, update_as_rel
    from transitwatch.sources.download import DownloadError

    day = _day(at) if at is not None else datetime.fromtimestamp(time.time(), tz=UTC).date()
    chosen = url or as_rel_url(day, mirror)
    try:
        path = update_as_rel(directory, day, url=chosen, progress=progress)
        rels = load_as_rel(path)
    except (OSError, ValueError, DownloadError) as exc:
        raise TransitwatchError(f"as-rel {chosen}: {str(exc).splitlines()[0]}") from None
    row = {"key": "as-rel", "url": chosen, "path": str(path), **rels.describe()}
    return RegistryUpdateResult(path.parent, day, [row], as_rel=rels)


def registry_show(registry_dir: str | os.PathLike[str] | None = None) -> RegistryInfo:
    """What the registry folder (default: the XDG cache) holds: geolocation data and its date,
    the RIR / AS-name files with their dates and ages (stale ones marked), dated snapshots,
    and warnings about files that could not be used. A missing folder raises."""
    from transitwatch.engine.queries import registry_of

    return RegistryInfo(registry_of(registry_dir).describe())
