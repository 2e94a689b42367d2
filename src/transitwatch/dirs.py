"""Where transitwatch keeps files (XDG base directories). Light on purpose: the CLI imports it
to show defaults in --help without loading the store or the registry."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/transitwatch/...`` (``~/.cache/transitwatch/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, "transitwatch", *parts)


def data_dir(*parts: str) -> Path:
    """``$XDG_DATA_HOME/transitwatch/...`` (``~/.local/share/transitwatch/...`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base, "transitwatch", *parts)


def default_db_path() -> Path:
    """The store's default database file: ``$XDG_DATA_HOME/transitwatch/transitwatch.duckdb``."""
    return data_dir("transitwatch.duckdb")
