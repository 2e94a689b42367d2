"""Watch targets as routing data arrives: the offline detectors re-run on a growing view, and each
event is emitted once, when it becomes confirmed.

>>> watcher = Watcher([WatchTarget.parse("AS131279")], on_event=print)           # doctest: +SKIP
>>> replay(watcher, read_files(paths))               # archive data: events in confirmation order
>>> asyncio.run(watch_live(watcher, duration=3600))  # RIS Live: events as they are confirmed

The :class:`Watcher` keeps, per target, a :class:`~transitwatch.state.table.RoutingState` fed
incrementally (:meth:`Watcher.feed`) and a :class:`~transitwatch.state.view.ViewBuilder` over it.
At each check (on every live batch, every ``check_every`` stream seconds in a replay, and
periodically while the feed is quiet) it builds the target's current
:class:`~transitwatch.state.view.TargetView` and runs the same detectors as ``transitwatch events``
(:func:`~transitwatch.detect.events.detect_events`). An event is emitted the first time a check
finds it confirmed, and never again: its identity is ``(type, target, subject, onset)`` (subject:
the upstream, or the prefix and origin, ...). A country target keeps its domestic observations and
rebuilds :func:`~transitwatch.metrics.country.country_view` at each check.

**The clock.** Detectors confirm a change that lasts ``min_duration``, so time must advance even
when no message arrives. The watcher's clock is the latest observation time; live, plus the wall
time elapsed since that observation arrived. A replay of old data therefore behaves as it did
then, and a live feed (whose timestamps are now) confirms on time.

**Gaps** (a dropped RIS Live connection, or the time between seed files and the live stream):
RIS Live has no replay, so what happened meanwhile is unknown. The rules:

1. Routes are kept through a gap: silence is not a withdrawal (RIS Live does not re-send stable
   routes after a reconnect, so treating them as stale would invent losses).
2. The gap's *uncertain window* runs from the last observation before it to ``resync`` seconds
   (default ``min_duration``) after the first observation after it.
3. An event whose onset or confirmation falls in an uncertain window is emitted with
   ``uncertain`` set: the change may have happened earlier, during the gap.
4. A ``lost_upstream`` in an uncertain window is held until the window has passed, and emitted
   only if the detectors still report it then (the state may have been stale: a route missed in
   the gap may show the upstream is still there). If the upstream comes back while the loss is
   held, neither the loss nor the return is reported (a notice says so).
5. A ``lost_upstream`` that only rests on routes "not re-announced after session reset" whose
   re-announcement time overlaps a gap is dropped (with a notice): the re-announcements may have
   been sent while we were disconnected.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from transitwatch.detect.events import detect_events, parse_detectors
from transitwatch.detect.upstream_change import (
    DEFAULT_MIN_DURATION,
    DEFAULT_MIN_PEERS,
    LOST_UPSTREAM,
    STALE_CAUSE,
    UpstreamEvent,
)
from transitwatch.metrics.country import country_view
from transitwatch.observation import STATE, Observation
from transitwatch.registry import Registry, normalise_country
from transitwatch.sources.rislive import RIS_LIVE_URL, LiveGap, LiveStats, RisLiveError, ris_live_stream
from transitwatch.state.liveness import LivenessTracker
from transitwatch.state.table import RoutingState
from transitwatch.state.target import PrefixTooBroad, Target, TargetError, refuse_too_broad
from transitwatch.state.view import TargetView, ViewBuilder
from transitwatch.times import iso_local, iso_utc

__all__ = [
    "LIVE_BASELINE",
    "Notice",
    "WatchError",
    "WatchEvent",
    "WatchSettings",
    "WatchTarget",
    "Watcher",
    "country_registrations",
    "event_key",
    "read_targets",
    "replay",
    "seed",
    "subscriptions_of",
    "upstream_names",
    "watch_live",
]


#: Live without seed files, the upstreams seen in this first stretch (seconds) are the starting
#: state: RIS Live only sends changes, so a stable route shows up only when it is re-announced.
LIVE_BASELINE = 900.0


class WatchError(ValueError):
    """A watch that cannot start (a bad target, a country that cannot be subscribed to)."""


# -- what is watched ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchTarget:
    """One watched thing: an AS or prefixes (``target``), or a country (``country``).

    For a country, ``asns`` and ``prefixes`` are what RIS Live is subscribed to (RIS Live cannot
    filter by country): its origin ASes and address blocks, given by the user and/or taken from
    the RIR files (:func:`country_registrations`). ``name`` is a label for alerts.
    """

    label: str
    target: Target | None = None
    country: str | None = None
    asns: tuple[int, ...] = ()
    prefixes: tuple[str, ...] = ()
    name: str | None = None

    @classmethod
    def parse(cls, text: str, *, name: str | None = None) -> WatchTarget:
        """``"AS131279"``, ``"175.45.176.0/22"``, several joined by commas, or a two-letter
        country code (``"KP"``). WatchError (one line) otherwise."""
        raw = str(text).strip()
        if len(raw) == 2 and raw.isalpha():
            return cls.for_country(raw, name=name)
        try:
            target = Target.parse(raw)
        except TargetError as exc:
            raise WatchError(f"{exc} (or a two-letter country code such as KP)") from None
        try:
            refuse_too_broad(target)   # the HTTP API's rule: a /0 would subscribe to every route
        except PrefixTooBroad as exc:
            raise WatchError(str(exc)) from None
        return cls(label=target.label, target=target, name=name)

    @classmethod
    def for_country(cls, cc: str, *, asns: Iterable[int] = (), prefixes: Iterable[str] = (),
                    name: str | None = None) -> WatchTarget:
        try:
            code = normalise_country(cc)
        except ValueError as exc:
            raise WatchError(str(exc)) from None
        nets = []
        for p in prefixes:
            try:
                nets.append(str(ipaddress.ip_network(str(p).strip(), strict=False)))
            except ValueError:
                raise WatchError(f"country {code}: not a prefix: {p!r}") from None
        return cls(label=code, country=code, asns=tuple(sorted({int(a) for a in asns})),
                   prefixes=tuple(nets), name=name)

    def subscription(self) -> tuple[list[str], list[str]]:
        """(prefixes, AS-path patterns) to subscribe to on RIS Live for this target.

        An AS: every path through it (``"131279"``; prefixes announced that way are followed so
        their withdrawals arrive). Prefixes: themselves and more-specifics. A country: its
        prefixes, and paths ending at its origin ASes (``"131279$"``).
        """
        if self.target is not None:
            return [str(n) for n in self.target.networks], [str(a) for a in sorted(self.target.asns)]
        return list(self.prefixes), [f"{a}$" for a in self.asns]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "country": self.country, "asns": list(self.asns),
                "prefixes": list(self.prefixes), "name": self.name}


def subscriptions_of(targets: Iterable[WatchTarget]) -> tuple[list[str], list[str]]:
    """(prefixes, path patterns) to subscribe to on RIS Live for all ``targets``: each target's
    :meth:`WatchTarget.subscription`, joined in order without repeats (the watcher and the
    live service subscribe the same way)."""
    prefixes: list[str] = []
    paths: list[str] = []
    for t in targets:
        p, a = t.subscription()
        prefixes.extend(x for x in p if x not in prefixes)
        paths.extend(x for x in a if x not in paths)
    return prefixes, paths


def upstream_names(registry: Registry | None, event: Any) -> dict[int, str]:
    """``{upstream: name}`` of an event's upstream for its alert (empty without a registry or a
    name); a geolocation hint is marked "~" (who holds the addresses, not the AS's name)."""
    up = getattr(event, "upstream", None)
    if registry is None or not isinstance(up, int):
        return {}
    info = registry.as_info(up)
    name = info.name or (f"~{info.name_hint}" if info.name_hint else None)
    return {up: name} if name else {}


def country_registrations(cc: str, registry: Registry) -> tuple[list[int], list[str]]:
    """The ASNs and address blocks the loaded RIR delegated files register to country ``cc``
    (empty when no RIR file is loaded: run ``transitwatch registry update``)."""
    from transitwatch.registry.rir import parse_delegated

    code = normalise_country(cc)
    asns: set[int] = set()
    prefixes: list[str] = []
    for loaded in registry.rir.files:
        if loaded.kind != "delegated":
            continue
        try:
            with open(loaded.path, encoding="utf-8", errors="replace") as handle:
                rows = parse_delegated(handle)
        except OSError:
            continue
        for row in rows:
            if row["cc"] != code:
                continue
            if row["type"] == "asn":
                start = int(row["start"])
                asns.update(range(start, start + min(int(row["value"]), 65536)))
            elif row["type"] in ("ipv4", "ipv6"):
                prefixes.extend(row["prefixes"])
    return sorted(asns), sorted(set(prefixes))


# -- settings, events, notices --------------------------------------------------------------------


@dataclass
class WatchSettings:
    """Detector parameters (as for ``transitwatch events``) and the watcher's own.

    ``resync``: how long after a gap the state counts as uncertain (None: ``min_duration``).
    ``check_every``: stream seconds between detector runs in a replay; wall seconds between
    runs while a live feed is quiet.
    """

    min_peers: int = DEFAULT_MIN_PEERS
    min_duration: float = DEFAULT_MIN_DURATION
    baseline: float = 0.0
    resync: float | None = None
    detectors: tuple[str, ...] = ("upstream",)
    check_every: float = 60.0

    def __post_init__(self) -> None:
        if self.min_peers < 1:
            raise WatchError("min_peers must be at least 1")
        if self.min_duration < 0 or self.baseline < 0 or (self.resync or 0) < 0:
            raise WatchError("min_duration, baseline and resync must not be negative")
        if self.check_every <= 0:
            raise WatchError("check_every must be positive")
        try:
            self.detectors = parse_detectors(list(self.detectors))
        except ValueError as exc:
            raise WatchError(str(exc)) from None

    @property
    def resync_seconds(self) -> float:
        return self.min_duration if self.resync is None else self.resync

    def to_dict(self) -> dict[str, Any]:
        return {"min_peers": self.min_peers, "min_duration": self.min_duration, "baseline": self.baseline,
                "resync": self.resync_seconds, "detectors": list(self.detectors),
                "check_every": self.check_every}


def _subject(d: dict[str, Any]) -> str:
    for key in ("upstream", "prefix", "collector", "reason"):
        if d.get(key) is not None:
            value = d[key]
            if key == "prefix" and d.get("origin") is not None:
                return f"{value} AS{d['origin']}"
            return f"AS{value}" if key == "upstream" else str(value)
    return ""


def event_key(target: str, event: Any) -> tuple[str, str, str, float]:
    """An event's identity across detector runs: (type, target, subject, onset)."""
    return (event.type, target, _subject(event.to_dict()), float(event.onset))


@dataclass
class WatchEvent:
    """A detector's event (``event``: an UpstreamEvent, OriginEvent, OutageEvent...) as the
    watcher emitted it: for ``target`` (its label), at ``emitted_at`` (the watcher's clock), with
    ``uncertain`` saying why its time or the change itself may be off (a gap), if so."""

    event: Any
    target: str
    emitted_at: float
    uncertain: str | None = None
    target_name: str | None = None
    names: dict[int, str] = field(default_factory=dict)
    #: "onset" (the event began) or "end" (it ended: an outage's recovery...), for alerts on both.
    phase: str = "onset"

    @property
    def type(self) -> str:
        return str(self.event.type)

    @property
    def onset(self) -> float:
        return float(self.event.onset)

    @property
    def key(self) -> tuple[str, str, str, float]:
        return event_key(self.target, self.event)

    @property
    def subject(self) -> str:
        return self.key[2]

    def to_dict(self, tz: str | None = None) -> dict[str, Any]:
        """The detector's JSON shape plus ``watch_target``, ``emitted_at``, ``uncertain``."""
        out = self.event.to_dict(tz)
        out["target"] = self.target
        if self.target_name:
            out["target_name"] = self.target_name
        up = out.get("upstream")
        if isinstance(up, int) and up in self.names:
            out["upstream_name"] = self.names[up]
        out["emitted_at"] = iso_utc(self.emitted_at)
        out["uncertain"] = self.uncertain
        out["phase"] = self.phase
        return out

    def summary(self, tz: str | None = None) -> str:
        """One line for a terminal, a log or a chat message."""
        def when(t: float) -> str:
            return iso_utc(t) + (f" ({iso_local(t, tz)})" if tz else "")

        who = self.target + (f" ({self.target_name})" if self.target_name else "")
        ev = self.event
        if isinstance(ev, UpstreamEvent):
            name = f" ({self.names[ev.upstream]})" if ev.upstream in self.names else ""
            verb = "lost upstream" if ev.type == LOST_UPSTREAM else "new upstream"
            text = (f"{ev.type}: {who} {verb} AS{ev.upstream}{name} since {when(ev.onset)}, "
                    f"seen by {ev.peers} peer(s), confirmed {iso_utc(ev.confirmed)} by {ev.confirmed_by}")
            if ev.evidence:
                e = ev.evidence[0]
                text += f"; e.g. {e.peer} {e.prefix} {e.as_path}"
                if ev.type == LOST_UPSTREAM:
                    text += f" -> {e.new_as_path or 'withdrawn'}"
        else:
            from transitwatch.cli.render_events import event_line

            head, _ = event_line(ev, tz)
            text = f"{ev.type}: {who} " + head[len(ev.type):].strip()
        if self.phase == "end":
            end = getattr(ev, "end", None)
            text = f"ended{' ' + when(end) if end is not None else ''}: {text}"
        if self.uncertain:
            text += f" [uncertain: {self.uncertain}]"
        return text


@dataclass(frozen=True)
class Notice:
    """Something the watcher says besides events: ``kind`` is ``"gap"``, ``"problem"``
    (a malformed message, a reconnection...), ``"resync"`` (data again after a gap), ``"held"`` /
    ``"dropped"`` (gap rules 4-5); ``time`` the watcher's clock (None before the first observation)."""

    kind: str
    text: str
    time: float | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"record": "notice", "kind": self.kind, "text": self.text,
                "time": iso_utc(self.time) if self.time is not None else None, **self.data}

    def __str__(self) -> str:
        return self.text


@dataclass
class _Gap:
    """A gap in stream time: from the last observation before it to the first after it (None
    until that arrives); ``resync_until`` is the end of its uncertain window."""

    start: float
    end: float | None
    reason: str
    resync: float

    @property
    def resync_until(self) -> float:
        return float("inf") if self.end is None else self.end + self.resync

    def covers(self, t: float) -> bool:
        return self.start <= t <= self.resync_until

    def describe(self) -> str:
        end = iso_utc(self.end) if self.end is not None else "now"
        return f"RIS Live gap {iso_utc(self.start)} - {end} ({self.reason})"


# -- per-target trackers ---------------------------------------------------------------------------


class _RoutesTracker:
    """An AS or prefix target: routing state fed incrementally, view built from its changes."""

    def __init__(self, watched: WatchTarget) -> None:
        assert watched.target is not None
        self.watched = watched
        self.builder = ViewBuilder(watched.target)
        self.state = RoutingState(watched.target, on_change=self.builder.route,
                                  on_session=self.builder.session)

    def feed(self, batch: list[Observation]) -> None:
        self.state.replay(batch, finish=False)

    def finish(self) -> None:
        self.state.finish()

    def view(self, now: float) -> TargetView:
        view = self.builder.view(self.state)
        if view.end is None or now > view.end:
            view.end = now
        return view


class _CountryTracker:
    """A country: its domestic routes (and every session change) are kept, and the country view
    is rebuilt at each check (the country module builds it from a replay, not incrementally)."""

    def __init__(self, watched: WatchTarget, registry: Registry) -> None:
        assert watched.country is not None
        self.watched = watched
        self.cc = watched.country
        self.registry = registry
        self.kept: list[Observation] = []

    def feed(self, batch: list[Observation]) -> None:
        country_of = self.registry.country_of_prefix
        for o in batch:
            if o.kind == STATE or (o.prefix and country_of(o.prefix)[0] == self.cc):
                self.kept.append(o)

    def finish(self) -> None:
        pass

    def view(self, now: float) -> TargetView:
        view = country_view(self.cc, self.kept, self.registry)
        if view.end is None or now > view.end:
            view.end = now
        return view


# -- the watcher -----------------------------------------------------------------------------------


class Watcher:
    """Feeds observations to every target's state and emits confirmed events once.

    ``on_event`` gets each :class:`WatchEvent`, ``on_notice`` each :class:`Notice`. ``live``
    makes the clock advance with wall time between observations. ``registry`` is needed for
    country targets (and gives upstream names when it knows them). With the outage detector,
    ``liveness`` (a :class:`~transitwatch.state.liveness.LivenessTracker`, made when not given)
    records collector silences in replays, as ``transitwatch events`` does; a filtered live feed
    says nothing about collector silences, so it is not fed live.
    """

    def __init__(
        self,
        targets: Sequence[WatchTarget],
        *,
        settings: WatchSettings | None = None,
        registry: Registry | None = None,
        live: bool = False,
        on_event: Callable[[WatchEvent], Any] | None = None,
        on_notice: Callable[[Notice], Any] | None = None,
        wall_clock: Callable[[], float] = time.monotonic,
        liveness: LivenessTracker | None = None,
        relationships: Any = None,
    ) -> None:
        if not targets:
            raise WatchError("nothing to watch: give at least one AS, prefix or country")
        self.settings = settings or WatchSettings()
        self.targets = list(targets)
        if any(t.country for t in self.targets) and registry is None:
            registry = Registry.load()
        self.registry = registry
        self.live = live
        self.on_event = on_event
        self.on_notice = on_notice
        self._wall = wall_clock
        #: AS relationships (a :class:`~transitwatch.registry.relationships.Relationships`) that
        #: give each new/lost upstream its ``relationship``, as ``transitwatch events`` does
        #: (None: ``unknown``)
        self.relationships = relationships
        self.liveness = liveness if liveness is not None or "outage" not in self.settings.detectors \
            else LivenessTracker()
        self._trackers: list[_RoutesTracker | _CountryTracker] = []
        for t in self.targets:
            if t.target is not None:
                self._trackers.append(_RoutesTracker(t))
            else:
                assert registry is not None
                self._trackers.append(_CountryTracker(t, registry))
        self.stream_time: float | None = None
        self._stream_wall = 0.0
        self._last_check: float | None = None
        self._emitted: set[tuple[str, str, str, float]] = set()
        self._ended: set[tuple[str, str, str, float]] = set()
        #: "end" events (an outage's recovery...) emitted after their onset, in order.
        self.ends: list[WatchEvent] = []
        self._held: dict[tuple[str, str, str, float], WatchEvent] = {}
        self._dropped: set[tuple[str, str, str, float]] = set()
        self.gaps: list[_Gap] = []
        self.events: list[WatchEvent] = []
        self.notices: list[Notice] = []
        self.observations = 0

    # -- the clock ----------------------------------------------------------------------------

    def clock(self) -> float | None:
        """Stream time now (see the module doc); None before the first observation."""
        if self.stream_time is None:
            return None
        if not self.live:
            return self.stream_time
        return self.stream_time + max(0.0, self._wall() - self._stream_wall)

    # -- input --------------------------------------------------------------------------------

    def feed(self, observations: Iterable[Observation]) -> list[WatchEvent]:
        """Apply observations (time order) to every target; check when due. Returns the events
        emitted by that check."""
        # A time that is not finite cannot be ordered (NaN would stall detectors): never applied.
        batch = [o for o in observations if math.isfinite(o.time)]
        if not batch:
            return []
        latest = max(o.time for o in batch)
        for gap in self.gaps:
            if gap.end is None:
                gap.end = min(o.time for o in batch)
                self._notice("resync", f"RIS Live data again from {iso_utc(gap.end)}; state uncertain "
                             f"until {iso_utc(gap.resync_until)} (changes in the gap were not seen)",
                             gap.end)
        if self.stream_time is None or latest >= self.stream_time:
            self.stream_time = latest
            self._stream_wall = self._wall()
        self.observations += len(batch)
        for tracker in self._trackers:
            tracker.feed(batch)
        now = self.clock()
        if self.live or self._last_check is None or (
                now is not None and now >= self._last_check + self.settings.check_every):
            return self.check()
        return []

    def gap(self, gap: LiveGap | None = None, *, reason: str | None = None) -> None:
        """A disconnection (or any time without data): state kept, marked uncertain (module doc)."""
        why = reason or (gap.reason if gap is not None else "no data")
        start = self.stream_time if self.stream_time is not None else (
            gap.disconnected_at if gap is not None else 0.0)
        record = _Gap(start, None, why, self.settings.resync_seconds)
        self.gaps.append(record)
        text = str(gap) if gap is not None else f"gap in the data after {iso_utc(start)} ({why})"
        self._notice("gap", text + "; routes kept, events near it are marked uncertain", self.clock(),
                     gap.to_dict() if gap is not None else {"reason": why})

    def problem(self, text: str) -> None:
        """A problem the source survived (a malformed message...): recorded as a notice."""
        self._notice("problem", text, self.clock())

    def finish(self) -> list[WatchEvent]:
        """End of a replay: close open RIB dumps and check at the last observation time."""
        for tracker in self._trackers:
            tracker.finish()
        return self.check()

    # -- detection ----------------------------------------------------------------------------

    def subscriptions(self) -> tuple[list[str], list[str]]:
        """(prefixes, path patterns) to subscribe to on RIS Live for every target."""
        return subscriptions_of(self.targets)

    def views(self) -> list[TargetView]:
        """Every target's current view (up to the clock)."""
        now = self.clock()
        return [tr.view(now if now is not None else 0.0) for tr in self._trackers]

    def check(self, now: float | None = None) -> list[WatchEvent]:
        """Run the detectors on every target's current view; emit what is newly confirmed."""
        now = self.clock() if now is None else now
        if now is None:
            return []
        self._last_check = now
        s = self.settings
        emitted: list[WatchEvent] = []
        for tracker in self._trackers:
            watched = tracker.watched
            view = tracker.view(now)
            found = detect_events(
                view, self.liveness.liveness() if self.liveness is not None else None,
                detectors=s.detectors,
                upstream={"min_peers": s.min_peers, "min_duration": s.min_duration, "baseline": s.baseline},
                outage={"min_duration": s.min_duration},
                origin={"baseline": s.baseline},
            )
            if self.relationships is not None:
                from transitwatch.metrics.relationship_view import annotate_events

                # the rule of `transitwatch events`: the most common relationship over the
                # event's paths (a lost upstream's: the routes it carried)
                annotate_events([e for e in found.events if isinstance(e, UpstreamEvent)], view,
                                self.relationships)
            seen_keys = set()
            for event in found.events:
                key = event_key(watched.label, event)
                seen_keys.add(key)
                if key in self._emitted or key in self._dropped:
                    continue
                candidate = WatchEvent(event, watched.label, now, target_name=watched.name,
                                       names=self._names(event))
                verdict = self._gap_rule(candidate, now)
                if verdict == "drop":
                    self._dropped.add(key)
                    self._held.pop(key, None)
                    self._notice("dropped", f"not reported: {candidate.summary()} (the routes may have "
                                 "been re-announced during a RIS Live gap)", now)
                    continue
                if verdict == "hold":
                    if key not in self._held:
                        self._held[key] = candidate
                        self._notice("held", f"holding until the state has resynchronised: "
                                     f"{candidate.summary()}", now)
                    continue
                reverted = [k for k in self._held if k[:3] == (LOST_UPSTREAM, *key[1:3]) and k[3] < key[3]]
                if event.type != LOST_UPSTREAM and reverted:
                    for k in reverted:
                        del self._held[k]
                        self._dropped.add(k)
                    self._dropped.add(key)
                    self._notice("dropped", f"not reported: {watched.label} lost and regained {key[2]} "
                                 "while resynchronising after a RIS Live gap", now)
                    continue
                self._held.pop(key, None)
                self._emitted.add(key)
                self.events.append(candidate)
                emitted.append(candidate)
                if self.on_event is not None:
                    self.on_event(candidate)
            for event in found.events:
                # An emitted event that has ended since (an outage's recovery): said once too.
                key = event_key(watched.label, event)
                if (key in self._emitted and key not in self._ended
                        and getattr(event, "end", None) is not None
                        and not getattr(event, "ends_as_event", False)):   # an upstream's end: its own event
                    self._ended.add(key)
                    ended = WatchEvent(event, watched.label, now, target_name=watched.name,
                                       names=self._names(event), phase="end")
                    self.ends.append(ended)
                    emitted.append(ended)
                    if self.on_event is not None:
                        self.on_event(ended)
            for key in [k for k in self._held if k[1] == watched.label and k not in seen_keys]:
                held = self._held.pop(key)
                self._dropped.add(key)
                self._notice("dropped", f"no longer reported after resynchronising: {held.summary()}", now)
        return emitted

    def _gap_rule(self, candidate: WatchEvent, now: float) -> str:
        """'emit', 'hold' or 'drop' (module doc, rules 3-5); sets ``candidate.uncertain``."""
        ev = candidate.event
        times = [ev.onset, getattr(ev, "confirmed", ev.onset)]
        near = [g for g in self.gaps if any(g.covers(t) for t in times)]
        if isinstance(ev, UpstreamEvent) and ev.type == LOST_UPSTREAM and ev.evidence and all(
                e.cause == STALE_CAUSE for e in ev.evidence):
            grace = self.settings.min_duration
            for g in self.gaps:
                if g.start <= ev.confirmed and g.resync_until >= ev.confirmed - grace:
                    return "drop"
        if not near:
            return "emit"
        candidate.uncertain = "; ".join(
            f"{g.describe()}: what happened during it was not seen" for g in near)
        if ev.type == LOST_UPSTREAM and any(now < g.resync_until for g in near):
            return "hold"
        return "emit"

    def _names(self, event: Any) -> dict[int, str]:
        return upstream_names(self.registry, event)

    def _notice(self, kind: str, text: str, when: float | None, data: dict[str, Any] | None = None) -> None:
        notice = Notice(kind, text, when, data or {})
        self.notices.append(notice)
        if self.on_notice is not None:
            self.on_notice(notice)

    def status(self) -> dict[str, Any]:
        """Counters for a final report: observations, events, gaps, held and dropped events."""
        now = self.clock()
        return {
            "targets": [t.label for t in self.targets],
            "observations": self.observations,
            "events": len(self.events),
            "gaps": len(self.gaps),
            "held": len(self._held),
            "dropped": len(self._dropped),
            "clock": iso_utc(now) if now is not None else None,
            "settings": self.settings.to_dict(),
        }


# -- drivers --------------------------------------------------------------------------------------


def _chunks(observations: Iterable[Observation], step: float) -> Iterator[list[Observation]]:
    """Time-ordered observations cut into chunks at ``step``-second boundaries of stream time
    (never inside a run of equal times)."""
    chunk: list[Observation] = []
    boundary: float | None = None
    for o in observations:
        if boundary is None:
            boundary = o.time + step
        elif o.time >= boundary and chunk and o.time > chunk[-1].time:
            yield chunk
            chunk = []
            boundary = o.time + step
        chunk.append(o)
    if chunk:
        yield chunk


def replay(watcher: Watcher, observations: Iterable[Observation]) -> list[WatchEvent]:
    """Feed a recorded stream (e.g. ``read_files(paths)``) through ``watcher`` as if it arrived
    live: detectors run every ``check_every`` stream seconds, events come out in the order they
    were confirmed. Ends with :meth:`Watcher.finish`. Returns every event emitted."""
    before = len(watcher.events)
    if watcher.liveness is not None:
        observations = watcher.liveness.watch(observations)
    for chunk in _chunks(observations, watcher.settings.check_every):
        watcher.feed(chunk)
    watcher.finish()
    return watcher.events[before:]


@dataclass
class _Problem:
    text: str


async def watch_live(
    watcher: Watcher,
    url: str = RIS_LIVE_URL,
    *,
    duration: float | None = None,
    max_events: int | None = None,
    check_every: float = 1.0,
    stats: LiveStats | None = None,
    stop: Callable[[], bool] | None = None,
    **stream_options: Any,
) -> LiveStats:
    """Follow RIS Live for the watcher's targets until ``duration`` wall seconds have passed or
    ``max_events`` events were emitted, or ``stop()`` says so (checked after each batch and quiet
    period); without any, until cancelled or the stream gives up, which raises
    :class:`~transitwatch.sources.rislive.RisLiveError`.

    Subscribes with :meth:`Watcher.subscriptions` (following prefixes seen on watched paths);
    reports gaps and malformed messages to the watcher; checks on every batch of messages and
    every ``check_every`` seconds while the feed is quiet. ``stream_options`` go to
    :func:`~transitwatch.sources.rislive.ris_live_stream` (``backoff``, ``max_attempts``...).
    """
    watcher.live = True
    stats = stats if stats is not None else LiveStats()
    prefixes, paths = watcher.subscriptions()
    queue: asyncio.Queue[Observation | LiveGap | _Problem | BaseException | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            stream = ris_live_stream(url, prefixes=prefixes, paths=paths, follow_prefixes=bool(paths),
                                     on_gap=queue.put_nowait,
                                     on_problem=lambda text: queue.put_nowait(_Problem(text)),
                                     stats=stats, **stream_options)
            async for observation in stream:
                queue.put_nowait(observation)
        except RisLiveError as exc:
            queue.put_nowait(exc)
        finally:
            queue.put_nowait(None)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration if duration is not None else None
    start_events = len(watcher.events)
    task = asyncio.create_task(pump())
    try:
        while True:
            if max_events is not None and len(watcher.events) - start_events >= max_events:
                break
            if stop is not None and stop():
                break
            timeout = check_every
            if deadline is not None:
                timeout = min(timeout, deadline - loop.time())
                if timeout <= 0:
                    watcher.check()
                    break
            try:
                item = await asyncio.wait_for(queue.get(), timeout)
            except TimeoutError:
                watcher.check()
                continue
            items = [item]
            while not queue.empty():
                items.append(queue.get_nowait())
            batch: list[Observation] = []
            ended = False
            for it in items:
                if isinstance(it, Observation):
                    batch.append(it)
                    continue
                if batch:
                    watcher.feed(batch)
                    batch = []
                if isinstance(it, LiveGap):
                    watcher.gap(it)
                elif isinstance(it, _Problem):
                    watcher.problem(it.text)
                elif isinstance(it, BaseException):
                    raise it
                else:
                    ended = True
            if batch:
                watcher.feed(batch)
            if ended:
                break
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        if stats.malformed:
            watcher.problem(f"RIS Live: {stats.dropped_text()} message(s) dropped")
    return stats


def seed(watcher: Watcher, observations: Iterable[Observation]) -> list[WatchEvent]:
    """Replay archive data (e.g. the latest RIB dump) before following the live feed, so that the
    baseline is known; the time between the seed's end and the live data is a gap."""
    events = replay(watcher, observations)
    if watcher.stream_time is not None:
        watcher.gap(reason="between the seed files and the live stream")
    return events


def read_targets(texts: Iterable[str]) -> list[WatchTarget]:
    """Targets from the command line (AS, prefix, country code); WatchError for a bad one."""
    return [WatchTarget.parse(t) for t in texts]
