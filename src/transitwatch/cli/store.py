"""The store: ``transitwatch ingest``, ``export``, ``serve``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from transitwatch.cli.common import UserError, _add_db_arg, _add_parallel_args, _open_store, _print_notes


class _IngestProgress:
    """A rich progress line on a terminal while ingesting: observations per collector."""

    def __init__(self) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 transient=True)
        self.progress.start()
        self.task = self.progress.add_task("hashing files", total=None)

    def __call__(self, collector: str, observations: int, files: int) -> None:
        self.progress.update(self.task, description=f"{collector or 'files'}: {files} files, "
                                                    f"{observations:,} observations replayed")

    def close(self) -> None:
        self.progress.stop()


def _cmd_ingest(args: argparse.Namespace) -> int:
    import json
    import os

    # Arrow's default pool (mimalloc) keeps freed batches for reuse: 40 MB more at the peak of a
    # full table than the system allocator, which returns them.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    # numpy's OpenBLAS starts a thread per core at import, which spin for nothing here (the ingest
    # does no linear algebra): ~0.05 s of CPU. Set before numpy is first imported.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _one_malloc_arena()

    import transitwatch as tw
    from transitwatch.store import StoreWriteError
    from transitwatch.times import parse_duration

    # A running `serve` owns the database when its lock file (live.service.lock_path) is there:
    # it ingests the files. Checked first, so a plain ingest does not import the server (0.3 s).
    if (args.files or args.watch) and os.path.exists(f"{os.fspath(args.db)}.serve.json"):
        from transitwatch.cli.serve import hand_over_ingest

        handed = hand_over_ingest(args)
        if handed is not None:
            return handed
    min_duration = parse_duration(args.min_duration)
    if not args.files and not args.watch:
        raise UserError("give MRT files to ingest (and/or --watch TARGET)")
    workers = _ingest_workers(args)
    progress = _IngestProgress() if sys.stderr.isatty() and not args.json else None
    try:
        result = tw.ingest(args.db, args.files, collector=args.collector, watch=args.watch or (),
                           min_peers=args.min_peers, min_duration=min_duration, workers=workers,
                           scheduler=args.scheduler, method=args.method, progress=progress)
    except StoreWriteError as exc:
        # Disk full, read-only file system: one line, exit 1; the transaction was rolled back.
        print(f"transitwatch: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if progress is not None:
            progress.close()
    report, summary = result.report, result.database
    _print_notes(report.notices)
    for failure in report.failures:
        print(f"transitwatch: error: {failure}", file=sys.stderr)
    status = 1 if report.failures else 0
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return status
    modes = ", ".join(f"{c} {m}" for c, m in report.collectors.items()) or "nothing new"
    rate = report.observations / report.seconds if report.seconds else 0.0
    print(f"{len(report.ingested)} files ingested, {len(report.skipped)} already there ({modes}); "
          f"{report.observations:,} observations -> {report.route_intervals:,} route intervals "
          f"in {report.seconds:.1f} s ({rate:,.0f}/s)")
    if report.events is not None:
        print(f"events of watched targets ({', '.join(summary['watched']) or 'none'}): {report.events}")
    print(f"{summary['path']}: {summary['files']} files, {summary['route_intervals']:,} route intervals, "
          f"{summary['peers']} peers, {', '.join(summary['collectors']) or 'no collector'}")
    return status


def _one_malloc_arena() -> None:
    """glibc gives each thread its own malloc arena: the batches the ingest's reader thread
    decodes are freed by the deriving thread into an arena neither reuses first, ~15 MB more at
    the peak and more page faults. One arena (M_ARENA_MAX = 1) for this process; elsewhere a
    no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(-8, 1)  # M_ARENA_MAX; the process's own symbols include libc's
    except (OSError, AttributeError):
        pass


def _ingest_workers(args: argparse.Namespace) -> int | None:
    """--workers for ingest: as given; by default all cores (None) when the files come from
    several collectors (one collector is one task), else 1 (this process)."""
    from transitwatch.sources.files import collector_and_time_from_name

    if args.workers is not None:
        if args.workers < 1:
            raise UserError("--workers must be at least 1")
        return int(args.workers)
    if args.scheduler:
        return None  # as many as the cluster has
    if args.collector:
        return 1  # one collector for all files
    collectors = {collector_and_time_from_name(f)[0] for f in args.files}
    return None if len(collectors) > 1 else 1


def _cmd_export(args: argparse.Namespace) -> int:
    import json

    import transitwatch as tw

    if args.partitioned is not None and (args.table or args.format != "parquet"):
        raise UserError("--partitioned writes every table as Parquet: no --table or --format with it")
    with _open_store(args.db, read_only=True):
        pass  # the clear message for a database in use by 'serve' or not made by ingest, first
    partitioned = args.partitioned is not None
    written = tw.export(args.db, args.partitioned if partitioned else args.out, partitioned=partitioned,
                        fmt=args.format, tables=args.table or None).paths
    if args.json:
        print(json.dumps({"files": [str(p) for p in written]}, indent=2))
    else:
        for path in written:
            print(path)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from transitwatch.cli.serve import cmd_serve

    return cmd_serve(args)


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("ingest", _cmd_ingest,
            "Store MRT files' route history in a database (incremental: known files are skipped).",
            "examples:\n"
            "  transitwatch ingest rrc00/2017.10/*.gz --db kp.duckdb --watch AS131279\n"
            "  transitwatch ingest rrc00/2017.10/updates.20171001.1205.gz --db kp.duckdb  # appended\n"
            "  transitwatch upstreams AS131279 --db kp.duckdb --at 2017-10-01T09:30Z\n\n"
            "Keeps route intervals per (collector, peer, prefix), sessions, file provenance and the\n"
            "upstream events of --watch targets; not every update. A file is known by its SHA-256.\n"
            "Files older than what a collector already has make its history derived again from all\n"
            "its files (same result as ingesting everything in order). Each collector is one\n"
            "transaction: an interrupted ingest loses nothing committed; run it again to finish.\n\n"
            "Files of several collectors are derived on all cores, one collector per task (--workers N\n"
            "to choose, 1 for one process), or on a Dask cluster with --scheduler tcp://HOST:8786\n"
            "(--scheduler local: a cluster here); this process writes each collector as it arrives,\n"
            "and the database is the one-process database. A collector that fails there is reported\n"
            "(exit 1) and not written; the others are. See docs/scaling.md.")
    p.add_argument("files", nargs="*", metavar="FILE", help="MRT files (RIB dumps and updates, any order)")
    _add_db_arg(p)
    p.add_argument("--collector", metavar="NAME", help="collector of all FILES (default: from their paths)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="derive collectors on N processes, one collector per task (default: all cores "
                        "when the files come from several collectors; 1: one process)")
    _add_parallel_args(p)
    p.add_argument("--watch", action="append", metavar="TARGET",
                   help="keep upstream events of this AS or prefix (repeatable)")
    p.add_argument("--min-peers", type=int, default=2, metavar="N", help="for --watch events (default 2)")
    p.add_argument("--min-duration", default="5m", metavar="DURATION", help="for --watch events (default 5m)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--method", choices=["columnar", "reference"], default="columnar",
                   help="how intervals are derived: columnar (default, fast) or reference (the original "
                        "row-by-row derivation, slow; the same database)")

    p = add("export", _cmd_export,
            "Write the database's tables as Parquet or CSV files (for pandas, polars, Spark).",
            "examples:\n"
            "  transitwatch export --db kp.duckdb --format parquet --out kp-parquet/\n"
            "  transitwatch export --db kp.duckdb --format csv --table route_intervals --out .\n"
            "  transitwatch export --db history.duckdb --partitioned history/\n"
            "  transitwatch upstreams AS131279 --db history/ --at 2017-10-01T09:30Z\n\n"
            "Tables: route_intervals (flat: collector, peer, prefix, AS path, start/end), sessions,\n"
            "files, peers, events. Times are epoch seconds plus UTC timestamps.\n\n"
            "--partitioned DIR writes the whole store as Parquet in the Hive layout, by collector and\n"
            "UTC day: DIR/routes/collector=rrc00/day=2017-10-01/*.parquet (route intervals, flat and\n"
            "with the store's ids), DIR/sessions/..., DIR/<table>.parquet for the rest. DuckDB, Dask\n"
            "(dask.dataframe.read_parquet('DIR/routes')), polars and Spark read it as is, and\n"
            "transitwatch commands take DIR as --db. A previous export in DIR is replaced.")
    _add_db_arg(p)
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet", help="default parquet")
    p.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="output folder (default .)")
    p.add_argument("--table", action="append", metavar="NAME", help="only this table (repeatable)")
    p.add_argument("--partitioned", type=Path, metavar="DIR",
                   help="write the whole store as Hive-partitioned Parquet (collector, day) under DIR")
    p.add_argument("--json", action="store_true", help="print the written paths as JSON")

    p = add("serve", _cmd_serve,
            "Serve the HTTP API and the dashboard; with --live, follow RIS Live into the database too.",
            "examples:\n"
            "  transitwatch serve --db kp.duckdb              # http://127.0.0.1:8047/\n"
            "  transitwatch serve --db kp.duckdb --live AS131279 175.45.176.0/22\n"
            "  transitwatch serve --db kp.duckdb --live --config examples/alerts.toml --port 9000\n"
            "  transitwatch serve --db kp.duckdb --live AS131279 rrc00/bview.20171001.0800.gz  # seeded\n\n"
            "One process owns the database: it serves the API and the dashboard and, with --live,\n"
            "follows RIS Live for the targets, writes what arrives (one short transaction per batch:\n"
            "a kill -9 loses nothing committed; a restart goes on without duplicates), runs the\n"
            "detectors and sends alerts (--config channels) when an event begins and when it ends,\n"
            "each once, also across restarts. A disconnection, or the time the server was down, is a\n"
            "gap: backfilled from the RIS update archive (--archive-url mirrors) when reachable,\n"
            "recorded as a gap otherwise (/api/coverage). 'transitwatch ingest FILES --db' while it\n"
            "runs hands the files to it. The dashboard updates itself (/api/stream, server-sent events).\n\n"
            "JSON endpoints: /api/upstreams?target=&at=, /api/events?target=&type=&from=&to=,\n"
            "/api/timeline?target=&from=&to=, /api/coverage?from=&to=, /api/countries, /api/live,\n"
            "/api/stream; the path forms take prefixes too (/api/upstreams/175.45.176.0/22). OpenAPI\n"
            "docs at /docs. Binds to 127.0.0.1 unless --host says otherwise (with a warning: there is\n"
            "no authentication).")
    _add_db_arg(p)
    from transitwatch.cli.serve import add_serve_args

    add_serve_args(p)
    p.add_argument("--allow-host", action="append", metavar="NAME",
                   help="also answer requests for this Host name (repeatable; default: only the bound "
                        "address and 127.0.0.1/localhost, against DNS rebinding; '*' for any, behind a "
                        "proxy that checks it)")
