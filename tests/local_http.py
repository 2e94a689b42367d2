"""A tiny threaded HTTP server on 127.0.0.1 for download tests: serves byte strings by path,
honours ``Range: bytes=N-``, and can cut the connection mid-body on chosen requests.

Hostile behaviours (issue 16): ``stream`` sends chunks without a Content-Length (an endless
body, say), ``trickle`` sleeps that many seconds between chunks of ``chunk`` bytes, ``location``
answers 302 with that Location, ``headers`` adds or overrides response headers."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass
class ServedFile:
    body: bytes
    #: cut the connection after this many body bytes on the first ``cut_times`` requests
    cut_after: int | None = None
    cut_times: int = 1
    honour_range: bool = True
    status: int = 200
    requests: list[str | None] = field(default_factory=list)  # the Range header of each request
    stream: Callable[[], Iterator[bytes]] | None = None
    trickle: float = 0.0
    chunk: int = 1 << 16
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class LocalHTTPServer:
    """``with LocalHTTPServer({"/a": ServedFile(b"...")}) as server: server.url("/a")``"""

    def __init__(self, files: dict[str, ServedFile]) -> None:
        self.files = files
        served = files

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet in tests
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                entry = served.get(self.path)
                if entry is None:
                    self.send_error(404, "Not Found")
                    return
                range_header = self.headers.get("Range")
                entry.requests.append(range_header)
                if entry.status != 200:
                    self.send_error(entry.status)
                    return
                if entry.location is not None:
                    self.send_response(302)
                    self.send_header("Location", entry.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if entry.stream is not None:  # no Content-Length: the body ends when we close
                    self.send_response(200)
                    for k, v in entry.headers.items():
                        self.send_header(k, v)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    try:
                        for piece in entry.stream():
                            self.wfile.write(piece)
                            if entry.trickle:
                                self.wfile.flush()
                                time.sleep(entry.trickle)
                    except OSError:
                        pass  # the client hung up: that is what the tests want
                    return
                body, start = entry.body, 0
                match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
                if match and entry.honour_range:
                    start = int(match.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                headers = {"Content-Length": str(len(body) - start), **entry.headers}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                payload = body[start:]
                if entry.cut_after is not None and entry.cut_times > 0:
                    entry.cut_times -= 1
                    self.wfile.write(payload[: entry.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if entry.trickle:
                    try:
                        for i in range(0, len(payload), entry.chunk):
                            self.wfile.write(payload[i:i + entry.chunk])
                            self.wfile.flush()
                            time.sleep(entry.trickle)
                    except OSError:
                        pass
                    return
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def __enter__(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
