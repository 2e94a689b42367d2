"""A resumable HTTP(S) file downloader (stdlib only), shared by the registry and archive fetchers.

``download_file(url, dest)`` writes to ``dest.part`` beside the destination, resumes with an HTTP
``Range`` request when the connection is cut (retrying with backoff), checks the size against
``Content-Length`` / ``Content-Range`` / ``expected_size``, and renames the part file onto ``dest``
atomically only once it is complete, so ``dest`` never holds a truncated file.
Every failure is a :class:`DownloadError` with a one-line message naming the URL.

The server is not trusted: a file may not grow past ``max_size`` (announced or received), the
whole download (all attempts) has a ``deadline`` (a server sending one byte per second is cut
off), redirects to another host, port or scheme are refused, a complete file must pass
``verify`` before it is renamed into place (a failure is moved to ``quarantine``), and a ``.part``
is resumed only when its start passes ``verify`` too and it came from the same URL (with
``If-Range``, so a changed file is sent whole).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_DEADLINE", "DEFAULT_MAX_SIZE", "DownloadError", "download_file"]

#: Larger than any file of the public archives (RIS bview ~0.5 GB, RouteViews RIB ~0.2 GB).
DEFAULT_MAX_SIZE = 4 << 30
#: Seconds for one file, all attempts together.
DEFAULT_DEADLINE = 3600.0

_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")
_USER_AGENT = "transitwatch (+https://github.com/transitwatch)"


class DownloadError(Exception):
    """A download that could not be completed; the message is one line and names the URL."""


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _meta_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part.json")


def _read_meta(dest: Path) -> dict[str, Any]:
    try:
        meta = json.loads(_meta_path(dest).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _discard_part(dest: Path) -> None:
    for path in (_part_path(dest), _meta_path(dest)):
        path.unlink(missing_ok=True)


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port (a mirror may not send us
    elsewhere: another host, a local port, or from https down to http)."""

    max_redirections = 5

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (old.scheme, old.netloc.lower()) != (new.scheme, new.netloc.lower()):
            target = newurl if len(newurl) <= 200 else newurl[:197] + "..."
            raise urllib.error.HTTPError(req.full_url, code, f"redirect to another host or scheme refused "
                                         f"({target!r})", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameOriginRedirects)


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
    max_size: int | None = DEFAULT_MAX_SIZE,
    deadline: float | None = DEFAULT_DEADLINE,
    verify: Callable[..., None] | None = None,
    quarantine: Path | None = None,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    Partial data is kept in ``dest.part``; a later attempt (in this call after a cut connection,
    or in a later call) resumes from where it stopped with ``Range: bytes=N-``. A server that
    ignores the range (answers 200) makes the download restart from zero. ``retries`` is the number
    of extra attempts after the first, waiting ``backoff * 2**attempt`` seconds between them.
    ``progress=True`` shows a rich progress bar on stderr when it is a terminal;
    ``on_progress(done, total)`` is called after every chunk for callers with their own display.

    ``max_size`` bytes at most (None: no limit); ``deadline`` seconds for the whole download
    (None: none); ``verify(path, partial=...)`` raises ValueError for a file that is not what it
    should be: the complete file then goes to ``quarantine`` (default: a ``quarantine`` folder
    beside ``dest``) and a ``.part`` that fails is discarded instead of resumed.

    Raises :class:`DownloadError` (one line, names the URL) when the server refuses, the size is
    wrong or over the limit, the deadline passes, the file fails verification, or all attempts
    fail.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    stop_at = time.monotonic() + deadline if deadline is not None else None
    if max_size is not None and expected_size is not None and expected_size > max_size:
        raise DownloadError(f"{url}: the file is {expected_size:,} bytes, over the {max_size:,} byte limit")
    if part.exists():
        stale = (expected_size is not None and part.stat().st_size > expected_size) or (
            _read_meta(dest).get("url", url) != url)
        if not stale and verify is not None:
            try:
                verify(part, partial=True)
            except ValueError:
                stale = True  # not the start of a good file (an error page...): never resumed
        if stale:
            _discard_part(dest)

    bar = _ProgressBar(url) if progress and sys.stderr.isatty() else None
    last_error = "no attempt made"
    limits = _Limits(max_size, stop_at, timeout)
    try:
        for attempt in range(retries + 1):
            if attempt:
                pause = backoff * 2 ** (attempt - 1)
                if stop_at is not None and time.monotonic() + pause >= stop_at:
                    break
                time.sleep(pause)
            try:
                total = _fetch_into(url, dest, part, limits, expected_size, bar, on_progress)
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
            if verify is not None:
                try:
                    verify(part)
                except ValueError as exc:
                    where = _quarantine(part, dest, quarantine)
                    raise DownloadError(f"{url}: not a valid file: {exc}; moved to {where}") from None
            os.replace(part, dest)
            _meta_path(dest).unlink(missing_ok=True)
            return dest
    finally:
        if bar is not None:
            bar.close()
    if stop_at is not None and time.monotonic() >= stop_at - 1e-3:
        raise DownloadError(f"{url}: not complete within the {deadline:g} s deadline ({last_error}); "
                            "the part file is kept to resume")
    raise DownloadError(f"{url}: download failed after {retries + 1} attempts: {last_error}")


def _quarantine(part: Path, dest: Path, folder: Path | None) -> Path:
    """Move a file that failed verification out of the way (kept for a look, never used)."""
    folder = folder if folder is not None else dest.parent / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{dest.name}.{time.strftime('%Y%m%dT%H%M%S')}"
    os.replace(part, target)
    _meta_path(dest).unlink(missing_ok=True)
    return target


class _Limits:
    def __init__(self, max_size: int | None, stop_at: float | None, timeout: float) -> None:
        self.max_size = max_size
        self.stop_at = stop_at
        self.timeout = timeout

    def remaining(self) -> float:
        """Seconds for the next network operation: the read timeout, or what is left."""
        if self.stop_at is None:
            return self.timeout
        left = self.stop_at - time.monotonic()
        if left <= 0:
            raise _Deadline("the deadline passed")
        return max(0.05, min(self.timeout, left))


class _Fatal(Exception):
    """An answer that retrying cannot fix (404, 403, bad URL...)."""


class _Deadline(OSError):
    """The overall deadline passed (the loop then stops retrying)."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return f"cannot connect: {exc.reason}"
    text = str(exc) or type(exc).__name__
    return text.replace("\n", " ")


def _fetch_into(
    url: str,
    dest: Path,
    part: Path,
    limits: _Limits,
    expected_size: int | None,
    bar: _ProgressBar | None,
    on_progress: Callable[[int, int | None], None] | None,
) -> int | None:
    """One attempt: append what the server sends to ``part``; return the announced full size."""
    offset = part.stat().st_size if part.exists() else 0
    if expected_size is not None and offset == expected_size and offset > 0:
        return expected_size  # complete already, from an earlier call
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    meta = _read_meta(dest) if offset else {}
    if offset:
        request.add_header("Range", f"bytes={offset}-")
        validator = meta.get("etag") or meta.get("last_modified")
        if isinstance(validator, str) and validator:
            request.add_header("If-Range", validator)  # changed since: the server sends it whole
    try:
        response = _OPENER.open(request, timeout=limits.remaining())
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Range not satisfiable: the part file is already complete (or bigger than the file).
            match = _UNSATISFIED_RANGE.match(exc.headers.get("Content-Range", "") if exc.headers else "")
            exc.close()
            total = int(match.group(1)) if match else None
            if total == offset:
                return total
            _discard_part(dest)
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
            offset = 0  # the server ignored Range (or the file changed): start over
        elif status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                _discard_part(dest)
                raise OSError("server answered a different range; restarting")
        elif status not in (200, 206):
            raise _Fatal(f"unexpected HTTP status {status}")
        total = _total_from_headers(status, response.headers)
        if total is None:
            total = expected_size
        if limits.max_size is not None and total is not None and total > limits.max_size:
            _discard_part(dest)
            raise _Fatal(f"the server announces {total:,} bytes, over the {limits.max_size:,} byte limit")
        if not offset:
            # Who sent this part, so that only the same file is ever resumed.
            _meta_path(dest).write_text(json.dumps({
                "url": url, "etag": response.headers.get("ETag"),
                "last_modified": response.headers.get("Last-Modified")}))
        done = offset
        if bar is not None:
            bar.update(done, total)
        with open(part, "ab" if offset else "wb") as out:
            while True:
                _set_timeout(response, limits.remaining())
                # read1: what has arrived (one receive), so a trickling server meets the deadline.
                chunk = response.read1(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if limits.max_size is not None and done > limits.max_size:
                    out.close()
                    _discard_part(dest)
                    raise _Fatal(f"more than {limits.max_size:,} bytes received, the limit; stopped")
                if bar is not None:
                    bar.update(done, total)
                if on_progress is not None:
                    on_progress(done, total)
    return total


def _set_timeout(response: Any, seconds: float) -> None:
    """The socket timeout of ``response`` for the next read (best effort across Python versions)."""
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        sock.settimeout(seconds)


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
