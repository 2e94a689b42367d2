"""The HTTP edge of the API server: which Host names are served, and the security headers every
response carries (errors included).

A server bound to 127.0.0.1 can still be reached from a web page by DNS rebinding (the attacker's
name resolves to 127.0.0.1): the browser then sends the attacker's name as ``Host``. Answering
only the names the server was bound for closes that door. The headers keep the dashboard from
being framed (click-jacking), sniffed into another content type, or made to run injected script
(the Content-Security-Policy allows scripts and styles from this server only: the dashboard and
``/docs`` have no inline script or style).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["CSP", "DEFAULT_ALLOWED_HOSTS", "SECURITY_HEADERS", "SecurityMiddleware", "allowed_hosts_for"]

#: What a server bound to the loopback answers to (and the test client's name).
DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def allowed_hosts_for(host: str | None, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The Host names to accept for a server bound to ``host``: the loopback names, plus the
    bound name itself (unless it is a wildcard address), plus ``extra``. ``"*"`` in ``extra``
    accepts any Host (behind a reverse proxy that checks it)."""
    names = list(DEFAULT_ALLOWED_HOSTS)
    if host and host not in ("0.0.0.0", "::", ""):
        names.append(host)
    names.extend(extra)
    return tuple(dict.fromkeys(n.strip().lower().strip("[]") for n in names if n.strip()))


def _host_name(value: str) -> str:
    """``"localhost:8047"`` -> ``"localhost"``; ``"[::1]:8047"`` -> ``"::1"``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


class SecurityMiddleware:
    """Pure ASGI middleware (cheap: no request/response objects): refuses requests whose Host is
    not allowed (HTTP 400 with a one-line JSON detail) and adds :data:`SECURITY_HEADERS` to every
    HTTP response. Meant to wrap the whole application, outside the error handler, so that even
    a 500 carries the headers."""

    def __init__(self, app: Any, allowed_hosts: Iterable[str] = DEFAULT_ALLOWED_HOSTS) -> None:
        self.app = app
        hosts = tuple(h.lower().strip("[]") for h in allowed_hosts)
        self.any_host = "*" in hosts
        self.allowed = frozenset(hosts)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket" and not self._host_ok(scope):
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if not self._host_ok(scope):
            body = json.dumps({"detail": "this server does not answer to that Host name "
                                         "(see serve --allow-host)"}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]})
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _host_ok(self, scope: dict[str, Any]) -> bool:
        if self.any_host:
            return True
        hosts = [v for k, v in scope.get("headers", []) if k == b"host"]
        if len(hosts) != 1:
            return False  # none (HTTP/1.0) or several: ambiguous, refused
        try:
            name = _host_name(hosts[0].decode("ascii"))
        except UnicodeDecodeError:
            return False
        return name in self.allowed
