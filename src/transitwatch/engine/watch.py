"""``tw.watch``: events as they are confirmed, replaying files and/or following RIS Live, with the
alert channels of a config, as ``transitwatch watch`` does.

The watcher itself (incremental state, the clock, the gap rules) is
:class:`transitwatch.live.watch.Watcher`; this module chooses the inputs, the settings and the
alert channels, runs it, and returns a :class:`WatchResult`. Events reach ``on_event`` as they
are confirmed; a blocking call that returns when the files are replayed, or when the live feed
has been followed for ``for_seconds`` (or the caller interrupts it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from transitwatch.engine.sources import FileSource, LiveSource, Source, files
from transitwatch.errors import TransitwatchError
from transitwatch.results import Result, utc_datetime

__all__ = ["watch", "WatchResult"]


class WatchResult(Result):
    """What a watch saw: the events in the order they were confirmed (one row each), the
    watcher's notices (gaps, held and dropped losses), what the readers said, and for a live run
    the feed's statistics. ``to_dict()["events"]`` are the documents ``watch --json`` prints
    (each with ``"record": "event"`` there)."""

    columns = ("type", "phase", "target", "subject", "onset", "emitted_at", "uncertain")

    def __init__(self, targets: list[Any], tz: str | None) -> None:
        self.targets = targets
        self.tz = tz
        self.events: list[Any] = []          # WatchEvent, in confirmation order
        self.watch_notices: list[Any] = []   # the watcher's Notice objects
        self.notices: list[str] = []         # the readers' notes (left-out files, damage)
        self.status: dict[str, Any] = {}
        self.live: Any = None                # LiveStats of a live run
        self.url: str | None = None
        self.seconds = 0.0                   # wall time of the run
        self.alerts: Any = None              # the AlertDispatcher of a config's channels
        #: where upstream events' ``relationship`` came from (as ``upstreams``' JSON says)
        self.relationships: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": [t.to_dict() for t in self.targets],
            "events": [e.to_dict(self.tz) for e in self.events],
            "notices": [n.to_dict() for n in self.watch_notices],
            "reader_notices": list(self.notices),
            "status": dict(self.status),
            "live": ({"url": self.url, **self.live.to_dict()} if self.live is not None else None),
            "relationships": self.relationships,
        }

    def records(self) -> list[dict[str, Any]]:
        return [{"type": e.type, "phase": e.phase, "target": e.target, "subject": e.subject,
                 "onset": utc_datetime(e.onset), "emitted_at": utc_datetime(e.emitted_at),
                 "uncertain": e.uncertain} for e in self.events]

    def _summary(self) -> str:
        labels = ", ".join(t.label for t in self.targets)
        return f"{len(self.events)} event(s) for {labels}"


def _relationships(as_rel: Any, source: Any, live: bool) -> tuple[Any, dict[str, Any]]:
    """The relationships that name each upstream's ``relationship``, by the rules of ``events``:
    ``as_rel``, else CAIDA's file fetched by ``registry update --as-rel`` nearest the data, else
    inferred (AS-Rank) from the files replayed (or seeding a live run); a live run without files
    takes the fetched file nearest now, or has none (``unknown``, the note says why)."""
    from transitwatch.engine.dependence import fetched_relationships, relationship_context

    if as_rel is None and source is None:
        return fetched_relationships(time.time() if live else None)
    try:
        return relationship_context(as_rel, source)   # the full inference, as events uses
    except TransitwatchError as exc:
        if as_rel is not None:
            raise _error(str(exc), "as_rel") from None
        return None, {"source": None, "note": str(exc)}


def _error(text: str, param: str | None = None) -> TransitwatchError:
    exc = TransitwatchError(text)
    exc.param = param  # type: ignore[attr-defined]  # which argument was wrong (the CLI names its option)
    return exc


def watch(
    targets: str | Iterable[str | Any] = (),
    src: Source | str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    *,
    country: Iterable[str] = (),
    config: str | os.PathLike[str] | Any = None,
    live: bool = False,
    ris_live_url: str | None = None,
    for_seconds: float | str | None = None,
    backoff: float = 1.0,
    min_peers: int | None = None,
    min_duration: float | str | None = None,
    baseline: float | str | None = None,
    resync: float | str | None = None,
    detect: str | Sequence[str] | None = None,
    tz: str | None = None,
    registry: Any = None,
    country_source: str = "geo",
    collector: str | None = None,
    on_event: Callable[[Any], None] | None = None,
    on_notice: Callable[[Any], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    on_problem: Callable[[str], None] | None = None,
    on_end: Callable[[WatchResult], None] | None = None,
    stdout_format: str | None = None,
    progress: Any = None,
    as_rel: Any = None,
) -> WatchResult:
    """Watch ``targets`` (ASes, prefixes, several joined by commas, two-letter country codes;
    ``country=`` adds countries) and report each event once, when it is confirmed.

    - ``src``: MRT files to replay (``tw.files(...)`` or paths), or ``tw.live(...)``; with
      ``live=True`` the files seed the state and RIS Live (``ris_live_url``, default RIPE's) is
      followed after them for ``for_seconds`` (default: until interrupted). Without seed files,
      the first ``baseline`` (default 15 minutes) of a live feed is its starting state.
    - ``config``: an alert config (a TOML path or a loaded ``AlertConfig``): its targets are
      watched too, its ``[watch]`` settings are the defaults, and events go to its channels
      (``stdout_format="json"`` makes its stdout channels print JSON).
    - ``on_event(WatchEvent)``, ``on_notice(Notice)``: as they happen; ``on_note(text)``: the
      readers' notes after a replay and the subscription of a live run; ``on_problem(text)``:
      alert delivery failures; ``on_end(result)``: once, however the run ends (an error, an
      interrupt), with what was seen.

    Bad input (a target, a setting, a config, a zone, a RIS Live URL, a country RIS Live cannot
    be subscribed to) raises :class:`~transitwatch.errors.TransitwatchError`.
    """
    import asyncio

    from transitwatch.engine.queries import _zone, registry_of
    from transitwatch.live import alerts as alerting
    from transitwatch.live import watch as watching
    from transitwatch.sources.rislive import RIS_LIVE_URL, LiveStats, RisLiveError
    from transitwatch.times import parse_duration, positive_duration

    if isinstance(src, LiveSource):
        live, ris_live_url = True, ris_live_url or src.url
        src = None
    if config is not None and not isinstance(config, alerting.AlertConfig):
        try:
            config = alerting.load_config(os.fspath(config))
        except alerting.AlertConfigError as exc:
            raise _error(str(exc), "config") from None
    texts = [targets] if isinstance(targets, str) else list(targets)
    try:
        chosen = [t if isinstance(t, watching.WatchTarget) else watching.WatchTarget.parse(str(t))
                  for t in texts]
        chosen += [watching.WatchTarget.for_country(cc) for cc in country]
    except watching.WatchError as exc:
        raise _error(str(exc), "targets") from None
    if config is not None:
        chosen += [t for t in config.targets if t.label not in {x.label for x in chosen}]
    if not chosen:
        raise _error("nothing to watch: give an AS, a prefix or --country CC "
                     "(or a --config with [[targets]])", "targets")
    source: FileSource | None
    if src is None:
        source = None
    elif isinstance(src, FileSource):
        source = src
    elif isinstance(src, Source):
        raise _error(f"watch replays MRT files or follows RIS Live, not a {src.kind} source", "src")
    else:
        source = files([src] if isinstance(src, str | os.PathLike) else list(src), collector=collector)
    if not live and source is None:
        raise _error("give MRT FILES to replay, or --live to follow RIS Live", "src")
    tz = tz or (config.timezone if config is not None else None)
    tz = _zone(tz)
    base = config.settings if config is not None else watching.WatchSettings()
    try:
        if baseline is not None and baseline != "":
            base_seconds = parse_duration(baseline)
        elif (config is not None and "baseline" in config.watch_keys) or not live or source is not None:
            base_seconds = base.baseline
        else:
            base_seconds = watching.LIVE_BASELINE  # live without seed files: nothing known before
        detectors = (tuple(detect.split(",")) if isinstance(detect, str) else tuple(detect)) if detect \
            else base.detectors
        settings = watching.WatchSettings(
            min_peers=min_peers if min_peers is not None else base.min_peers,
            min_duration=parse_duration(min_duration) if min_duration else base.min_duration,
            baseline=base_seconds,
            resync=parse_duration(resync) if resync else base.resync,
            detectors=detectors,
            check_every=base.check_every,
        )
        run_for = positive_duration(for_seconds, "--for") if for_seconds not in (None, "") else None
    except (ValueError, watching.WatchError) as exc:
        raise _error(str(exc), "settings") from None
    try:
        backoff = positive_duration(backoff, "--backoff")
    except ValueError as exc:
        raise _error(str(exc), "backoff") from None
    reg = registry_of(registry, country_source)
    if live:
        for i, t in enumerate(chosen):
            if t.country and not (t.asns or t.prefixes):
                asns, prefixes = watching.country_registrations(t.country, reg)
                if not (asns or prefixes):
                    raise _error(
                        f"RIS Live cannot be filtered by country, and no RIR file registers an AS or "
                        f"prefix to {t.country}: run 'transitwatch registry update', or list the "
                        f"country's ASes in a --config target (country = \"{t.country}\", asns = [...])",
                        "country")
                chosen[i] = watching.WatchTarget.for_country(t.country, asns=asns, prefixes=prefixes,
                                                             name=t.name)

    result = WatchResult(chosen, tz)
    dispatcher = None
    if config is not None:
        channels = config.channels or [alerting.ChannelConfig(type="stdout", name="stdout")]
        if stdout_format:
            for c in channels:
                if c.type == "stdout":
                    c.format = stdout_format
        try:
            # Webhook alerts go through a durable outbox beside the config: what a receiver has
            # not accepted is retried on the next run, and an alert already sent is not resent.
            outbox = config.outbox_path if any(c.type == "webhook" for c in channels) else None
            dispatcher = alerting.AlertDispatcher(channels, tz=tz, on_problem=on_problem, outbox=outbox)
        except alerting.AlertConfigError as exc:
            raise _error(str(exc), "config") from None
    result.alerts = dispatcher

    def event_seen(event: watching.WatchEvent) -> None:
        result.events.append(event)
        if dispatcher is not None:
            dispatcher.send(event)
        if on_event is not None:
            on_event(event)

    def notice_seen(notice: watching.Notice) -> None:
        result.watch_notices.append(notice)
        if on_notice is not None:
            on_notice(notice)
        if dispatcher is not None:
            dispatcher.notice(notice)

    rels = None
    if "upstream" in settings.detectors:
        rels, result.relationships = _relationships(as_rel, source, live)

    def say_relationships() -> None:
        said = result.relationships
        if on_note is not None and said is not None:
            on_note(f"relationships: {said.get('source') or said.get('note')}")

    if not live:
        say_relationships()   # before the replay's events, which carry them
    watcher = watching.Watcher(chosen, settings=settings, registry=reg, on_event=event_seen,
                               on_notice=notice_seen, relationships=rels)
    started = time.monotonic()
    if live:
        result.live = LiveStats()
    try:
        if source is not None:
            stream = source.observations(notices=result.notices, progress=progress)
            if live:
                watching.seed(watcher, stream)
            else:
                watching.replay(watcher, stream)
            for line in result.notices:
                if on_note is not None:
                    on_note(line)
        if live:
            url = ris_live_url or (config.ris_live_url if config is not None else None) or RIS_LIVE_URL
            result.url = url
            prefixes, paths = watcher.subscriptions()
            if on_note is not None:
                on_note(f"following {url} for {', '.join(t.label for t in chosen)} "
                        f"({len(prefixes)} prefix and {len(paths)} path subscriptions)")
            say_relationships()
            from transitwatch.live.watchdog import Watchdog, WatchdogExpired

            # for_seconds ends the run even if something is stuck (watch_live itself stops on
            # time otherwise; the watchdog only fires a little after that).
            guard = Watchdog(run_for + 2.0, what="watch --for") if run_for is not None else None
            try:
                if guard is not None:
                    guard.__enter__()
                asyncio.run(watching.watch_live(watcher, url, duration=run_for, stats=result.live,
                                                backoff=backoff))
            except RisLiveError as exc:
                raise _error(str(exc), "ris_live_url") from None
            except WatchdogExpired as exc:
                raise _error(f"{exc}; stopped") from None
            finally:
                if guard is not None:
                    guard.__exit__(None, None, None)
    finally:
        if dispatcher is not None:
            dispatcher.close()
        result.status = watcher.status()
        result.seconds = time.monotonic() - started
        if on_end is not None:
            on_end(result)
    return result
