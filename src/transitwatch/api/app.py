"""The HTTP API and the dashboard over a store, read-only (FastAPI).

>>> app = create_app("kp.duckdb")                     # doctest: +SKIP
>>> TestClient(app).get("/api/upstreams/AS131279", params={"at": "2017-10-01T09:30Z"})  # doctest: +SKIP

Every JSON answer has the shape of the matching ``transitwatch ... --json`` output (an extra key
or two for the dashboard: names of upstreams, the time zone used). Bad parameters get 400, an
unknown target or country 404, each with ``{"detail": "<one line>"}``. Lists are bounded
(``limit``/``offset``). The database is opened read-only; every query is parameterised.

A target is an AS (``AS131279``/``131279``), a prefix (``175.45.176.0/22``, with its
more-specifics), several joined by commas, or a two-letter country code (``KP``): then its
international upstreams, as ``upstreams --country``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from collections.abc import Callable, Hashable, Sequence
from importlib import resources
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Path, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from transitwatch.api import params as P
from transitwatch.api import schemas
from transitwatch.api.events import all_events, events_page
from transitwatch.api.flight import Busy, Gate, SingleFlight
from transitwatch.api.live_api import install_live_routes
from transitwatch.api.security import DEFAULT_ALLOWED_HOSTS, SecurityMiddleware
from transitwatch.registry import Registry, UnknownCountryError, normalise_country
from transitwatch.state.target import Target
from transitwatch.store import Store, TargetTooBroad
from transitwatch.store import query as q
from transitwatch.times import iso_local, iso_utc

__all__ = ["create_app", "MAX_LIMIT", "MAX_BUCKETS"]

MAX_LIMIT = 1000
MAX_BUCKETS = 1000
#: Target views kept in memory (least recently used dropped first); each holds one target's spans.
MAX_CACHED_VIEWS = 32

T = TypeVar("T")


def _static_dir() -> str:
    return str(resources.files("transitwatch.api") / "static")


class _Service:
    """The store, the registry and caches shared by the request handlers (thread-safe)."""

    def __init__(self, db: str | os.PathLike[str], registry: Registry | None, gate: Gate,
                 store: Store | None = None) -> None:
        # A store owned by this process (serve --live writes it): read through its own connection.
        self.store = store.reader() if store is not None else Store(db, read_only=True)
        self._registry = registry
        self._lock = threading.Lock()
        self.gate = gate
        self._small: SingleFlight[Any] = SingleFlight(8192)
        self._views: SingleFlight[Any] = SingleFlight(MAX_CACHED_VIEWS)

    @property
    def registry(self) -> Registry:
        with self._lock:
            if self._registry is None:
                self._registry = Registry.load()
            return self._registry

    async def answer(self, key: Hashable, compute: Callable[[], dict[str, Any]]) -> Any:
        """``compute()``'s JSON response: computed and rendered to bytes in the worker pool (the
        event loop only sends bytes: a cached answer costs no encoding), once for concurrent
        identical requests, cached; file system paths cut to file names."""
        body = await self.gate.run(key, lambda: _render(P.scrub_paths(compute())))
        return Response(body, media_type="application/json")

    def refresh(self) -> None:
        """A live feed wrote: answers are recomputed, and given stale meanwhile (Gate.refresh).
        The views and the country reports they are recomputed from are dropped too: kept, a
        country's answers would stay those of the first request (a 404 before any data)."""
        self.gate.refresh()
        self._small.clear()
        self._views.clear()

    def invalidate(self) -> None:
        """The database changed (a live service wrote to it): forget every cached answer."""
        self.gate.invalidate()
        self._small.clear()
        self._views.clear()

    def cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        # Computed once even when asked concurrently; the answers for one state of the database
        # never change (invalidate() when it does).
        return self._small.get(key, compute)  # type: ignore[no-any-return]

    def view(self, target: Target) -> Any:
        """The target's whole stored history as a TargetView, computed once per target (also for
        concurrent requests): every question about one moment or window is then a pure function
        of it."""
        return self._views.get(target.label, lambda: q.target_view(self.store, target))

    def zone_of(self, target: Target | str) -> str | None:
        """The target's own time zone: a country's, or that of the country of an AS."""
        key = target if isinstance(target, str) else target.label
        return self.cached(("zone", key), lambda: self._zone_of(target))

    def _zone_of(self, target: Target | str) -> str | None:
        registry = self.registry
        if isinstance(target, str):
            own = registry.timezone_of(target)
            return str(own) if own is not None else None
        for asn in sorted(target.asns):
            cc = registry.as_country(asn)
            if cc is None:
                # AS countries without registry files come from what the AS originates.
                with self._lock:  # the registry is shared between worker threads
                    registry.add_origins((asn, prefix) for prefix in q.originated_prefixes(self.store, asn))
                cc = registry.as_country(asn)
            if cc:
                own = registry.timezone_of(cc)
                if own is not None:
                    return str(own)
        return None

    def names(self, asns: list[int]) -> dict[str, Any]:
        out = {}
        for asn in asns:
            out[str(asn)] = self.cached(("name", asn), lambda a=asn: self._name(a))  # type: ignore[misc]
        return out

    def _name(self, asn: int) -> dict[str, Any]:
        info = self.registry.as_info(asn)
        return {"name": info.name, "name_source": info.name_source, "name_hint": info.name_hint,
                "country": info.country}


def create_app(
    db: str | os.PathLike[str],
    *,
    registry: Registry | None = None,
    allowed_hosts: Sequence[str] = DEFAULT_ALLOWED_HOSTS,
    workers: int = 2,
    deadline: float = 8.0,
    max_pending: int = 8,
    store: Store | None = None,
    live: Any = None,
    token: str | None = None,
) -> FastAPI:
    """The FastAPI application serving the database at ``db`` (opened read-only now: a missing
    or foreign file raises :class:`~transitwatch.store.StoreError`). ``registry``: AS names and
    countries (default: the bundled data, loaded on first use).

    Hardened for the open network (module :mod:`transitwatch.api.security`,
    :mod:`~transitwatch.api.params`, :mod:`~transitwatch.api.flight`): only ``allowed_hosts``
    are answered (``"*"``: any); answers are computed in ``workers`` threads, once for identical
    concurrent requests, and cached; a request waiting longer than ``deadline`` seconds, or
    arriving when ``max_pending`` answers are being computed, gets 503 with ``Retry-After``.

    ``store``: the database already open in this process (``serve`` owns it), read through its
    own connection; ``live``: the :class:`~transitwatch.live.service.LiveService` writing it
    (cached answers are dropped after each of its writes; ``/api/stream`` follows it); ``token``:
    what ``POST /api/ingest`` requires (see :mod:`transitwatch.api.live_api`).
    """
    # Answers are computed in threads, and CPU-bound Python threads hold the GIL: the event loop,
    # which needs it after every socket call, would wait up to the 5 ms switch interval each
    # time (cached answers and /api/summary slowed by seconds under load). Hand it over sooner.
    sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
    gate = Gate(workers=workers, deadline=deadline, max_pending=max_pending)
    service = _Service(db, registry, gate, store)
    if live is not None:
        live.on_change.append(lambda force: service.invalidate() if force else service.refresh())

    def _outside_data(when: float | None) -> str | None:
        """The note when ``when`` is before or after all the stored data (the rule of
        tw.countries / tw.country_upstreams), else None."""
        if when is None:
            return None
        from transitwatch.engine.queries import outside_data_note
        from transitwatch.store.coverage import stored_coverage

        return outside_data_note(stored_coverage(service.store), when)

    app = FastAPI(
        title="transitwatch",
        description="Who connects a network or a country to the Internet, and when that changed: "
                    "upstreams, events with evidence, timelines and the country ranking, from a "
                    "transitwatch database (read-only).",
        version="1",
        docs_url=None,  # served below from vendored files: no CDN, works offline
        redoc_url=None,
    )
    app.state.service = service
    # Outside everything, the error handler included: every response gets the headers.
    inner_stack = app.build_middleware_stack

    def secured_stack() -> Any:
        return SecurityMiddleware(inner_stack(), allowed_hosts)

    app.build_middleware_stack = secured_stack  # type: ignore[method-assign]

    @app.exception_handler(TargetTooBroad)
    def _too_broad(_request: Any, exc: TargetTooBroad) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(Busy)
    def _busy(_request: Any, exc: Busy) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(Exception)
    def _unexpected(_request: Any, exc: Exception) -> JSONResponse:
        # Never a traceback or a server path in an answer; the log has the details.
        import logging

        logging.getLogger("transitwatch.api").exception("unexpected error")
        return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)


    @app.get("/api/summary", summary="What the database holds",
        responses={200: {"model": schemas.SummaryAnswer}})
    async def summary() -> dict[str, Any]:
        def compute() -> dict[str, Any]:
            out = dict(service.store.summary())
            out.pop("path", None)  # where the server keeps its files is nobody's business
            return out

        return await service.answer(("summary",), compute)

    @app.get("/api/search", summary="Suggestions for the search box")
    async def search(q_: str = Query("", alias="q", max_length=64),
                     limit: int = Query(10, ge=1, le=50)) -> dict[str, Any]:
        def compute() -> dict[str, Any]:
            results = q.search_targets(service.store, q_, limit) if q_.strip() else []
            cc = q_.strip()
            if len(cc) == 2 and cc.isalpha():
                try:
                    code = normalise_country(cc)
                    results.insert(0, {"target": code, "kind": "country",
                                       "name": service.registry.country_name(code)})
                except UnknownCountryError:
                    pass
            return {"query": q_, "results": results[:limit]}

        return await service.answer(("search", q_, limit), compute)

    @app.get("/api/upstreams/{target:path}", summary="A target's upstreams at one moment",
             responses={200: {"model": schemas.UpstreamsAnswer}})
    async def upstreams(
        target: str = Path(max_length=P.MAX_TEXT),
        at: str | None = Query(None, max_length=64, description="ISO 8601 or epoch; default: the end"),
        tz: str | None = Query(None, max_length=64,
                               description="IANA zone for local times; default: the target's"),
    ) -> dict[str, Any]:
        when = P.time_param(at, "at")
        zone_arg = P.tz_param(tz)
        cc = P.country_code(target)
        tgt = P.target(target) if cc is None else None

        def country_answer(cc: str) -> dict[str, Any]:
            stale = _outside_data(when)
            # (before or after the data: the tables before any route, an empty report)
            report, block = service.cached(("country", cc, when), lambda: q.known_country_upstreams_at(
                service.store, cc, service.registry, when if stale is None else -1.0))
            out = report.to_dict()
            # which collectors' data covers the moment (as for an AS target); tables of the others
            # were left out (unknown then, not absent)
            out["coverage"] = block
            if block.get("note") and not block.get("collectors") and when is not None:
                stale = stale or block["note"]
            if stale is not None and when is not None:
                # before or after all the data: no answer (as tw.country_upstreams), not the
                # routes last seen; an empty answer with the note, as for an AS target
                out.update(time=iso_utc(when), at=iso_utc(when), notices=[stale])
                out["timezone_used"] = zone_arg or service.zone_of(cc)
                return out
            out["at"] = out.get("time")
            zone_name = zone_arg or service.zone_of(cc)
            if zone_name and report.time is not None:
                out["time_local"] = out["at_local"] = iso_local(report.time, zone_name)
            out["timezone_used"] = zone_name
            out["notices"] = [block["note"]] if block.get("note") else []
            if not report.prefixes and not block.get("unknown_peers"):
                raise HTTPException(404, f"no route to a prefix of {cc} in the database")
            return out

        def target_answer(tgt: Target) -> dict[str, Any]:
            from transitwatch.engine.dependence import fetched_relationships
            from transitwatch.engine.queries import upstreams_of_view

            full = service.view(tgt)
            rels, info = fetched_relationships(when if when is not None else full.end)
            # the facade's computation (tw.upstreams) on the cached view: the same answer as the CLI
            result = upstreams_of_view(full, when, rels, info)
            # No data covering the moment is an answer (empty, peers 0, a note), not a 404.
            if result.empty and not result.peers and (not full.spans or "note" not in result.coverage):
                raise HTTPException(404, f"no route to {tgt} in the database"
                                         + (f" at {at}" if at else ""))
            zone_name = zone_arg or service.zone_of(tgt)
            out = result.to_dict(zone_name)
            out["names"] = service.names([u.asn for u in result.upstreams])
            out["timezone_used"] = zone_name
            return out

        if cc is not None:
            return await service.answer(("upstreams", cc, when, zone_arg), lambda: country_answer(cc))
        assert tgt is not None
        return await service.answer(("upstreams", tgt.label, when, zone_arg), lambda: target_answer(tgt))

    @app.get("/api/timeline/{target:path}", responses={200: {"model": schemas.TimelineAnswer}},
             summary="Peers seeing the target through each upstream, over time")
    async def timeline(target: str = Path(max_length=P.MAX_TEXT),
                       from_: str | None = Query(None, alias="from", max_length=64),
                       to: str | None = Query(None, max_length=64),
                       buckets: int = Query(120, ge=1, le=MAX_BUCKETS)) -> dict[str, Any]:
        start, end = P.time_param(from_, "from"), P.time_param(to, "to")
        if start is not None and end is not None and end <= start:
            raise HTTPException(400, "to must be after from")
        cc = P.country_code(target)
        tgt = P.target(target) if cc is None else None

        def compute() -> dict[str, Any]:
            from transitwatch.engine.queries import timeline_of_view

            if cc is not None:
                view = service.cached(("country_view", cc), lambda: q.country_view(
                    service.store, cc, service.registry))
                zone_name = service.zone_of(cc)
            else:
                assert tgt is not None
                view = service.view(tgt)
                zone_name = service.zone_of(tgt)
            if not view.spans:
                raise HTTPException(404, f"no route to {target} in the database")
            line = timeline_of_view(view, buckets, start, end)  # the facade's (events timeline=)
            out = line.to_dict()
            out["names"] = service.names(list(line.rows))
            out["timezone_used"] = zone_name
            return out

        key = ("timeline", cc or (tgt.label if tgt else ""), start, end, buckets)
        return await service.answer(key, compute)

    @app.get("/api/upstreams", summary="A target's upstreams at one moment (?target=)",
             responses={200: {"model": schemas.UpstreamsAnswer}})
    async def upstreams_query(target: str = Query(..., max_length=P.MAX_TEXT),
                              at: str | None = Query(None, max_length=64),
                              tz: str | None = Query(None, max_length=64)) -> dict[str, Any]:
        return await upstreams(target=target, at=at, tz=tz)

    @app.get("/api/timeline", summary="Peers seeing the target through each upstream, over time (?target=)",
             responses={200: {"model": schemas.TimelineAnswer}})
    async def timeline_query(target: str = Query(..., max_length=P.MAX_TEXT),
                             from_: str | None = Query(None, alias="from", max_length=64),
                             to: str | None = Query(None, max_length=64),
                             buckets: int = Query(120, ge=1, le=MAX_BUCKETS)) -> dict[str, Any]:
        return await timeline(target=target, from_=from_, to=to, buckets=buckets)

    @app.get("/api/events", summary="Events with evidence: every type (upstream, outage, origin, "
                                     "more-specific, vantage point lost)",
             responses={200: {"model": schemas.EventsAnswer}})
    async def events(target: str | None = Query(None, max_length=P.MAX_TEXT),
                     country: str | None = Query(None, max_length=8),
                     type_: str | None = Query(None, alias="type", max_length=200,
                                               description="comma-separated event types (default: all)"),
                     from_: str | None = Query(None, alias="from", max_length=64),
                     to: str | None = Query(None, max_length=64),
                     tz: str | None = Query(None, max_length=64), min_peers: int = Query(2, ge=1, le=1000),
                     min_duration: float = Query(300.0, ge=0, le=10**8, allow_inf_nan=False,
                                                 description="seconds"),
                     limit: int = Query(100, ge=1, le=MAX_LIMIT),
                     offset: int = Query(0, ge=0, le=P.MAX_OFFSET)) -> dict[str, Any]:
        start, end = P.time_param(from_, "from"), P.time_param(to, "to")
        zone_arg = P.tz_param(tz)
        types = frozenset(t.strip() for t in type_.split(",") if t.strip()) if type_ else None
        if target and country:
            raise HTTPException(400, "give target or country, not both")
        lo = start if start is not None else float("-inf")
        hi = end if end is not None else float("inf")
        cc: str | None = None
        tgt: Target | None = None
        if country or (target and P.country_code(target)):
            cc = P.country_code(country or target or "")
            if cc is None:
                raise HTTPException(400, f"not a country code: {country!r} (use two letters, e.g. KP)")
        elif target:
            tgt = P.target(target)

        def compute() -> dict[str, Any]:
            from transitwatch.detect.upstream_change import upstream_changes

            zone_name = zone_arg
            if cc is not None:
                view = service.cached(("country_view", cc), lambda: q.country_view(
                    service.store, cc, service.registry))
                changes = upstream_changes(view, min_peers=min_peers, min_duration=min_duration)
                zone_name = zone_name or service.zone_of(cc)
                from transitwatch.detect.country_change import country_changes_dict

                _window(changes, lo, hi)
                total = len(changes.events)
                changes.events = changes.events[offset:offset + limit]
                out = country_changes_dict(changes, service.registry, zone_name)
            elif tgt is not None:
                view = service.view(tgt)
                if not view.spans:
                    raise HTTPException(404, f"no route to {tgt} in the database")
                zone_name = zone_name or service.zone_of(tgt)
                found = all_events(view, min_peers, min_duration)
                out, total = events_page(found, set(types) if types else None, lo, hi, limit, offset,
                                         zone_name)
                for event in out["events"]:
                    if isinstance(event.get("upstream"), int):
                        info = service.registry.as_info(event["upstream"])
                        event["upstream_name"], event["upstream_name_hint"] = info.name, info.name_hint
            else:
                page = q.stored_events(service.store, start=start, end=end, limit=limit, offset=offset,
                                       tz=zone_name, types=types or None)
                out = page.to_dict()
                for event in out["events"]:
                    if isinstance(event.get("upstream"), int):
                        info = service.registry.as_info(event["upstream"])
                        event["upstream_name"], event["upstream_name_hint"] = info.name, info.name_hint
                total = page.total
            out.update({"total": total, "limit": limit, "offset": offset, "timezone_used": zone_name})
            return out

        key = ("events", cc, tgt.label if tgt else None, types, start, end, zone_arg, min_peers, min_duration,
               limit, offset)
        return await service.answer(key, compute)

    @app.get("/api/countries", summary="Countries ranked by dependence on one foreign network",
             responses={200: {"model": schemas.CountriesAnswer}})
    async def countries(at: str | None = Query(None, max_length=64),
                        limit: int = Query(300, ge=1, le=MAX_LIMIT),
                        offset: int = Query(0, ge=0, le=P.MAX_OFFSET)) -> dict[str, Any]:
        when = P.time_param(at, "at")

        def compute() -> dict[str, Any]:
            from transitwatch.engine.queries import countries_of_store

            # the facade's computation (tw.countries on a store), cached per moment
            report = service.cached(("countries", when),
                                    lambda: countries_of_store(service.store, service.registry, when))
            stale = _outside_data(when)
            rows = report.rows if stale is None else []
            notices = [stale] if stale else list(report.notices)
            return {"countries": [r.to_dict() for r in rows[offset:offset + limit]], "notices": notices,
                    "coverage": report.coverage, "registry": report.registry, "total": len(rows),
                    "limit": limit, "offset": offset}

        return await service.answer(("countries", when, limit, offset), compute)

    static = _static_dir()
    install_live_routes(app, service, live, token)
    app.mount("/static", StaticFiles(directory=static), name="static")

    from transitwatch.api.dependence import add_dependence_routes

    add_dependence_routes(app, service)   # the dependence panel: hegemony over time, what-if

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        # Swagger UI from vendored files, started by a script file (no inline script: the CSP).
        return HTMLResponse(_DOCS_PAGE)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(os.path.join(static, "index.html"), headers={"Cache-Control": "no-cache"})

    return app


_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>transitwatch API</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body></html>
"""


def _render(value: Any) -> bytes:
    """JSON bytes as FastAPI would send them; a non-finite float (not JSON) becomes null."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                          default=str).encode()
    except ValueError:
        return json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"),
                          default=str).encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _window(changes: Any, lo: float, hi: float) -> None:
    changes.events = [e for e in changes.events if lo <= e.onset <= hi]
    changes.transients = [t for t in changes.transients if lo <= t.onset <= hi]
