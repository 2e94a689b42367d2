"""The one exception type that the Python API raises for bad input.

Unknown target syntax, an end before a start, a missing file, an unknown collector: every API
function (``transitwatch.upstreams``, ``transitwatch.files``, ...) raises :class:`TransitwatchError`
with a one-line message naming what was wrong (and the file and byte offset where there is one).
The CLI prints that message as one line and exits non-zero; the HTTP API answers 400.
"""

from __future__ import annotations

__all__ = ["TransitwatchError"]


class TransitwatchError(ValueError):
    """Bad input to a transitwatch API function; ``str(exc)`` is one line meant for a person."""
