"""``transitwatch watch``: events as they are confirmed, live (RIS Live) or replaying files; alerts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transitwatch.cli.common import (
    QUIET_FILE,
    UserError,
    _add_registry_args,
    _registry_from_args,
    progress_for,
    quiet_files_line,
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
    import json

    import transitwatch as tw

    target_texts, files = _watch_inputs(args)
    tz = args.tz

    def on_event(event: Any) -> None:
        if args.config is not None:
            return  # the config's channels print it (stdout in JSON with --json)
        if args.json:
            print(json.dumps({"record": "event", **event.to_dict(tz)}), flush=True)
        else:
            print(event.summary(tz), flush=True)

    def on_notice(notice: Any) -> None:
        print(f"transitwatch: {'warning' if notice.kind in ('gap', 'problem') else 'note'}: {notice}",
              file=sys.stderr, flush=True)

    def on_problem(text: str) -> None:
        print(f"transitwatch: warning: {text}", file=sys.stderr, flush=True)

    registry = _registry_from_args(args)  # its warnings on stderr first
    # progress while FILES are replayed (terminal only), from the first file read; gone once the
    # replay is over
    shown: list[Any] = []

    def progress(observations: int, done: int, total: int) -> None:
        if not shown:
            shown.append(progress_for(args))
            shown.append(shown[0].__enter__())
        if shown[1] is not None:
            shown[1](observations, done, total)

    def progress_done() -> None:
        if shown:
            shown[0].__exit__(None, None, None)

    quiet: list[str] = []   # files that gave nothing: one note for all of them, not one each

    def flush_quiet() -> None:
        if quiet:
            print(f"transitwatch: note: {quiet_files_line(quiet)}", file=sys.stderr, flush=True)
            quiet.clear()

    def on_note(text: str) -> None:
        progress_done()  # the replay is over: its progress line goes
        if text.endswith(QUIET_FILE):
            quiet.append(text[: -len(QUIET_FILE)])
            return
        flush_quiet()
        print(f"transitwatch: note: {text}", file=sys.stderr, flush=True)

    ended: list[Any] = []

    def on_end(result: Any) -> None:
        ended.append(result)
        progress_done()
        flush_quiet()
        _print_summary(result, live=args.live)

    options = {"for_seconds": args.run_for, "min_duration": args.min_duration,
               "baseline": args.baseline, "resync": args.resync}
    try:
        tw.watch(target_texts, files or None, country=args.country or [], config=args.config,
                 live=args.live, ris_live_url=args.ris_live_url, backoff=args.backoff,
                 min_peers=args.min_peers, detect=args.detect, tz=args.tz,
                 registry=registry,
                 collector=args.collector, on_event=on_event, on_notice=on_notice, on_note=on_note,
                 on_problem=on_problem, on_end=on_end, stdout_format="json" if args.json else None,
                 progress=progress, as_rel=args.as_rel, **options)
    except UserError as exc:
        if getattr(exc, "param", None) == "targets" and not any(
                why in str(exc) for why in ("nothing to watch", "too broad")):
            raise UserError(f"{exc} (FILE arguments must exist)") from None
        raise
    finally:
        progress_done()  # also when the arguments were refused before anything was read
        flush_quiet()
    live = ended[0].live if ended else None
    if args.live and live is not None and not live.connections:
        # the whole run without the feed: nothing was watched, which is a failure, not "0 events"
        print("transitwatch: error: the live feed could not be reached during the whole run "
              "(see the warnings above): nothing was watched", file=sys.stderr)
        return 1
    return 0


def _print_summary(result: Any, *, live: bool) -> None:
    """The end of a watch on stderr: events, observations, the feed, the alerts still pending."""
    status = result.status
    parts = [f"{status['events']} event(s) for {', '.join(status['targets'])}",
             f"{status['observations']:,} observations"]
    if live and result.live is not None:
        stats = result.live
        if not stats.connections:  # not "0 gaps": the feed was never there to have any
            parts.append(f"the feed never connected in {result.seconds:.0f} s")
        else:
            parts.append(f"{stats.messages:,} messages in {result.seconds:.0f} s, "
                         f"{len(stats.gaps)} gap(s), {stats.dropped_text()}")
    if status["held"] or status["dropped"]:
        parts.append(f"{status['held']} held, {status['dropped']} dropped after gaps")
    print(f"transitwatch: watch: {'; '.join(parts)}", file=sys.stderr)
    dispatcher = result.alerts
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
    p.add_argument("--as-rel", metavar="FILE",
                   help="CAIDA serial-1/serial-2 AS relationships for each upstream's relationship "
                        "(default, as for events: the file 'registry update --as-rel' fetched, else "
                        "inferred from the FILES)")
    p.add_argument("--collector", metavar="NAME", help="collector of all FILES (default: from their paths)")
    p.add_argument("--tz", metavar="ZONE", help="also show local times in this IANA zone")
    p.add_argument("--json", action="store_true", help="events as JSON lines (stdout channels too)")
    _add_registry_args(p)
