"""A resumable HTTP(S) file downloader (stdlib only), shared by the registry and archive fetchers.

``download_file(url, dest)`` writes to ``dest.part`` beside the destination, resumes with an HTTP
``Range`` request when the connection is cut (retrying with backoff), checks the size against
``Content-Length`` / ``Content-Range`` / ``expected_size``, and renames the part file onto ``dest``
atomically only once it is complete, so ``dest`` never holds a truncated file.
Every failure is a :class:`DownloadError` with a one-line message naming the URL.
"""

from __future__ import annotations

import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

__all__ = ["DownloadError", "download_file"]

_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")
_USER_AGENT = "transitwatch (+https://github.com/transitwatch)"


class DownloadError(Exception):
    """A download that could not be completed; the message is one line and names the URL."""


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _total_from_headers(status: int, headers: http.client.HTTPMessage) -> int | None:
    """The full file size the server announced, if any."""
    if status == 206:
        match = _CONTENT_RANGE.match(headers.get("Content-Range", ""))
        if match and match.group(3) != "*":
            return int(match.group(3))
        return None
    length = headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def download_file(
    url: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    progress: bool = False,
    backoff: float = 0.5,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    Partial data is kept in ``dest.part``; a later attempt (in this call after a cut connection,
    or in a later call) resumes from where it stopped with ``Range: bytes=N-``. A server that
    ignores the range (answers 200) makes the download restart from zero. ``retries`` is the number
    of extra attempts after the first, waiting ``backoff * 2**attempt`` seconds between them.
    ``progress=True`` shows a rich progress bar on stderr when it is a terminal;
    ``on_progress(done, total)`` is called after every chunk for callers with their own display.

    Raises :class:`DownloadError` (one line, names the URL) when the server refuses, the size is
    wrong, or all attempts fail.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    if expected_size is not None and part.exists() and part.stat().st_size > expected_size:
        part.unlink()  # longer than the real file: stale leftovers of another version

    bar = _ProgressBar(url) if progress and sys.stderr.isatty() else None
    last_error = "no attempt made"
    try:
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                total = _fetch_into(url, part, timeout, expected_size, bar, on_progress)
            except _Fatal as exc:
                raise DownloadError(f"{url}: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:
                last_error = _describe(exc)
                continue
            size = part.stat().st_size
            if total is not None and size < total:
                last_error = f"connection closed after {size} of {total} bytes"
                continue
            if total is not None and size > total:
                part.unlink()
                raise DownloadError(f"{url}: received {size} bytes, server announced {total}")
            if expected_size is not None and size != expected_size:
                if size < expected_size:
                    last_error = f"connection closed after {size} of {expected_size} bytes"
                    continue
                part.unlink()
                raise DownloadError(f"{url}: received {size} bytes, expected {expected_size}")
            os.replace(part, dest)
            return dest
    finally:
        if bar is not None:
            bar.close()
    raise DownloadError(f"{url}: download failed after {retries + 1} attempts: {last_error}")


class _Fatal(Exception):
    """An answer that retrying cannot fix (404, 403, bad URL...)."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return f"cannot connect: {exc.reason}"
    text = str(exc) or type(exc).__name__
    return text.replace("\n", " ")


def _fetch_into(
    url: str,
    part: Path,
    timeout: float,
    expected_size: int | None,
    bar: _ProgressBar | None,
    on_progress: Callable[[int, int | None], None] | None,
) -> int | None:
    """One attempt: append what the server sends to ``part``; return the announced full size."""
    offset = part.stat().st_size if part.exists() else 0
    if expected_size is not None and offset == expected_size and offset > 0:
        return expected_size  # complete already, from an earlier call
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Range not satisfiable: the part file is already complete (or bigger than the file).
            match = _UNSATISFIED_RANGE.match(exc.headers.get("Content-Range", ""))
            exc.close()
            total = int(match.group(1)) if match else None
            if total == offset:
                return total
            part.unlink()
            raise OSError("server refused the resume range; restarting") from None
        exc.close()
        if exc.code in (408, 429) or exc.code >= 500:
            raise OSError(f"HTTP {exc.code} {exc.reason}") from None
        raise _Fatal(f"HTTP {exc.code} {exc.reason}") from None
    except ValueError as exc:  # unknown URL type, malformed URL
        raise _Fatal(str(exc)) from None
    with response:
        status = response.status
        if offset and status == 200:
            offset = 0  # the server ignored Range: start over
        elif status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                part.unlink()
                raise OSError("server answered a different range; restarting")
        elif status not in (200, 206):
            raise _Fatal(f"unexpected HTTP status {status}")
        total = _total_from_headers(status, response.headers)
        if total is None:
            total = expected_size
        done = offset
        if bar is not None:
            bar.update(done, total)
        with open(part, "ab" if offset else "wb") as out:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if bar is not None:
                    bar.update(done, total)
                if on_progress is not None:
                    on_progress(done, total)
    return total


class _ProgressBar:
    """A rich progress bar on stderr; only built when stderr is a terminal."""

    def __init__(self, url: str) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            transient=True,
        )
        self._task = self._progress.add_task(url.rsplit("/", 1)[-1] or url, total=None)
        self._progress.start()

    def update(self, done: int, total: int | None) -> None:
        self._progress.update(self._task, completed=done, total=total)

    def close(self) -> None:
        self._progress.stop()
