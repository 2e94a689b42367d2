"""Request parameters checked at the edge: every value a client sends is bounded before any work,
so a bad one is a 400/422 with a one-line ``detail``, never a 500 (or 90 s of CPU).

Times are ISO 8601 or epoch seconds between 1970 and 2100 (beyond that, dates overflow and no
routing data exists); targets are at most :data:`MAX_TARGET_PARTS` ASes/prefixes, and a prefix
shorter than :data:`MIN_PREFIX_LENGTH` is refused as too broad before the database is read (it
would select most of the routing table: ask about an AS or a smaller block).
"""

from __future__ import annotations

import math
import os
from typing import Any

from fastapi import HTTPException

from transitwatch.registry import UnknownCountryError, normalise_country
from transitwatch.state.target import MIN_PREFIX_LENGTH, Target, TargetError, refuse_too_broad
from transitwatch.times import parse_time, zone

__all__ = ["MAX_OFFSET", "MAX_TARGET_PARTS", "MAX_TEXT", "MIN_PREFIX_LENGTH", "TIME_RANGE",
           "country_code", "scrub_paths", "target", "time_param", "tz_param"]

#: Longest query text accepted (a time, a zone name, a target list).
MAX_TEXT = 512
#: Highest list offset: far beyond any real list, far below integer overflow in the database.
MAX_OFFSET = 10**9
MAX_TARGET_PARTS = 32
#: Plausible times: 1970-01-01 to 2100-01-01 (local times in any zone stay valid dates).
TIME_RANGE = (0.0, 4102444800.0)


def time_param(value: str | None, name: str) -> float | None:
    """A time parameter (ISO 8601 or epoch seconds) -> epoch seconds; 400 naming ``name``."""
    if value is None or value == "":
        return None
    if len(value) > 64:
        raise HTTPException(400, f"{name}: not a time ({len(value)} characters)")
    try:
        t = parse_time(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise HTTPException(400, f"{name}: {str(exc)[:200]}") from None
    lo, hi = TIME_RANGE
    if not math.isfinite(t) or not lo <= t <= hi:
        raise HTTPException(400, f"{name}: {value!r} is out of range (1970-01-01 to 2100-01-01)")
    return t


def tz_param(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > 64:
        raise HTTPException(400, "tz: not a time zone name")
    try:
        zone(value)
    except (ValueError, OSError) as exc:  # OSError: ZoneInfo on a name that is a bad file path
        raise HTTPException(400, f"tz: {str(exc)[:200]}") from None
    return value


def country_code(text: str) -> str | None:
    """The country code when ``text`` names a country (``KP``, ``kp``), else None; 404 for an
    unknown one."""
    stripped = text.strip()
    if len(stripped) == 2 and stripped.isalpha():
        try:
            return normalise_country(stripped)
        except UnknownCountryError as exc:
            raise HTTPException(404, str(exc)) from None
    return None


def target(text: str) -> Target:
    """An AS / prefix target, bounded: 400 when it cannot be read or is too broad."""
    if len(text) > MAX_TEXT or text.count(",") >= MAX_TARGET_PARTS:
        raise HTTPException(400, f"target: at most {MAX_TARGET_PARTS} ASes or prefixes, "
                                 f"{MAX_TEXT} characters")
    try:
        return refuse_too_broad(Target.parse(text))
    except TargetError as exc:   # unreadable, or too broad (the rule the command line shares)
        raise HTTPException(400, str(exc)[:300]) from None


_PATH_KEYS = frozenset({"source", "file", "path", "db", "database", "dir", "directory"})


def scrub_paths(value: Any) -> Any:
    """The value with every file system path under a path-like key (``source``, ``file``, ...)
    cut to its file name: answers say which file, never where the server keeps it."""
    if isinstance(value, dict):
        return {k: (_file_name(v) if k in _PATH_KEYS and isinstance(v, str) else scrub_paths(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_paths(v) for v in value]
    return value


def _file_name(text: str) -> str:
    if "://" in text:
        return text  # a URL (RIS Live) says where the data came from, not where it is kept
    if text.startswith(("/", "~", "\\")) or os.sep in text or (len(text) > 2 and text[1] == ":"):
        return text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return text
