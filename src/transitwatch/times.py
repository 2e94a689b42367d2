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

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["iso_utc", "iso_local", "zone", "parse_time", "parse_duration"]


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
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Pyongyang)") from None


def iso_local(seconds: float, tz: str | tzinfo) -> str:
    """Epoch seconds -> ISO 8601 in ``tz`` with the offset in force then: ``'2017-10-01T17:38:00+08:30'``."""
    return _iso(datetime.fromtimestamp(seconds, tz=zone(tz)))


_EPOCH = re.compile(r"^\d+(\.\d+)?$")


def parse_time(text: str | float | datetime) -> float:
    """A user's time -> epoch seconds.

    Accepts epoch seconds (``1506848880``), ISO 8601 with ``Z`` or an offset
    (``2017-10-01T09:08:00Z``, ``2017-10-01T17:38+08:30``), or without one (taken as UTC),
    ``2017-10-01 09:08`` and a bare date. ValueError with the text otherwise.
    """
    if isinstance(text, datetime):
        moment = text
    elif isinstance(text, int | float):
        return float(text)
    else:
        raw = text.strip()
        if _EPOCH.match(raw):
            return float(raw)
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"cannot read time {text!r} (use e.g. 2017-10-01T09:08:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|)\s*$", re.IGNORECASE)
_UNIT = {"": 1, "s": 1, "sec": 1, "secs": 1, "m": 60, "min": 60, "mins": 60,
         "h": 3600, "hr": 3600, "hrs": 3600, "d": 86400}


def parse_duration(text: str | float) -> float:
    """``"5m"`` / ``"90s"`` / ``"2h"`` / ``"300"`` -> seconds; ValueError otherwise."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if not match:
            raise ValueError(f"cannot read duration {text!r} (use e.g. 90s, 5m, 2h)")
        seconds = float(match.group(1)) * _UNIT[match.group(2).lower()]
    if seconds < 0:
        raise ValueError(f"duration must not be negative: {text!r}")
    return seconds
