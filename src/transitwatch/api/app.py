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

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from importlib import resources
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Query
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from transitwatch.registry import Registry, UnknownCountryError, normalise_country
from transitwatch.state.target import Target, TargetError
from transitwatch.store import Store, TargetTooBroad
from transitwatch.store import query as q
from transitwatch.times import iso_local, parse_time, zone

__all__ = ["create_app", "MAX_LIMIT", "MAX_BUCKETS"]

MAX_LIMIT = 1000
MAX_BUCKETS = 1000
#: Target views kept in memory (least recently used dropped first); each holds one target's spans.
MAX_CACHED_VIEWS = 32

T = TypeVar("T")


def _static_dir() -> str:
    return str(resources.files("transitwatch.api") / "static")


def _time(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise HTTPException(400, f"{name}: {exc}") from None


def _tz(value: str | None) -> str | None:
    if not value:
        return None
    try:
        zone(value)
    except ValueError as exc:
        raise HTTPException(400, f"tz: {exc}") from None
    return value


def _country_code(text: str) -> str | None:
    """The country code when ``text`` names a country (``KP``, ``kp``), else None."""
    stripped = text.strip()
    if len(stripped) == 2 and stripped.isalpha():
        try:
            return normalise_country(stripped)
        except UnknownCountryError as exc:
            raise HTTPException(404, str(exc)) from None
    return None


def _target(text: str) -> Target:
    try:
        return Target.parse(text)
    except TargetError as exc:
        raise HTTPException(400, str(exc)) from None


class _Service:
    """The store, the registry and caches shared by the request handlers (thread-safe)."""

    def __init__(self, db: str | os.PathLike[str], registry: Registry | None) -> None:
        self.store = Store(db, read_only=True)
        self._registry = registry
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._views: OrderedDict[str, Any] = OrderedDict()

    @property
    def registry(self) -> Registry:
        with self._lock:
            if self._registry is None:
                self._registry = Registry.load()
            return self._registry

    def cached(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        # The database is read-only while served: answers for the same question never change.
        with self._lock:
            if key in self._cache:
                return self._cache[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = value
        return value

    def view(self, target: Target) -> Any:
        """The target's whole stored history as a TargetView, computed once per target: every
        question about one moment or window is then a pure function of it."""
        with self._lock:
            view = self._views.get(target.label)
            if view is not None:
                self._views.move_to_end(target.label)
                return view
        view = q.target_view(self.store, target)
        with self._lock:
            self._views[target.label] = view
            while len(self._views) > MAX_CACHED_VIEWS:
                self._views.popitem(last=False)  # least recently used
        return view

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
        return {"name": info.name, "country": info.country}


def create_app(db: str | os.PathLike[str], *, registry: Registry | None = None) -> FastAPI:
    """The FastAPI application serving the database at ``db`` (opened read-only now: a missing
    or foreign file raises :class:`~transitwatch.store.StoreError`). ``registry``: AS names and
    countries (default: the bundled data, loaded on first use)."""
    service = _Service(db, registry)
    app = FastAPI(
        title="transitwatch",
        description="Who connects a network or a country to the Internet, and when that changed: "
                    "upstreams, events with evidence, timelines and the country ranking, from a "
                    "transitwatch database (read-only).",
        version="1",
        docs_url=None,  # served below from vendored files: no CDN, works offline
    )
    app.state.service = service

    @app.exception_handler(TargetTooBroad)
    def _too_broad(_request: Any, exc: TargetTooBroad) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/api/summary", summary="What the database holds")
    def summary() -> dict[str, Any]:
        return service.cached(("summary",), service.store.summary)

    @app.get("/api/search", summary="Suggestions for the search box")
    def search(q_: str = Query("", alias="q", max_length=64),
               limit: int = Query(10, ge=1, le=50)) -> dict[str, Any]:
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

    @app.get("/api/upstreams/{target}", summary="A target's upstreams at one moment")
    def upstreams(
        target: str,
        at: str | None = Query(None, description="ISO 8601 or epoch; default: the end"),
        tz: str | None = Query(None, description="IANA zone for local times; default: the target's"),
    ) -> dict[str, Any]:
        when = _time(at, "at")
        zone_name = _tz(tz)
        cc = _country_code(target)
        if cc is not None:
            report = service.cached(("country", cc, when), lambda: q.country_upstreams_at(
                service.store, cc, service.registry, when))
            out = report.to_dict()
            zone_name = zone_name or service.zone_of(cc)
            if zone_name and report.time is not None:
                out["time_local"] = iso_local(report.time, zone_name)
            out["timezone_used"] = zone_name
            if not report.prefixes:
                raise HTTPException(404, f"no route to a prefix of {cc} in the database")
            return out
        tgt = _target(target)
        from transitwatch.metrics.upstreams import upstream_report

        view = service.view(tgt)
        result = upstream_report(view, when if when is not None else view.end)
        if result.empty and not result.peers:
            raise HTTPException(404, f"no route to {tgt} in the database"
                                     + (f" at {at}" if at else ""))
        zone_name = zone_name or service.zone_of(tgt)
        out = result.to_dict(zone_name)
        out["names"] = service.names([u.asn for u in result.upstreams])
        out["timezone_used"] = zone_name
        return out

    @app.get("/api/timeline/{target}", summary="Peers seeing the target through each upstream, over time")
    def timeline(target: str, from_: str | None = Query(None, alias="from"), to: str | None = None,
                 buckets: int = Query(120, ge=1, le=MAX_BUCKETS)) -> dict[str, Any]:
        start, end = _time(from_, "from"), _time(to, "to")
        if start is not None and end is not None and end <= start:
            raise HTTPException(400, "to must be after from")
        from transitwatch.metrics.upstreams import upstream_timeline

        cc = _country_code(target)
        if cc is not None:
            view = service.cached(("country_view", cc), lambda: q.country_view(
                service.store, cc, service.registry))
            zone_name = service.zone_of(cc)
        else:
            tgt = _target(target)
            view = service.view(tgt)
            zone_name = service.zone_of(tgt)
        if not view.spans:
            raise HTTPException(404, f"no route to {target} in the database")
        line = upstream_timeline(view, buckets, start, end)
        out = line.to_dict()
        out["names"] = service.names(list(line.rows))
        out["timezone_used"] = zone_name
        return out

    @app.get("/api/events", summary="Upstream events with evidence")
    def events(target: str | None = None, country: str | None = None,
               from_: str | None = Query(None, alias="from"), to: str | None = None,
               tz: str | None = None, min_peers: int = Query(2, ge=1, le=1000),
               min_duration: float = Query(300.0, ge=0, description="seconds"),
               limit: int = Query(100, ge=1, le=MAX_LIMIT), offset: int = Query(0, ge=0)) -> dict[str, Any]:
        start, end = _time(from_, "from"), _time(to, "to")
        zone_name = _tz(tz)
        if target and country:
            raise HTTPException(400, "give target or country, not both")
        lo = start if start is not None else float("-inf")
        hi = end if end is not None else float("inf")
        from transitwatch.detect.upstream_change import upstream_changes

        if country or (target and _country_code(target)):
            cc = _country_code(country or target or "")
            if cc is None:
                raise HTTPException(400, f"not a country code: {country!r} (use two letters, e.g. KP)")
            view = service.cached(("country_view", cc), lambda: q.country_view(
                service.store, cc, service.registry))
            changes = upstream_changes(view, min_peers=min_peers, min_duration=min_duration)
            zone_name = zone_name or service.zone_of(cc)
            from transitwatch.detect.country_change import country_changes_dict

            _window(changes, lo, hi)
            total = len(changes.events)
            changes.events = changes.events[offset:offset + limit]
            out = country_changes_dict(changes, service.registry, zone_name)
        elif target:
            tgt = _target(target)
            view = service.view(tgt)
            if not view.spans:
                raise HTTPException(404, f"no route to {tgt} in the database")
            changes = upstream_changes(view, min_peers=min_peers, min_duration=min_duration)
            zone_name = zone_name or service.zone_of(tgt)
            _window(changes, lo, hi)
            total = len(changes.events)
            changes.events = changes.events[offset:offset + limit]
            out = changes.to_dict(zone_name)
            for event in out["events"]:
                event["upstream_name"] = service.registry.as_info(event["upstream"]).name
        else:
            page = q.stored_events(service.store, start=start, end=end, limit=limit, offset=offset,
                                   tz=zone_name)
            out = page.to_dict()
            for event in out["events"]:
                event["upstream_name"] = service.registry.as_info(event["upstream"]).name
            total = page.total
        out.update({"total": total, "limit": limit, "offset": offset, "timezone_used": zone_name})
        return out

    @app.get("/api/countries", summary="Countries ranked by dependence on one foreign network")
    def countries(at: str | None = None, limit: int = Query(300, ge=1, le=MAX_LIMIT),
                  offset: int = Query(0, ge=0)) -> dict[str, Any]:
        when = _time(at, "at")
        rows = service.cached(("countries", when),
                              lambda: q.countries_at(service.store, service.registry, when))
        return {"countries": [r.to_dict() for r in rows[offset:offset + limit]], "notices": [],
                "total": len(rows), "limit": limit, "offset": offset}

    static = _static_dir()
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title="transitwatch API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(os.path.join(static, "index.html"), headers={"Cache-Control": "no-cache"})

    return app


def _window(changes: Any, lo: float, hi: float) -> None:
    changes.events = [e for e in changes.events if lo <= e.onset <= hi]
    changes.transients = [t for t in changes.transients if lo <= t.onset <= hi]
