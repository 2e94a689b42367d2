"""``transitwatch serve``: the API and dashboard, and with ``--live`` the whole observatory in one
process; and the hand-over of ``ingest`` to a running server. Argument parsing and wiring only."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_serve_args", "cmd_serve", "hand_over_ingest"]


def _port(text: str) -> int:
    """A TCP port for argparse (a bad one is a usage error, not an OverflowError from bind)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0-65535)")
    return port


def add_serve_args(p: argparse.ArgumentParser) -> None:
    from transitwatch.cli.common import _add_registry_args

    p.add_argument("inputs", nargs="*", metavar="TARGET|FILE",
                   help="with --live: ASes, prefixes or country codes to watch, and MRT files that seed "
                        "the database first (arguments that exist as files are FILES)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8047, help="port (default 8047; 0: any free port)")
    p.add_argument("--live", action="store_true",
                   help="follow RIS Live for the targets into the database, with events and alerts")
    p.add_argument("--country", action="append", metavar="CC", help="watch a country (repeatable)")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="alert config (TOML, as for watch): targets, detector settings and channels")
    p.add_argument("--ris-live-url", metavar="URL", help="RIS Live websocket (default: RIPE's)")
    p.add_argument("--archive-url", action="append", metavar="NAME=URL",
                   help="archive mirror for backfills after a disconnection (as for fetch; repeatable)")
    p.add_argument("--no-backfill", action="store_true",
                   help="record gaps without fetching the archive's update files for them")
    p.add_argument("--backfill-wait", default="20m", metavar="DURATION",
                   help="how long after a gap to keep trying for update files not yet published "
                        "(default 20m)")
    p.add_argument("--cache-dir", type=Path, metavar="DIR", help="archive cache (default: XDG cache)")
    p.add_argument("--backoff", type=float, default=1.0, metavar="SECONDS",
                   help="first reconnection delay (doubled after each failure, at most 30 s)")
    p.add_argument("--min-peers", type=int, metavar="N",
        help="peers that confirm a change at once (default 2)")
    p.add_argument("--min-duration", metavar="DURATION",
                   help="persistence that confirms a change seen by fewer peers (default 5m)")
    p.add_argument("--baseline", metavar="DURATION",
                   help="how long after the first target route the state is still baseline (default 0; "
                        "15m when the database has no data yet and no seed FILES are given)")
    p.add_argument("--detect", metavar="LIST", help="detectors: upstream, outage, origin (default all)")
    p.add_argument("--collector", metavar="NAME",
        help="collector of all seed FILES (default: from their paths)")
    p.add_argument("--tz", metavar="ZONE", help="also show local times in alerts in this IANA zone")
    p.add_argument("--writable", action="store_true",
                   help="without --live: own the database (read-write), so that 'ingest' can hand files "
                        "to this server; other processes cannot open it meanwhile (by default a plain "
                        "serve opens it read-only: other readers may too, nothing can be ingested)")
    p.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)  # the default without --live
    _add_registry_args(p)


def _server_class() -> Any:
    import contextlib
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but SIGTERM/SIGINT only ask it to stop: uvicorn re-raises the signal
        after shutting down, which would end the process before the lock file is removed and the
        live service stopped."""

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            def handle(sig: int, frame: Any) -> None:
                if self.should_exit:
                    self.force_exit = True
                self.should_exit = True

            old = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, h in old.items():
                    signal.signal(s, h)

    return Server


def _free_socket(host: str, port: int) -> socket.socket:
    from transitwatch.cli.common import UserError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    return sock


def _targets(args: argparse.Namespace, files_ok: bool) -> tuple[list[Any], list[str], Any]:
    from transitwatch.cli.common import UserError
    from transitwatch.live import alerts as alerting
    from transitwatch.live import watch as watching

    texts: list[str] = []
    files: list[str] = []
    for item in args.inputs:
        (files if os.path.exists(item) else texts).append(item)
    if files and not files_ok:
        raise UserError("seed FILES are for --live "
                        "(to ingest files, run 'transitwatch ingest FILES --db ...')")
    config = None
    if args.config is not None:
        try:
            config = alerting.load_config(args.config)
        except alerting.AlertConfigError as exc:
            raise UserError(str(exc)) from None
    try:
        targets = [watching.WatchTarget.parse(t) for t in texts]
        targets += [watching.WatchTarget.for_country(cc) for cc in args.country or []]
    except watching.WatchError as exc:
        hint = "" if "too broad" in str(exc) else " (FILE arguments must exist)"
        raise UserError(f"{exc}{hint}") from None
    if config is not None:
        targets += [t for t in config.targets if t.label not in {x.label for x in targets}]
    return targets, files, config


def cmd_serve(args: argparse.Namespace) -> int:
    from transitwatch.api.app import create_app
    from transitwatch.cli.common import UserError, _check_zone, _open_store, _print_notes, _registry_from_args
    from transitwatch.live import alerts as alerting
    from transitwatch.live import watch as watching
    from transitwatch.live.service import LiveService, ServerLock, read_lock
    from transitwatch.sources.archive import ArchiveError, parse_archive_urls
    from transitwatch.sources.rislive import RIS_LIVE_URL
    from transitwatch.times import parse_duration, positive_duration

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"transitwatch: warning: serving on {args.host}: anyone who can reach this address can "
              "read the database (the API has no authentication)", file=sys.stderr)
    targets, files, config = _targets(args, files_ok=args.live)
    if args.live and not targets:
        raise UserError("--live: nothing to watch: give an AS, a prefix or --country CC "
                        "(or a --config with [[targets]])")
    if not args.live and (targets or args.country):
        raise UserError("targets are watched with --live (e.g. serve --db FILE --live AS131279)")
    if args.live and args.read_only:
        raise UserError("--live writes the database: leave out --read-only")
    read_only = not (args.live or args.writable)
    owner = read_lock(args.db)
    if owner is not None:
        raise UserError(f"{args.db} is already served by pid {owner.get('pid')} at {owner.get('url')}; "
                        "stop it first (one process owns a database)")
    tz = args.tz or (config.timezone if config is not None else None)
    _check_zone(tz)
    base = config.settings if config is not None else watching.WatchSettings(detectors=("upstream", "outage",
                                                                                        "origin"))
    try:
        archive_urls = parse_archive_urls(args.archive_url or [])
        backfill_wait = parse_duration(args.backfill_wait)
        positive_duration(args.backoff, "--backoff")
        settings = watching.WatchSettings(
            min_peers=args.min_peers if args.min_peers is not None else base.min_peers,
            min_duration=parse_duration(args.min_duration) if args.min_duration else base.min_duration,
            baseline=parse_duration(args.baseline) if args.baseline else base.baseline,
            detectors=tuple(args.detect.split(",")) if args.detect else (
                base.detectors if config is not None and "detectors" in config.watch_keys
                else ("upstream", "outage", "origin")),
        )
    except (ValueError, ArchiveError, watching.WatchError) as exc:
        raise UserError(str(exc)) from None
    registry = _registry_from_args(args) if (args.live and any(t.country for t in targets)) else None
    if registry is not None:
        for i, t in enumerate(targets):
            if t.country and not (t.asns or t.prefixes):
                asns, prefixes = watching.country_registrations(t.country, registry)
                if not (asns or prefixes):
                    raise UserError(
                        f"RIS Live cannot be filtered by country, and no RIR file registers an AS or "
                        f"prefix to {t.country}: run 'transitwatch registry update'")
                targets[i] = watching.WatchTarget.for_country(t.country, asns=asns, prefixes=prefixes,
                    name=t.name)

    if not args.live:
        with _open_store(args.db, read_only=True):
            pass  # a clear error now for a missing or foreign database (only --live creates one)
    _Server = _server_class()  # noqa: N806 (a class)
    sock = _free_socket(args.host, args.port)
    port = sock.getsockname()[1]
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    base_url = f"http://{shown_host}:{port}"
    from transitwatch.store import StoreWriteError

    try:
        store = _open_store(args.db, read_only=read_only)
    except StoreWriteError as exc:  # a read-only file system, a full disk: one line, exit 1
        sock.close()
        print(f"transitwatch: error: {exc}", file=sys.stderr)
        return 1
    lock = None
    service = None
    try:
        if args.live and files:
            from transitwatch.sources.mrt import MrtError
            from transitwatch.store import StoreError, ingest

            try:
                report = ingest(store, files, collector=args.collector,
                                watch_targets=[t.label for t in targets if t.target is not None])
            except StoreWriteError as exc:
                print(f"transitwatch: error: {exc}", file=sys.stderr)
                return 1
            except (MrtError, OSError, StoreError, ValueError) as exc:
                raise UserError(str(exc)) from None
            _print_notes(report.notices)
            print(f"transitwatch: note: seeded from {len(report.ingested)} file(s) "
                  f"({len(report.skipped)} already there)", file=sys.stderr)
        elif args.live:
            from transitwatch.store import watch as keep_events

            keep_events(store, [t.label for t in targets if t.target is not None],
                        min_peers=settings.min_peers, min_duration=settings.min_duration)
        if args.live and not files and not args.baseline and not store.summary()["files"]:
            settings.baseline = watching.LIVE_BASELINE  # nothing known before the feed starts
        dispatcher = None
        if config is not None and config.channels:
            try:
                dispatcher = alerting.AlertDispatcher(
                    config.channels, tz=tz,
                    outbox=config.outbox_path if any(c.type == "webhook" for c in config.channels) else None,
                    on_problem=lambda text: print(f"transitwatch: warning: {text}", file=sys.stderr,
                        flush=True))
            except alerting.AlertConfigError as exc:
                raise UserError(str(exc)) from None
        url = args.ris_live_url or (config.ris_live_url if config is not None else None) or RIS_LIVE_URL
        lock = ServerLock(args.db, base_url, read_only=read_only)
        lock.acquire()
        if not read_only:
            service = LiveService(
                store, targets, url=url, settings=settings, registry=registry, dispatcher=dispatcher,
                archive_urls=archive_urls, cache_dir=args.cache_dir, backfill=not args.no_backfill,
                backfill_wait=backfill_wait, backoff=args.backoff, tz=tz,
                log=lambda line: print(f"transitwatch: {line}", file=sys.stderr, flush=True))
        from transitwatch.api.security import allowed_hosts_for

        app = create_app(args.db, store=store, live=service, token=lock.token if lock else None,
                         registry=registry, allowed_hosts=allowed_hosts_for(args.host, args.allow_host or ()))
        import uvicorn

        config_ = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2, timeout_keep_alive=5,
                                 limit_concurrency=1000, h11_max_incomplete_event_size=16 * 1024,
                                 server_header=False)
        server = _Server(config_)
        print(f"transitwatch: serving {args.db} at {base_url}/ (API docs at {base_url}/docs)",
              file=sys.stderr, flush=True)
        if args.live and service is not None:
            prefixes, paths = service.subscriptions()
            print(f"transitwatch: note: following {url} for {', '.join(t.label for t in targets)} "
                  f"({len(prefixes)} prefix and {len(paths)} path subscriptions)", file=sys.stderr,
                      flush=True)
            service.start()
        started = time.monotonic()
        server.run(sockets=[sock])
    finally:
        if service is not None:
            service.stop()
        if lock is not None:
            lock.release()
        try:
            store.close()
        except StoreWriteError as exc:  # the last checkpoint on a full disk: committed data is safe
            print(f"transitwatch: warning: {exc}", file=sys.stderr)
        sock.close()
    if service is not None and args.live:
        st = service.status
        print(f"transitwatch: serve: {st.observations:,} observations in {time.monotonic() - started:.0f} s, "
              f"{st.alerts} alert(s), {st.gaps} gap(s), {st.backfilled} backfilled", file=sys.stderr)
    return 0


def hand_over_ingest(args: argparse.Namespace) -> int | None:
    """When a ``serve`` owns ``--db``, send it the files to ingest and print its report as
    ``ingest`` would; None when no server owns the database (ingest it here)."""
    import httpx

    from transitwatch.cli.common import UserError
    from transitwatch.live.service import read_lock
    from transitwatch.times import parse_duration

    owner = read_lock(args.db)
    if owner is None:
        return None
    if args.workers not in (None, 1) or args.scheduler:
        print("transitwatch: note: the serving process ingests in one process; --workers/--scheduler "
              "do not apply", file=sys.stderr)
    body = {"paths": [os.path.abspath(p) for p in args.files], "collector": args.collector,
            "watch": args.watch or [], "min_peers": args.min_peers,
            "min_duration": parse_duration(args.min_duration)}
    for p in args.files:
        if not os.path.exists(p):
            raise UserError(f"{p}: no such file")
    url = str(owner.get("url", ""))
    if owner.get("read_only"):
        raise UserError(f"{args.db} is being served read-only by 'transitwatch serve' "
                        f"(pid {owner.get('pid')} "
                        f"at {url}): stop it and ingest, or serve it with --writable (or --live), which "
                        "takes the files 'ingest' hands to it")
    print(f"transitwatch: note: {args.db} is served by pid {owner.get('pid')} at {url}; handing the files "
          "to it", file=sys.stderr)
    try:
        res = httpx.post(f"{url}/api/ingest", json=body, timeout=None,
                         headers={"X-Transitwatch-Token": str(owner.get("token", ""))})
    except httpx.HTTPError as exc:
        raise UserError(f"{args.db} is owned by 'transitwatch serve' (pid {owner.get('pid')}), "
                        "which does not "
                        f"answer at {url} ({exc}); stop it and ingest again") from None
    if res.status_code != 200:
        try:
            detail = res.json().get("detail")
        except ValueError:
            detail = res.text[:200]
        if res.status_code == 409:
            raise UserError(f"{args.db} is served read-only by pid {owner.get('pid')} at {url}: stop it, "
                            "or serve it with --writable so that files can be handed over")
        raise UserError(f"the server at {url} refused the files: {detail}")
    report = res.json()
    for line in report.get("notices", []):
        print(f"transitwatch: note: {line}", file=sys.stderr)
    for failure in report.get("failures", []):
        print(f"transitwatch: error: {failure}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        db = report.get("database", {})
        print(f"{report.get('ingested', 0)} files ingested, {report.get('skipped', 0)} already there "
              f"(by the server at {url}); {report.get('observations', 0):,} observations -> "
              f"{report.get('route_intervals', 0):,} route intervals")
        if db:
            print(f"{db.get('path')}: {db.get('files')} files, "
                  f"{db.get('route_intervals', 0):,} route intervals, "
                  f"{db.get('peers')} peers, {', '.join(db.get('collectors', [])) or 'no collector'}")
    return 1 if report.get("failures") else 0
