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
import math
import random
import re
import time
import urllib.parse
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transitwatch.observation import ANNOUNCE, ESTABLISHED, SAFI_UNICAST, STATE, WITHDRAW, Observation

__all__ = [
    "MAX_DEPTH",
    "MAX_MESSAGE_BYTES",
    "RIS_LIVE_URL",
    "RECORD_TYPE",
    "LiveGap",
    "LiveStats",
    "MalformedMessage",
    "RisLiveError",
    "loads_bounded",
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


#: A RIS Live message is one BGP UPDATE (at most 64 KiB on the wire, RFC 8654) in JSON: far below
#: this. Bigger messages are dropped unread; the websocket refuses frames over 4x this outright.
MAX_MESSAGE_BYTES = 1 << 20
#: The deepest real message nests 5 levels (data / announcements / prefixes, path / AS_SET).
MAX_DEPTH = 16
#: Timestamps before this (1995-01-01, before any BGP collector archive) are not plausible.
MIN_TIME = 788918400.0
#: How far ahead of this machine's clock a timestamp may be (clock skew), for files and the feed:
#: a timestamp from the future would move the watcher's clock and confirm events early.
MAX_FUTURE = 600.0

# Strings (with escapes) or brackets: depth is counted outside strings only.
_ASN_TEXT = re.compile(r"-?[0-9]{1,20}")
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class MalformedMessage(ValueError):
    """A message that is not valid RIS Live JSON; the text says what is wrong (one line);
    ``reason`` is a short category for counting drops (``"invalid JSON"``, ``"bad timestamp"``...)."""

    def __init__(self, text: str, reason: str = "bad field") -> None:
        super().__init__(text)
        self.reason = reason


class RisLiveError(Exception):
    """The stream cannot go on (bad URL, subscription, or the server stayed unreachable)."""


# --- messages -> observations ---------------------------------------------------------------------

def _as_path(path: Any) -> str:
    """RIS Live path (ints, nested lists for AS_SETs) -> bgpdump notation."""
    if not isinstance(path, list):
        raise MalformedMessage(f"path is {type(path).__name__}, not a list", "bad AS path")
    parts = []
    for hop in path:
        if isinstance(hop, list):
            parts.append("{" + ",".join(str(_asn(a)) for a in hop) + "}")
        else:
            parts.append(str(_asn(hop)))
    return " ".join(parts)


def _asn(value: Any) -> int:
    # Only integers or digit strings: int() would take 1.9 (truncating) or "1_000" or 4300 digits.
    if isinstance(value, bool) or not (isinstance(value, int) or (
            isinstance(value, str) and _ASN_TEXT.fullmatch(value))):
        raise MalformedMessage(f"bad AS number {_short(value)}", "bad AS number")
    asn = int(value)
    if not 0 <= asn < 2**32:
        raise MalformedMessage(f"AS number out of range: {_short(asn)}", "bad AS number")
    return asn


def _short(value: Any) -> str:
    """repr() of a hostile value, cut so that an error line stays one short line."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 1000 else "<huge number>"
    return text if len(text) <= 60 else text[:57] + "..."


def _uint(value: Any, what: str, bits: int = 32) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
        raise MalformedMessage(f"{what} {_short(value)} is not an integer in 0..{2**bits - 1}")
    return value


def _address(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise MalformedMessage(f"{what} {_short(value)} is not an IP address", f"bad {what}")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise MalformedMessage(f"{what} {_short(value)} is not an IP address", f"bad {what}") from None


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise MalformedMessage(f"prefix {_short(value)} is not a string", "bad prefix")
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise MalformedMessage(f"bad prefix {_short(value)}", "bad prefix") from None


def _pairs(values: Any, what: str, width: int) -> str | None:
    if values is None or values == []:
        return None
    if not isinstance(values, list) or not all(isinstance(v, list) and len(v) == width for v in values):
        raise MalformedMessage(f"{what} is not a list of {width}-number lists")
    bits = [16, 16] if width == 2 else [32, 32, 32]  # RFC 1997 and RFC 8092 field widths
    return " ".join(":".join(str(_uint(x, what, b)) for x, b in zip(v, bits, strict=True))
                    for v in values)


def _aggregator(value: Any) -> str | None:
    if value in (None, ""):
        return None
    asn, sep, ip = str(value).partition(":")  # RIS Live writes "ASN:IP"
    if not sep:
        raise MalformedMessage(f"bad aggregator {_short(value)}")
    return f"{_asn(asn)} {_address(ip, 'aggregator')}"


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedMessage(f"{key} is {_short(value)}, not a number", f"bad {key}")
    try:
        return float(value)
    except OverflowError:  # an integer with hundreds of digits
        raise MalformedMessage(f"{key} is {_short(value)}, out of range", f"bad {key}") from None


def _time(data: Mapping[str, Any], key: str, latest: float | None) -> float:
    """A timestamp that is finite and plausible: after 1995, not ahead of ``latest`` (default:
    this machine's clock plus MAX_FUTURE). NaN would stall detectors, 1e300 overflow dates."""
    t = _number(data, key)
    latest = time.time() + MAX_FUTURE if latest is None else latest
    if not math.isfinite(t) or not MIN_TIME <= t <= latest:
        raise MalformedMessage(f"{key} {_short(t)} is not a plausible time", "bad timestamp")
    return t


def _host(data: Mapping[str, Any]) -> str:
    value = data.get("host") or ""
    if not isinstance(value, str) or len(value) > 64 or not value.isprintable():
        raise MalformedMessage(f"host {_short(value)} is not a collector name")
    return value


def _update(data: Mapping[str, Any], source: str, offset: int | None,
            latest: float | None) -> list[Observation]:
    common = {
        "peer_ip": _address(data.get("peer"), "peer"),
        "peer_asn": _asn(data.get("peer_asn")),
        "record_type": RECORD_TYPE,
        "collector": _host(data),
        "source": source,
        "offset": offset,
        "safi": SAFI_UNICAST,  # RIS Live streams the collectors' IPv4/IPv6 unicast routes only
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
            "med": None if med is None else _uint(med, "med"),
            "communities": _pairs(data.get("community"), "community", 2),
            "large_communities": _pairs(data.get("large_community"), "large_community", 3),
            "aggregator": _aggregator(data.get("aggregator")),
            "atomic_aggregate": bool(data.get("atomic_aggregate", False)),
        }
        for group in announcements:
            if not isinstance(group, dict):
                raise MalformedMessage("an announcement is not an object")
            # IPv6 next hops come as "global,link-local": keep the global one, like bgpdump.
            hop = group.get("next_hop") or ""
            if not isinstance(hop, str):
                raise MalformedMessage(f"next_hop {_short(hop)} is not a string", "bad next_hop")
            next_hop = _address(hop.split(",")[0], "next_hop") if hop else None
            for p in _list(group, "prefixes"):
                out.append(Observation(kind=ANNOUNCE, prefix=_prefix(p), next_hop=next_hop,
                                       **attributes, **common))
    # Checked last: a message with a bad prefix is reported as that, whatever its time.
    t = _time(data, "timestamp", latest)
    return [o.replace(time=t) for o in out]


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedMessage(f"{key} is {type(value).__name__}, not a list")
    return value


def _peer_state(data: Mapping[str, Any], source: str, offset: int | None,
                latest: float | None) -> list[Observation]:
    state = data.get("state")
    if state == "connected":
        old, new = None, ESTABLISHED  # RIS Live does not say which state the session came from
    elif state == "down":
        old, new = ESTABLISHED, _IDLE
    else:
        raise MalformedMessage(f"unknown peer state {_short(state)}")
    return [Observation(
        time=_time(data, "timestamp", latest), kind=STATE, peer_ip=_address(data.get("peer"), "peer"),
        peer_asn=_asn(data.get("peer_asn")), old_state=old, new_state=new, record_type=RECORD_TYPE,
        collector=_host(data), source=source, offset=offset,
    )]


def _bgpkit_elems(message: Mapping[str, Any], source: str, offset: int | None,
                  latest: float | None) -> list[Observation]:
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
            "time": _time(elem, "timestamp", latest), "kind": kind,
            "peer_ip": _address(elem.get("peer_ip"), "peer"),
            "peer_asn": _asn(elem.get("peer_asn")), "prefix": _prefix(elem.get("prefix")),
            "record_type": RECORD_TYPE, "collector": _host(meta), "source": source,
            "offset": offset, "safi": SAFI_UNICAST,
        }
        if kind == ANNOUNCE:
            communities = []
            for c in elem.get("communities") or []:
                if isinstance(c, dict) and isinstance(c.get("Custom"), list) and len(c["Custom"]) == 2:
                    communities.append(f"{_uint(c['Custom'][0], 'community', 16)}:"
                                       f"{_uint(c['Custom'][1], 'community', 16)}")
                elif c in _WELL_KNOWN:
                    communities.append(_WELL_KNOWN[c])
                else:
                    raise MalformedMessage(f"unknown community {c!r}")
            aggr_asn, aggr_ip = elem.get("aggr_asn"), elem.get("aggr_ip")
            fields.update(
                as_path=_as_path(elem.get("as_path") or []),
                origin=_ORIGINS.get(str(elem.get("origin")).lower()),
                next_hop=_address(elem["next_hop"], "next_hop") if elem.get("next_hop") else None,
                med=None if elem.get("med") is None else _uint(elem["med"], "med"),
                local_pref=(None if elem.get("local_pref") is None or not has_local_pref
                            else _uint(elem["local_pref"], "local_pref")),
                communities=" ".join(communities) or None, atomic_aggregate=bool(elem.get("atomic")),
                aggregator=(f"{_asn(aggr_asn)} {_address(aggr_ip, 'aggregator')}"
                            if aggr_asn is not None else None),
            )
        out.append(Observation(**fields))
    return out


def loads_bounded(text: str | bytes, *, max_bytes: int = MAX_MESSAGE_BYTES,
                  max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` for untrusted text: at most ``max_bytes`` (UTF-8) and ``max_depth`` levels of
    nesting, checked before decoding (the json module recurses: 200,000 ``[`` would raise
    RecursionError, and memory grows with size). NaN and Infinity are refused (not JSON).
    MalformedMessage (with a ``reason``) otherwise."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if len(raw) > max_bytes:
        raise MalformedMessage(f"message of {len(raw):,} bytes, over the {max_bytes:,} limit", "too large")
    # Cheap common case: fewer brackets than the limit cannot nest deeper than it.
    if raw.count(b"[") + raw.count(b"{") > max_depth:
        depth = 0
        for token in _JSON_TOKENS.finditer(raw):
            c = token.group()
            if c in (b"[", b"{"):
                depth += 1
                if depth > max_depth:
                    raise MalformedMessage(f"JSON nested deeper than {max_depth} levels", "too deep")
            elif c in (b"]", b"}"):
                depth -= 1

    def constant(name: str) -> Any:
        raise MalformedMessage(f"invalid JSON: {name} is not a JSON number", "invalid JSON")

    try:
        return json.loads(raw, parse_constant=constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"invalid JSON: {exc}", "invalid JSON") from None
    except RecursionError:  # only if the scan above was fooled; never out of the reader
        raise MalformedMessage(f"JSON nested deeper than {max_depth} levels", "too deep") from None


def parse_message(message: str | bytes | Mapping[str, Any], *, source: str = "",
                  offset: int | None = None, latest: float | None = None) -> list[Observation]:
    """The observations in one RIS Live message (JSON text or an already decoded dict).

    Returns ``[]`` for messages without routes (OPEN, KEEPALIVE, NOTIFICATION, pong, subscription
    acknowledgements). Raises :class:`MalformedMessage` for invalid JSON or shapes and values out
    of range (text over MAX_MESSAGE_BYTES or nested over MAX_DEPTH; AS numbers outside 0..2^32-1;
    invalid prefixes and addresses; timestamps not finite, before 1995 or after ``latest``,
    default: now plus MAX_FUTURE), and :class:`RisLiveError` for a ``ris_error`` message.
    """
    if isinstance(message, str | bytes):
        decoded = loads_bounded(message)
    else:
        decoded = message
    if not isinstance(decoded, dict):
        raise MalformedMessage(f"a message is a JSON object, not {type(decoded).__name__}", "not an object")
    kind = decoded.get("type")
    data = decoded.get("data")
    if kind == "ris_error":
        detail = data.get("message") if isinstance(data, dict) else data
        text = str(detail).replace("\n", " ")
        raise RisLiveError(f"server error: {text[:200]}")
    try:
        if kind != "ris_message":
            if "elems" in decoded and "meta" in decoded:
                return _bgpkit_elems(decoded, source, offset, latest)
            if kind in ("pong", "ris_subscribe_ok", "ris_rrc_list"):
                return []
            raise MalformedMessage(f"unknown message type {_short(kind)}", "unknown type")
        if not isinstance(data, dict):
            raise MalformedMessage("ris_message without a data object", "not an object")
        if data.get("type") == "UPDATE":
            return _update(data, source, offset, latest)
        if data.get("type") == "RIS_PEER_STATE":
            return _peer_state(data, source, offset, latest)
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as exc:
        if isinstance(exc, MalformedMessage):
            raise
        raise MalformedMessage(f"bad field value: {str(exc)[:100]}") from None
    if data.get("type") in ("OPEN", "KEEPALIVE", "NOTIFICATION"):
        return []
    raise MalformedMessage(f"unknown ris_message type {_short(data.get('type'))}", "unknown type")


@dataclass
class LiveStats:
    """Counters of one stream or file, and every problem it survived (for reports and tests)."""

    messages: int = 0
    observations: int = 0
    malformed: int = 0
    #: Malformed messages by reason ("invalid JSON", "too deep", "bad timestamp", ...).
    dropped: dict[str, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    connections: int = 0
    gaps: list[LiveGap] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["gaps"] = [g.to_dict() for g in self.gaps]
        return out

    def drop(self, exc: Exception) -> bool:
        """Count a dropped message by reason; True while that reason is worth describing (the
        first REPORT_EACH of each), so a hostile stream cannot flood the log."""
        self.malformed += 1
        reason = getattr(exc, "reason", None) or "internal error"
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        if len(self.problems) > 10_000:
            del self.problems[:5_000]  # bounded memory on an endless hostile stream
        return self.dropped[reason] <= REPORT_EACH

    def dropped_text(self) -> str:
        """``"3 malformed (2 bad timestamp, 1 too deep)"``."""
        if not self.malformed:
            return "0 malformed"
        counts = sorted(self.dropped.items(), key=lambda x: (-x[1], x[0]))
        parts = ", ".join(f"{n:,} {why}" for why, n in counts)
        return f"{self.malformed:,} malformed ({parts})"


#: Dropped messages described one by one per reason; further ones are only counted.
REPORT_EACH = 5


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
        report = stats.drop(exc)
        problem = f"{path}: byte {offset}: {exc}"
        if strict:
            raise MalformedMessage(problem, getattr(exc, "reason", "bad field")) from None
        if report:
            stats.problems.append(problem)
            if on_problem is not None:
                on_problem(problem)

    def one(message: Any, offset: int) -> Iterator[Observation]:
        stats.messages += 1
        try:
            observations = parse_message(message, source=source, offset=offset)
        except RisLiveError as exc:
            stats.server_errors.append(str(exc))
            if on_problem is not None:
                on_problem(f"{path}: byte {offset}: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - no message may stop the reader
            bad(offset, exc)
            return
        stats.observations += len(observations)
        yield from observations

    try:
        # A whole-file document may be big, but not deep.
        whole = loads_bounded(raw, max_bytes=max(len(raw), 1))
    except MalformedMessage:
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
            async with connect(target, open_timeout=open_timeout, max_size=4 * MAX_MESSAGE_BYTES) as ws:
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
                    except RisLiveError as exc:
                        if len(stats.server_errors) < 1000:
                            stats.server_errors.append(str(exc))
                            problem(f"RIS Live: {exc}")
                        continue
                    except Exception as exc:  # noqa: BLE001 - no message may stop the reader
                        if stats.drop(exc):
                            why = getattr(exc, "reason", None) or "internal error"
                            more = (f" (further '{why}' drops are only counted)"
                                    if stats.dropped.get(why) == REPORT_EACH else "")
                            problem(f"RIS Live: malformed message #{stats.messages} skipped: {exc}{more}")
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
