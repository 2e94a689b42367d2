"""RIPE RIS Live: JSON messages to :class:`~transitwatch.observation.Observation` objects, and a
websocket client that subscribes with server-side filters, survives bad messages and reconnects.

RIS Live (``wss://ris-live.ripe.net/v1/ws/``) pushes one JSON object per websocket message::

    {"type": "ris_message", "data": {"type": "UPDATE", "timestamp": 1553627987.89,
     "peer": "72.22.223.9", "peer_asn": "11708", "host": "rrc00", "path": [11708, 1299, [64512, 64513]],
     "origin": "igp", "community": [[1299, 20000]], "med": 0, "aggregator": "65000:10.0.0.1",
     "announcements": [{"next_hop": "72.22.223.9", "prefixes": ["45.161.192.0/23"]}],
     "withdrawals": ["192.0.2.0/24"]}}

``UPDATE`` messages become one ``announce`` observation per announced prefix and one ``withdraw``
per withdrawn prefix; ``RIS_PEER_STATE`` messages become ``state`` observations. ``OPEN``,
``KEEPALIVE`` and ``NOTIFICATION`` carry no routes and are skipped. Observations get
``record_type="RIS_LIVE"``, ``collector`` = the RIS host (``rrc21``), ``source`` = the URL or file.

There is no replay in RIS Live: what happens while disconnected is lost. The client therefore
reports every disconnection as a :class:`LiveGap` (from/to, why) so that consumers can say their
view has a hole and resynchronise (e.g. from the next archive RIB); it re-subscribes on every
new connection, since subscriptions belong to a connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import time
import urllib.parse
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transitwatch.observation import ANNOUNCE, ESTABLISHED, STATE, WITHDRAW, Observation

__all__ = [
    "RIS_LIVE_URL",
    "RECORD_TYPE",
    "LiveGap",
    "LiveStats",
    "MalformedMessage",
    "RisLiveError",
    "parse_message",
    "read_ris_live_file",
    "ris_live_observations",
    "ris_live_stream",
    "subscriptions",
]

RIS_LIVE_URL = "wss://ris-live.ripe.net/v1/ws/?client=transitwatch"
RECORD_TYPE = "RIS_LIVE"
_IDLE = 1
_ORIGINS = {"igp": "IGP", "egp": "EGP", "incomplete": "INCOMPLETE", "?": "INCOMPLETE"}
_WELL_KNOWN = {"NoExport": "no-export", "NoAdvertise": "no-advertise",
               "NoExportSubConfed": "no-export-subconfed"}


class MalformedMessage(ValueError):
    """A message that is not valid RIS Live JSON; the text says what is wrong (one line)."""


class RisLiveError(Exception):
    """The stream cannot go on (bad URL, subscription, or the server stayed unreachable)."""


# --- messages -> observations ---------------------------------------------------------------------

def _as_path(path: Any) -> str:
    """RIS Live path (ints, nested lists for AS_SETs) -> bgpdump notation."""
    if not isinstance(path, list):
        raise MalformedMessage(f"path is {type(path).__name__}, not a list")
    parts = []
    for hop in path:
        if isinstance(hop, list):
            parts.append("{" + ",".join(str(_asn(a)) for a in hop) + "}")
        else:
            parts.append(str(_asn(hop)))
    return " ".join(parts)


def _asn(value: Any) -> int:
    if isinstance(value, bool):
        raise MalformedMessage(f"bad AS number {value!r}")
    try:
        asn = int(value)
    except (TypeError, ValueError):
        raise MalformedMessage(f"bad AS number {value!r}") from None
    if not 0 <= asn < 2**32:
        raise MalformedMessage(f"AS number out of range: {asn}")
    return asn


def _prefix(value: Any) -> str:
    if not isinstance(value, str):
        raise MalformedMessage(f"prefix {value!r} is not a string")
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise MalformedMessage(f"bad prefix {value!r}") from None


def _pairs(values: Any, what: str, width: int) -> str | None:
    if values is None or values == []:
        return None
    if not isinstance(values, list) or not all(isinstance(v, list) and len(v) == width for v in values):
        raise MalformedMessage(f"{what} is not a list of {width}-number lists")
    return " ".join(":".join(str(int(x)) for x in v) for v in values)


def _aggregator(value: Any) -> str | None:
    if value in (None, ""):
        return None
    asn, sep, ip = str(value).partition(":")  # RIS Live writes "ASN:IP"
    if not sep:
        raise MalformedMessage(f"bad aggregator {value!r}")
    return f"{_asn(asn)} {ip}"


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedMessage(f"{key} is {value!r}, not a number")
    return float(value)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedMessage(f"{key} is {value!r}, not a string")
    return value


def _update(data: Mapping[str, Any], source: str, offset: int | None) -> list[Observation]:
    common = {
        "time": _number(data, "timestamp"),
        "peer_ip": _text(data, "peer"),
        "peer_asn": _asn(data.get("peer_asn")),
        "record_type": RECORD_TYPE,
        "collector": str(data.get("host") or ""),
        "source": source,
        "offset": offset,
    }
    out = [Observation(kind=WITHDRAW, prefix=_prefix(p), **common) for p in _list(data, "withdrawals")]
    announcements = _list(data, "announcements")
    if announcements:
        origin_text = str(data.get("origin", "")).lower()
        if origin_text not in _ORIGINS:
            raise MalformedMessage(f"bad origin {data.get('origin')!r}")
        med = data.get("med")
        attributes = {
            "as_path": _as_path(data.get("path", [])),
            "origin": _ORIGINS[origin_text],
            "med": None if med is None else int(med),
            "communities": _pairs(data.get("community"), "community", 2),
            "large_communities": _pairs(data.get("large_community"), "large_community", 3),
            "aggregator": _aggregator(data.get("aggregator")),
            "atomic_aggregate": bool(data.get("atomic_aggregate", False)),
        }
        for group in announcements:
            if not isinstance(group, dict):
                raise MalformedMessage("an announcement is not an object")
            # IPv6 next hops come as "global,link-local": keep the global one, like bgpdump.
            next_hop = str(group.get("next_hop", "")).split(",")[0] or None
            for p in _list(group, "prefixes"):
                out.append(Observation(kind=ANNOUNCE, prefix=_prefix(p), next_hop=next_hop,
                                       **attributes, **common))
    return out


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedMessage(f"{key} is {type(value).__name__}, not a list")
    return value


def _peer_state(data: Mapping[str, Any], source: str, offset: int | None) -> list[Observation]:
    state = data.get("state")
    if state == "connected":
        old, new = None, ESTABLISHED  # RIS Live does not say which state the session came from
    elif state == "down":
        old, new = ESTABLISHED, _IDLE
    else:
        raise MalformedMessage(f"unknown peer state {state!r}")
    return [Observation(
        time=_number(data, "timestamp"), kind=STATE, peer_ip=_text(data, "peer"),
        peer_asn=_asn(data.get("peer_asn")), old_state=old, new_state=new, record_type=RECORD_TYPE,
        collector=str(data.get("host") or ""), source=source, offset=offset,
    )]


def _bgpkit_elems(message: Mapping[str, Any], source: str, offset: int | None) -> list[Observation]:
    """The form bgpkit-parser gives RIS Live messages ({"meta": ..., "elems": [...]})."""
    meta = message.get("meta") or {}
    has_local_pref = any("LocalPreference" in (a.get("value") or {})
                         for a in message.get("attributes") or [] if isinstance(a, dict))
    out = []
    for elem in _list(message, "elems"):
        if not isinstance(elem, dict):
            raise MalformedMessage("an element is not an object")
        kind = {"ANNOUNCE": ANNOUNCE, "WITHDRAW": WITHDRAW}.get(elem.get("type", ""))
        if kind is None:
            raise MalformedMessage(f"unknown element type {elem.get('type')!r}")
        fields: dict[str, Any] = {
            "time": _number(elem, "timestamp"), "kind": kind, "peer_ip": _text(elem, "peer_ip"),
            "peer_asn": _asn(elem.get("peer_asn")), "prefix": _prefix(elem.get("prefix")),
            "record_type": RECORD_TYPE, "collector": str(meta.get("host") or ""), "source": source,
            "offset": offset,
        }
        if kind == ANNOUNCE:
            communities = []
            for c in elem.get("communities") or []:
                if isinstance(c, dict) and isinstance(c.get("Custom"), list) and len(c["Custom"]) == 2:
                    communities.append(f"{int(c['Custom'][0])}:{int(c['Custom'][1])}")
                elif c in _WELL_KNOWN:
                    communities.append(_WELL_KNOWN[c])
                else:
                    raise MalformedMessage(f"unknown community {c!r}")
            aggr_asn, aggr_ip = elem.get("aggr_asn"), elem.get("aggr_ip")
            fields.update(
                as_path=_as_path(elem.get("as_path") or []),
                origin=_ORIGINS.get(str(elem.get("origin")).lower()),
                next_hop=elem.get("next_hop"), med=elem.get("med"),
                local_pref=elem.get("local_pref") if has_local_pref else None,
                communities=" ".join(communities) or None, atomic_aggregate=bool(elem.get("atomic")),
                aggregator=f"{_asn(aggr_asn)} {aggr_ip}" if aggr_asn is not None else None,
            )
        out.append(Observation(**fields))
    return out


def parse_message(message: str | bytes | Mapping[str, Any], *, source: str = "",
                  offset: int | None = None) -> list[Observation]:
    """The observations in one RIS Live message (JSON text or an already decoded dict).

    Returns ``[]`` for messages without routes (OPEN, KEEPALIVE, NOTIFICATION, pong, subscription
    acknowledgements). Raises :class:`MalformedMessage` for invalid JSON or shapes and
    :class:`RisLiveError` for a ``ris_error`` message from the server.
    """
    if isinstance(message, str | bytes):
        try:
            decoded = json.loads(message)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedMessage(f"invalid JSON: {exc}") from None
    else:
        decoded = message
    if not isinstance(decoded, dict):
        raise MalformedMessage(f"a message is a JSON object, not {type(decoded).__name__}")
    kind = decoded.get("type")
    data = decoded.get("data")
    if kind == "ris_error":
        detail = data.get("message") if isinstance(data, dict) else data
        raise RisLiveError(f"server error: {detail}")
    if kind != "ris_message":
        if "elems" in decoded and "meta" in decoded:
            return _bgpkit_elems(decoded, source, offset)
        if kind in ("pong", "ris_subscribe_ok", "ris_rrc_list"):
            return []
        raise MalformedMessage(f"unknown message type {kind!r}")
    if not isinstance(data, dict):
        raise MalformedMessage("ris_message without a data object")
    try:
        if data.get("type") == "UPDATE":
            return _update(data, source, offset)
        if data.get("type") == "RIS_PEER_STATE":
            return _peer_state(data, source, offset)
    except (TypeError, ValueError, OverflowError) as exc:
        if isinstance(exc, MalformedMessage):
            raise
        raise MalformedMessage(f"bad field value: {exc}") from None
    if data.get("type") in ("OPEN", "KEEPALIVE", "NOTIFICATION"):
        return []
    raise MalformedMessage(f"unknown ris_message type {data.get('type')!r}")


@dataclass
class LiveStats:
    """Counters of one stream or file, and every problem it survived (for reports and tests)."""

    messages: int = 0
    observations: int = 0
    malformed: int = 0
    server_errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    connections: int = 0
    gaps: list[LiveGap] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["gaps"] = [g.to_dict() for g in self.gaps]
        return out


def read_ris_live_file(path: str | Path, *, strict: bool = False,
                       stats: LiveStats | None = None,
                       on_problem: Callable[[str], None] | None = None) -> Iterator[Observation]:
    """Observations from a saved RIS Live capture: newline-delimited messages, a JSON list of
    messages, or one (possibly pretty-printed) message.

    Bad messages are counted in ``stats`` and described to ``on_problem`` (naming the file and
    byte offset) and skipped; with ``strict`` the first one raises :class:`MalformedMessage`.
    ``offset`` of each observation is the byte offset of its message (its line) in the file.
    """
    path = Path(path)
    stats = stats if stats is not None else LiveStats()
    raw = path.read_bytes()
    source = str(path)

    def bad(offset: int, exc: Exception) -> None:
        stats.malformed += 1
        problem = f"{path}: byte {offset}: {exc}"
        stats.problems.append(problem)
        if strict:
            raise MalformedMessage(problem) from None
        if on_problem is not None:
            on_problem(problem)

    def one(message: Any, offset: int) -> Iterator[Observation]:
        stats.messages += 1
        try:
            observations = parse_message(message, source=source, offset=offset)
        except (MalformedMessage, RisLiveError) as exc:
            if isinstance(exc, RisLiveError):
                stats.server_errors.append(str(exc))
                if on_problem is not None:
                    on_problem(f"{path}: byte {offset}: {exc}")
                return
            bad(offset, exc)
            return
        stats.observations += len(observations)
        yield from observations

    try:
        whole = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        whole = None
    if isinstance(whole, list):
        for message in whole:  # no per-message offsets inside one JSON document
            yield from one(message, 0)
        return
    if isinstance(whole, dict):
        yield from one(whole, 0)
        return
    offset = 0
    for line in raw.splitlines(keepends=True):
        if line.strip():
            yield from one(line, offset)
        offset += len(line)


# --- the websocket client -------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveGap:
    """A time during which the stream was not connected: anything that happened then was missed."""

    disconnected_at: float
    reconnected_at: float
    reason: str

    @property
    def seconds(self) -> float:
        return self.reconnected_at - self.disconnected_at

    def to_dict(self) -> dict[str, Any]:
        return {"disconnected_at": self.disconnected_at, "reconnected_at": self.reconnected_at,
                "seconds": round(self.seconds, 3), "reason": self.reason}

    def __str__(self) -> str:
        def hms(t: float) -> str:
            return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        return (f"RIS Live gap {hms(self.disconnected_at)} - {hms(self.reconnected_at)} UTC "
                f"({self.seconds:.1f} s, {self.reason}): changes in that time were not seen")


def subscriptions(prefixes: Iterable[str] | None = None, paths: Iterable[str] | None = None, *,
                  more_specific: bool = True, peer_state: bool = True,
                  host: str | None = None) -> list[dict[str, Any]]:
    """The ``ris_subscribe`` messages for the watched prefixes and AS-path patterns.

    RIS Live ORs subscriptions, so one message per prefix and per path pattern yields the union.
    Path patterns are RIS Live's: ``"131279"`` anywhere in the path, ``"131279$"`` as origin,
    ``"^3356"`` as the peer, ``"4837,131279"`` as a sequence. With nothing to filter on, the
    single subscription is the whole feed. ``peer_state`` adds the (small) RIS_PEER_STATE feed,
    which prefix filters would exclude.
    """
    base: dict[str, Any] = {"host": host} if host else {}
    subs: list[dict[str, Any]] = []
    for p in prefixes or []:
        try:
            network = str(ipaddress.ip_network(p.strip(), strict=False))
        except ValueError:
            raise RisLiveError(f"cannot watch prefix {p!r}: not an IP prefix") from None
        subs.append({**base, "type": "UPDATE", "prefix": network, "moreSpecific": more_specific})
    for pattern in paths or []:
        if not pattern.strip() or not all(c.isdigit() or c in "^$," for c in pattern.strip()):
            raise RisLiveError(f"cannot watch path {pattern!r}: use ASNs, ',', '^' and '$' (e.g. 131279$)")
        subs.append({**base, "type": "UPDATE", "path": pattern.strip()})
    if not subs:
        subs.append({**base, "type": "UPDATE"})
    if peer_state:
        subs.append({**base, "type": "RIS_PEER_STATE"})
    return [{"type": "ris_subscribe", "data": s} for s in subs]


def _with_client(url: str, client: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise RisLiveError(f"--ris-live-url {url!r}: not a ws:// or wss:// URL")
    query = urllib.parse.parse_qsl(parts.query)
    if client and not any(k == "client" for k, _ in query):
        query.append(("client", client))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _describe(exc: BaseException) -> str:
    from websockets.exceptions import ConnectionClosed

    if isinstance(exc, ConnectionClosed):
        if exc.rcvd is None:
            return "connection dropped"
        why = f", {exc.rcvd.reason}" if exc.rcvd.reason else ""
        return f"server closed the connection (code {exc.rcvd.code}{why})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return f"cannot connect: {exc.strerror or exc}"
    return str(exc).replace("\n", " ") or type(exc).__name__


async def ris_live_stream(
    url: str = RIS_LIVE_URL,
    *,
    prefixes: Sequence[str] | None = None,
    paths: Sequence[str] | None = None,
    more_specific: bool = True,
    peer_state: bool = True,
    host: str | None = None,
    client: str = "transitwatch",
    reconnect: bool = True,
    max_attempts: int | None = 10,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    open_timeout: float = 10.0,
    on_gap: Callable[[LiveGap], None] | None = None,
    on_problem: Callable[[str], None] | None = None,
    stats: LiveStats | None = None,
    follow_prefixes: bool = False,
    max_followed: int = 10_000,
) -> AsyncGenerator[Observation, None]:
    """Observations from RIS Live as they arrive, subscribed server-side to ``prefixes`` (and
    more specifics) and AS-path ``paths`` (see :func:`subscriptions`).

    Malformed messages and ``ris_error`` messages are counted in ``stats`` and described to
    ``on_problem``; the stream goes on. When the connection drops it reconnects (if
    ``reconnect``) after an exponential backoff with jitter (``backoff * 2**n`` seconds, at most
    ``max_backoff``), re-subscribes, and calls ``on_gap`` with the :class:`LiveGap` before the
    first observation of the new connection. After ``max_attempts`` consecutive failed attempts
    (None: never give up) it raises :class:`RisLiveError`, as it does at once for a URL that can
    never work (bad scheme, HTTP 4xx on the handshake).

    A path filter only matches messages that carry a path, so a plain withdrawal of a route that
    went through the watched AS would never arrive. ``follow_prefixes`` therefore subscribes to
    every prefix announced through a watched path as it is first seen (exact prefix, kept across
    reconnects, at most ``max_followed``, reported when the cap is reached).
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

    target = _with_client(url, client)
    messages = [json.dumps(s) for s in subscriptions(prefixes, paths, more_specific=more_specific,
                                                      peer_state=peer_state, host=host)]
    stats = stats if stats is not None else LiveStats()
    failures = 0
    lost_at: float | None = None
    reason = ""
    watched = [ipaddress.ip_network(p.strip(), strict=False) for p in prefixes or []]
    followed: set[str] = set()

    def newly_followed(observations: list[Observation]) -> list[str]:
        """Announced prefixes not yet covered by a prefix subscription (see follow_prefixes)."""
        fresh = []
        for o in observations:
            if o.kind != ANNOUNCE or o.prefix in followed or len(followed) >= max_followed:
                continue
            net = ipaddress.ip_network(o.prefix)
            if any(net.version == w.version and (net == w or (more_specific and net.subnet_of(w)))  # type: ignore[arg-type]
                   for w in watched):
                continue
            followed.add(o.prefix)
            fresh.append(o.prefix)
            if len(followed) == max_followed:
                problem(f"RIS Live: following {max_followed} prefixes, the cap; withdrawals of further "
                        "prefixes may be missed")
        return fresh

    def follow_message(prefix: str) -> str:
        data = {"host": host} if host else {}
        return json.dumps({"type": "ris_subscribe",
                           "data": {**data, "type": "UPDATE", "prefix": prefix, "moreSpecific": False}})

    def problem(text: str) -> None:
        stats.problems.append(text)
        if on_problem is not None:
            on_problem(text)

    while True:
        try:
            async with connect(target, open_timeout=open_timeout, max_size=2**22) as ws:
                stats.connections += 1
                for m in [*messages, *(follow_message(p) for p in sorted(followed))]:
                    await ws.send(m)
                if lost_at is not None and stats.connections > 1:
                    gap = LiveGap(lost_at, time.time(), reason)
                    stats.gaps.append(gap)
                    lost_at = None
                    if on_gap is not None:
                        on_gap(gap)
                async for raw in ws:
                    failures = 0  # only a connection that delivers counts as recovered
                    stats.messages += 1
                    try:
                        observations = parse_message(raw, source=url)
                    except MalformedMessage as exc:
                        stats.malformed += 1
                        problem(f"RIS Live: malformed message #{stats.messages} skipped: {exc}")
                        continue
                    except RisLiveError as exc:
                        stats.server_errors.append(str(exc))
                        problem(f"RIS Live: {exc}")
                        continue
                    stats.observations += len(observations)
                    if follow_prefixes:
                        for prefix in newly_followed(observations):
                            await ws.send(follow_message(prefix))
                    for observation in observations:
                        yield observation
                why = f", {ws.close_reason}" if ws.close_reason else ""
                reason = f"server closed the connection (code {ws.close_code}{why})"
        except InvalidURI as exc:
            raise RisLiveError(f"{url}: {exc}") from None
        except InvalidStatus as exc:
            code = exc.response.status_code
            if 400 <= code < 500 and code not in (408, 429):
                raise RisLiveError(f"{url}: server refused the websocket (HTTP {code})") from None
            reason = f"HTTP {code} on connect"
        except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
            reason = _describe(exc)
        if lost_at is None:
            lost_at = time.time()
        failures += 1
        if not reconnect:
            raise RisLiveError(f"{url}: {reason}")
        if max_attempts is not None and failures > max_attempts:
            raise RisLiveError(f"{url}: gave up after {failures} attempts: {reason}")
        delay = min(max_backoff, backoff * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
        problem(f"RIS Live: {reason}; reconnecting in {delay:.1f} s")
        await asyncio.sleep(delay)


def ris_live_observations(url: str = RIS_LIVE_URL, **options: Any) -> Iterator[Observation]:
    """:func:`ris_live_stream` as a plain (blocking) iterator, for scripts and the CLI. Takes the
    same keyword options. Not for use inside a running event loop (use the async one there)."""
    loop = asyncio.new_event_loop()
    stream = ris_live_stream(url, **options)
    try:
        while True:
            try:
                yield loop.run_until_complete(anext(stream))
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(stream.aclose())
        loop.close()
