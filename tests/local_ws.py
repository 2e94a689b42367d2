"""A scripted websocket server on 127.0.0.1 (port 0) for RIS Live client tests, running in its own
thread and event loop so that both the async and the blocking client can talk to it.

Each connection plays the next script: it first reads ``expect_subscriptions`` messages (one
count, or one per connection; kept in ``received`` with all later ones), then sends each item:
a str is sent as a text message, ``DROP`` aborts the TCP connection without a close frame,
``CLOSE`` closes cleanly (code 1001), ``PAUSE`` waits 50 ms, ``COLLECT`` keeps what the client
sends until it has been quiet for 200 ms.
A :class:`Wait` item holds the script until its threading.Event is set (the test says when).
After the last script item the connection stays open until the client leaves.
"""

from __future__ import annotations

import asyncio
import threading
from http import HTTPStatus
from types import TracebackType
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

DROP = object()
CLOSE = object()
PAUSE = object()
COLLECT = object()


class Wait:
    """A script item: wait (at most ``timeout`` s) until ``event`` is set, then go on."""

    def __init__(self, event: threading.Event, timeout: float = 20.0) -> None:
        self.event, self.timeout = event, timeout


class LocalWebsocketServer:
    def __init__(self, scripts: list[list[Any]], *, expect_subscriptions: int | list[int] = 0,
                 refuse_with: int | None = None) -> None:
        self.scripts = scripts
        self.expect_subscriptions = expect_subscriptions
        self.refuse_with = refuse_with
        self.received: list[list[str]] = []  # per connection, the messages the client sent first
        self.paths: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws/"

    async def _handler(self, ws: ServerConnection) -> None:
        index = len(self.received)
        got: list[str] = []
        self.received.append(got)
        self.paths.append(ws.request.path if ws.request else "")
        expect = self.expect_subscriptions
        count = expect if isinstance(expect, int) else (expect[index] if index < len(expect) else 0)
        for _ in range(count):
            got.append(str(await ws.recv()))
        script = self.scripts[index] if index < len(self.scripts) else []
        for item in script:
            if item is DROP:
                ws.transport.abort()
                return
            if item is CLOSE:
                await ws.close(1001, "going away")
                return
            if isinstance(item, Wait):
                await asyncio.get_running_loop().run_in_executor(None, item.event.wait, item.timeout)
                continue
            if item is PAUSE:
                await asyncio.sleep(0.05)
                continue
            if item is COLLECT:  # keep what the client sends until it is quiet for 200 ms
                while True:
                    try:
                        got.append(str(await asyncio.wait_for(ws.recv(), 0.2)))
                    except TimeoutError:
                        break
                continue
            await ws.send(item)
        async for message in ws:  # what the client sends later (subscriptions it adds) is kept too
            got.append(str(message))

    def _refuse(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.refuse_with is None:
            return None
        return connection.respond(HTTPStatus(self.refuse_with), "refused\n")

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0, process_request=self._refuse) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())
        self._loop.close()

    def __enter__(self) -> LocalWebsocketServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
