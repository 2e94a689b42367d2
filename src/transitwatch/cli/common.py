"""Argument helpers shared by the command groups: inputs (FILES, archive windows, --db), targets,
times, registry options, notes on stderr. Errors the user can fix are :class:`UserError` (the API's
:class:`~transitwatch.errors.TransitwatchError`), printed as one line, never a traceback."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transitwatch.errors import TransitwatchError

if TYPE_CHECKING:
    from transitwatch.registry import Registry

#: A problem with the user's input: printed as one line on stderr, exit code 2. The API's one
#: exception type, so what the API raises and what the CLI raises are printed alike.
UserError = TransitwatchError


def _add_archive_window_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    """--collector/--from/--to/--archive-url/--cache-dir/--workers, for commands that read the public
    archives instead of (or, with required=False, as an alternative to) FILE arguments."""
    p.add_argument("--collector", required=required, metavar="NAMES",
                   help="comma-separated collectors, e.g. rrc00,route-views2,route-views.linx")
    p.add_argument("--from", dest="start", required=required, metavar="TIME",
                   help="window start, ISO 8601 (UTC unless a zone is given)")
    p.add_argument("--to", dest="end", required=required, metavar="TIME", help="window end (exclusive)")
    p.add_argument("--archive-url", action="append", metavar="NAME=URL",
                   help="mirror for a project (ris, routeviews) or one collector; repeatable")
    p.add_argument("--cache-dir", type=Path, metavar="DIR", help="archive cache folder (default: XDG cache)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="parallel downloads (default 4); for commands that read routes, also the processes "
                        "decoding the files (default: all cores; 1: one process)")


def _registry_from_args(args: argparse.Namespace) -> Registry:
    """The Registry the --registry-dir / --country-source options ask for (warnings on stderr)."""
    import transitwatch as tw

    registry = tw.registry_of(getattr(args, "registry_dir", None),
                              getattr(args, "country_source", None) or "geo")
    for warning in registry.warnings:
        print(f"transitwatch: warning: {warning}", file=sys.stderr)
    return registry


def _check_zone(tz: str | None) -> None:
    """A time zone the user gave (or a country's) must be a known IANA zone; None is fine."""
    from transitwatch.times import zone

    if tz:
        try:
            zone(tz)
        except ValueError as exc:
            raise UserError(str(exc)) from None


def _check_one_collector(args: argparse.Namespace) -> None:
    """With FILES, --collector is the one collector they all come from, not a list."""
    collector = getattr(args, "collector", None)
    if collector and "," in collector:
        raise UserError("with FILES, --collector names the one collector the files come from")


#: The reader's note for a file that gave the question nothing (an empty update file of a quiet
#: interval; with a target's route filter, also a file without a route of the target).
QUIET_FILE = ": no observations"


def quiet_files_line(paths: list[str], target: object = None) -> str:
    """One line for the files that gave nothing: ``N files had no routes: first A, last B``."""
    what = f"no route of {target}" if target is not None else "no routes"
    if len(paths) == 1:
        return f"{paths[0]}: {what}"
    return f"{len(paths)} files had {what}: first {paths[0]}, last {paths[-1]}"


def notes_for_terminal(lines: Iterable[str], target: object = None) -> list[str]:
    """The notes as printed: the files that gave nothing as one line where the first of them was
    (per-file detail stays in ``--json``'s ``notices``), every other note as it is."""
    out: list[str] = []
    quiet: list[str] = []
    at = -1
    for line in lines:
        if line.endswith(QUIET_FILE):
            if not quiet:
                at = len(out)
            quiet.append(line[: -len(QUIET_FILE)])
        else:
            out.append(line)
    if quiet:
        out.insert(at, quiet_files_line(quiet, target))
    return out


def _print_notes(lines: Iterable[str], target: object = None) -> None:
    """Notices of the readers and detectors (left-out files, damage, ...) as notes on stderr; the
    files that gave nothing (a quiet 5-minute interval) as one note, not one per file.
    ``target``: the question's target when the files were read through its route filter."""
    for line in notes_for_terminal(lines, target):
        print(f"transitwatch: note: {line}", file=sys.stderr)


class _RouteProgress:
    """Progress on stderr while files are decoded (terminal only)."""

    def __init__(self, files: int) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn

        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True,
                                  console=Console(stderr=True))
        self._task = self._progress.add_task("reading", total=None)
        self._started = time.monotonic()
        self._progress.start()

    def update(self, observations: int, done: int, total: int) -> None:
        elapsed = time.monotonic() - self._started
        text = f"reading {done}/{total} files: {observations:,} observations, {elapsed:.0f} s"
        if 0 < done < total:  # files left at the pace so far
            text += f", ETA {elapsed / done * (total - done):.0f} s"
        self._progress.update(self._task, description=text)

    def stage(self, text: str) -> None:
        """A later step of the same command (placing prefixes, ranking countries...)."""
        self._progress.update(self._task, description=f"{text}, {time.monotonic() - self._started:.0f} s")

    def close(self) -> None:
        self._progress.stop()


def _add_route_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="TARGET", nargs="?",
                   help="an AS (AS131279 or 131279), a prefix (175.45.176.0/22, covers more-specifics), "
                        "or several joined by commas (not with --country)")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="MRT files (RIB dumps and updates, any order: merged by time)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--tz", metavar="ZONE",
                   help="also show local times in this IANA zone, e.g. Asia/Pyongyang")
    _add_archive_window_args(p, required=False)
    _add_db_arg(p, reading=True)


def _add_parallel_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="decode on a Dask cluster: its scheduler address (tcp://HOST:8786), or 'local' to "
                        "start one here with --workers processes; files must be at the same paths there")


def _add_registry_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry-dir", type=Path, metavar="DIR",
                   help="RIR files to use (default: the XDG cache, if 'registry update' filled it)")
    p.add_argument("--country-source", choices=["geo", "rir"], default="geo",
                   help="what places a prefix in a country: geolocation (default) or RIR registration")


def _country_code(text: str) -> str:
    """A country code the user gave, normalised (``kp`` -> ``KP``); unknown ones as UserError."""
    from transitwatch.registry import UnknownCountryError, normalise_country

    try:
        return normalise_country(text)
    except UnknownCountryError as exc:
        raise UserError(str(exc)) from None


def _add_country_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--country", metavar="CC",
                   help="watch a country (ISO code, e.g. KP) instead of TARGET: its international "
                        "upstreams; then TARGET is the first FILE and --tz defaults to its own zone")
    _add_registry_args(p)


def _add_db_arg(p: argparse.ArgumentParser, *, reading: bool = False) -> None:
    from transitwatch.dirs import default_db_path  # not the store itself: --help stays fast

    if reading:
        p.add_argument("--db", nargs="?", const=default_db_path(), type=Path, metavar="PATH",
                       help="answer from a database made by 'transitwatch ingest' instead of FILES "
                            f"(PATH defaults to {default_db_path()}); --from/--to then bound the events")
    else:
        p.add_argument("--db", type=Path, default=default_db_path(), metavar="PATH",
                       help=f"the database file (default {default_db_path()})")


def _open_store(path: Path, *, read_only: bool) -> Any:
    from transitwatch.store import Store, StoreError, StoreWriteError, write_failure

    try:
        return Store(path, read_only=read_only)
    except StoreError as exc:
        if not read_only and write_failure(exc) is not None:
            # Unwritable (read-only file system, full disk): callers report it as exit 1.
            raise StoreWriteError(str(exc)) from None
        from transitwatch.live.service import read_lock

        owner = read_lock(path)
        if owner is not None and "cannot open" in str(exc):
            # One process owns a database while it serves it: say who, and how to reach it.
            raise UserError(f"{path} is in use by 'transitwatch serve' (pid {owner.get('pid')}): ask it at "
                            f"{owner.get('url')}/api/... (e.g. /api/upstreams?target=...), "
                            "or stop it") from None
        raise UserError(str(exc)) from None


def _warn(line: str) -> None:
    print(f"transitwatch: warning: {line}", file=sys.stderr)


def source_from_args(args: argparse.Namespace, files: list[str] | None = None) -> Any:
    """The API source the arguments name: ``--db`` (a store), FILES (with their --collector), or
    the archive window --collector/--from/--to (fetched now, with progress on a terminal; each
    file that could not be had is a warning). ``files`` overrides ``args.files``."""
    import transitwatch as tw
    from transitwatch.engine.sources import ArchiveSource

    paths = list(args.files or []) if files is None else files
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        raise UserError("--workers must be at least 1")
    if getattr(args, "db", None) is not None:
        if paths:
            raise UserError("give either MRT files or --db, not both")
        return tw.store(args.db)
    if paths:
        if getattr(args, "start", None) or getattr(args, "end", None):
            raise UserError("give either MRT files or --from/--to, not both")
        _check_one_collector(args)
        return tw.files(paths, collector=getattr(args, "collector", None))
    if not (getattr(args, "collector", None) and getattr(args, "start", None) and getattr(args, "end", None)):
        raise UserError("give MRT files, or --collector, --from and --to to read the public archives")
    src = ArchiveSource(args.collector, args.start, args.end, archive_url=args.archive_url or [],
                        cache_dir=args.cache_dir, workers=args.workers or 4, progress=True, on_gap=_warn)
    src.paths()  # download now: progress and gaps before the question's own progress
    return src


class progress_for:
    """Progress on stderr while a question reads its input (terminal only, not with --json):
    ``with progress_for(args) as progress: tw.upstreams(..., progress=progress)``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._shown = _RouteProgress(0) if sys.stderr.isatty() and not getattr(args, "json", False) else None

    def __enter__(self) -> Any:
        return self._shown.update if self._shown is not None else None

    def __exit__(self, *_: object) -> None:
        if self._shown is not None:
            self._shown.close()
            self._shown = None  # closed once, however many times asked
