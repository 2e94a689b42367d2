"""Alerts: a TOML file lists what to watch and where to send its events (stdout, a log file,
webhooks), in the spirit of BGPalerter's config.

>>> config = load_config("examples/alerts.toml")                          # doctest: +SKIP
>>> alerts = AlertDispatcher(config.channels, tz=config.timezone)          # doctest: +SKIP
>>> watcher = Watcher(config.targets, settings=config.settings, on_event=alerts.send)  # doctest: +SKIP
>>> replay(watcher, read_files(paths)); alerts.close()                    # doctest: +SKIP

Per channel, before anything is sent:

- **Filters.** ``events`` (event types) and ``targets`` (target labels) restrict what a channel gets.
- **De-duplication.** The same alert (type, target, subject: e.g. ``new_upstream AS131279 AS20485``)
  is sent at most once per ``dedupe`` seconds, even with a different onset (a route that flaps
  between two upstreams alerts once per window, not once per flap).
- **Rate limit.** At most ``rate_limit`` alerts per ``rate_window`` seconds; the excess is counted,
  and the next alert that goes through says how many were held back (so does :meth:`close`).

Times for de-duplication and rate limits are the watcher's clock (the event's ``emitted_at``), so a
replay of archive data alerts as it would have at the time. Webhooks POST JSON (the event, a
one-line ``summary``) or, with ``format = "slack"``, a Slack-compatible ``{"text": ...}``; they
retry connection errors, timeouts, HTTP 5xx, 408 and 429 with exponential backoff (``Retry-After``
honoured), from a background thread so that a slow receiver never stalls the watch.
"""

from __future__ import annotations

import http.client
import json
import queue
import random
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from transitwatch.live.outbox import Outbox, OutboxError, Pending
from transitwatch.live.watch import Notice, WatchError, WatchEvent, WatchSettings, WatchTarget
from transitwatch.times import iso_utc, parse_duration, zone

__all__ = [
    "AlertConfig",
    "AlertConfigError",
    "AlertDispatcher",
    "ChannelConfig",
    "ChannelStats",
    "LogChannel",
    "StdoutChannel",
    "WebhookChannel",
    "alert_payload",
    "load_config",
]

CHANNEL_TYPES = ("stdout", "log", "webhook")
DEFAULT_DEDUPE = 3600.0
DEFAULT_RATE_LIMIT = 20
DEFAULT_RATE_WINDOW = 3600.0
#: How long an undelivered alert is retried (across restarts) before it expires.
DEFAULT_EXPIRE = 86400.0
#: At exit, a retry due within this many seconds is waited for; later ones wait in the outbox.
CLOSE_WAIT = 2.0


class AlertConfigError(ValueError):
    """A config file that cannot be used; one line naming the file and the key."""


# -- configuration ---------------------------------------------------------------------------------


@dataclass
class ChannelConfig:
    """One channel of the config file (see docs/cli.md for every key)."""

    type: str
    name: str
    path: Path | None = None          # log
    url: str | None = None            # webhook
    format: str = "text"              # stdout/log: text|json; webhook: json|slack
    headers: dict[str, str] = field(default_factory=dict)
    retries: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    timeout: float = 10.0
    events: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    notices: bool = False             # also send gap notices
    dedupe: float = DEFAULT_DEDUPE
    rate_limit: int = DEFAULT_RATE_LIMIT
    rate_window: float = DEFAULT_RATE_WINDOW
    expire: float = DEFAULT_EXPIRE    # webhook with an outbox: give up on an alert after this

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "path": str(self.path) if self.path else None,
                "url": _redact(self.url) if self.url else None, "format": self.format,
                "events": list(self.events), "targets": list(self.targets), "dedupe": self.dedupe,
                "rate_limit": self.rate_limit, "rate_window": self.rate_window}


@dataclass
class AlertConfig:
    """A loaded config: ``targets``, detector ``settings``, ``channels``, and the optional
    ``timezone`` and ``ris_live_url``."""

    path: Path
    targets: list[WatchTarget]
    settings: WatchSettings
    channels: list[ChannelConfig]
    timezone: str | None = None
    ris_live_url: str | None = None
    #: the keys the file's [watch] table sets (to tell a given value from a default)
    watch_keys: frozenset[str] = frozenset()
    #: the durable outbox of webhook alerts (default: beside the config, ``<name>.outbox.sqlite``)
    outbox: Path | None = None

    @property
    def outbox_path(self) -> Path:
        return self.outbox or self.path.with_name(self.path.stem + ".outbox.sqlite")

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "targets": [t.to_dict() for t in self.targets],
                "settings": self.settings.to_dict(), "channels": [c.to_dict() for c in self.channels],
                "timezone": self.timezone, "ris_live_url": self.ris_live_url}


def _redact(url: str) -> str:
    """A webhook URL without its secret path (Slack URLs are credentials)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.path.strip("/") else url


class _Keys:
    """Reads one TOML table, naming the file and key in every error, and rejecting unknown keys."""

    def __init__(self, path: Path, where: str, table: Any, allowed: Sequence[str]) -> None:
        self.path, self.where = path, where
        if not isinstance(table, dict):
            self.fail(f"must be a table, not {type(table).__name__}")
        self.table: dict[str, Any] = table
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            self.fail(f"unknown key {unknown[0]!r} (known: {', '.join(allowed)})")

    def fail(self, message: str, key: str | None = None) -> None:
        name = f"{self.where}.{key}" if key else self.where
        raise AlertConfigError(f"{self.path}: {name}: {message}")

    def get(self, key: str, kinds: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.table.get(key, default)
        wrong_bool = isinstance(value, bool) and kinds is not bool  # TOML true is not a number
        if value is not None and (not isinstance(value, kinds) or wrong_bool):
            self.fail(f"expected {getattr(kinds, '__name__', kinds)}, got {value!r}", key)
        return value

    def duration(self, key: str, default: float) -> float:
        value = self.table.get(key)
        if value is None:
            return default
        try:
            return parse_duration(value if isinstance(value, str) else float(value))
        except (TypeError, ValueError):
            self.fail(f"cannot read duration {value!r} (use e.g. 90s, 5m, 2h)", key)
        raise AssertionError  # unreachable: fail() raises

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            self.fail("expected a list of strings", key)
        return tuple(str(v) for v in value)


def load_config(path: str | Path) -> AlertConfig:
    """Read an alert config (TOML; format in docs/cli.md and examples/alerts.toml).

    AlertConfigError (one line, naming the file and key) for anything unusable: syntax, unknown
    keys, bad targets, channel types, URLs or durations.
    """
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AlertConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AlertConfigError(f"{path}: not valid TOML: {exc}") from None
    top = _Keys(path, "config", doc, ["watch", "alerts", "targets", "channels"])

    w = _Keys(path, "watch", doc.get("watch", {}), [
        "min_peers", "min_duration", "baseline", "resync", "detectors", "timezone", "ris_live_url",
        "check_every"])
    try:
        settings = WatchSettings(
            min_peers=w.get("min_peers", int, 2), min_duration=w.duration("min_duration", 300.0),
            baseline=w.duration("baseline", 0.0),
            resync=w.duration("resync", -1.0) if "resync" in w.table else None,
            detectors=w.strings("detectors") or ("upstream",), check_every=w.duration("check_every", 60.0))
    except WatchError as exc:
        raise AlertConfigError(f"{path}: watch: {exc}") from None
    tz = w.get("timezone", str)
    if tz:
        try:
            zone(tz)
        except ValueError as exc:
            raise AlertConfigError(f"{path}: watch.timezone: {exc}") from None
    url = w.get("ris_live_url", str)

    targets_raw = doc.get("targets", [])
    if not isinstance(targets_raw, list):
        top.fail("use [[targets]] tables", "targets")
    targets = [_target(path, i, t) for i, t in enumerate(targets_raw)]

    a = _Keys(path, "alerts", doc.get("alerts", {}), ["dedupe", "rate_limit", "rate_window", "outbox"])
    outbox_text = a.get("outbox", str)
    outbox = None
    if outbox_text:
        outbox = Path(outbox_text).expanduser()
        outbox = outbox if outbox.is_absolute() else path.parent / outbox
    defaults = {"dedupe": a.duration("dedupe", DEFAULT_DEDUPE),
                "rate_limit": a.get("rate_limit", int, DEFAULT_RATE_LIMIT),
                "rate_window": a.duration("rate_window", DEFAULT_RATE_WINDOW)}
    channels_raw = doc.get("channels", [])
    if not isinstance(channels_raw, list):
        top.fail("use [[channels]] tables", "channels")
    channels = [_channel(path, i, c, defaults) for i, c in enumerate(channels_raw)]
    names = [c.name for c in channels]
    for name in names:
        if names.count(name) > 1:
            raise AlertConfigError(f"{path}: channels: two channels named {name!r} (set name = ...)")
    return AlertConfig(path, targets, settings, channels, tz, url, frozenset(w.table), outbox)


def _target(path: Path, index: int, table: Any) -> WatchTarget:
    t = _Keys(path, f"targets[{index}]", table, ["as", "prefix", "country", "asns", "prefixes", "name"])
    given = [k for k in ("as", "prefix", "country") if k in t.table]
    if len(given) != 1:
        t.fail("give exactly one of as = 131279, prefix = \"175.45.176.0/22\", country = \"KP\"")
    name = t.get("name", str)
    try:
        if "country" in t.table:
            asns = t.table.get("asns", [])
            if not isinstance(asns, list) or not all(isinstance(x, int) for x in asns):
                t.fail("expected a list of AS numbers", "asns")
            return WatchTarget.for_country(t.get("country", str), asns=asns,
                                           prefixes=t.strings("prefixes"), name=name)
        if "asns" in t.table or "prefixes" in t.table:
            t.fail("asns/prefixes are for country targets (subscriptions); join ASes and prefixes "
                   "with commas in as/prefix instead")
        value = t.table["as"] if "as" in t.table else t.table["prefix"]
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if len(str(value)) == 2 and str(value).isalpha():
            t.fail(f"{value!r} is a country: use country = {str(value)!r}")
        return WatchTarget.parse(str(value), name=name)
    except WatchError as exc:
        t.fail(str(exc))
    raise AssertionError  # unreachable


def _channel(path: Path, index: int, table: Any, defaults: dict[str, Any]) -> ChannelConfig:
    c = _Keys(path, f"channels[{index}]", table, [
        "type", "name", "path", "url", "format", "headers", "retries", "backoff", "max_backoff",
        "timeout", "events", "targets", "notices", "dedupe", "rate_limit", "rate_window", "expire"])
    kind = c.get("type", str)
    if kind not in CHANNEL_TYPES:
        c.fail(f"unknown channel type {kind!r} (choose from {', '.join(CHANNEL_TYPES)})", "type")
    name = c.get("name", str) or (kind if kind != "webhook" else f"webhook{index}")
    fmt = c.get("format", str) or ("json" if kind != "stdout" else "text")
    formats = ("json", "slack") if kind == "webhook" else ("text", "json")
    if fmt not in formats:
        c.fail(f"unknown format {fmt!r} for a {kind} channel (choose from {', '.join(formats)})", "format")
    out = ChannelConfig(type=kind, name=name, format=fmt, events=c.strings("events"),
                        targets=c.strings("targets"), notices=bool(c.get("notices", bool, False)),
                        dedupe=c.duration("dedupe", defaults["dedupe"]),
                        rate_limit=c.get("rate_limit", int, defaults["rate_limit"]),
                        rate_window=c.duration("rate_window", defaults["rate_window"]))
    if out.rate_limit < 1:
        c.fail("must be at least 1", "rate_limit")
    if kind == "log":
        p = c.get("path", str)
        if not p:
            c.fail("a log channel needs path = \"alerts.jsonl\"", "path")
        log_path = Path(p).expanduser()
        out.path = log_path if log_path.is_absolute() else path.parent / log_path
    if kind == "webhook":
        url = c.get("url", str)
        if not url:
            c.fail("a webhook channel needs url = \"https://...\"", "url")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            c.fail(f"not an http(s) URL: {url!r}", "url")
        out.url = url
        headers = c.get("headers", dict, {})
        if not all(isinstance(v, str) for v in headers.values()):
            c.fail("header values must be strings", "headers")
        out.headers = dict(headers)
        out.retries = c.get("retries", int, 5)
        if out.retries < 0:
            c.fail("must not be negative", "retries")
        out.backoff = c.duration("backoff", 1.0)
        out.max_backoff = c.duration("max_backoff", 60.0)
        out.timeout = c.duration("timeout", 10.0)
        if out.timeout <= 0:
            c.fail("must be positive", "timeout")
        out.expire = c.duration("expire", DEFAULT_EXPIRE)
        if out.expire <= 0:
            c.fail("must be positive", "expire")
    return out


# -- channels --------------------------------------------------------------------------------------


@dataclass
class ChannelStats:
    """What a channel did: alerts ``sent`` (delivered), ``deduplicated`` / ``rate_limited``
    (held back), ``failed`` (gave up), HTTP ``attempts`` (webhooks), other ``messages``
    delivered (gap notices, rate-limit reports)."""

    name: str
    type: str
    sent: int = 0
    deduplicated: int = 0
    rate_limited: int = 0
    failed: int = 0
    attempts: int = 0
    messages: int = 0
    errors: list[str] = field(default_factory=list)
    #: with an outbox: alerts not delivered yet (retried on the next run), already sent before
    pending: int = 0
    already_sent: int = 0

    def delivered(self, alert: dict[str, Any]) -> None:
        """Count a delivery: alerts as ``sent``, notices and rate-limit reports as ``messages``."""
        if alert.get("record") == "alert":
            self.sent += 1
        else:
            self.messages += 1

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "sent": self.sent, "deduplicated": self.deduplicated,
                "rate_limited": self.rate_limited, "failed": self.failed, "attempts": self.attempts,
                "messages": self.messages, "errors": self.errors, "pending": self.pending,
                "already_sent": self.already_sent}

    def summary(self) -> str:
        text = f"{self.name}: {self.sent} sent"
        if self.deduplicated:
            text += f", {self.deduplicated} deduplicated"
        if self.rate_limited:
            text += f", {self.rate_limited} rate-limited"
        if self.already_sent:
            text += f", {self.already_sent} already sent before"
        if self.failed:
            text += f", {self.failed} failed"
        if self.pending:
            text += f", {self.pending} pending"
        return text


def alert_payload(alert: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The JSON body a webhook posts: ``alert`` (see :meth:`AlertDispatcher.send`) as is, or
    ``{"text": summary}`` for Slack-compatible receivers."""
    if fmt == "slack":
        return {"text": alert["summary"]}
    return alert


class StdoutChannel:
    """Alerts as lines on a stream (stdout by default): the summary, or the JSON alert."""

    def __init__(self, config: ChannelConfig, stream: IO[str] | None = None) -> None:
        self.config = config
        self.stats = ChannelStats(config.name, config.type)
        self._stream = stream

    def deliver(self, alert: dict[str, Any]) -> None:
        stream = self._stream or sys.stdout
        line = json.dumps(alert) if self.config.format == "json" else alert["summary"]
        print(line, file=stream, flush=True)
        self.stats.delivered(alert)

    def close(self, timeout: float) -> None:
        pass


class LogChannel:
    """Alerts appended to a file, one per line (JSON by default, or ``time summary`` text)."""

    def __init__(self, config: ChannelConfig) -> None:
        assert config.path is not None
        self.config = config
        self.stats = ChannelStats(config.name, config.type)
        try:
            config.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] = open(config.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        except OSError as exc:
            why = exc.strerror or exc
            raise AlertConfigError(f"{config.path}: cannot open the log file: {why}") from None

    def deliver(self, alert: dict[str, Any]) -> None:
        line = json.dumps(alert) if self.config.format == "json" else f"{alert['time']} {alert['summary']}"
        self._file.write(line + "\n")
        self._file.flush()
        self.stats.delivered(alert)

    def close(self, timeout: float) -> None:
        self._file.close()


class WebhookChannel:
    """POSTs alerts from a background thread, retrying with exponential backoff and jitter.

    Retried: connection errors, timeouts, HTTP 5xx, 408 and 429 (``Retry-After`` seconds are
    honoured, capped by ``max_backoff``); at most ``retries`` retries. Other 4xx fail at once.
    ``on_problem`` hears every failure (one line, the URL without its secret path).
    """

    def __init__(self, config: ChannelConfig, on_problem: Callable[[str], Any] | None = None,
                 sleep: Callable[[float], Any] = time.sleep, outbox: Outbox | None = None) -> None:
        assert config.url is not None
        self.config = config
        self.stats = ChannelStats(config.name, config.type)
        self.on_problem = on_problem
        self.outbox = outbox
        self._sleep = sleep
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._closing = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        if outbox is not None:
            outbox.retry_now(config.name)  # left by an earlier run: tried again at once
        target = self._run if outbox is None else self._run_outbox
        self._thread = threading.Thread(target=target, name=f"webhook-{config.name}", daemon=True)
        self._thread.start()

    def deliver(self, alert: dict[str, Any]) -> None:
        if self.outbox is None:
            self._queue.put(alert)
        elif self.outbox.add(self.config.name, alert, expire=self.config.expire):
            self._wake.set()
        else:
            self.stats.already_sent += 1  # the same alert is in the outbox already (sent or queued)

    def close(self, timeout: float) -> None:
        """Deliver what is queued (waiting at most ``timeout`` seconds), then stop. With an
        outbox, what is left stays there for the next run (``stats.pending``)."""
        if self.outbox is not None:
            self._closing.set()
            self._wake.set()
            self._thread.join(timeout)
            self._stop.set()
            self._wake.set()
            self._thread.join(self.config.timeout + 1)
            left = self.outbox.pending(self.config.name)
            self.stats.pending = len(left)
            if left:
                until = iso_utc(int(max(p.expires for p in left)))
                self._problem(f"{len(left)} alert(s) not delivered yet, kept in {self.outbox.path}: "
                              f"retried on the next run until delivered or expired (by {until})")
            return
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._closing.set()
            queued = self._queue.qsize()
            self._problem(f"{queued} alert(s) not delivered: still retrying after {timeout:g} s at exit")
            self.stats.failed += queued

    def pending(self) -> list[Pending]:
        return self.outbox.pending(self.config.name) if self.outbox is not None else []

    def _run_outbox(self) -> None:
        """Send what is due, oldest first, one attempt each; sleep until the next is due. Alerts
        left by an earlier run are due at once."""
        assert self.outbox is not None
        name = self.config.name
        while not self._stop.is_set():
            try:
                items = self.outbox.due(name, lease=self.config.timeout * 2 + 5)
            except Exception as exc:  # noqa: BLE001 - the outbox file went bad: say so, keep going
                self._problem(f"outbox {self.outbox.path}: {exc}")
                items = []
            for i, item in enumerate(items):
                if self._stop.is_set():
                    self.outbox.release(items[i:])
                    return
                if not self._attempt(item):
                    # The next ones wait for this one: alerts arrive in order.
                    self.outbox.release(items[i + 1:])
                    break
            if items:
                continue
            next_due = self.outbox.next_due(name)
            if self._closing.is_set() and (next_due is None or next_due - time.time() > CLOSE_WAIT):
                # Everything delivered, or what is left waits a long backoff: it is kept for the
                # next run rather than holding up the exit.
                return
            wait = 1.0 if next_due is None else min(1.0, max(0.01, next_due - time.time()))
            self._wake.wait(wait)
            self._wake.clear()

    def _attempt(self, item: Pending) -> bool:
        """One try; True when the alert is done with (delivered, or refused for good)."""
        assert self.outbox is not None
        ok, retryable, reason, retry_after = self._post_once(item.alert, item.id)
        if ok:
            self.outbox.delivered(item)
            self.stats.delivered(item.alert)
            return True
        if not retryable:
            self.outbox.refused(item, reason)
            self.stats.failed += 1
            self._problem(f"refused after {item.attempts + 1} attempt(s): {reason}: {item.summary}")
            return True
        cfg = self.config
        delay = min(cfg.max_backoff, cfg.backoff * 2 ** item.attempts) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = min(cfg.max_backoff, max(delay, retry_after))
        self.outbox.retry(item, reason, delay)
        if item.attempts + 1 in (1, 5, 20) or (item.attempts + 1) % 100 == 0:  # not one line per try
            self._problem(f"attempt {item.attempts + 1} failed ({reason}); retrying in {delay:.1f} s: "
                          f"{item.summary}")
        return False

    def _post_once(self, alert: dict[str, Any],
                   key: str | None = None) -> tuple[bool, bool, str, float | None]:
        """One POST: (delivered, worth retrying, reason, Retry-After seconds)."""
        cfg = self.config
        body = json.dumps(alert_payload(alert, cfg.format)).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "transitwatch", **cfg.headers}
        if key is not None:
            headers["Idempotency-Key"] = key  # the same alert on every retry: receivers can dedupe
        self.stats.attempts += 1
        retry_after: float | None = None
        try:
            request = urllib.request.Request(cfg.url or "", data=body, headers=headers, method="POST")
            with _NO_REDIRECTS.open(request, timeout=cfg.timeout) as response:
                response.read(1 << 16)
            return True, False, "", None
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code}"
            retryable = exc.code >= 500 or exc.code in (408, 429)
            header = exc.headers.get("Retry-After") if exc.headers else None
            if header and header.strip().isdigit() and len(header.strip()) < 8:
                retry_after = float(header)
            exc.close()
            return False, retryable, reason, retry_after
        except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as exc:
            why = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return False, True, f"cannot connect: {str(why)[:200]}", None

    def _problem(self, text: str) -> None:
        line = f"webhook {self.config.name} ({_redact(self.config.url or '')}): {text}"
        self.stats.errors.append(line)
        if self.on_problem is not None:
            self.on_problem(line)

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            self._post(alert)

    def _post(self, alert: dict[str, Any]) -> None:
        """Without an outbox: try ``retries`` times in this run, then give up."""
        cfg = self.config
        attempt = 0
        while True:
            attempt += 1
            ok, retryable, reason, retry_after = self._post_once(alert)
            if ok:
                self.stats.delivered(alert)
                return
            if not retryable or attempt > cfg.retries or self._closing.is_set():
                self.stats.failed += 1
                verdict = "gave up" if retryable else "refused"
                self._problem(f"{verdict} after {attempt} attempt(s): {reason}: {alert['summary']}")
                return
            delay = min(cfg.max_backoff, cfg.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if retry_after is not None:
                delay = min(cfg.max_backoff, max(delay, retry_after))
            self._sleep(delay)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is not followed (the alert would go somewhere not configured)."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> None:
        raise urllib.error.HTTPError(req.full_url, code, f"redirect refused ({msg})", headers, fp)


_NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


# -- the dispatcher --------------------------------------------------------------------------------


class _Limits:
    """Per-channel de-duplication and rate limit state."""

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config
        self.last_sent: dict[tuple[str, str, str], float] = {}
        self.window: deque[float] = deque()
        self.held_back = 0
        self.held_since: float | None = None

    def admit(self, key: tuple[str, str, str], now: float, stats: ChannelStats) -> bool:
        last = self.last_sent.get(key)
        if last is not None and now - last < self.config.dedupe:
            stats.deduplicated += 1
            return False
        while self.window and now - self.window[0] >= self.config.rate_window:
            self.window.popleft()
        if len(self.window) >= self.config.rate_limit:
            stats.rate_limited += 1
            self.held_back += 1
            if self.held_since is None:
                self.held_since = now
            return False
        self.window.append(now)
        self.last_sent[key] = now
        return True


Channel = StdoutChannel | LogChannel | WebhookChannel


class AlertDispatcher:
    """Sends watch events to channels through filters, de-duplication and rate limits.

    ``channels``: configs (channels are opened here) or ready channel objects. ``tz`` adds local
    times to summaries. ``on_problem`` hears delivery failures (webhooks).
    """

    def __init__(self, channels: Sequence[ChannelConfig | Channel], *, tz: str | None = None,
                 on_problem: Callable[[str], Any] | None = None, stdout: IO[str] | None = None,
                 outbox: Outbox | str | Path | None = None) -> None:
        self.tz = tz
        self.channels: list[Channel] = []
        if outbox is not None and not isinstance(outbox, Outbox):
            try:
                outbox = Outbox(outbox)
            except OutboxError as exc:
                raise AlertConfigError(str(exc)) from None
        self.outbox = outbox
        for c in channels:
            if isinstance(c, ChannelConfig):
                if c.type == "stdout":
                    self.channels.append(StdoutChannel(c, stdout))
                elif c.type == "log":
                    self.channels.append(LogChannel(c))
                else:
                    self.channels.append(WebhookChannel(c, on_problem, outbox=outbox))
            else:
                self.channels.append(c)
        self._limits = [_Limits(c.config) for c in self.channels]

    def send(self, event: WatchEvent) -> None:
        """Route one event to every channel that wants it."""
        alert: dict[str, Any] = {
            "source": "transitwatch",
            "record": "alert",
            "type": event.type,
            "phase": event.phase,
            "target": event.target,
            "subject": event.subject,
            "time": iso_utc(event.emitted_at),
            "summary": event.summary(self.tz),
            "uncertain": event.uncertain,
            "event": event.to_dict(self.tz),
        }
        # An event's end is its own alert: not de-duplicated against its onset.
        key = (event.type if event.phase == "onset" else f"{event.type}:{event.phase}", event.target,
               event.subject)
        for channel, limits in zip(self.channels, self._limits, strict=True):
            cfg = channel.config
            if cfg.events and event.type not in cfg.events:
                continue
            if cfg.targets and event.target not in cfg.targets:
                continue
            if not limits.admit(key, event.emitted_at, channel.stats):
                continue
            out: dict[str, Any] = alert
            if limits.held_back:
                note = (f"{limits.held_back} alert(s) held back by the rate limit since "
                        f"{iso_utc(limits.held_since or event.emitted_at)}")
                out = {**alert, "rate_limited_before": limits.held_back,
                       "summary": f"{alert['summary']} ({note})"}
                limits.held_back, limits.held_since = 0, None
            channel.deliver(out)

    def notice(self, notice: Notice) -> None:
        """Gap notices go to channels with ``notices = true`` (not rate-limited)."""
        if notice.kind != "gap":
            return
        for channel in self.channels:
            if channel.config.notices:
                channel.deliver({"source": "transitwatch", "record": "notice", "type": "gap",
                                 "time": iso_utc(notice.time) if notice.time is not None else None,
                                 "summary": notice.text, "notice": notice.to_dict()})

    def close(self, timeout: float = 30.0) -> None:
        """Tell channels what the rate limit held back, deliver what is queued, close files."""
        for channel, limits in zip(self.channels, self._limits, strict=True):
            if limits.held_back:
                channel.deliver({"source": "transitwatch", "record": "rate_limit", "type": "rate_limited",
                                 "time": iso_utc(limits.held_since or 0.0),
                                 "summary": f"{limits.held_back} alert(s) held back by the rate limit "
                                            f"({channel.config.rate_limit} per "
                                            f"{channel.config.rate_window:g} s) since "
                                            f"{iso_utc(limits.held_since or 0.0)}",
                                 "rate_limited": limits.held_back})
                limits.held_back = 0
        deadline = time.monotonic() + timeout
        for channel in self.channels:
            channel.close(max(0.1, deadline - time.monotonic()))

    def stats(self) -> list[ChannelStats]:
        return [c.stats for c in self.channels]

    def pending(self) -> list[Pending]:
        """Alerts not delivered yet (with an outbox: kept for the next run)."""
        return self.outbox.pending() if self.outbox is not None else []
