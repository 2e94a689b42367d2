"""``transitwatch watch``: events as they are confirmed, live (RIS Live) or replaying files; alerts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from transitwatch.cli.common import (
    UserError,
    _add_registry_args,
    _check_zone,
    _print_notes,
    _registry_from_args,
    progress_for,
)
from transitwatch.times import iso_utc


def _watch_inputs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(targets, files) from the positional arguments: an existing path is a FILE, anything
    else must read as a target (AS, prefix, country code)."""
    import os

    targets: list[str] = []
    files: list[str] = []
    for item in args.inputs:
        (files if os.path.exists(item) else targets).append(item)
    return targets, files


def _cmd_watch(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import time

    import transitwatch as tw
    from transitwatch.live import alerts as alerting
    from transitwatch.live import watch as watching
    from transitwatch.live.watch import LIVE_BASELINE
    from transitwatch.sources.rislive import RIS_LIVE_URL, LiveStats, RisLiveError
    from transitwatch.times import parse_duration

    target_texts, files = _watch_inputs(args)
    config = None
    if args.config is not None:
        try:
            config = alerting.load_config(args.config)
        except alerting.AlertConfigError as exc:
            raise UserError(str(exc)) from None
    try:
        targets = [watching.WatchTarget.parse(t) for t in target_texts]
        targets += [watching.WatchTarget.for_country(cc) for cc in args.country or []]
    except watching.WatchError as exc:
        raise UserError(f"{exc} (FILE arguments must exist)") from None
    if config is not None:
        targets += [t for t in config.targets if t.label not in {x.label for x in targets}]
    if not targets:
        raise UserError("nothing to watch: give an AS, a prefix or --country CC "
                        "(or a --config with [[targets]])")
    if not args.live and not files:
        raise UserError("give MRT FILES to replay, or --live to follow RIS Live")
    tz = args.tz or (config.timezone if config is not None else None)
    _check_zone(tz)
    base = config.settings if config is not None else watching.WatchSettings()
    try:
        if args.baseline:
            baseline = parse_duration(args.baseline)
        elif (config is not None and "baseline" in config.watch_keys) or not args.live or files:
            baseline = base.baseline
        else:
            baseline = LIVE_BASELINE  # live without seed files: nothing is known before this
        settings = watching.WatchSettings(
            min_peers=args.min_peers if args.min_peers is not None else base.min_peers,
            min_duration=parse_duration(args.min_duration) if args.min_duration else base.min_duration,
            baseline=baseline,
            resync=parse_duration(args.resync) if args.resync else base.resync,
            detectors=tuple(args.detect.split(",")) if args.detect else base.detectors,
            check_every=base.check_every,
        )
    except (ValueError, watching.WatchError) as exc:
        raise UserError(str(exc)) from None
    registry = _registry_from_args(args)
    if args.live:
        for i, t in enumerate(targets):
            if t.country and not (t.asns or t.prefixes):
                asns, prefixes = watching.country_registrations(t.country, registry)
                if not (asns or prefixes):
                    raise UserError(
                        f"RIS Live cannot be filtered by country, and no RIR file registers an AS or "
                        f"prefix to {t.country}: run 'transitwatch registry update', or list the "
                        f"country's ASes in a --config target (country = \"{t.country}\", asns = [...])")
                targets[i] = watching.WatchTarget.for_country(t.country, asns=asns, prefixes=prefixes,
                                                              name=t.name)

    def note(notice: watching.Notice) -> None:
        print(f"transitwatch: {'warning' if notice.kind in ('gap', 'problem') else 'note'}: {notice}",
              file=sys.stderr, flush=True)

    def problem(text: str) -> None:
        print(f"transitwatch: warning: {text}", file=sys.stderr, flush=True)

    dispatcher = None
    if config is not None:
        channels = config.channels or [alerting.ChannelConfig(type="stdout", name="stdout")]
        if args.json:
            for c in channels:
                if c.type == "stdout":
                    c.format = "json"
        try:
            # Webhook alerts go through a durable outbox beside the config: what a receiver has
            # not accepted is retried on the next run, and an alert already sent is not resent.
            outbox = config.outbox_path if any(c.type == "webhook" for c in channels) else None
            dispatcher = alerting.AlertDispatcher(channels, tz=tz, on_problem=problem, outbox=outbox)
        except alerting.AlertConfigError as exc:
            raise UserError(str(exc)) from None

    def on_event(event: watching.WatchEvent) -> None:
        if dispatcher is not None:
            dispatcher.send(event)
        elif args.json:
            print(json.dumps({"record": "event", **event.to_dict(tz)}), flush=True)
        else:
            print(event.summary(tz), flush=True)

    def on_notice(notice: watching.Notice) -> None:
        note(notice)
        if dispatcher is not None:
            dispatcher.notice(notice)

    watcher = watching.Watcher(targets, settings=settings, registry=registry, on_event=on_event,
                               on_notice=on_notice)
    stats = LiveStats()
    started = time.monotonic()
    try:
        if files:
            notices: list[str] = []
            # the API's file source: the same merge, notices and errors as every other command
            source = tw.files(files, collector=args.collector)
            with progress_for(args) as progress:
                stream = source.observations(notices=notices, progress=progress)
                if args.live:
                    watching.seed(watcher, stream)
                else:
                    watching.replay(watcher, stream)
            _print_notes(notices)
        if args.live:
            url = args.ris_live_url or (config.ris_live_url if config is not None else None) or RIS_LIVE_URL
            prefixes, paths = watcher.subscriptions()
            print(f"transitwatch: note: following {url} for {', '.join(t.label for t in targets)} "
                  f"({len(prefixes)} prefix and {len(paths)} path subscriptions)",
                  file=sys.stderr, flush=True)
            try:
                run_for = parse_duration(args.run_for) if args.run_for else None
            except ValueError as exc:
                raise UserError(str(exc)) from None
            from transitwatch.live.watchdog import Watchdog, WatchdogExpired

            # --for ends the run even if something is stuck (watch_live itself stops on time
            # otherwise; the watchdog only fires a little after that).
            guard = Watchdog(run_for + 2.0, what="watch --for") if run_for is not None else None
            try:
                if guard is not None:
                    guard.__enter__()
                asyncio.run(watching.watch_live(watcher, url, duration=run_for, stats=stats,
                                                backoff=args.backoff))
            except RisLiveError as exc:
                raise UserError(str(exc)) from None
            except WatchdogExpired as exc:
                raise UserError(f"{exc}; stopped") from None
            finally:
                if guard is not None:
                    guard.__exit__(None, None, None)
    finally:
        if dispatcher is not None:
            dispatcher.close()
        status = watcher.status()
        parts = [f"{status['events']} event(s) for {', '.join(status['targets'])}",
                 f"{status['observations']:,} observations"]
        if args.live:
            parts.append(f"{stats.messages:,} messages in {time.monotonic() - started:.0f} s, "
                         f"{len(stats.gaps)} gap(s), {stats.dropped_text()}")
        if status["held"] or status["dropped"]:
            parts.append(f"{status['held']} held, {status['dropped']} dropped after gaps")
        print(f"transitwatch: watch: {'; '.join(parts)}", file=sys.stderr)
        if dispatcher is not None:
            waiting = dispatcher.pending()
            if waiting and dispatcher.outbox is not None:
                print(f"transitwatch: alerts: {len(waiting)} still pending in {dispatcher.outbox.path} "
                      "(retried on the next run until delivered or expired):", file=sys.stderr)
                for item in waiting[:20]:
                    print(f"transitwatch: alerts:   pending [{item.channel}] {item.summary} "
                          f"({item.attempts} attempt(s), last: {item.last_error or 'not tried'}; "
                          f"expires {iso_utc(int(item.expires))})", file=sys.stderr)
                if len(waiting) > 20:
                    print(f"transitwatch: alerts:   ... and {len(waiting) - 20} more", file=sys.stderr)
            print("transitwatch: alerts: " + "; ".join(s.summary() for s in dispatcher.stats()),
                  file=sys.stderr)
    return 0


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("watch", _cmd_watch,
            "Report events as they are confirmed: live from RIS Live, or replaying MRT files; alerts.",
            "examples:\n"
            "  transitwatch watch AS131279 --live                        # follow RIS Live, print events\n"
            "  transitwatch watch AS131279 rrc00/bview.20171001.0800.gz --live   # seed the state first\n"
            "  transitwatch watch --country KP --live --registry-dir registry/\n"
            "  transitwatch watch --config examples/alerts.toml --live   # alerts: stdout, log, webhooks\n"
            "  transitwatch watch --config examples/alerts.toml rrc00/*.gz  # replay archive data\n\n"
            "Runs the same detectors as 'transitwatch events' on the growing view and prints each event\n"
            "once, when it is confirmed (min-peers or min-duration). Without seed FILES, live mode\n"
            "takes the first --baseline (default 15m) as the starting state: RIS Live only sends\n"
            "changes, so a stable route is unknown until it is re-announced. A dropped connection is a\n"
            "gap: routes are kept, events near it are marked uncertain, and lost upstreams near it are\n"
            "held until --resync has passed (docs/cli.md). Notes, gaps and malformed messages go to\n"
            "stderr. Arguments that exist as files are MRT FILES; the others are targets.")
    p.add_argument("inputs", nargs="*", metavar="TARGET|FILE",
                   help="ASes (AS131279), prefixes (175.45.176.0/22) or country codes to watch, and MRT "
                        "files to replay (with --live: to seed the state before following the feed)")
    p.add_argument("--country", action="append", metavar="CC", help="watch a country (repeatable)")
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="alert config (TOML): targets, detector settings and channels "
                        "(see examples/alerts.toml)")
    p.add_argument("--live", action="store_true", help="follow RIS Live (after replaying FILES, if any)")
    p.add_argument("--ris-live-url", metavar="URL", help="RIS Live websocket (default: RIPE's; ws:// or wss://)")
    p.add_argument("--for", dest="run_for", metavar="DURATION", help="live: stop after this long (e.g. 1h)")
    p.add_argument("--backoff", type=float, default=1.0, metavar="SECONDS",
                   help="live: first reconnection delay, doubled after each failure up to 60 s (default 1)")
    p.add_argument("--min-peers", type=int, metavar="N",
                   help="peers that confirm a change at once (default 2)")
    p.add_argument("--min-duration", metavar="DURATION",
                   help="persistence that confirms a change seen by fewer peers (default 5m)")
    p.add_argument("--baseline", metavar="DURATION",
                   help="how long after the first target route the state is still baseline "
                        "(default 0; 15m live without seed FILES)")
    p.add_argument("--resync", metavar="DURATION",
                   help="how long after a gap the state counts as uncertain (default: --min-duration)")
    p.add_argument("--detect", metavar="LIST", help="detectors: upstream (default), origin, outage, or all")
    p.add_argument("--collector", metavar="NAME", help="collector of all FILES (default: from their paths)")
    p.add_argument("--tz", metavar="ZONE", help="also show local times in this IANA zone")
    p.add_argument("--json", action="store_true", help="events as JSON lines (stdout channels too)")
    _add_registry_args(p)
