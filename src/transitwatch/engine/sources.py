"""Sources: where observations come from, chosen once and then asked (``tw.files``, ``tw.archive``,
``tw.store``, ``tw.live``).

A source is what pybgpstream and pybgpkit users expect: built from a description of the input,
checked at once (a missing file, an unknown collector, an end before a start raise
:class:`~transitwatch.errors.TransitwatchError` here, not later), then either iterated (one
time-ordered stream of :class:`~transitwatch.observation.Observation`) or handed to a question
(``tw.upstreams(target, src)``), which picks the fast path for it (a route filter in the decoder,
parallel workers, the database's own queries).

>>> import transitwatch as tw
>>> src = tw.files(["rrc00/bview.20171001.0800.gz", "rrc00/updates.20171001.0905.gz"])  # doctest: +SKIP
>>> for obs in src: ...                                                                   # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transitwatch.errors import TransitwatchError

if TYPE_CHECKING:
    from transitwatch.observation import Observation
    from transitwatch.sources.files import FileProgress
    from transitwatch.sources.mrt import RouteFilter
    from transitwatch.store import Store

__all__ = [
    "Source",
    "FileSource",
    "ArchiveSource",
    "StoreSource",
    "LiveSource",
    "as_source",
    "files",
    "archive",
    "store",
    "live",
]

TimeLike = str | float | int | datetime


class Source:
    """Where observations come from. Iterate it for the merged, time-ordered stream; pass it to
    ``tw.routes``/``tw.upstreams``/``tw.events``/... to ask a question of it.

    ``notices`` collects what the readers said on the way (files out of order or overlapping,
    damaged records skipped, archive files that could not be had), one line each."""

    kind: str = ""

    def __init__(self) -> None:
        self.notices: list[str] = []

    def observations(
        self,
        *,
        route_filter: RouteFilter | None = None,
        notices: list[str] | None = None,
        progress: FileProgress | None = None,
    ) -> Iterator[Observation]:
        """The observations, merged by time; ``route_filter`` drops in the decoder announcements
        that cannot concern a target; ``notices`` receives the readers' notices (default:
        :attr:`notices`)."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Observation]:
        return self.observations()

    def paths(self) -> list[str]:
        """The MRT files behind this source (fetched first for an archive window)."""
        raise TransitwatchError(f"a {self.kind} source has no MRT files")

    @property
    def collector(self) -> str | None:
        """The collector every file comes from, when the user said so (else from the paths)."""
        return None


class FileSource(Source):
    """MRT files (plain, gzip, bzip2, xz; RIB dumps and updates in any order: merged by time).
    ``collector`` names the one collector they all come from (default: from their paths)."""

    kind = "files"

    def __init__(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        collector: str | None = None,
        *,
        strict: bool = False,
        merge: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        try:
            self._paths = [os.fspath(p) for p in paths]
        except TypeError:
            raise TransitwatchError(f"not MRT file paths: {paths!r:.80}") from None
        if not self._paths:
            raise TransitwatchError("no MRT files given")
        for p in self._paths:
            if not os.path.exists(p):
                raise TransitwatchError(f"{p}: no such file")
            if os.path.isdir(p):
                raise TransitwatchError(f"{p}: is a directory, not an MRT file")
        if collector is not None and ("," in collector or not collector.strip()):
            raise TransitwatchError(f"collector {collector!r}: files name the one collector they come from")
        self._collector = collector
        #: any damaged record is an error (not skipped and reported)
        self.strict = strict
        #: merge the files by time (True), or read them one after the other as given (``dump``)
        self.merge = merge

    @property
    def collector(self) -> str | None:
        return self._collector

    def paths(self) -> list[str]:
        return list(self._paths)

    def observations(
        self,
        *,
        route_filter: RouteFilter | None = None,
        notices: list[str] | None = None,
        progress: FileProgress | None = None,
    ) -> Iterator[Observation]:
        sink = self.notices if notices is None else notices
        if not self.merge:
            return _checked(self._one_after_another(route_filter, sink))
        return _merged(self._paths, self._collector, sink, progress, route_filter)

    def _one_after_another(
        self, route_filter: RouteFilter | None, notices: list[str]
    ) -> Iterator[Observation]:
        from transitwatch.sources.files import collector_and_time_from_name
        from transitwatch.sources.mrt import MrtReader

        for path in self._paths:
            collector = self._collector or collector_and_time_from_name(path)[0] or ""
            reader = MrtReader(path, collector=collector, strict=self.strict, route_filter=route_filter)
            for batch in reader.batches():
                yield from batch
            if reader.stats.damaged:
                notices.append(f"{reader.stats.summary()} (damaged records skipped)")

    def __repr__(self) -> str:
        shown = ", ".join(self._paths[:3]) + (
            f", ... ({len(self._paths)} files)" if len(self._paths) > 3 else ""
        )
        return f"<FileSource: {shown}>"


class ArchiveSource(Source):
    """A time window of the public RIS / RouteViews archives for some collectors: the RIB before
    ``start`` and the updates to ``end``, fetched into the cache when first read (files already
    there are not downloaded again). Files that cannot be had are notices (:attr:`gaps`)."""

    kind = "archive"

    def __init__(
        self,
        collectors: str | Sequence[str],
        start: TimeLike,
        end: TimeLike,
        *,
        archive_url: str | Mapping[str, str] | Sequence[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        workers: int = 4,
        progress: bool = False,
        on_gap: Callable[[str], None] | None = None,
    ) -> None:
        from transitwatch.sources import archive as arc
        from transitwatch.times import parse_window

        super().__init__()
        try:
            names = collectors.split(",") if isinstance(collectors, str) else [str(c) for c in collectors]
        except TypeError:
            raise TransitwatchError(f"not collector names: {collectors!r:.80}") from None
        names = [n.strip() for n in names if n and n.strip()]
        if not names:
            raise TransitwatchError("no collector given (e.g. rrc00, route-views2)")
        try:
            for name in names:
                arc.collector(name, allow_new=True)
        except arc.ArchiveError as exc:
            raise TransitwatchError(str(exc)) from None
        lo, hi = parse_window(start, end)
        if lo is None or hi is None:
            raise TransitwatchError("an archive window needs a start and an end")
        if hi == lo:
            raise TransitwatchError("the archive window is empty: end equals start")
        if workers < 1:
            raise TransitwatchError("workers must be at least 1")
        self.collectors = names
        self.start, self.end = lo, hi
        try:
            self.archive_urls = _archive_urls(archive_url)
        except arc.ArchiveError as exc:
            raise TransitwatchError(str(exc)) from None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.workers = workers
        self.progress = progress
        self.gaps: list[str] = []
        self._on_gap = on_gap
        self._paths: list[str] | None = None

    def _gap(self, line: str) -> None:
        self.gaps.append(line)
        self.notices.append(line)
        if self._on_gap is not None:
            self._on_gap(line)

    def paths(self) -> list[str]:
        """The cached archive files of the window (per collector: the RIB, then updates), fetching
        what is missing; TransitwatchError when none could be had."""
        if self._paths is None:
            from transitwatch.sources import archive as arc

            try:
                got = arc.files_for_window(
                    self.collectors,
                    _dt(self.start),
                    _dt(self.end),
                    archive_urls=self.archive_urls,
                    cache_dir=self.cache_dir,
                    workers=self.workers,
                    progress=self.progress,
                    on_gap=self._gap,
                )
            except arc.ArchiveError as exc:
                raise TransitwatchError(str(exc)) from None
            self._paths = [str(p) for p in got]
        return list(self._paths)

    def observations(
        self,
        *,
        route_filter: RouteFilter | None = None,
        notices: list[str] | None = None,
        progress: FileProgress | None = None,
    ) -> Iterator[Observation]:
        paths = self.paths()
        # the collectors come from the cache paths (<cache>/<collector>/<YYYY.MM>/<name>)
        return _merged(paths, None, self.notices if notices is None else notices, progress, route_filter)

    def __repr__(self) -> str:
        from transitwatch.times import iso_utc

        return (
            f"<ArchiveSource: {','.join(self.collectors)} from {iso_utc(self.start)} to {iso_utc(self.end)}>"
        )


class StoreSource(Source):
    """A database made by ``transitwatch ingest``, or a folder written by ``transitwatch export
    --partitioned`` (read-only). It holds route intervals, not every update: questions are
    answered by its own queries; it cannot be iterated as observations."""

    kind = "store"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.exists():
            raise TransitwatchError(f"{self.path}: no such database (make one with 'transitwatch ingest')")
        marker = self.path / "_transitwatch.json"  # store.db.PARTITIONED_MARKER (duckdb not imported yet)
        if self.path.is_dir() and not marker.is_file():
            raise TransitwatchError(f"{self.path}: is a directory, not a database (nor a partitioned "
                                    "export: 'transitwatch export --partitioned DIR' writes one)")

    @contextmanager
    def open(self) -> Iterator[Store]:
        """The :class:`~transitwatch.store.Store`, open read-only for the ``with`` block."""
        from transitwatch.store import Store, StoreError

        try:
            db = Store(self.path, read_only=True)
        except StoreError as exc:
            raise TransitwatchError(str(exc)) from None
        with db:
            yield db

    def observations(self, **_: Any) -> Iterator[Observation]:
        raise TransitwatchError(
            f"{self.path}: a database keeps route intervals, not observations; ask it a question "
            "(tw.upstreams, tw.events, tw.countries) or export it ('transitwatch export')"
        )

    def __repr__(self) -> str:
        return f"<StoreSource: {self.path}>"


class LiveSource(Source):
    """RIPE RIS Live, subscribed server-side to ``targets`` (ASes: paths through them; prefixes:
    them and their more-specifics). Iterating blocks and follows the feed, reconnecting after
    failures (each disconnection is a notice: what happened meanwhile is not in the stream)."""

    kind = "live"

    def __init__(
        self, targets: str | Iterable[str | int], ris_live_url: str | None = None, **options: Any
    ) -> None:
        from transitwatch.sources.rislive import RIS_LIVE_URL

        super().__init__()
        if isinstance(targets, int) and not isinstance(targets, bool):
            targets = [targets]
        try:
            items = targets.split(",") if isinstance(targets, str) else [str(t) for t in targets]
        except TypeError:
            raise TransitwatchError(f"not targets: {targets!r:.80}") from None
        items = [t.strip() for t in items if t.strip()]
        if not items:
            raise TransitwatchError("nothing to follow: give an AS or a prefix")
        parsed = [parse_target(t) for t in items]
        self.targets = items
        self.prefixes = sorted({str(n) for t in parsed for n in t.networks})
        self.asns = sorted({a for t in parsed for a in t.asns})
        url = ris_live_url or RIS_LIVE_URL
        if not url.startswith(("ws://", "wss://")):
            raise TransitwatchError(f"{url}: a RIS Live URL starts with ws:// or wss://")
        self.url = url
        self.options = options

    def subscriptions(self) -> tuple[list[str], list[str]]:
        """(prefixes, AS-path patterns) sent to RIS Live."""
        return list(self.prefixes), [f"{asn}" for asn in self.asns]

    def observations(
        self,
        *,
        route_filter: RouteFilter | None = None,
        notices: list[str] | None = None,
        progress: FileProgress | None = None,
    ) -> Iterator[Observation]:
        from transitwatch.sources.rislive import ris_live_observations

        sink = self.notices if notices is None else notices
        prefixes, paths = self.subscriptions()
        options = {
            "on_gap": lambda gap: sink.append(f"RIS Live gap: {gap}"),
            "on_problem": sink.append,
            "follow_prefixes": bool(paths),
            **self.options,
        }
        return ris_live_observations(self.url, prefixes=prefixes or None, paths=paths or None, **options)

    def __repr__(self) -> str:
        return f"<LiveSource: {','.join(self.targets)} from {self.url}>"


# -- constructors (exported as tw.files, tw.archive, tw.store, tw.live) ---------------------------------


def files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    collector: str | None = None,
    *,
    strict: bool = False,
    merge: bool = True,
) -> FileSource:
    """MRT files as a source: ``tw.files(["bview.20171001.0800.gz", "updates.20171001.0905.gz"])``.
    Every file must exist (TransitwatchError naming the first that does not). ``strict``: a
    damaged record is an error instead of being skipped and noted; ``merge=False``: read the
    files one after the other as given, not merged by time (as bgpdump does)."""
    return FileSource(paths, collector, strict=strict, merge=merge)


def archive(
    collectors: str | Sequence[str],
    start: TimeLike,
    end: TimeLike,
    archive_url: str | Mapping[str, str] | Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    workers: int = 4,
) -> ArchiveSource:
    """A window of the RIS / RouteViews archives: ``tw.archive(["rrc00", "route-views2"],
    "2017-10-01T08:00", "2017-10-01T10:00")``. ``archive_url``: a mirror (one URL for every
    project, ``{"ris": URL, "route-views2": URL}``, or ``["ris=URL"]``); ``cache_dir``: where the
    files are kept (default: the XDG cache). Nothing is downloaded until the source is read."""
    return ArchiveSource(
        collectors, start, end, archive_url=archive_url, cache_dir=cache_dir, workers=workers
    )


def store(path: str | os.PathLike[str]) -> StoreSource:
    """A database made by ``transitwatch ingest``: ``tw.store("history.duckdb")``."""
    return StoreSource(path)


def live(targets: str | Iterable[str | int], ris_live_url: str | None = None, **options: Any) -> LiveSource:
    """RIS Live for some ASes / prefixes: ``for obs in tw.live(["AS131279"]): ...`` (blocks;
    disconnections are notices in ``.notices``). ``options`` go to the RIS Live client
    (``backoff=``, ``max_attempts=``, ``stats=``; see
    :func:`transitwatch.sources.rislive.ris_live_stream`)."""
    return LiveSource(targets, ris_live_url, **options)


def as_source(src: Source | str | os.PathLike[str] | Iterable[Any]) -> Source:
    """A Source as is; a path or a list of paths as :func:`files`."""
    if isinstance(src, Source):
        return src
    if isinstance(src, str | os.PathLike):
        return FileSource([src])
    if isinstance(src, Iterable):
        items = list(src)
        if all(isinstance(i, str | os.PathLike) for i in items):
            return FileSource(items)
    raise TransitwatchError(
        f"not a source: {type(src).__name__} (use tw.files(paths), tw.archive(...), tw.store(path))"
    )


def parse_target(text: Any) -> Any:
    """A Target from ``"AS131279"``, ``131279``, ``"175.45.176.0/22"``, ``"AS1,AS2"``, a list or a
    Target; TransitwatchError for anything else."""
    from transitwatch.state.target import Target, TargetError, refuse_too_broad

    if text is None or (isinstance(text, str) and not text.strip()):
        raise TransitwatchError("give a target: an AS such as AS131279, or a prefix")
    try:
        return refuse_too_broad(Target.of(text))   # the HTTP API's rule, before any work
    except (TargetError, TypeError, ValueError) as exc:
        raise TransitwatchError(str(exc).splitlines()[0] if str(exc) else f"bad target {text!r}") from None


# -- helpers ---------------------------------------------------------------------------------------------


def _archive_urls(spec: str | Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    from transitwatch.sources import archive as arc

    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return {str(k).strip().lower(): str(v).strip() for k, v in spec.items()}
    if isinstance(spec, str):
        if "=" in spec.split("://", 1)[0]:
            return arc.parse_archive_urls([spec])
        return {"ris": spec, "routeviews": spec}
    return arc.parse_archive_urls(spec)


def _dt(seconds: float) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(seconds, tz=UTC)


@contextmanager
def _readable() -> Iterator[None]:
    """Reader errors (missing, unreadable, not MRT) as TransitwatchError, one line."""
    from transitwatch.sources.mrt import MrtError

    try:
        yield
    except (MrtError, OSError) as exc:
        raise TransitwatchError(str(exc)) from None


class _Checked(Iterator["Observation"]):
    """The reader's stream with its errors turned into TransitwatchError; keeps ``last_time`` and
    ``coverage`` (what the files cover)."""

    def __init__(self, stream: Iterator[Observation]) -> None:
        from transitwatch.sources.mrt import MrtError

        self._stream = stream
        self._errors = (MrtError, OSError)

    def __next__(self) -> Observation:
        try:
            return next(self._stream)
        except self._errors as exc:  # try costs nothing until something is raised
            raise TransitwatchError(str(exc)) from None

    def batches(self) -> Iterator[list[Observation]]:
        """The rest of the stream as lists of observations (the reader's own batches when it has
        them: bulk consumers skip a Python call per observation); iterate this or the stream."""
        inner = getattr(self._stream, "batches", None)
        chunks = inner() if inner is not None else iter(lambda: list(itertools.islice(self._stream, 4096)),
                                                          [])
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            except self._errors as exc:
                raise TransitwatchError(str(exc)) from None
            yield chunk

    @property
    def last_time(self) -> float | None:
        return getattr(self._stream, "last_time", None)

    @property
    def coverage(self) -> Any:
        return getattr(self._stream, "coverage", None)


def _checked(stream: Iterator[Observation]) -> Iterator[Observation]:
    return _Checked(stream)


def _merged(
    paths: Sequence[str],
    collector: str | None,
    notices: list[str],
    progress: FileProgress | None,
    route_filter: RouteFilter | None,
) -> Iterator[Observation]:
    """MRT files merged into one stream by time (files and archive windows read alike);
    ``collector`` None: learnt from each file's name or path."""
    from transitwatch.sources.files import read_files

    with _readable():
        stream = read_files(
            paths, collector=collector, notices=notices, progress=progress, route_filter=route_filter
        )
    return _checked(stream)
