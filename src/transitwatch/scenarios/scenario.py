"""Demo scenarios: declarative reconstructions of routing events, written out as real MRT files.

A scenario is a TOML file (the bundled ones live in ``transitwatch/scenarios/``) describing a
route collector, its peers, the watched routes in a RIB dump, background routes, and timed events
(new paths reaching peers over minutes, withdrawals, a flap, a session reset). This module turns it
into :class:`~transitwatch.observation.Observation` objects and, with the project's MRT writer, into
files named and laid out as RIPE RIS publishes them, so the real pipeline can run on them.

Scenarios are **reconstructions from public reports, not recorded data**; every scenario says so in
its ``label`` and lists its sources.

>>> scenario = load_scenario("kp-2017-transtelecom")
>>> scenario.label
'Reconstruction from public reports, not recorded data'
>>> paths = scenario.write_mrt("demo-out")                   # doctest: +SKIP
>>> [p.name for p in paths][:2]                              # doctest: +SKIP
['bview.20171001.0800.gz', 'updates.20171001.0800.gz']

Everything is deterministic: the same file and seed give the same observations and the same bytes.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import os
import random
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from transitwatch.observation import ANNOUNCE, ESTABLISHED, RIB, STATE, WITHDRAW, Observation
from transitwatch.sources.mrt_writer import write_mrt

__all__ = [
    "Arrival",
    "Expectation",
    "Peer",
    "Scenario",
    "ScenarioError",
    "ScenarioEvent",
    "ScenarioFile",
    "Source",
    "list_scenarios",
    "load_scenario",
]

#: BGP FSM states a reset session walks through back to Established (RFC 4271 8.2.2).
_IDLE, _CONNECT, _OPENSENT, _OPENCONFIRM = 1, 2, 4, 5
_EVENT_KINDS = ("announce", "withdraw", "flap", "session_reset")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; ``str()`` is one line naming the file and the key."""


# ---------------------------------------------------------------------------------------------------
# The parts of a scenario.


@dataclass(frozen=True)
class Source:
    """A public report the reconstruction follows."""

    title: str
    url: str

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "url": self.url}


@dataclass(frozen=True)
class Peer:
    """A peer of the scenario's collector; ``id`` is the name the scenario file uses for it."""

    id: str
    asn: int
    ip: str
    name: str
    communities: str | None = None

    @property
    def version(self) -> int:
        return 6 if ":" in self.ip else 4

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "asn": self.asn, "ip": self.ip, "name": self.name,
                "communities": self.communities}


@dataclass(frozen=True)
class Arrival:
    """When a timed event reaches one peer (``delay`` after the event) and, for announcements,
    the path that peer then has."""

    peer: str
    delay: float
    path: str | None = None


@dataclass(frozen=True)
class ScenarioEvent:
    """One timed event: ``announce`` / ``withdraw`` (reaching peers per :class:`Arrival`),
    ``flap`` (a peer withdraws ``prefixes`` and re-announces them ``down_for`` later) or
    ``session_reset`` (a peer's session goes down, is Established again ``down_for`` later, and
    re-announces its table over ``reannounce_over``)."""

    kind: str
    at: float
    note: str = ""
    prefixes: tuple[str, ...] = ()
    arrivals: tuple[Arrival, ...] = ()
    jitter: float = 0.0
    peer: str | None = None
    down_for: float = 0.0
    reannounce_over: float = 0.0


@dataclass(frozen=True)
class Expectation:
    """What the pipeline must find in the scenario's files (``kind``, ``target``, ``upstream``,
    ``onset`` epoch seconds, ``onset_local`` text, ``min_peers``; other keys in ``extra``)."""

    kind: str
    target: str
    upstream: int | None = None
    onset: float | None = None
    onset_local: str | None = None
    min_peers: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioFile:
    """One MRT file a scenario writes: its path relative to the output folder, ``"rib"`` or
    ``"updates"``, and the time span it covers ([start, end); a RIB dump: start == end)."""

    path: Path
    kind: str
    start: float
    end: float


@dataclass(frozen=True)
class _Background:
    prefixes: tuple[str, ...]
    origin: int
    transit: tuple[str, ...]


# ---------------------------------------------------------------------------------------------------
# Parsing helpers: every error names the file and the key.


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


class _Reader:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def error(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(f"{self.origin}: {key}: {message}")

    def table(self, data: Any, key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.error(key, "expected a table")
        return data

    def text(self, data: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or (default is None and not value):
            raise self.error(f"{where}.{key}", "expected a non-empty string")
        return value

    def integer(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
            raise self.error(key, f"{value!r} is not a 32-bit unsigned integer")
        return value

    def time(self, value: Any, key: str) -> float:
        """A TOML offset datetime or ISO text (UTC unless it has an offset) -> epoch seconds."""
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise self.error(key, f"{value!r} is not a time (use 2017-10-01T09:08:00Z)") from None
        if isinstance(value, date) and not isinstance(value, datetime):
            raise self.error(key, f"{value} is a date; give a time (2017-10-01T09:08:00Z)")
        if not isinstance(value, datetime):
            raise self.error(key, f"{value!r} is not a time (use 2017-10-01T09:08:00Z)")
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()

    def duration(self, value: Any, key: str) -> float:
        """``"1m35s"``, ``"47s"``, ``"5m"``, ``"2h"`` or a number of seconds."""
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        if isinstance(value, str):
            text = value.strip().lower()
            parts = _DURATION_PART.findall(text)
            if parts and "".join(n + u for n, u in parts) == text.replace(" ", ""):
                return sum(float(n) * _UNITS[u] for n, u in parts)
        raise self.error(key, f"{value!r} is not a duration (use e.g. 47s, 1m35s, 5m)")

    def prefix(self, value: Any, key: str) -> str:
        try:
            return str(ipaddress.ip_network(value, strict=True))
        except (TypeError, ValueError):
            raise self.error(key, f"{value!r} is not a CIDR prefix (host bits must be zero)") from None

    def ip(self, value: Any, key: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except (TypeError, ValueError):
            raise self.error(key, f"{value!r} is not an IP address") from None

    def path(self, value: Any, key: str, first: int | None = None, last: int | None = None) -> str:
        """A plain AS path ("2914 4837 131279"): ASNs separated by spaces."""
        if not isinstance(value, str) or not value.split():
            raise self.error(key, f"{value!r} is not an AS path (ASNs separated by spaces)")
        tokens = value.split()
        if not all(t.isdigit() for t in tokens):
            raise self.error(key, f"{value!r} is not an AS path (ASNs separated by spaces)")
        asns = [self.integer(int(t), key) for t in tokens]
        if first is not None and asns[0] != first:
            raise self.error(key, f"path {value!r} must start with the peer's AS {first}")
        if last is not None and asns[-1] != last:
            raise self.error(key, f"path {value!r} must end with the origin AS {last}")
        return " ".join(str(a) for a in asns)


def _merge_repeats(asns: list[str]) -> str:
    """Join ASNs, dropping an AS repeated right after itself (a peer that is its own transit)."""
    out: list[str] = []
    for a in asns:
        if not out or out[-1] != a:
            out.append(a)
    return " ".join(out)


def _prefix_order(prefix: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(prefix)
    return (net.version, int(net.network_address), net.prefixlen)


# ---------------------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """A loaded scenario. Build with :func:`load_scenario`.

    ``observations()`` gives the routing history (RIB dump at ``start``, then updates in time
    order); ``write_mrt(outdir)`` writes it as RIS-style files; ``files()`` lists those files.
    """

    name: str
    title: str
    label: str
    summary: str
    target: str
    timezone: str
    start: float
    end: float
    update_interval: float
    seed: int
    collector: str
    local_asn: int
    bgp_id: str
    peers: dict[str, Peer]
    sources: tuple[Source, ...]
    routes: dict[str, dict[str, str]]          # prefix -> {peer id: path} in the RIB dump
    background: tuple[_Background, ...]
    noise: tuple[int, int]
    events: tuple[ScenarioEvent, ...]
    expectations: tuple[Expectation, ...]
    names: dict[int, str] = field(default_factory=dict)
    origin: str = ""
    country: str | None = None  # the target's country: the demo adds the country view

    @property
    def target_asn(self) -> int | None:
        """The target's ASN when the target is one AS (``"AS131279"`` -> 131279), else None."""
        text = self.target.upper().removeprefix("AS")
        return int(text) if text.isdigit() else None

    def file_at(self, time: float) -> ScenarioFile:
        """The update file that holds what arrived at ``time``."""
        files = self.files()
        if not self.start <= time < self.end:
            raise ValueError(f"{_iso(time)} is outside {_iso(self.start)}..{_iso(self.end)}")
        return files[1 + int((time - self.start) // self.update_interval)]

    def as_label(self, asn: int) -> str:
        """``"AS20485 TransTelecom (TTK)"`` with the scenario's name for the AS, else ``"AS20485"``;
        a peer AS without an entry in ``names`` gets its peer name."""
        name = self.names.get(asn) or next((p.name for p in self.peers.values() if p.asn == asn), None)
        return f"AS{asn} {name}" if name else f"AS{asn}"

    # -- files -------------------------------------------------------------------------------------

    def files(self) -> list[ScenarioFile]:
        """The files :meth:`write_mrt` writes, RIB dump first, relative to the output folder:
        ``rrc00/2017.10/bview.20171001.0800.gz``, ``rrc00/2017.10/updates.20171001.0800.gz``, ..."""

        def rel(kind: str, when: float) -> Path:
            moment = datetime.fromtimestamp(when, tz=UTC)
            return Path(self.collector, moment.strftime("%Y.%m"), f"{kind}.{moment:%Y%m%d.%H%M}.gz")

        out = [ScenarioFile(rel("bview", self.start), "rib", self.start, self.start)]
        when = self.start
        while when < self.end:
            out.append(ScenarioFile(rel("updates", when), "updates", when,
                                    min(when + self.update_interval, self.end)))
            when += self.update_interval
        return out

    def write_mrt(self, outdir: str | os.PathLike[str], *, seed: int | None = None) -> list[Path]:
        """Write the scenario as MRT files under ``outdir`` (see :meth:`files`); return their paths.

        The RIB dump is TABLE_DUMP_V2, the update files BGP4MP (gzip, whole-second times).
        Existing files of the same names are replaced.
        """
        layout = self.files()
        buckets: list[list[Observation]] = [[] for _ in layout]
        for obs in self.observations(seed=seed):
            index = 0 if obs.kind == RIB else 1 + int((obs.time - self.start) // self.update_interval)
            buckets[index].append(obs)
        written: list[Path] = []
        for spec, observations in zip(layout, buckets, strict=True):
            if not observations:
                # An MRT file without records is not a valid file for any reader.
                raise ScenarioError(
                    f"{self.origin}: {spec.path} would be empty; raise noise.updates_per_file")
            path = Path(outdir) / spec.path
            path.parent.mkdir(parents=True, exist_ok=True)
            write_mrt(path, observations, bgp_id=self.bgp_id, local_asn=self.local_asn)
            written.append(path)
        return written

    # -- the routing history -----------------------------------------------------------------------

    def observations(self, *, seed: int | None = None) -> Iterator[Observation]:
        """The scenario's observations in time order: the RIB dump at ``start``, then every update
        and session state change. Deterministic for a given ``seed`` (default: the file's)."""
        return iter(_Simulation(self, self.seed if seed is None else seed).run())

    # -- describing it -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The scenario's header, peers and events as plain data (JSON-serialisable)."""
        return {
            "name": self.name,
            "title": self.title,
            "label": self.label,
            "summary": self.summary,
            "target": self.target,
            "timezone": self.timezone,
            "start": self.start,
            "end": self.end,
            "collector": self.collector,
            "sources": [s.to_dict() for s in self.sources],
            "peers": [p.to_dict() for p in self.peers.values()],
            "events": [{"kind": e.kind, "at": e.at, "note": e.note, "peer": e.peer,
                        "prefixes": list(e.prefixes)} for e in self.events],
            "files": [str(f.path) for f in self.files()],
        }


class _Simulation:
    """Replays the scenario: per-peer tables, timed actions, and the observations they cause."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.s = scenario
        self.seed = seed
        self.tables: dict[str, dict[str, str]] = {pid: {} for pid in scenario.peers}
        self.down: set[str] = set()
        self.out: list[Observation] = []
        self.actions: list[tuple[float, int, Callable[[float], None]]] = []
        self.sequence = itertools.count()

    def rng(self, purpose: str) -> random.Random:
        # One independent stream per purpose, so editing one event leaves the others' jitter alone.
        return random.Random(f"{self.seed}:{purpose}")

    def route(self, kind: str, time: float, peer: Peer, prefix: str, path: str | None = None,
              originated: int | None = None) -> Observation:
        if kind == WITHDRAW:
            return Observation(time=float(time), kind=WITHDRAW, peer_ip=peer.ip, peer_asn=peer.asn,
                               prefix=prefix, collector=self.s.collector)
        return Observation(time=float(time), kind=kind, peer_ip=peer.ip, peer_asn=peer.asn, prefix=prefix,
                           as_path=path, origin="IGP", next_hop=peer.ip, communities=peer.communities,
                           originated=originated, collector=self.s.collector)

    def run(self) -> list[Observation]:
        s = self.s
        self.initial_tables()
        self.rib_dump()
        for index, event in enumerate(s.events):
            self.schedule_event(index, event, self.schedule)
        self.schedule_churn(self.schedule)
        # Actions run in time order (ties: in the order scheduled) and may schedule later ones.
        while self.actions:
            time, _, action = heapq.heappop(self.actions)
            action(time)
        return self.out

    def schedule(self, time: float, action: Callable[[float], None]) -> None:
        s = self.s
        if not s.start <= time < s.end:
            raise ScenarioError(
                f"{s.origin}: an event falls at {_iso(time)}, outside {_iso(s.start)}..{_iso(s.end)}")
        heapq.heappush(self.actions, (time, next(self.sequence), action))

    def initial_tables(self) -> None:
        s = self.s
        for prefix, paths in s.routes.items():
            for pid, path in paths.items():
                self.tables[pid][prefix] = path
        rng = self.rng("background")
        for bg in s.background:
            for prefix in bg.prefixes:
                version = ipaddress.ip_network(prefix).version
                for peer in s.peers.values():
                    if peer.version == version:
                        self.tables[peer.id][prefix] = self.background_path(bg, peer, rng)

    def background_path(self, bg: _Background, peer: Peer, rng: random.Random) -> str:
        transit = rng.choice(bg.transit)
        return _merge_repeats([str(peer.asn), *transit.split(), str(bg.origin)])

    def rib_dump(self) -> None:
        s = self.s
        start = int(s.start)
        rng = self.rng("sessions")
        # When each session was established, as RIB entries' "originated" time: days before.
        up_since = {pid: start - rng.randrange(86400, 40 * 86400) for pid in s.peers}
        prefixes = sorted({p for table in self.tables.values() for p in table}, key=_prefix_order)
        for prefix in prefixes:  # a dump lists each prefix's entries together
            for pid, peer in s.peers.items():
                path = self.tables[pid].get(prefix)
                if path is not None:
                    self.out.append(self.route(RIB, start, peer, prefix, path, originated=up_since[pid]))

    def schedule_event(self, index: int, event: ScenarioEvent,
                       schedule: Callable[[float, Callable[[float], None]], None]) -> None:
        s = self.s
        if event.kind in ("announce", "withdraw"):
            rng = self.rng(f"event{index}")
            for arrival in event.arrivals:
                jitter = rng.randint(0, int(event.jitter)) if arrival.delay and event.jitter else 0
                peer = s.peers[arrival.peer]

                def arrive(time: float, peer: Peer = peer, arrival: Arrival = arrival) -> None:
                    for prefix in event.prefixes:
                        self.require_up(peer, time, event)
                        if event.kind == "announce":
                            assert arrival.path is not None
                            self.tables[peer.id][prefix] = arrival.path
                            self.out.append(self.route(ANNOUNCE, time, peer, prefix, arrival.path))
                        else:
                            self.tables[peer.id].pop(prefix, None)
                            self.out.append(self.route(WITHDRAW, time, peer, prefix))

                schedule(int(event.at + arrival.delay + jitter), arrive)
        elif event.kind == "flap":
            assert event.peer is not None
            peer = s.peers[event.peer]
            held: dict[str, str] = {}

            def withdraw(time: float) -> None:
                self.require_up(peer, time, event)
                for prefix in event.prefixes:
                    path = self.tables[peer.id].pop(prefix, None)
                    if path is None:
                        raise ScenarioError(f"{s.origin}: flap at {_iso(time)}: peer {peer.id} "
                                            f"has no route for {prefix} then")
                    held[prefix] = path
                    self.out.append(self.route(WITHDRAW, time, peer, prefix))

            def reannounce(time: float) -> None:
                self.require_up(peer, time, event)
                for prefix in event.prefixes:
                    self.tables[peer.id][prefix] = held[prefix]
                    self.out.append(self.route(ANNOUNCE, time, peer, prefix, held[prefix]))

            schedule(int(event.at), withdraw)
            schedule(int(event.at + event.down_for), reannounce)
        elif event.kind == "session_reset":
            assert event.peer is not None
            peer = s.peers[event.peer]
            saved: dict[str, str] = {}
            up_at = int(event.at + event.down_for)

            def state(old: int, new: int) -> Callable[[float], None]:
                def change(time: float) -> None:
                    if old == ESTABLISHED:
                        self.require_up(peer, time, event)
                        saved.update(self.tables[peer.id])
                        self.tables[peer.id].clear()
                        self.down.add(peer.id)
                    elif new == ESTABLISHED:
                        self.down.discard(peer.id)
                    self.out.append(Observation(time=float(time), kind=STATE, peer_ip=peer.ip,
                                                peer_asn=peer.asn, old_state=old, new_state=new,
                                                collector=s.collector))
                return change

            steps = [(ESTABLISHED, _IDLE, int(event.at)), (_IDLE, _CONNECT, up_at - 3),
                     (_CONNECT, _OPENSENT, up_at - 2), (_OPENSENT, _OPENCONFIRM, up_at - 1),
                     (_OPENCONFIRM, ESTABLISHED, up_at)]
            for old, new, when in steps:
                schedule(max(when, int(event.at)), state(old, new))

            def reannounce_all(time: float) -> None:
                # The whole table comes back, spread over `reannounce_over`, in prefix order.
                prefixes = sorted(saved, key=_prefix_order)
                for i, prefix in enumerate(prefixes):
                    when = time + int(i * event.reannounce_over / max(len(prefixes), 1))
                    schedule(when, send_again(prefix))

            def send_again(prefix: str) -> Callable[[float], None]:
                def send(time: float) -> None:
                    self.tables[peer.id][prefix] = saved[prefix]
                    self.out.append(self.route(ANNOUNCE, time, peer, prefix, saved[prefix]))
                return send

            schedule(up_at + 1, reannounce_all)

    def require_up(self, peer: Peer, time: float, event: ScenarioEvent) -> None:
        if peer.id in self.down:
            raise ScenarioError(f"{self.s.origin}: {event.kind} event at {_iso(time)} reaches peer "
                                f"{peer.id} while its session is down")

    def schedule_churn(self, schedule: Callable[[float, Callable[[float], None]], None]) -> None:
        s = self.s
        low, high = s.noise
        rng = self.rng("churn")
        by_prefix = {p: bg for bg in s.background for p in bg.prefixes}
        if not by_prefix:
            return
        choices = sorted(by_prefix, key=_prefix_order)
        for spec in self.s.files()[1:]:
            count = rng.randint(low, high)
            span = int(spec.end - spec.start)
            for when in sorted(rng.randrange(span) for _ in range(count)):
                prefix = rng.choice(choices)
                pick = rng.random()

                def churn(time: float, prefix: str = prefix, pick: float = pick) -> None:
                    bg = by_prefix[prefix]
                    version = ipaddress.ip_network(prefix).version
                    peers = [p for p in s.peers.values() if p.version == version and p.id not in self.down]
                    if not peers:
                        return
                    local = random.Random(f"{self.seed}:churn:{time}:{prefix}:{pick}")
                    peer = peers[int(pick * len(peers))]
                    path = self.background_path(bg, peer, local)
                    self.tables[peer.id][prefix] = path
                    self.out.append(self.route(ANNOUNCE, time, peer, prefix, path))

                schedule(spec.start + when, churn)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------------
# Loading.


def list_scenarios() -> list[str]:
    """Names of the bundled scenarios (``load_scenario(name)`` loads one)."""
    folder = resources.files("transitwatch") / "scenarios"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str | os.PathLike[str]) -> Scenario:
    """A bundled scenario by name (``"kp-2017-transtelecom"``) or a scenario file by path.

    Raises :class:`ScenarioError` (one line naming the file and key) for a bad file, and for an
    unknown name (listing the bundled ones).
    """
    text_name = os.fspath(name_or_path)
    candidate = Path(text_name)
    if candidate.suffix == ".toml" or os.sep in text_name or candidate.exists():
        try:
            data = candidate.read_bytes()
        except OSError as exc:
            raise ScenarioError(f"{text_name}: {exc.strerror or exc}") from None
        origin = text_name
    else:
        resource = resources.files("transitwatch") / "scenarios" / f"{text_name}.toml"
        if not resource.is_file():
            known = ", ".join(list_scenarios()) or "none"
            raise ScenarioError(f"unknown scenario {text_name!r} (bundled: {known})")
        data = resource.read_bytes()
        origin = f"scenarios/{text_name}.toml"
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{origin}: not valid TOML ({exc})") from None
    return _parse(document, origin)


def _parse(doc: dict[str, Any], origin: str) -> Scenario:
    r = _Reader(origin)
    head = r.table(doc.get("scenario"), "scenario")
    start = r.time(head.get("start"), "scenario.start")
    end = r.time(head.get("end"), "scenario.end")
    interval = r.duration(head.get("update_interval", "5m"), "scenario.update_interval")
    if end <= start:
        raise r.error("scenario.end", "must be after scenario.start")
    if interval < 60 or interval % 60 or start % interval:
        raise r.error("scenario.update_interval",
                      "must be whole minutes, and scenario.start a multiple of it (RIS: 5m at :00, :05, ...)")
    seed = head.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise r.error("scenario.seed", f"{seed!r} is not an integer")
    sources = []
    for i, item in enumerate(head.get("sources", [])):
        item = r.table(item, f"scenario.sources[{i}]")
        sources.append(Source(r.text(item, "title", f"scenario.sources[{i}]"),
                              r.text(item, "url", f"scenario.sources[{i}]")))

    collector = r.table(doc.get("collector"), "collector")
    peers: dict[str, Peer] = {}
    for pid, spec in r.table(doc.get("peers"), "peers").items():
        spec = r.table(spec, f"peers.{pid}")
        communities = spec.get("communities")
        if communities is not None and not isinstance(communities, str):
            raise r.error(f"peers.{pid}.communities", "expected a string like '2914:410 2914:1403'")
        peers[pid] = Peer(pid, r.integer(spec.get("asn"), f"peers.{pid}.asn"),
                          r.ip(spec.get("ip"), f"peers.{pid}.ip"),
                          r.text(spec, "name", f"peers.{pid}", default=pid), communities)
    if not peers:
        raise r.error("peers", "a scenario needs at least one peer")

    def peer_of(pid: Any, key: str) -> Peer:
        if pid not in peers:
            raise r.error(key, f"unknown peer {pid!r} (peers: {', '.join(peers)})")
        return peers[pid]

    routes: dict[str, dict[str, str]] = {}
    for i, group in enumerate(doc.get("routes", [])):
        key = f"routes[{i}]"
        group = r.table(group, key)
        paths = r.table(group.get("paths"), f"{key}.paths")
        for raw_prefix in group.get("prefixes", []):
            prefix = r.prefix(raw_prefix, f"{key}.prefixes")
            version = ipaddress.ip_network(prefix).version
            for pid, path in paths.items():
                peer = peer_of(pid, f"{key}.paths")
                if peer.version != version:
                    raise r.error(f"{key}.paths.{pid}", f"an IPv{peer.version} peer cannot carry {prefix}")
                routes.setdefault(prefix, {})[pid] = r.path(path, f"{key}.paths.{pid}", first=peer.asn)

    background = []
    for i, group in enumerate(doc.get("background", [])):
        key = f"background[{i}]"
        group = r.table(group, key)
        transit = group.get("transit", [""])
        if not isinstance(transit, list) or not transit:
            raise r.error(f"{key}.transit", "expected a list of AS path pieces ('' for none)")
        for piece in transit:
            if piece:
                r.path(piece, f"{key}.transit")
        prefixes = tuple(r.prefix(p, f"{key}.prefixes") for p in group.get("prefixes", []))
        clash = [p for p in prefixes if p in routes]
        if clash:
            raise r.error(f"{key}.prefixes", f"{clash[0]} is already one of the watched routes")
        background.append(_Background(prefixes, r.integer(group.get("origin"), f"{key}.origin"),
                                      tuple(str(t) for t in transit)))

    noise = r.table(doc.get("noise", {"updates_per_file": [1, 3]}), "noise")
    bounds = noise.get("updates_per_file", [1, 3])
    if (not isinstance(bounds, list) or len(bounds) != 2 or not all(isinstance(b, int) for b in bounds)
            or not 1 <= bounds[0] <= bounds[1]):
        raise r.error("noise.updates_per_file", "expected [low, high] with 1 <= low <= high "
                      "(every update file needs at least one record)")
    if not background:
        raise r.error("background", "a scenario needs background routes (every update file needs records)")

    events = tuple(_parse_event(r, i, spec, peers, peer_of) for i, spec in enumerate(doc.get("events", [])))

    expectations = []
    for i, spec in enumerate(r.table(doc.get("expect", {}), "expect").get("events", [])):
        key = f"expect.events[{i}]"
        spec = dict(r.table(spec, key))
        upstream = spec.pop("upstream", None)
        onset = spec.pop("onset", None)
        onset_local = spec.pop("onset_local", None)
        min_peers = spec.pop("min_peers", 1)
        expectations.append(Expectation(
            kind=r.text(spec, "kind", key), target=r.text(spec, "target", key),
            upstream=None if upstream is None else r.integer(upstream, f"{key}.upstream"),
            onset=None if onset is None else r.time(onset, f"{key}.onset"),
            onset_local=None if onset_local is None else str(onset_local),
            min_peers=r.integer(min_peers, f"{key}.min_peers"),
            extra={k: v for k, v in spec.items() if k not in ("kind", "target")},
        ))

    names: dict[int, str] = {}
    for key, value in r.table(doc.get("names", {}), "names").items():
        if not key.isdigit() or not isinstance(value, str):
            raise r.error(f"names.{key}", "expected ASN = \"name\"")
        names[r.integer(int(key), f"names.{key}")] = value

    return Scenario(
        name=r.text(head, "name", "scenario"),
        title=r.text(head, "title", "scenario"),
        label=r.text(head, "label", "scenario"),
        summary=" ".join(str(head.get("summary", "")).split()),
        target=r.text(head, "target", "scenario"),
        timezone=r.text(head, "timezone", "scenario", default="UTC"),
        country=str(head["country"]).upper() if head.get("country") else None,
        start=start,
        end=end,
        update_interval=interval,
        seed=seed,
        collector=r.text(collector, "name", "collector"),
        local_asn=r.integer(collector.get("local_asn", 12654), "collector.local_asn"),
        bgp_id=r.ip(collector.get("bgp_id", "192.0.2.1"), "collector.bgp_id"),
        peers=peers,
        sources=tuple(sources),
        routes=routes,
        background=tuple(background),
        noise=(bounds[0], bounds[1]),
        events=events,
        expectations=tuple(expectations),
        names=names,
        origin=origin,
    )


def _parse_event(r: _Reader, index: int, spec: Any, peers: dict[str, Peer],
                 peer_of: Callable[[Any, str], Peer]) -> ScenarioEvent:
    key = f"events[{index}]"
    spec = r.table(spec, key)
    kind = spec.get("kind")
    if kind not in _EVENT_KINDS:
        raise r.error(f"{key}.kind", f"{kind!r} is not one of {', '.join(_EVENT_KINDS)}")
    at = r.time(spec.get("at"), f"{key}.at")
    note = str(spec.get("note", ""))
    prefixes = tuple(r.prefix(p, f"{key}.prefixes") for p in spec.get("prefixes", []))
    if kind in ("announce", "withdraw"):
        if not prefixes:
            raise r.error(f"{key}.prefixes", "expected at least one prefix")
        arrivals = []
        for j, item in enumerate(spec.get("arrivals", [])):
            akey = f"{key}.arrivals[{j}]"
            item = r.table(item, akey)
            peer = peer_of(item.get("peer"), f"{akey}.peer")
            path = None
            if kind == "announce":
                path = r.path(item.get("path"), f"{akey}.path", first=peer.asn)
            arrivals.append(Arrival(peer.id, r.duration(item.get("delay", 0), f"{akey}.delay"), path))
        if not arrivals:
            raise r.error(f"{key}.arrivals", "expected at least one {peer, delay[, path]}")
        return ScenarioEvent(kind, at, note, prefixes, tuple(arrivals),
                             jitter=r.duration(spec.get("jitter", 0), f"{key}.jitter"))
    peer = peer_of(spec.get("peer"), f"{key}.peer")
    down_for = r.duration(spec.get("down_for"), f"{key}.down_for")
    if down_for < 4:
        raise r.error(f"{key}.down_for", "must be at least 4s")
    if kind == "flap":
        if not prefixes:
            raise r.error(f"{key}.prefixes", "expected at least one prefix")
        return ScenarioEvent(kind, at, note, prefixes, peer=peer.id, down_for=down_for)
    return ScenarioEvent(kind, at, note, peer=peer.id, down_for=down_for,
                         reannounce_over=r.duration(spec.get("reannounce_over", 0), f"{key}.reannounce_over"))
