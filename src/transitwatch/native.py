"""Checks that a compiled C extension was built from the source beside it.

An editable install keeps the ``.so`` that was built the last time ``pip install -e`` (or ``make``)
ran. After a ``git pull`` that changed the C source, the old ``.so`` still imports, and decodes with
yesterday's rules: wrong answers, or a confusing error far from the cause. ``setup.py`` compiles
the SHA-256 of each C source into its module as ``SOURCE_SHA256``; :func:`check` compares it with
the source file when that file is present (an editable install or a source tree; a wheel has no
sources and nothing to compare) and refuses a stale module with one line that says what to run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType

__all__ = ["StaleExtensionError", "check", "source_sha256"]


class StaleExtensionError(ImportError):
    """A compiled extension does not match its C source; ``str(exc)`` is one line."""


def source_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(module: ModuleType, source: Path) -> None:
    """Raise :class:`StaleExtensionError` when ``module`` was built from another ``source``."""
    built = getattr(module, "SOURCE_SHA256", None)
    try:
        current = source_sha256(source)
    except OSError:
        return   # installed from a wheel: no source to compare with
    if built != current:
        name = Path(getattr(module, "__file__", None) or module.__name__).name
        raise StaleExtensionError(
            f"the compiled extension {name} was built from "
            f"another version of {source.name}; rebuild it: `make .venv/.installed` "
            f"(or `pip install -e .`)")
