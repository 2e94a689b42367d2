"""Run the API and dashboard with uvicorn: ``transitwatch serve --db PATH``."""

from __future__ import annotations

import os

import uvicorn

from transitwatch.api.app import create_app

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8047


def serve(db: str | os.PathLike[str], *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          log_level: str = "info") -> None:
    """Serve ``db`` read-only at http://host:port/ until interrupted (Ctrl-C)."""
    uvicorn.run(create_app(db), host=host, port=port, log_level=log_level)
