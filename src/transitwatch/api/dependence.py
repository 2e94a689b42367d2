"""HTTP endpoints of the dashboard's dependence panel: AS hegemony over time and the what-if.

``GET /api/hegemony/{target}?every=3600`` -- the hegemony of every AS on the target's routes at
each step (the ``transitwatch hegemony --every`` series, from the stored history);
``GET /api/resilience/{target}?fail=4837&at=T`` -- what stays reachable when those ASes fail
(observed model). Without ``fail``: each of the target's most depended-on ASes failing alone.
Both are pure functions of the target's stored view; countries are weighted by addresses.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Path, Query

from transitwatch.api import params as P
from transitwatch.errors import TransitwatchError
from transitwatch.metrics.hegemony import hegemony_at, target_routes_at
from transitwatch.metrics.resilience import observed_outcome
from transitwatch.store import query as q
from transitwatch.times import iso_utc

__all__ = ["add_dependence_routes"]

MAX_STEPS = 400        # hegemony steps per answer (the step grows to stay under it)
MAX_FAILED = 16
WHAT_IF_TOP = 5        # ASes tried one by one when no `fail` is given


def add_dependence_routes(app: FastAPI, service: Any) -> None:
    """Register the two endpoints on ``app``; ``service`` is the app's shared store service."""

    def view_of(target: str) -> tuple[Any, str]:
        cc = P.country_code(target)
        if cc is not None:
            view = service.cached(("country_view", cc),
                                  lambda: q.country_view(service.store, cc, service.registry))
            return view, cc
        tgt = P.target(target)
        return service.view(tgt), str(tgt)

    @app.get("/api/hegemony/{target:path}", summary="AS hegemony of the ASes on a target's routes, over time")
    async def hegemony(target: str = Path(max_length=P.MAX_TEXT),
                       every: float = Query(3600.0, ge=60.0, le=86400.0 * 31,
                                            description="seconds between steps (grows to keep <= 400 steps)"),
                       ) -> dict[str, Any]:
        def compute() -> dict[str, Any]:
            view, label = view_of(target)
            if not view.spans or view.end is None:
                raise HTTPException(404, f"no route to {label} in the database")
            first = min(s.start for s in view.spans)
            step = max(every, (view.end - first) / MAX_STEPS)
            times = []
            t = first
            while t < view.end:
                times.append(t)
                t += step
            times.append(view.end)
            series = []
            asns: set[int] = set()
            for when in times:
                scores, peers = hegemony_at(view, when)
                asns.update(s.asn for s in scores[:8])
                series.append({"at": iso_utc(when), "peers": peers,
                               "hegemony": [{"asn": s.asn, "score": round(s.score, 4)} for s in scores[:20]]})
            return {"target": label, "every": step, "series": series, "names": service.names(sorted(asns)),
                    "method": "Fontugne et al. 2018: per-vantage-point share, 10% trimmed mean"}

        return await service.answer(("hegemony", target, every), compute)  # type: ignore[no-any-return]

    @app.get("/api/resilience/{target:path}", summary="What stays reachable if ASes fail (observed model)")
    async def resilience(target: str = Path(max_length=P.MAX_TEXT),
                         fail: str | None = Query(None, max_length=200,
                                                  description="ASes that fail, comma-separated"),
                         at: str | None = Query(None, max_length=64,
                                                description="ISO 8601 or epoch; default: the end"),
                         ) -> dict[str, Any]:
        when = P.time_param(at, "at")
        failed: list[int] = []
        if fail:
            from transitwatch.engine.dependence import parse_fail_list

            try:
                failed = parse_fail_list([fail])
            except TransitwatchError as exc:
                raise HTTPException(400, str(exc).replace("--fail", "fail")) from None
            if len(failed) > MAX_FAILED:
                raise HTTPException(400, f"fail: at most {MAX_FAILED} ASes")

        def compute() -> dict[str, Any]:
            view, label = view_of(target)
            end = when if when is not None else view.end
            if end is None:
                raise HTTPException(404, f"no route to {label} in the database")
            routes = target_routes_at(view, end)
            if not routes:
                raise HTTPException(404, f"no route to {label} in the database at {iso_utc(end)}")
            scenarios = [failed] if failed else [
                [s.asn] for s in hegemony_at(view, end, routes=routes)[0][:WHAT_IF_TOP]]
            out: list[dict[str, Any]] = []
            for down in scenarios:
                o = observed_outcome(routes, frozenset(down))
                out.append({"failed": down, "reachable_share": round(o.reachable_share, 4),
                            "reachable_share_by_family": {k: round(v, 4) for k, v in o.share.items()},
                            "prefixes": [f.to_dict() for f in o.prefixes]})
            asns: set[int] = set()
            for s in out:
                asns.update(s["failed"])
                for p in s["prefixes"]:
                    asns.update(p["via"])
            return {"target": label, "at": iso_utc(end), "model": "observed", "scenarios": out,
                    "names": service.names(sorted(asns))}

        return await service.answer(("resilience", target, tuple(failed), when), compute)  # type: ignore[no-any-return]

    # ?target= forms, as every other endpoint (cli.md): the path forms alone answered 307, empty
    @app.get("/api/hegemony", summary="AS hegemony of the ASes on a target's routes, over time (?target=)")
    async def hegemony_query(target: str = Query(..., max_length=P.MAX_TEXT),
                             every: float = Query(3600.0, ge=60.0, le=86400.0 * 31)) -> dict[str, Any]:
        return await hegemony(target=target, every=every)

    @app.get("/api/resilience", summary="What stays reachable if ASes fail (observed model) (?target=)")
    async def resilience_query(target: str = Query(..., max_length=P.MAX_TEXT),
                               fail: str | None = Query(None, max_length=200),
                               at: str | None = Query(None, max_length=64)) -> dict[str, Any]:
        return await resilience(target=target, fail=fail, at=at)
