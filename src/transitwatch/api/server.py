"""Run the API and dashboard with uvicorn: ``transitwatch serve --db PATH``."""

from __future__ import annotations

import os
from collections.abc import Iterable

import uvicorn

from transitwatch.api.app import create_app
from transitwatch.api.security import allowed_hosts_for

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8047


def serve(db: str | os.PathLike[str], *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          log_level: str = "info", allow_hosts: Iterable[str] = ()) -> None:
    """Serve ``db`` read-only at http://host:port/ until interrupted (Ctrl-C). Requests are
    answered for the Host names ``host``, 127.0.0.1, localhost and ``allow_hosts`` only."""
    app = create_app(db, allowed_hosts=allowed_hosts_for(host, allow_hosts))
    # Bounded at the socket too: slow or idle clients do not hold connections for ever.
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_keep_alive=5,
                limit_concurrency=1000, h11_max_incomplete_event_size=16 * 1024, server_header=False)
