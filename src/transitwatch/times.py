"""Time helpers shared by state, metrics, detectors and the CLI.

All times inside transitwatch are float UTC epoch seconds (as in :class:`Observation`). These
helpers turn them into ISO 8601 text, in UTC (``Z``) or in a local IANA zone with the *historical*
offset of that moment (Pyongyang was UTC+8:30 from 2015-08-15 to 2018-05-04), and parse the
user's times and durations.

>>> iso_utc(1506848880.0)
'2017-10-01T09:08:00Z'
>>> iso_local(1506848880.0, "Asia/Pyongyang")
'2017-10-01T17:38:00+08:30'
>>> parse_duration("5m")
300.0
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from transitwatch.errors import TransitwatchError

__all__ = ["iso_utc", "iso_local", "zone", "parse_time", "parse_window", "parse_duration",
           "positive_duration"]


def _iso(moment: datetime) -> str:
    # Whole seconds print without a fraction; MRT _ET records keep their microseconds.
    spec = "seconds" if moment.microsecond == 0 else "microseconds"
    return moment.isoformat(timespec=spec)


def iso_utc(seconds: float) -> str:
    """Epoch seconds -> ``'2017-10-01T09:08:00Z'``."""
    return _iso(datetime.fromtimestamp(seconds, tz=UTC)).replace("+00:00", "Z")


def zone(name: str | tzinfo) -> tzinfo:
    """An IANA time zone by name (``"Asia/Pyongyang"``); ValueError naming it when unknown."""
    if isinstance(name, tzinfo):
        return name
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise TransitwatchError(
            f"unknown time zone {name!r} (use an IANA name such as Asia/Pyongyang)") from None


def iso_local(seconds: float, tz: str | tzinfo) -> str:
    """Epoch seconds -> ISO 8601 in ``tz`` with the offset in force then: ``'2017-10-01T17:38:00+08:30'``."""
    return _iso(datetime.fromtimestamp(seconds, tz=zone(tz)))


_EPOCH = re.compile(r"^-?\d+(\.\d+)?$")
_NOW = re.compile(r"^now\s*(?:(?P<sign>[+-])\s*(?P<amount>.+))?$", re.IGNORECASE)


def parse_time(text: str | float | datetime, *, now: float | None = None) -> float:
    """A user's time -> epoch seconds. The ONE parser behind every time option and argument
    (``--from/--to/--at/--start/--end``, API ``at=``/``start=``/``end=``, HTTP ``?at=``).

    Accepts epoch seconds (``1506848880``, a number or text), ISO 8601 with ``Z`` or an offset
    (``2017-10-01T09:08:00Z``, ``2017-10-01T17:38+08:30``) or without one (taken as UTC),
    ``2017-10-01 09:08``, a bare date, a ``datetime`` (naive = UTC), ``now`` and ``now-1h`` /
    ``now+5m`` (any duration :func:`parse_duration` reads; ``now`` is the wall clock unless
    given). :class:`~transitwatch.errors.TransitwatchError` (a ValueError) naming the text otherwise.

    >>> parse_time("2017-10-01T17:38+08:30")
    1506848880.0
    >>> parse_time("now-1h", now=1506848880.0)
    1506845280.0
    """
    if isinstance(text, datetime):
        moment = text
    elif isinstance(text, bool):
        raise TransitwatchError(f"cannot read time {text!r} (use e.g. 2017-10-01T09:08:00Z)")
    elif isinstance(text, int | float):
        return _finite(float(text), text)
    elif not isinstance(text, str):
        raise TransitwatchError(f"cannot read time {text!r} (use e.g. 2017-10-01T09:08:00Z)")
    else:
        raw = text.strip()
        if _EPOCH.match(raw):
            return _finite(float(raw), text)
        relative = _NOW.match(raw)
        if relative:
            base = time.time() if now is None else now
            if not relative.group("sign"):
                return base
            try:
                amount = parse_duration(relative.group("amount"))
            except ValueError:
                raise TransitwatchError(f"cannot read time {text!r} (use e.g. now-1h, now-30m)") from None
            return _finite(base - amount if relative.group("sign") == "-" else base + amount, text)
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise TransitwatchError(
                f"cannot read time {text!r} (use ISO 8601 such as 2017-10-01T09:08:00Z, "
                "epoch seconds, or now-1h)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _finite(moment.timestamp(), text)


def _finite(seconds: float, text: object) -> float:
    # 1e300 or NaN would fail later, far from the user's input; a day's margin at both ends so
    # that the time exists in every zone (9999-12-31T23:59Z is year 10000 in Asia/Pyongyang)
    if not math.isfinite(seconds) or not (-62135596800.0 + 86400 <= seconds <= 253402300799.0 - 86400):
        raise TransitwatchError(f"time {text!r} is out of range (years 1 to 9999)")
    return seconds


def parse_window(start: str | float | datetime | None, end: str | float | datetime | None,
                 ) -> tuple[float | None, float | None]:
    """(start, end) parsed with :func:`parse_time`; an end before the start is an error."""
    lo = parse_time(start) if start is not None and start != "" else None
    hi = parse_time(end) if end is not None and end != "" else None
    if lo is not None and hi is not None and hi < lo:
        raise TransitwatchError(f"end {iso_utc(hi)} is before start {iso_utc(lo)}")
    return lo, hi


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|)\s*$", re.IGNORECASE)
_UNIT = {"": 1, "s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "mins": 60,
         "h": 3600, "hr": 3600, "hrs": 3600, "d": 86400}


def parse_duration(text: str | float | timedelta) -> float:
    """``"5m"`` / ``"90s"`` / ``"2h"`` / ``"300"`` / a ``timedelta`` -> seconds;
    :class:`~transitwatch.errors.TransitwatchError` (a ValueError) otherwise."""
    if isinstance(text, timedelta):
        seconds = text.total_seconds()
    elif isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            if _DURATION.match(str(text).strip().removeprefix("-")):
                raise TransitwatchError(f"duration must not be negative: {text!r}")
            raise TransitwatchError(f"cannot read duration {text!r} (use e.g. 90s, 5m, 2h)")
        seconds = float(match.group(1)) * _UNIT[match.group(2).lower()]
    if not math.isfinite(seconds):   # nan would compare false with every bound
        raise TransitwatchError(f"duration must be a finite number of seconds: {text!r}")
    if seconds < 0:
        raise TransitwatchError(f"duration must not be negative: {text!r}")
    return seconds


def positive_duration(text: str | float | timedelta, what: str) -> float:
    """:func:`parse_duration` for a duration where 0 makes no sense (a step, a wait before
    retrying, a run time): ``what`` names it in the one-line error."""
    try:
        seconds = parse_duration(text)
    except TransitwatchError as exc:
        raise TransitwatchError(f"{what}: {exc}") from None
    if seconds <= 0:
        raise TransitwatchError(f"{what} must be longer than 0 seconds, not {text!r}")
    return seconds
