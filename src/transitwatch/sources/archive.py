"""The public MRT archives of RIPE RIS and RouteViews: which files cover a time window, and
fetching them into a local cache.

Layouts (the real ones; ``--archive-url`` can point either project at a mirror with the same tree):

- RIPE RIS, ``https://data.ris.ripe.net/rrc00/2017.10/bview.20171001.0800.gz`` — a RIB dump
  ("bview") every 8 hours at 00:00, 08:00 and 16:00 UTC, and ``updates.20171001.0905.gz`` every
  5 minutes.
- RouteViews, ``https://archive.routeviews.org/route-views.linx/bgpdata/2017.10/RIBS/rib.20171001.0800.bz2``
  every 2 hours and ``.../UPDATES/updates.20171001.0915.bz2`` every 15 minutes. route-views2, the
  oldest collector, has no collector folder: ``.../bgpdata/2017.10/...`` at the archive root.

A file named for time T holds the updates received in [T, T + interval). :func:`resolve` turns
collectors and a window into the RIB just before the window plus the update files that cover it;
:func:`fetch` downloads them in parallel into ``$XDG_CACHE_HOME/transitwatch/archive/<collector>/
<YYYY.MM>/<original file name>`` (names kept, so readers can learn collector and time from the
path), skipping files already there and reporting, not raising, what is missing.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from transitwatch.dirs import cache_dir
from transitwatch.sources.download import DownloadError, download_file

__all__ = [
    "ArchiveError",
    "ArchiveFile",
    "Collector",
    "COLLECTORS",
    "DEFAULT_ARCHIVE_URLS",
    "FetchOutcome",
    "FetchReport",
    "UnknownCollectorError",
    "collector",
    "default_cache_dir",
    "fetch",
    "fetch_window",
    "files_for_window",
    "parse_archive_urls",
    "parse_time",
    "resolve",
]

RIS = "ris"
ROUTEVIEWS = "routeviews"

DEFAULT_ARCHIVE_URLS: dict[str, str] = {
    RIS: "https://data.ris.ripe.net",
    ROUTEVIEWS: "https://archive.routeviews.org",
}

Kind = Literal["rib", "updates"]


class ArchiveError(Exception):
    """A problem with an archive request the user can fix (one line)."""


class UnknownCollectorError(ArchiveError, ValueError):
    """A collector name that is not in :data:`COLLECTORS`; the message suggests close names."""


@dataclass(frozen=True)
class Collector:
    """One route collector: its archive project, dump intervals, and whether it still runs."""

    name: str
    project: str  # "ris" or "routeviews"
    rib_interval: timedelta
    updates_interval: timedelta
    retired: bool = False

    @property
    def rib_prefix(self) -> str:
        return "bview" if self.project == RIS else "rib"

    @property
    def suffix(self) -> str:
        return ".gz" if self.project == RIS else ".bz2"


_RIS_RIB = timedelta(hours=8)
_RIS_UPDATES = timedelta(minutes=5)
_RV_RIB = timedelta(hours=2)
_RV_UPDATES = timedelta(minutes=15)

# RIPE RIS: rrc00..rrc26. rrc17 never existed. rrc02 (Paris), rrc08 (San Jose) and rrc09 (Zurich)
# are retired but their archives stay online, so they are valid for historical windows.
_RIS_RETIRED = {"rrc02", "rrc08", "rrc09"}
_RIS_NAMES = [f"rrc{n:02d}" for n in range(27) if n != 17]

# RouteViews collector folders seen in the public archive (cross-checked against several
# independent tools' collector lists). Not exhaustive: a newer collector whose name follows the
# pattern (rrcNN, route-viewsN, route-views.<ix>) is accepted when --archive-url names it.
_ROUTEVIEWS_NAMES = [
    "route-views2", "route-views3", "route-views4", "route-views5", "route-views6",
    "route-views.amsix", "route-views.bdix", "route-views.bknix", "route-views.chicago",
    "route-views.chile", "route-views.eqix", "route-views.flix", "route-views.fortaleza",
    "route-views.gixa", "route-views.gorex", "route-views.isc", "route-views.jinx",
    "route-views.kixp", "route-views.linx", "route-views.mwix", "route-views.napafrica",
    "route-views.nwax", "route-views.ny", "route-views.perth", "route-views.peru",
    "route-views.phoix", "route-views.rio", "route-views.saopaulo", "route-views2.saopaulo",
    "route-views.sfmix", "route-views.sg", "route-views.siex", "route-views.soxrs",
    "route-views.sydney", "route-views.telxatl", "route-views.uaeix", "route-views.wide",
]

COLLECTORS: dict[str, Collector] = {
    **{n: Collector(n, RIS, _RIS_RIB, _RIS_UPDATES, n in _RIS_RETIRED) for n in _RIS_NAMES},
    **{n: Collector(n, ROUTEVIEWS, _RV_RIB, _RV_UPDATES) for n in _ROUTEVIEWS_NAMES},
}


_RIS_PATTERN = re.compile(r"rrc\d\d")
_ROUTEVIEWS_PATTERN = re.compile(r"route-views(\d+|\.[a-z0-9-]+|\d+\.[a-z0-9-]+)")


def collector(name: str, *, allow_new: bool = False) -> Collector:
    """The :class:`Collector` called ``name``; :class:`UnknownCollectorError` suggests close names.

    ``allow_new`` accepts a name not in :data:`COLLECTORS` that follows the RIS or RouteViews
    naming pattern (used when the caller gave that collector's URL explicitly)."""
    key = name.strip().lower()
    if key in COLLECTORS:
        return COLLECTORS[key]
    if allow_new and _RIS_PATTERN.fullmatch(key):
        return Collector(key, RIS, _RIS_RIB, _RIS_UPDATES)
    if (allow_new and _ROUTEVIEWS_PATTERN.fullmatch(key)
            and not any(_one_edit_apart(key, known) for known in COLLECTORS)):  # typos stay errors
        return Collector(key, ROUTEVIEWS, _RV_RIB, _RV_UPDATES)
    close = difflib.get_close_matches(key, COLLECTORS, n=3, cutoff=0.6)
    padded = re.fullmatch(r"rrc(\d)", key)  # "rrc1" for rrc01 is the commonest slip
    if padded and f"rrc0{padded.group(1)}" in COLLECTORS:
        close = [f"rrc0{padded.group(1)}", *[n for n in close if n != f"rrc0{padded.group(1)}"]][:3]
    known = "; known: rrc00..rrc26, route-views2..6, route-views.<ix>"
    hint = f"; did you mean {', '.join(close)}?" if close else known
    raise UnknownCollectorError(f"unknown collector {name!r}{hint}")


def _one_edit_apart(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` with one character changed, added or removed."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/transitwatch/archive`` (``~/.cache/...`` when XDG_CACHE_HOME is unset)."""
    return cache_dir("archive")


def parse_time(value: str | float | datetime) -> datetime:
    """An aware UTC datetime from any time :func:`transitwatch.times.parse_time` reads (ISO 8601
    with or without a zone, epoch seconds, ``now-1h``) or a datetime; times without a zone are UTC."""
    from transitwatch.times import parse_time as seconds_of

    try:
        return datetime.fromtimestamp(seconds_of(value), tz=UTC)
    except ValueError as exc:
        raise ArchiveError(str(exc)) from None


def parse_archive_urls(specs: Iterable[str]) -> dict[str, str]:
    """``["ris=http://mirror/ris", "route-views.linx=http://..."]`` -> a mapping for :func:`resolve`."""
    urls: dict[str, str] = {}
    for spec in specs:
        name, sep, url = spec.partition("=")
        if not sep or not name or not url:
            raise ArchiveError(
                f"--archive-url wants NAME=URL (NAME: ris, routeviews or a collector), got {spec!r}")
        urls[name.strip().lower()] = url.strip()
    return urls


@dataclass(frozen=True)
class ArchiveFile:
    """One archive file: where it is published and where it lives in the cache."""

    collector: str
    kind: Kind
    time: datetime  # start of the interval the file covers (aware, UTC)
    url: str
    cache_path: Path

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "collector": self.collector,
            "kind": self.kind,
            "time": self.time.isoformat(),
            "url": self.url,
            "cache_path": str(self.cache_path),
        }


def _file_name(c: Collector, kind: Kind, moment: datetime) -> str:
    prefix = c.rib_prefix if kind == "rib" else "updates"
    return f"{prefix}.{moment:%Y%m%d.%H%M}{c.suffix}"


def _collector_root(c: Collector, archive_urls: Mapping[str, str]) -> str:
    """The URL of the folder that holds the collector's month folders (RIS) or ``bgpdata`` (RouteViews)."""
    if c.name in archive_urls:
        return archive_urls[c.name].rstrip("/")
    base = archive_urls.get(c.project, DEFAULT_ARCHIVE_URLS[c.project]).rstrip("/")
    if c.name == "route-views2":
        return base
    return f"{base}/{c.name}"


def _url(c: Collector, kind: Kind, moment: datetime, archive_urls: Mapping[str, str]) -> str:
    root = _collector_root(c, archive_urls)
    month = f"{moment:%Y.%m}"
    name = _file_name(c, kind, moment)
    if c.project == RIS:
        return f"{root}/{month}/{name}"
    folder = "RIBS" if kind == "rib" else "UPDATES"
    return f"{root}/bgpdata/{month}/{folder}/{name}"


def _floor(moment: datetime, step: timedelta) -> datetime:
    """The latest multiple of ``step`` since midnight at or before ``moment``."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    steps = (moment - midnight) // step
    return midnight + steps * step


def _check_archive_url_names(archive_urls: Mapping[str, str]) -> None:
    for name in archive_urls:
        if name in (RIS, ROUTEVIEWS):
            continue
        collector(name, allow_new=True)  # raises with suggestions
    for name, url in archive_urls.items():
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https", "file"):
            raise ArchiveError(f"--archive-url {name}={url}: not an http(s) URL")


def resolve(
    collectors: str | Sequence[str],
    start: str | datetime,
    end: str | datetime,
    *,
    archive_urls: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    bridge: bool = True,
    include_rib: bool = True,
) -> list[ArchiveFile]:
    """The archive files that cover ``[start, end)`` for each collector, in time order.

    For each collector: the RIB dump at or just before ``start``, then every update file whose
    interval overlaps the window. With ``bridge`` (the default) the updates start at the RIB's
    time rather than at ``start``, so that replaying RIB + updates gives the exact routing state at
    ``start``. ``collectors`` is a list or a comma-separated string. Nothing is contacted.
    """
    names = [n for n in (collectors.split(",") if isinstance(collectors, str) else collectors) if n.strip()]
    if not names:
        raise ArchiveError("no collector given (e.g. --collector rrc00,route-views2)")
    urls = {k.lower(): v for k, v in (archive_urls or {}).items()}
    # validate all names before anything else; a new collector is fine where its URL is given
    chosen = [collector(n, allow_new=n.strip().lower() in urls) for n in names]
    first, last = parse_time(start), parse_time(end)
    if last <= first:
        raise ArchiveError(
            f"empty time window: --to {last:%Y-%m-%dT%H:%M} is not after --from {first:%Y-%m-%dT%H:%M}")
    if first > datetime.now(UTC):
        raise ArchiveError(f"no data yet: the window starts in the future ({first:%Y-%m-%dT%H:%M} UTC)")
    _check_archive_url_names(urls)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    files: list[ArchiveFile] = []
    seen: set[str] = set()
    for c in chosen:
        if c.name in seen:
            continue
        seen.add(c.name)

        def make(kind: Kind, moment: datetime, c: Collector = c) -> ArchiveFile:
            name = _file_name(c, kind, moment)
            return ArchiveFile(c.name, kind, moment, _url(c, kind, moment, urls),
                               cache / c.name / f"{moment:%Y.%m}" / name)

        rib_time = _floor(first, c.rib_interval)
        if include_rib:
            files.append(make("rib", rib_time))
        moment = _floor(rib_time if bridge else first, c.updates_interval)
        while moment < last:
            files.append(make("updates", moment))
            moment += c.updates_interval
    return files


Status = Literal["fetched", "cached", "missing", "failed", "planned"]


@dataclass(frozen=True)
class FetchOutcome:
    """What happened to one file: ``fetched`` now, ``cached`` already, ``missing`` in the archive
    (HTTP 404), ``failed`` (unreachable, cut too often, wrong size), ``planned`` (dry run)."""

    file: ArchiveFile
    status: Status
    reason: str | None = None
    size: int | None = None

    @property
    def usable(self) -> bool:
        return self.status in ("fetched", "cached")

    def to_dict(self) -> dict[str, Any]:
        return {**self.file.to_dict(), "status": self.status, "reason": self.reason, "size": self.size}


@dataclass
class FetchReport:
    """The result of :func:`fetch`: one outcome per requested file, in request order.

    Partial data is still data: :attr:`paths` lists the files that are usable, :meth:`gaps` says
    in one line each what is missing and why.
    """

    outcomes: list[FetchOutcome] = field(default_factory=list)

    @property
    def fetched(self) -> list[ArchiveFile]:
        return [o.file for o in self.outcomes if o.status == "fetched"]

    @property
    def skipped(self) -> list[ArchiveFile]:
        """Files that were already in the cache."""
        return [o.file for o in self.outcomes if o.status == "cached"]

    @property
    def failed(self) -> list[FetchOutcome]:
        return [o for o in self.outcomes if o.status in ("missing", "failed")]

    @property
    def paths(self) -> list[Path]:
        """Cache paths of the usable files, in request order (per collector: RIB, then updates by time)."""
        return [o.file.cache_path for o in self.outcomes if o.usable]

    @property
    def ok(self) -> bool:
        return not self.failed

    def gaps(self) -> list[str]:
        """One line per run of consecutive files that could not be had (same collector, kind and
        reason), saying which times they leave out, why, and where they were looked for."""
        runs: list[list[FetchOutcome]] = []
        for o in self.outcomes:
            if o.status not in ("missing", "failed"):
                runs.append([])  # a usable file ends a run
                continue
            last = runs[-1][-1] if runs and runs[-1] else None
            if last is not None and (last.file.collector, last.file.kind, last.reason) == (
                    o.file.collector, o.file.kind, o.reason):
                runs[-1].append(o)
            else:
                runs.append([o])
        lines = []
        for run in filter(None, runs):
            first, last_file, reason = run[0].file, run[-1].file, run[0].reason
            what = "RIB dump" if first.kind == "rib" else "updates"
            if len(run) == 1:
                lines.append(f"{first.collector}: no {what} for {first.time:%Y-%m-%d %H:%M} UTC ({reason}): "
                             f"{first.url}")
                continue
            end = f"{last_file.time:%H:%M}" if last_file.time.date() == first.time.date() else \
                f"{last_file.time:%Y-%m-%d %H:%M}"
            lines.append(f"{first.collector}: no {what} for {first.time:%Y-%m-%d %H:%M} .. {end} UTC "
                         f"({len(run)} files, {reason}): {first.url} .. {last_file.name}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "fetched": len(self.fetched),
            "cached": len(self.skipped),
            "failed": len(self.failed),
            "files": [o.to_dict() for o in self.outcomes],
            "gaps": self.gaps(),
        }

    def raise_if_empty(self) -> None:
        """:class:`ArchiveError` when files were requested but none is usable (unreachable archive,
        a window with no data); partial data passes."""
        if self.outcomes and not self.paths and not any(o.status == "planned" for o in self.outcomes):
            raise ArchiveError(_nothing_usable(self))

    def summary(self) -> str:
        """``12 fetched, 3 already cached, 1 missing`` style one-liner."""
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        labels = {"fetched": "fetched", "cached": "already cached", "missing": "missing in the archive",
                  "failed": "failed", "planned": "to fetch"}
        return ", ".join(f"{counts[s]} {labels[s]}" for s in labels if s in counts) or "no files"


#: Most bytes one archive file may have: several times the largest real ones (a RIS bview.gz is
#: ~0.5 GB, a RouteViews rib.bz2 ~0.2 GB, an updates file a few MB to ~100 MB in a storm).
MAX_SIZE: dict[str, int] = {"rib": 4 << 30, "updates": 1 << 30}
#: Seconds one file may take, all attempts together (a trickling server is cut off).
FILE_DEADLINE = 1800.0


def _is_missing(message: str) -> bool:
    return "HTTP 404" in message or "HTTP 410" in message


def _is_unreachable(message: str) -> bool:
    return "cannot connect" in message


def fetch(
    files: Sequence[ArchiveFile],
    cache_dir: Path | None = None,
    *,
    workers: int = 4,
    progress: bool = False,
    dry_run: bool = False,
    timeout: float = 30.0,
    retries: int = 3,
    on_outcome: Callable[[FetchOutcome], None] | None = None,
    deadline: float | None = FILE_DEADLINE,
    max_size: Mapping[str, int] | None = None,
) -> FetchReport:
    """Download ``files`` into the cache in parallel; never raises for a missing or failed file.

    Files already in the cache are skipped (the downloader only renames a file into place once it
    is complete, so a present file is a whole file); cut downloads resume from their ``.part``.
    ``cache_dir`` relocates the files (their ``<collector>/<YYYY.MM>/<name>`` tail is kept);
    by default they go where :func:`resolve` put them. After the first "cannot connect" to a host,
    that host's remaining files fail at once rather than each waiting out its retries.
    ``progress=True`` shows a rich bar on stderr when it is a terminal; ``on_outcome`` is called
    (from worker threads) as each file finishes.

    The archive is not trusted: each file has ``deadline`` seconds and at most ``max_size[kind]``
    bytes (default :data:`MAX_SIZE`, several times the largest real files), and must be MRT
    (compressed or not, :func:`~transitwatch.sources.verify.verify_mrt`) before it enters the
    cache; a file that is not, fetched now or found in the cache, is moved to
    ``<cache>/quarantine/`` and reported as failed (a cached one is fetched again).
    """
    from transitwatch.sources.verify import NotVerified, verify_mrt

    sizes = {**MAX_SIZE, **(max_size or {})}
    if cache_dir is not None:
        files = [_relocate(f, Path(cache_dir)) for f in files]
    outcomes: list[FetchOutcome | None] = [None] * len(files)
    unreachable: dict[str, str] = {}
    lock = threading.Lock()
    bar = _FetchProgress(len(files)) if progress and sys.stderr.isatty() and not dry_run else None

    def one(index: int) -> None:
        f = files[index]
        host = urllib.parse.urlsplit(f.url).netloc
        outcome: FetchOutcome
        parents = f.cache_path.parents
        quarantine = (parents[2] if len(parents) > 2 else f.cache_path.parent) / "quarantine"
        cached = f.cache_path.exists()
        if cached and not dry_run:
            try:
                verify_mrt(f.cache_path)
            except NotVerified as exc:  # e.g. an error page saved by an older version
                quarantine.mkdir(parents=True, exist_ok=True)
                moved = quarantine / f"{f.cache_path.name}.{time.strftime('%Y%m%dT%H%M%S')}"
                os.replace(f.cache_path, moved)
                _warn(f"{f.cache_path}: {exc}; moved to {moved}, fetching it again")
                cached = False
            except OSError:
                pass  # unreadable: the reader says so, with the file name
        if cached:
            outcome = FetchOutcome(f, "cached", size=f.cache_path.stat().st_size)
        elif dry_run:
            outcome = FetchOutcome(f, "planned")
        elif host in unreachable:
            outcome = FetchOutcome(f, "failed", f"not tried: {unreachable[host]}")
        else:
            try:
                download_file(f.url, f.cache_path, timeout=timeout, retries=retries, deadline=deadline,
                              max_size=sizes.get(f.kind), verify=verify_mrt, quarantine=quarantine)
                outcome = FetchOutcome(f, "fetched", size=f.cache_path.stat().st_size)
            except DownloadError as exc:
                message = str(exc).removeprefix(f"{f.url}: ")
                if _is_missing(message):
                    outcome = FetchOutcome(f, "missing", "not in the archive (HTTP 404)")
                else:
                    if _is_unreachable(message):
                        with lock:
                            unreachable.setdefault(host, f"{host} unreachable")
                    outcome = FetchOutcome(f, "failed", message)
            except OSError as exc:  # the cache itself: disk full, permissions
                outcome = FetchOutcome(f, "failed", f"cannot write {f.cache_path}: {exc.strerror or exc}")
        outcomes[index] = outcome
        if bar is not None:
            bar.advance(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        if workers <= 1 or len(files) <= 1:
            for i in range(len(files)):
                one(i)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
                list(pool.map(one, range(len(files))))
    finally:
        if bar is not None:
            bar.close()
    return FetchReport([o for o in outcomes if o is not None])


def _relocate(f: ArchiveFile, cache_dir: Path) -> ArchiveFile:
    tail = Path(*f.cache_path.parts[-3:])
    return ArchiveFile(f.collector, f.kind, f.time, f.url, cache_dir / tail)


class _FetchProgress:
    """One rich bar for the whole batch (files done / total), on stderr."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._lock = threading.Lock()
        self._failed = 0
        self._progress = Progress(
            TextColumn("fetching"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
            TimeElapsedColumn(), console=Console(stderr=True), transient=True,
        )
        self._task = self._progress.add_task("", total=total)
        self._progress.start()

    def advance(self, outcome: FetchOutcome) -> None:
        with self._lock:
            if not outcome.usable:
                self._failed += 1
            note = f"{outcome.file.name}" + (f" ({self._failed} failed)" if self._failed else "")
            self._progress.update(self._task, advance=1, description=note)

    def close(self) -> None:
        self._progress.stop()


def fetch_window(
    collectors: str | Sequence[str],
    start: str | datetime,
    end: str | datetime,
    *,
    archive_urls: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    workers: int = 4,
    progress: bool = False,
    bridge: bool = True,
    timeout: float = 30.0,
    retries: int = 3,
) -> FetchReport:
    """:func:`resolve` then :func:`fetch`. Raises :class:`ArchiveError` when nothing at all could
    be had (unreachable archive, a window with no data); partial results are returned with gaps."""
    files = resolve(collectors, start, end, archive_urls=archive_urls, cache_dir=cache_dir, bridge=bridge)
    report = fetch(files, workers=workers, progress=progress, timeout=timeout, retries=retries)
    report.raise_if_empty()
    return report


def _nothing_usable(report: FetchReport) -> str:
    failed = report.failed
    n = len(failed)
    if all(o.status == "missing" for o in failed):
        first, last = failed[0].file, failed[-1].file
        return (f"no data in the archive for this window: all {n} files are missing (HTTP 404), "
                f"e.g. {first.url}" + ("" if first is last else f" .. {last.name}"))
    reasons = [o.reason for o in failed if o.status == "failed"]
    return f"could not fetch any of {n} archive files: {reasons[0]}"


def files_for_window(
    collectors: str | Sequence[str],
    start: str | datetime,
    end: str | datetime,
    *,
    archive_urls: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
    workers: int = 4,
    progress: bool = False,
    on_gap: Callable[[str], None] | None = None,
) -> list[Path]:
    """The local paths of the archive files covering the window, fetching what is not cached.

    For commands that take ``--collector/--from/--to`` instead of files. Per collector: the RIB,
    then update files in time order. Each file that could not be had is passed to ``on_gap`` as one
    line (default: a warning on stderr) and left out; :class:`ArchiveError` if none could be had.
    """
    report = fetch_window(collectors, start, end, archive_urls=archive_urls, cache_dir=cache_dir,
                          workers=workers, progress=progress)
    report_gap = on_gap if on_gap is not None else _warn
    for line in report.gaps():
        report_gap(line)
    return report.paths


def _warn(line: str) -> None:
    print(f"transitwatch: warning: {line}", file=sys.stderr)
