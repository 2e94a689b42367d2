"""Many MRT files on all local cores or a Dask cluster, with results identical to one process.

>>> run = parallel_target_view("AS131279", paths, workers=4)               # doctest: +SKIP
>>> run.view == target_view("AS131279", read_files(paths))                 # doctest: +SKIP
True
>>> upstream_report(run.view), run.failures                                # doctest: +SKIP

How the work is split (per file, so a year of archives spreads over any number of workers):

1. **Map, one task per file.** A worker decodes the file and keeps only what can matter for the
   target: every route the target selects (by path or prefix), every observation of a prefix some
   selected route used (``relevant``: the prefixes known when the task was sent, plus those the
   file itself selects), session state changes, and a few *structural* observations that make the
   replay of the kept ones behave exactly like the replay of all of them (see :func:`reduce_file`).
   With ``route_filter`` (the default) the decoder drops non-target announcements before they
   become Python objects, primed with the relevant prefixes so replacements still pass.
2. **Repair.** A file sent before another file of its collector revealed a relevant prefix may
   have dropped that prefix's withdrawals; such files are reduced again with the final prefix set.
   Files are sent in time order with one task per worker in flight (two on Dask), so after the
   first RIB dumps the set is complete and repairs are rare (the first wave only).
3. **Merge.** The kept observations of all files are merged by time with the same galloping merge
   as :func:`~transitwatch.sources.files.read_files` and replayed by
   :func:`~transitwatch.state.view.target_view` in this process: the merged kept stream is a
   subsequence of the single-process stream on which the routing state takes the same steps, so
   spans, sessions, start and end are the same, event for event (with ``route_filter=False``
   always; with the filter, on archive data: see :func:`parallel_target_view`).

:func:`parallel_routing_state` builds full tables instead (``countries``), one task per collector.

A file that cannot be read (missing, not MRT) is listed in :attr:`ParallelView.failures` and
named in the view's notices; the run goes on with the other files. Backends: a local process pool
(``workers``, default all cores) or Dask distributed (``scheduler``: an address such as
``tcp://10.0.0.5:8786``, or ``"local"`` to start a LocalCluster here). On a real cluster every
worker needs transitwatch installed and the files at the same paths (a shared file system).
"""

from __future__ import annotations

import heapq
import os
import re
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from transitwatch.observation import RIB, Observation
from transitwatch.sources.files import FileProgress, collector_and_time_from_name, note_overlap
from transitwatch.sources.mrt import MrtError, MrtReader, RouteFilter
from transitwatch.sources.mrt_writer import write_mrt
from transitwatch.state.coverage import Coverage, FileSpan
from transitwatch.state.table import OwnSpace
from transitwatch.state.target import Target
from transitwatch.state.view import TargetView, target_view
from transitwatch.times import iso_utc

__all__ = [
    "CollectorPart",
    "CollectorTask",
    "FileFailure",
    "FilePart",
    "FileTask",
    "ParallelState",
    "ParallelView",
    "WorkPool",
    "default_workers",
    "open_pool",
    "parallel_routing_state",
    "parallel_target_view",
    "reduce_file",
    "replay_collector",
]

# Same rule as sources.files (RIB dumps first among equal times); kept in step by the tests that
# compare parallel runs with read_files.
_RIB_NAME = re.compile(r"(?:^|\.)(?:bview|ribs?)\.", re.IGNORECASE)


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# -- what travels to and from workers ------------------------------------------------------------
@dataclass(frozen=True)
class FileTask:
    """One file to reduce: its position in the input, the collector to record, the target, the
    relevant prefixes known when it was sent, and the time to stop at (None: the whole file)."""

    index: int
    path: str
    collector: str
    target: Target
    relevant: frozenset[str]
    until: float | None = None
    route_filter: bool = False


@dataclass
class FilePart:
    """What a worker returns for one file.

    ``kept`` the observations that matter, in file order · ``selected`` prefixes of the target
    routes in the file · ``first_time`` time of the file's first observation (None: none) ·
    ``observations`` observations read (up to ``until``) · ``cut`` whether observations after
    ``until`` were left unread · ``damage`` the reader's one-line report when records were
    skipped · ``error`` why the file could not be read at all (then nothing else is set) ·
    ``cpu`` CPU seconds the worker spent · ``pid`` the worker process · ``collector`` the
    collector recorded for the file.
    """

    index: int
    path: str
    kept: list[Observation] = field(default_factory=list)
    ghost_times: array[float] = field(default_factory=lambda: array("d"))
    ghost_at: array[int] = field(default_factory=lambda: array("q"))
    selected: frozenset[str] = frozenset()
    relevant_used: frozenset[str] = frozenset()
    first_time: float | None = None
    max_time: float | None = None
    first_record_time: float | None = None
    last_record_time: float | None = None
    observations: int = 0
    cut: bool = False
    damage: str | None = None
    error: str | None = None
    cpu: float = 0.0
    pid: int = 0
    collector: str = ""


@dataclass(frozen=True)
class FileFailure:
    """A file left out of a run, and why (one line)."""

    path: str
    error: str

    def __str__(self) -> str:
        return self.error if self.error.startswith(self.path) else f"{self.path}: {self.error}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "error": str(self)}


def reduce_file(task: FileTask) -> FilePart:
    """Decode one file and keep what the target's replay needs (runs in a worker).

    Kept, in file order: state changes; announcements and RIB entries the target selects;
    observations of a relevant prefix; and the structural ones — the first observation of each
    new running maximum of time (where the time merge of files can switch files), the first RIB
    entry of each peer in each run of equal-time RIB entries (opens that peer's dump), the latest
    of each run of dropped non-RIB observations (may close open dumps, as in the full replay),
    and the last observation (the end time of the input). Structural observations that matter
    only by their time are returned as times (``ghost_times``/``ghost_at``), replayed as
    withdrawals of no prefix. Never raises: errors are returned.
    """
    started = time.process_time()
    part = FilePart(index=task.index, path=task.path, pid=os.getpid(), collector=task.collector)
    target = task.target
    until = task.until
    relevant = set(task.relevant)
    # An AS target's own address space (more-specifics from other origins are its routes too):
    # seeded with the relevant prefixes, a superset of what the replay learns, so nothing the
    # one-process replay would keep is dropped here.
    own = OwnSpace(target.asns) if target.asns else None
    if own is not None:
        seed = str(min(target.asns))
        for prefix in task.relevant:
            own.learn(prefix, seed)
    selected: set[str] = set()
    path_selected: dict[str | None, bool] = {}
    selects_path = target.selects_path
    selects_prefix = target.selects_prefix
    hints = target.prefix_hints
    kept: list[Observation] = []
    keep = kept.append
    # Structural observations that carry nothing but their time travel as (time, position in
    # kept): a float instead of an Observation, so the merge's memory stays small.
    ghost_times, ghost_at = part.ghost_times, part.ghost_at
    running_max = float("-inf")
    prev_time: float | None = None
    prev_rib = False
    run_peers: set[str] = set()
    dropped_latest: float | None = None  # time of the latest dropped non-RIB observation since the last kept
    last: Observation | None = None
    last_kept = False
    count = 0
    try:
        reader = MrtReader(task.path, collector=task.collector,
                           route_filter=_seeded_filter(target, task.relevant) if task.route_filter else None)
        for batch in reader.batches():
            if part.first_time is None and batch:
                part.first_time = batch[0].time
            for obs in batch:
                t = obs.time
                if until is not None and t > until:
                    part.cut = True
                    break
                count += 1
                kind = obs.kind
                structural = t > running_max
                if structural:
                    running_max = t
                wanted = False
                if kind == "rib":
                    if not prev_rib or t != prev_time:
                        run_peers = set()
                    peer = obs.peer_ip
                    if peer not in run_peers:
                        run_peers.add(peer)
                        wanted = True
                    prev_rib = True
                else:
                    prev_rib = False
                prev_time = t
                if kind == "state":
                    wanted = True
                elif kind == "withdraw":
                    if obs.prefix in relevant or (own is not None and own.covers(obs.prefix)):
                        wanted = True
                else:
                    prefix = obs.prefix
                    path = obs.as_path
                    sel = path_selected.get(path)
                    if sel is None:
                        sel = path_selected[path] = selects_path(path)
                    if sel or (hints and prefix.startswith(hints) and selects_prefix(prefix)):
                        if prefix not in relevant:
                            relevant.add(prefix)
                        selected.add(prefix)
                        if own is not None:
                            own.learn(prefix, path)
                        wanted = True
                    elif prefix in relevant or (own is not None and own.covers(prefix)):
                        wanted = True
                if wanted or structural:
                    if dropped_latest is not None:
                        ghost_times.append(dropped_latest)
                        ghost_at.append(len(kept))
                        dropped_latest = None
                    if wanted or kind == "rib":
                        keep(obs)
                    else:
                        ghost_times.append(t)
                        ghost_at.append(len(kept))
                elif kind != "rib" and (dropped_latest is None or t > dropped_latest):
                    dropped_latest = t
                last, last_kept = obs, wanted or structural
            if part.cut:
                break
    except (MrtError, OSError) as exc:
        return FilePart(index=task.index, path=task.path, error=str(exc),
                        cpu=time.process_time() - started, pid=os.getpid())
    except Exception as exc:  # a bug must not kill a year-long run: report it with the file
        return FilePart(index=task.index, path=task.path, error=f"{task.path}: {type(exc).__name__}: {exc}",
                        cpu=time.process_time() - started, pid=os.getpid())
    if last is not None and not last_kept:
        if dropped_latest is not None:
            ghost_times.append(dropped_latest)
            ghost_at.append(len(kept))
        if last.kind == "rib":
            keep(last)
        else:
            ghost_times.append(last.time)
            ghost_at.append(len(kept))
    part.kept = kept
    # Upper bound of the file's record times, dropped records included (the repair check).
    part.max_time = until if part.cut else running_max if count else None
    part.selected = frozenset(selected)
    part.relevant_used = task.relevant
    part.observations = count
    if not part.cut:
        part.first_record_time, part.last_record_time = reader.stats.first_time, reader.stats.last_time
        record_max = part.last_record_time
        if record_max is not None and (part.max_time is None or record_max > part.max_time):
            part.max_time = record_max
    if not part.cut and reader.stats.damaged:
        part.damage = f"{reader.stats.summary()} (damaged records skipped)"
    part.cpu = time.process_time() - started
    return part


def _seeded_filter(target: Target, relevant: frozenset[str]) -> RouteFilter:
    """The target's decoder-level route filter, already knowing the relevant prefixes.

    The filter passes announcements of prefixes it has seen in target routes; a worker reading one
    file has not seen the routes of the other files, so the prefixes learnt from them are read
    through the filter first, as RIB entries through a target ASN (a small MRT file written here).
    """
    route_filter = target.route_filter()
    if not relevant or not target.asns:  # a prefix target's filter passes all its prefixes already
        return route_filter
    asn = str(min(target.asns))
    seeds = (Observation(time=0.0, kind=RIB, peer_ip="192.0.2.1", peer_asn=0, prefix=prefix, as_path=asn,
                         origin="IGP") for prefix in sorted(relevant))
    handle, seed_path = tempfile.mkstemp(prefix="transitwatch-seed-", suffix=".mrt")
    os.close(handle)
    try:
        write_mrt(seed_path, seeds, compression="none")
        for _ in MrtReader(seed_path, route_filter=route_filter).batches():
            pass
    finally:
        os.unlink(seed_path)
    return route_filter


# -- backends ------------------------------------------------------------------------------------
class WorkPool:
    """Submit tasks and wait for any to finish, on a local process pool or a Dask cluster.

    Use :func:`open_pool`; close with :meth:`close` (or ``with``).
    """

    def __init__(self, *, workers: int | None = None, scheduler: str | Any | None = None) -> None:
        self.backend: str
        self._executor: ProcessPoolExecutor | None = None
        self._client: Any = None
        self._cluster: Any = None
        self._completed: Any = None  # distributed.as_completed: finished futures pushed to us
        if scheduler == "inline":
            # Tasks run in this process, one at a time: for debugging and for tests of the logic.
            self.workers, self.backend = 1, "inline"
            return
        if scheduler is None:
            self.workers = workers or default_workers()
            if self.workers < 1:
                raise ValueError("workers must be at least 1")
            self.backend = "processes"
            self._executor = ProcessPoolExecutor(max_workers=self.workers)
            return
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # only here: dask is the optional [cluster] extra
            raise RuntimeError("a Dask scheduler needs the cluster extra: "
                               "pip install 'transitwatch[cluster]' (or dask[distributed])") from None
        if isinstance(scheduler, str) and scheduler == "local":
            self._cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1,
                                         processes=True, dashboard_address=None, host="127.0.0.1")
            self._client = Client(self._cluster)
            self.backend = "dask-local"
        elif isinstance(scheduler, str):
            try:
                self._client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
            self.backend = "dask"
        else:  # an existing distributed.Client
            self._client = scheduler
            self.backend = "dask"
        self.workers = max(1, sum(self._client.nthreads().values()))

    def __enter__(self) -> WorkPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        if self._executor is not None:
            return self._executor.submit(fn, arg)
        if self._client is None:
            done: Future[Any] = Future()
            done.set_result(fn(arg))
            return done
        future = self._client.submit(fn, arg, pure=False)
        if self._completed is None or self._completed.is_empty():
            from distributed import as_completed

            self._completed = as_completed([future])
        else:
            self._completed.add(future)
        return future

    @property
    def in_flight(self) -> int:
        """Tasks to keep submitted: one per worker locally; twice that on Dask, whose round trip
        through the scheduler would otherwise leave workers idle between tasks."""
        return self.workers if self._client is None else 2 * self.workers

    def wait_any(self, pending: set[Any]) -> tuple[set[Any], set[Any]]:
        """(finished, still pending)."""
        if self._executor is not None or self._client is None:
            done, rest = wait(pending, return_when=FIRST_COMPLETED)
            return set(done), set(rest)
        done = {self._completed.next()}
        if self._completed.has_ready():
            done.update(self._completed.next_batch(block=False))
        return done, pending - done

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self._client is not None and self._cluster is not None:
            self._client.close()
            self._cluster.close()
        self._client = self._cluster = None


def open_pool(workers: int | None = None, scheduler: str | Any | None = None) -> WorkPool:
    """A :class:`WorkPool`: local processes (``workers``, default all cores) or Dask
    (``scheduler``: an address, ``"local"`` for a LocalCluster of ``workers`` processes, or a
    ``distributed.Client``); ``scheduler="inline"`` runs every task in this process."""
    return WorkPool(workers=workers, scheduler=scheduler)


def _result(future: Any, task: FileTask) -> FilePart:
    try:
        part = future.result()
    except Exception as exc:  # the worker process died (killed, out of memory)
        return FilePart(index=task.index, path=task.path, error=f"{task.path}: worker failed: {exc}")
    if not isinstance(part, FilePart):  # pragma: no cover - defensive
        return FilePart(index=task.index, path=task.path, error=f"{task.path}: worker returned {part!r}")
    return part


# -- the run -------------------------------------------------------------------------------------
@dataclass
class ParallelView:
    """A target's :class:`~transitwatch.state.view.TargetView` built in parallel, and how.

    ``failures`` files left out · ``files`` files given · ``observations`` observations decoded
    (up to ``until``) · ``kept`` observations merged and replayed here · ``repaired`` files
    reduced twice · ``backend``/``workers`` where it ran · ``seconds`` wall time · ``worker_cpu``
    CPU seconds per worker process id.
    """

    view: TargetView
    failures: list[FileFailure] = field(default_factory=list)
    files: int = 0
    observations: int = 0
    kept: int = 0
    repaired: int = 0
    backend: str = ""
    workers: int = 0
    seconds: float = 0.0
    worker_cpu: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": str(self.view.target),
            "start": iso_utc(self.view.start) if self.view.start is not None else None,
            "end": iso_utc(self.view.end) if self.view.end is not None else None,
            "spans": len(self.view.spans),
            "failures": [f.to_dict() for f in self.failures],
            "files": self.files,
            "observations": self.observations,
            "kept": self.kept,
            "repaired": self.repaired,
            "backend": self.backend,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
        }


class _Selectors:
    """For each selected prefix, the two earliest-starting files that selected it."""

    def __init__(self, parts: Iterable[FilePart], collectors: dict[int, str]) -> None:
        self.collectors = collectors
        self.prefixes: set[str] = set()
        # (collector, prefix) -> the two earliest-starting files of that collector selecting it:
        # peers do not span collectors, so only those can make this file's peers hold the prefix.
        self.earliest: dict[tuple[str, str], list[tuple[float, int]]] = {}
        for part in parts:
            # Lower bound of the times of the file's records (the first one read, dropped or not).
            start = min((t for t in (part.first_record_time, part.first_time) if t is not None),
                        default=float("inf"))
            self.prefixes.update(part.selected)
            collector = collectors[part.index]
            for prefix in part.selected:
                best = self.earliest.setdefault((collector, prefix), [])
                best.append((start, part.index))
                if len(best) > 2:
                    best.sort()
                    best.pop()

    def needs_repair(self, part: FilePart) -> bool:
        """Whether a file that may come earlier in the merge selected a prefix this file's task
        did not know about: this file may have dropped its withdrawals or replacements."""
        used = part.relevant_used  # a subset of the final prefixes: compare sizes first
        if len(used) == len(self.prefixes) or part.max_time is None:
            return False
        collector = self.collectors[part.index]
        for prefix in self.prefixes - used:
            for start, index in self.earliest.get((collector, prefix), ()):
                if index != part.index and start <= part.max_time:
                    return True
        return False


def parallel_target_view(
    target: Target | str | int,
    paths: Iterable[str | os.PathLike[str]],
    *,
    collector: str | None = None,
    until: float | None = None,
    workers: int | None = None,
    scheduler: str | Any | None = None,
    pool: WorkPool | None = None,
    progress: FileProgress | None = None,
    route_filter: bool = True,
) -> ParallelView:
    """``target_view(target, read_files(paths, collector=...), until=...)``, in parallel.

    The view (spans, sessions, start, end, reader notices) is the single-process one; files that
    could not be read are left out, listed in ``failures`` and named in the notices (a single
    process would stop at the first). ``workers``/``scheduler`` choose the backend (see
    :func:`open_pool`), or pass an open ``pool`` to reuse it across runs. ``progress(observations,
    files done, files)`` is called as files finish.

    ``route_filter`` (default): workers decode with the target's decoder-level route filter, which
    drops non-target announcements before they become Python objects (several times faster on
    update files), primed with the relevant prefixes so replacements of target routes still pass.
    The views are the same on archive data; the dropped announcements' times are then not seen by
    the merge, so where files hold records at the very same second the merge order of those may
    differ, and where non-RIB records from another file fall between the records of a RIB dump the
    dump is not split (see docs/scaling.md). ``route_filter=False`` reads every observation and is
    exact in all cases, including those (``tests/test_parallel.py`` checks it on random streams).
    """
    started = time.perf_counter()
    tgt = Target.of(target)
    notes: list[str] = []
    failures: list[FileFailure] = []
    files: list[str] = []
    seen: set[str] = set()
    for p in (os.fspath(p) for p in paths):
        real = os.path.realpath(p)
        if real in seen:
            notes.append(f"{p}: given twice; read once")
            continue
        seen.add(real)
        files.append(p)
    tasks: list[FileTask] = []
    for index, p in enumerate(files):
        named_collector, _ = collector_and_time_from_name(p)
        tasks.append(FileTask(index, p, collector or named_collector or "", tgt, frozenset(), until,
                              route_filter))
    own_pool = pool is None
    work = pool if pool is not None else open_pool(workers, scheduler)
    parts: dict[int, FilePart] = {}
    worker_cpu: dict[int, float] = {}
    repaired = 0
    decoded = 0
    try:
        relevant: set[str] = set()
        done_count = 0

        def run(batch: Sequence[FileTask], adaptive: bool) -> None:
            nonlocal done_count, decoded
            queue = list(batch)
            queue.reverse()
            in_flight: dict[Any, FileTask] = {}
            # One task per worker in flight: each new task carries every prefix learnt so far.
            while queue or in_flight:
                while queue and len(in_flight) < work.in_flight:
                    task = queue.pop()
                    if adaptive:
                        task = FileTask(task.index, task.path, task.collector, task.target,
                                        frozenset(relevant), task.until, task.route_filter)
                    in_flight[work.submit(reduce_file, task)] = task
                done, _ = work.wait_any(set(in_flight))
                for future in done:
                    task = in_flight.pop(future)
                    part = _result(future, task)
                    parts[task.index] = part
                    worker_cpu[part.pid] = worker_cpu.get(part.pid, 0.0) + part.cpu
                    relevant.update(part.selected)
                    decoded += part.observations
                    done_count += 1
                    if progress is not None:
                        progress(decoded, min(done_count, len(tasks)), len(tasks))

        # Files in the order their names say they start (RIB dumps first): the first dumps teach
        # the relevant prefixes to everything sent after them.
        def order(task: FileTask) -> tuple[float, int, int]:
            _, when = collector_and_time_from_name(task.path)
            return (when if when is not None else float("inf"), 0 if _is_rib(task.path) else 1, task.index)

        run(sorted(tasks, key=order), adaptive=True)
        selectors = _Selectors(parts.values(), {t.index: t.collector for t in tasks})
        final = frozenset(selectors.prefixes)
        again = [
            FileTask(t.index, t.path, t.collector, t.target, final, t.until, t.route_filter)
            for t in tasks
            if parts[t.index].error is None and selectors.needs_repair(parts[t.index])
        ]
        if again:
            repaired = len(again)
            decoded_before = decoded
            run(again, adaptive=False)
            decoded = decoded_before
    finally:
        if own_pool:
            work.close()

    ordered = [parts[t.index] for t in tasks]
    for part in ordered:
        if part.error is not None:
            failures.append(FileFailure(part.path, part.error))
    view = target_view(tgt, _MergedParts(ordered, notes), until=until, notices=notes)
    if route_filter:
        # The first and last observations may be announcements the filter dropped: the input
        # starts and ends with the records read (of files read to their end, when `until` cut).
        firsts = [p.first_record_time for p in ordered if p.error is None and p.first_record_time is not None]
        lasts = [p.last_record_time for p in ordered if p.error is None and p.last_record_time is not None]
        if firsts and lasts:
            first, last = min(firsts), max(lasts)
            if until is not None:
                last = min(last, until)
            if view.start is None or first < view.start:
                view.start = first
            if view.end is None or last > view.end:
                view.end = last
    for failure in failures:
        view.notices.append(f"{failure} (file left out)")
    return ParallelView(
        view=view, failures=failures, files=len(files), observations=decoded,
        kept=sum(len(p.kept) + len(p.ghost_times) for p in ordered), repaired=repaired, backend=work.backend,
        workers=work.workers, seconds=time.perf_counter() - started, worker_cpu=worker_cpu,
    )


def _is_rib(path: str) -> bool:
    return bool(_RIB_NAME.search(PurePath(path).name))


class _MergedParts(Iterator[Observation]):
    """The merged kept observations; like read_files' stream, it knows ``last_time``, the latest
    record time of the files read to their end (target_view ends the view there)."""

    def __init__(self, parts: list[FilePart], notes: list[str]) -> None:
        times = [p.last_record_time for p in parts if p.error is None and p.last_record_time is not None]
        self.last_time: float | None = max(times) if times else None
        self._it = _merge_parts(parts, notes)
        # What the files cover, as read_files' stream says it (files that failed cover nothing).
        self.coverage = Coverage.of_files(
            FileSpan(p.path, p.collector, collector_and_time_from_name(p.path)[1],
                     p.first_record_time if p.first_record_time is not None else p.first_time,
                     # cut at `until`: read up to there (target_view clips coverage to `until`)
                     p.last_record_time if p.last_record_time is not None else p.max_time,
                     True if _is_rib(p.path) else None,
                     complete=p.damage is None or "truncated" not in p.damage)
            for p in parts if p.error is None)

    def __next__(self) -> Observation:
        return next(self._it)


def _merge_parts(parts: list[FilePart], notes: list[str]) -> Iterator[Observation]:
    """The kept observations of all files, merged as read_files merges whole files (same order,
    same notices)."""
    heads: list[tuple[float, int, int, Observation, Iterator[Observation]]] = []
    paths = [p.path for p in parts]
    for part in parts:
        if part.error is not None:
            continue
        it = _finishing(part, notes)
        if part.first_time is None:
            for _ in it:  # nothing kept; appends the damage notice where read_files does
                pass
            notes.append(f"{part.path}: no observations")
            continue
        first = next(it, None)
        if first is None:  # everything after `until`: never yielded, but ordered as a file
            heads.append((part.first_time, 0 if _is_rib(part.path) else 1, part.index,
                          _NEVER, iter(())))
            continue
        heads.append((first.time, 0 if _is_rib(part.path) else 1, part.index, first, it))
    order = [h[2] for h in sorted(heads, key=lambda h: h[:3])]
    if order != sorted(order):
        notes.append("files given out of time order; reading them in time order")
    live = [h for h in heads if h[3] is not _NEVER]
    # A file that starts after `until` holds the merge at its first time, as in read_files.
    late = [(h[0], h[1], h[2]) for h in heads if h[3] is _NEVER]
    yield from _merge_by_time(live, late, paths, notes)


class _Never:
    time = float("inf")


_NEVER: Any = _Never()


def _ghost(time: float, collector: str) -> Observation:
    """A stand-in for a dropped observation: a withdrawal of no prefix, which the routing state
    skips, so only its time and collector act (it may close that collector's RIB dumps, start or
    end the input)."""
    return Observation(time=time, kind="withdraw", peer_ip="", peer_asn=0, prefix="", collector=collector)


def _finishing(part: FilePart, notes: list[str]) -> Iterator[Observation]:
    ghosts = zip(part.ghost_at, part.ghost_times, strict=True)
    pending = next(ghosts, None)
    for position, obs in enumerate(part.kept):
        while pending is not None and pending[0] == position:
            yield _ghost(pending[1], part.collector)
            pending = next(ghosts, None)
        yield obs
    while pending is not None:
        yield _ghost(pending[1], part.collector)
        pending = next(ghosts, None)
    if part.damage is not None:
        notes.append(part.damage)


def _merge_by_time(
    heads: list[tuple[float, int, int, Observation, Iterator[Observation]]],
    late: list[tuple[float, int, int]],
    paths: list[str],
    notes: list[str],
) -> Iterator[Observation]:
    # The galloping merge of sources.files, record for record: stay on one file while its
    # observations are not later than every other file's next one.
    heap: list[tuple[float, int, int, Any, Iterator[Observation]]] = list(heads)
    heap.extend((t, rank, index, _NEVER, iter(())) for t, rank, index in late)
    heapq.heapify(heap)
    overlapping: set[tuple[int, int]] = set()
    while heap:
        _, rank, index, obs, it = heapq.heappop(heap)
        if obs is _NEVER:
            return  # read_files would yield an observation after `until` here: the replay stops
        yield obs
        if not heap:
            yield from it
            return
        bound = heap[0][0]
        for obs in it:
            if obs.time > bound:
                note_overlap(notes, overlapping, paths, index, heap[0][2], bound)
                heapq.heappush(heap, (obs.time, rank, index, obs, it))
                break
            yield obs


# -- full tables, one task per collector ----------------------------------------------------------
@dataclass(frozen=True)
class CollectorTask:
    """All files of one collector, replayed into full tables by one worker."""

    collector: str
    paths: tuple[str, ...]
    override: str | None
    until: float | None
    compact: bool


@dataclass
class CollectorPart:
    """A collector's tables (a CompactRoutingState or RoutingState), what its reader noted, and
    the files it had to leave out."""

    collector: str
    state: Any = None
    notices: list[str] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)
    cpu: float = 0.0
    pid: int = 0


def replay_collector(task: CollectorTask) -> CollectorPart:
    """Replay one collector's files in time order into full tables (runs in a worker). A file
    that cannot be read is left out and the replay starts again without it."""
    from transitwatch.sources.files import read_files
    from transitwatch.state.compact import CompactRoutingState
    from transitwatch.state.table import RoutingState

    started = time.process_time()
    part = CollectorPart(task.collector, pid=os.getpid())
    paths = list(task.paths)
    while True:
        notes: list[str] = []
        state: Any = CompactRoutingState() if task.compact else RoutingState()
        try:
            state.replay(read_files(paths, collector=task.override, notices=notes), until=task.until)
        except MrtError as exc:
            part.failures.append(FileFailure(exc.path, str(exc)))
            if exc.path not in paths:
                break
            paths.remove(exc.path)
            continue
        except OSError as exc:
            part.failures.append(FileFailure(task.collector or "?", str(exc)))
            break
        part.state, part.notices = state, notes
        break
    part.cpu = time.process_time() - started
    return part


@dataclass
class ParallelState:
    """Full routing tables built collector by collector in parallel, read as one state (what
    :func:`~transitwatch.metrics.country.countries_ranking` and the other full-table metrics read:
    ``tables()``, ``peers()``, ``table()``, ``routes()``, ``to_records()``, ``start``, ``time``).

    Exact: a peer belongs to one collector, so its table depends on its collector's files only.
    ``notices`` are the readers' notes per collector; ``failures`` the files left out.
    """

    states: list[Any] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    failures: list[FileFailure] = field(default_factory=list)
    backend: str = ""
    workers: int = 0
    seconds: float = 0.0
    worker_cpu: dict[int, float] = field(default_factory=dict)

    @property
    def start(self) -> float | None:
        times = [s.start for s in self.states if s.start is not None]
        return min(times) if times else None

    @property
    def time(self) -> float | None:
        times = [s.time for s in self.states if s.time is not None]
        return max(times) if times else None

    @property
    def observations(self) -> int:
        return sum(s.observations for s in self.states)

    def tables(self) -> list[Any]:
        return [t for s in self.states for t in s.tables()]

    def peers(self) -> list[Any]:
        return [p for s in self.states for p in s.peers()]

    def table(self, peer: Any) -> Any:
        for s in self.states:
            found = s.table(peer)
            if found is not None:
                return found
        return None

    def routes(self, prefix: str) -> dict[Any, str]:
        out: dict[Any, str] = {}
        for s in self.states:
            out.update(s.routes(prefix))
        return out

    def to_records(self) -> list[dict[str, Any]]:
        return [r for s in self.states for r in s.to_records()]


def parallel_routing_state(
    paths: Iterable[str | os.PathLike[str]],
    *,
    collector: str | None = None,
    until: float | None = None,
    workers: int | None = None,
    scheduler: str | Any | None = None,
    pool: WorkPool | None = None,
    compact: bool = True,
) -> ParallelState:
    """Every peer's full table after ``paths`` (up to ``until``), one task per collector.

    ``RoutingState().replay(read_files(paths))``, spread over collectors (the collector comes from
    each path, or ``collector`` for all). ``compact`` keeps each collector's tables in a
    :class:`~transitwatch.state.compact.CompactRoutingState` (a quarter of the memory). Files that
    cannot be read are left out and listed in ``failures``.
    """
    started = time.perf_counter()
    groups: dict[str, list[str]] = {}
    failures: list[FileFailure] = []
    seen: set[str] = set()
    for p in (os.fspath(p) for p in paths):
        real = os.path.realpath(p)
        if real in seen:
            continue
        seen.add(real)
        if not os.path.isfile(p):
            why = "no such file" if not os.path.exists(p) else "not a file"
            failures.append(FileFailure(p, f"{p}: {why}"))
            continue
        named, _ = collector_and_time_from_name(p)
        groups.setdefault(collector or named or "", []).append(p)
    tasks = [CollectorTask(c, tuple(ps), collector, until, compact) for c, ps in sorted(groups.items())]
    own_pool = pool is None
    work = pool if pool is not None else open_pool(workers, scheduler)
    result = ParallelState(failures=failures, backend=work.backend, workers=work.workers)
    try:
        futures = {work.submit(replay_collector, t): t for t in tasks}
        pending = set(futures)
        parts: dict[str, CollectorPart] = {}
        while pending:
            done, pending = work.wait_any(pending)
            for future in done:
                task = futures[future]
                try:
                    parts[task.collector] = future.result()
                except Exception as exc:  # the worker process died
                    parts[task.collector] = CollectorPart(task.collector, failures=[
                        FileFailure(task.collector, f"{task.collector}: worker failed: {exc}")])
    finally:
        if own_pool:
            work.close()
    for task in tasks:
        part = parts[task.collector]
        if part.state is not None:
            result.states.append(part.state)
        result.notices.extend(part.notices)
        result.failures.extend(part.failures)
        result.worker_cpu[part.pid] = result.worker_cpu.get(part.pid, 0.0) + part.cpu
    result.notices.extend(f"{f} (file left out)" for f in result.failures)
    result.seconds = time.perf_counter() - started
    return result
