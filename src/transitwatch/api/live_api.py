"""The parts of the API that a serving process adds beside the questions: ``/api/stream``
(server-sent events when observations, events or gaps arrive), ``/api/live`` (the feed's
status), ``/api/coverage`` (what the data covers and its gaps) and ``POST /api/ingest`` (files
handed over by ``transitwatch ingest`` while this process owns the database).

``/api/ingest`` answers only to clients on the loopback interface that present the token from the
lock file (``<db>.serve.json``, readable by the owner only), so neither a web page (no token) nor
another host can make the server read files.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from transitwatch.times import iso_utc, parse_time

__all__ = ["install_live_routes", "coverage_of"]

#: Seconds between keep-alive comments on an idle stream (proxies close silent connections).
KEEPALIVE = 15.0
#: Messages a slow stream client may have waiting before it loses the oldest.
STREAM_BACKLOG = 256


class IngestRequest(BaseModel):
    paths: list[str] = Field(default_factory=list, max_length=100_000)
    collector: str | None = Field(None, max_length=64)
    watch: list[str] = Field(default_factory=list, max_length=1000)
    min_peers: int = Field(2, ge=1, le=1000)
    min_duration: float = Field(300.0, ge=0)


class CoverageGap(BaseModel):
    model_config = ConfigDict(extra="allow")
    collector: str
    start: str
    end: str
    reason: str
    status: str = Field(description="open, backfilled, partial or unfilled")


class CoverageAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")
    start: str | None
    end: str | None
    collectors: list[dict[str, Any]]
    gaps: list[CoverageGap]


def _window(from_: str | None, to: str | None) -> tuple[float | None, float | None]:
    try:
        lo = parse_time(from_) if from_ else None
        hi = parse_time(to) if to else None
    except (ValueError, OverflowError) as exc:
        raise HTTPException(400, f"from/to: {exc}") from None
    if lo is not None and hi is not None and hi <= lo:
        raise HTTPException(400, "to must be after from")
    return lo, hi


def coverage_of(store: Any, start: float | None, end: float | None, live: Any = None) -> dict[str, Any]:
    """What the stored data covers (:func:`~transitwatch.store.coverage.stored_coverage`: the
    ingested files, the live feed's connections and completed backfills) and its gaps within
    [start, end]: per collector (a missing update file of a RIS or RouteViews series is a gap; a
    gap the live feed recorded carries its reason and backfill status), and ``uncovered``, the
    times no collector covers."""
    from transitwatch.state.coverage import updates_period
    from transitwatch.store.coverage import stored_coverage

    cov = stored_coverage(store)
    recorded = live.gaps(start, end) if live is not None else []
    gaps: list[dict[str, Any]] = [g for g in recorded if g["status"] != "backfilled"]
    for g in cov.gaps(start, end):
        if g.end is None:
            continue  # after a collector's last data: the present, not a hole in a series
        if any(r["collector"] == g.collector and parse_time(r["start"]) < g.end
               and parse_time(r["end"]) > g.start for r in gaps):
            continue  # the live feed's own record of this gap says more
        period = updates_period(g.collector)
        missing = round((g.end - g.start) / period)
        reason = (f"no data: about {missing} update file(s) of {period / 60:.0f} min missing, or not ingested"
                  if missing >= 1 else "no data")
        gaps.append({"collector": g.collector, "start": iso_utc(g.start), "end": iso_utc(g.end),
                     "seconds": g.seconds, "reason": reason, "status": "unfilled"})
    gaps.sort(key=lambda g: (g["start"], g["collector"]))
    span = cov.span()
    collectors = []
    for c in cov.collectors:
        merged = cov.merged(c)
        collectors.append({"collector": c, "start": iso_utc(merged[0][0]), "end": iso_utc(merged[-1][1]),
                           "windows": len(merged), "sources": sum(1 for w in cov.windows if w.collector == c),
                           "covered_seconds": round(sum(b - a for a, b in merged), 3)})
    uncovered = [{"start": iso_utc(g.start), "end": iso_utc(g.end) if g.end is not None else None}
                 for g in cov.uncovered(start, end)] if span else []
    return {"start": iso_utc(span[0]) if span else None, "end": iso_utc(span[1]) if span else None,
            "collectors": collectors, "gaps": gaps, "uncovered": uncovered,
            "backfilled": [g for g in recorded if g["status"] == "backfilled"]}


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "testclient"


def install_live_routes(app: FastAPI, service: Any, live: Any = None, token: str | None = None) -> None:
    """Add the stream, status, coverage and ingest endpoints. ``service``: the app's reader
    (its ``store``); ``live``: a :class:`~transitwatch.live.service.LiveService` or None (then the
    stream only says hello, and ingest is refused with how to do it); ``token``: the ingest token."""

    @app.get("/api/coverage", summary="What the data covers, per collector, and its gaps",
             responses={200: {"model": CoverageAnswer}})
    def coverage(from_: str | None = Query(None, alias="from", max_length=64),
                 to: str | None = Query(None, max_length=64)) -> dict[str, Any]:
        lo, hi = _window(from_, to)
        return coverage_of(service.store, lo, hi, live)

    @app.get("/api/live", summary="The live feed's status (serve --live)")
    def live_status() -> dict[str, Any]:
        if live is None:
            return {"live": False}
        return {"live": True, **live.to_dict()}

    @app.get("/api/stream", summary="Server-sent events: observations, events, gaps as they arrive",
             response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "`event: <type>` and `data: <JSON>` per message"}})
    async def stream(request: Request) -> StreamingResponse:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(STREAM_BACKLOG)

        def put(message: dict[str, Any]) -> None:
            def add() -> None:
                if queue.full():
                    queue.get_nowait()  # the slow client loses the oldest message
                queue.put_nowait(message)
            loop.call_soon_threadsafe(add)

        if live is not None and not live.broadcast.add(put):
            raise HTTPException(503, "too many stream clients; try again later")

        async def events() -> AsyncIterator[bytes]:
            try:
                hello = {"type": "hello", "live": live is not None}
                yield f"event: hello\ndata: {json.dumps(hello)}\n\n".encode()
                while True:
                    try:
                        message = await asyncio.wait_for(queue.get(), KEEPALIVE)
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield b": keep-alive\n\n"
                        continue
                    kind = str(message.get("type", "message"))
                    yield f"event: {kind}\ndata: {json.dumps(message, default=str)}\n\n".encode()
            finally:
                if live is not None:
                    live.broadcast.remove(put)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/api/ingest", include_in_schema=False)
    def ingest_files(body: IngestRequest, request: Request) -> dict[str, Any]:
        if not _loopback(request):
            raise HTTPException(403, "ingest is accepted from this machine only")
        given = request.headers.get("x-transitwatch-token", "")
        if token is None or not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(403, "missing or wrong token (read it from the database's .serve.json)")
        if live is None:
            raise HTTPException(409, "this server cannot write the database")
        if not body.paths and not body.watch:
            raise HTTPException(400, "give paths to ingest (and/or watch targets)")
        from transitwatch.sources.mrt import MrtError
        from transitwatch.state.target import TargetError
        from transitwatch.store import StoreError

        try:
            return dict(live.ingest_files(body.paths, collector=body.collector, watch_targets=body.watch,
                                          min_peers=body.min_peers, min_duration=body.min_duration))
        except (MrtError, OSError, StoreError, TargetError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from None
