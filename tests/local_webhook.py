"""A webhook receiver on 127.0.0.1 for alert tests: records every POST, and answers the first ones
with scripted failures (HTTP statuses, or a dropped connection) before accepting."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

#: In ``failures``: close the connection without answering.
HANG_UP = 0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered (HANG_UP: nothing)

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """``with WebhookReceiver(failures=[500, 503]) as hook: post to hook.url("/alerts")``.

    ``failures``: statuses for the first requests, in order (``HANG_UP`` drops the connection);
    every later request gets ``ok`` (default 200). ``retry_after`` adds that header to 429s."""

    def __init__(self, failures: list[int] | None = None, *, ok: int = 200,
                 retry_after: str | None = None) -> None:
        self.failures = list(failures or [])
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet in tests
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status = receiver.failures.pop(0) if receiver.failures else ok
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body, status))
                if status == HANG_UP:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = b"ok\n" if status < 400 else b"try again\n"
                self.send_response(status)
                if status == 429 and retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str = "/hook") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
