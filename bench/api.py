"""Store and API benchmark (a benchmark, not a test).

1. Ingest speed: routes/s into a fresh database, beside decoding alone (``read_files``) and
   replaying the routing state alone (``RoutingState``, no store), best of ``--repeat``.
2. API load: a real uvicorn server on 127.0.0.1 (its own process) serving the demo database;
   ``--clients`` concurrent HTTP clients (httpx, asyncio, one connection each) request
   ``/api/upstreams/AS131279?at=...`` (times spread over the history) for ``--seconds``;
   requests/s, p50/p99 latency and errors. The same against a database of a full table.

    .venv/bin/python bench/api.py                 # defaults: 50 clients, 20 s, best of 3
    .venv/bin/python bench/api.py --markdown      # the section for docs/performance.md

The load generator shares the machine (2 cores here) with the server, so the numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "mrt" / "bgpdump-corpus" / "input"
INGEST_FILES = ("updates.et-header.2015.gz", "bview.20020722.2337.gz")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure_ingest(path: Path, repeat: int) -> dict[str, Any]:
    from transitwatch.sources.files import read_files
    from transitwatch.state.table import RoutingState
    from transitwatch.store import Store, ingest

    decode, replay, store_times = [], [], []
    routes = intervals = 0
    for _ in range(repeat):
        t = time.perf_counter()
        routes = sum(1 for _ in read_files([path]))
        decode.append(time.perf_counter() - t)
        t = time.perf_counter()
        RoutingState().replay(read_files([path]))
        replay.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            with Store(Path(tmp) / "bench.duckdb") as store:
                t = time.perf_counter()
                report = ingest(store, [path])
                store_times.append(time.perf_counter() - t)
                intervals = report.route_intervals
            # After close: DuckDB has checkpointed its write-ahead log into the file.
            size = sum(f.stat().st_size for f in Path(tmp).iterdir())
    return {
        "file": path.name, "observations": routes, "route_intervals": intervals, "db_mb": size / 1e6,
        "decode_s": min(decode), "replay_s": min(replay), "ingest_s": min(store_times),
        "decode_rps": routes / min(decode), "replay_rps": routes / min(replay),
        "ingest_rps": routes / min(store_times),
    }


def _start_server(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    code = ("import uvicorn, sys; from transitwatch.api.app import create_app; "
            "uvicorn.run(create_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), "
            "log_level='warning', access_log=False)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(db), str(port)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/summary", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


async def _load(base: str, urls: list[str], clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client(index: int) -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
            i = index
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    res = await http.get(urls[i % len(urls)])
                    ok = res.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok
                i += clients

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies), "errors": errors, "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "max_ms": 1000 * latencies[-1],
    }


def measure_api(db: Path, target: str, clients: int, seconds: float) -> dict[str, Any]:
    from transitwatch.store import Store, target_view

    with Store(db, read_only=True) as store:
        view = target_view(store, target)
        counts = store.counts()
    # Times from the target's first route to the end of the history: every request finds routes.
    first, last = min(s.start for s in view.spans), view.end
    assert last is not None
    times = [first + (last - first) * (i + 0.5) / 60 for i in range(60)]
    urls = [f"/api/upstreams/{target}?at={t:.6f}" for t in times]
    proc, base = _start_server(db)
    try:
        httpx.get(base + urls[0], timeout=30).raise_for_status()  # warm up
        result = asyncio.run(_load(base, urls, clients, seconds))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {"db": db.name, "route_intervals": counts["routes"], "target": target, "clients": clients,
            **result}


def demo_database(out: Path) -> Path:
    from transitwatch.scenarios.scenario import load_scenario
    from transitwatch.store import Store, ingest

    paths = load_scenario("kp-2017-transtelecom").write_mrt(out / "mrt")
    db = out / "demo.duckdb"
    with Store(db) as store:
        ingest(store, paths, watch_targets=["AS131279"])
    return db


def full_table_database(out: Path) -> Path | None:
    from transitwatch.store import Store, ingest

    path = CORPUS / "updates.et-header.2015.gz"
    if not path.exists():
        return None
    db = out / "table.duckdb"
    with Store(db) as store:
        ingest(store, [path])
    return db


def markdown(ingests: list[dict[str, Any]], loads: list[dict[str, Any]], args: argparse.Namespace) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    lines = [
        "## Store and API (`bench/api.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} with {os.cpu_count()} cores; Python "
        f"{platform.python_version()}, transitwatch commit {commit}. Ingest: best of {args.repeat}, in one "
        "process; `decode` is `read_files` alone, `replay` the routing state alone (no store), `ingest` "
        "the whole `transitwatch.store.ingest` into a fresh database (hash, decode, replay, intervals, "
        "DuckDB inserts, commit).",
        "",
        "| file | observations | route intervals | decode obs/s | replay obs/s | ingest obs/s | ingest s "
        "| db MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ingests:
        lines.append(f"| {r['file']} | {r['observations']:,} | {r['route_intervals']:,} "
                     f"| {r['decode_rps']:,.0f} | {r['replay_rps']:,.0f} | {r['ingest_rps']:,.0f} "
                     f"| {r['ingest_s']:.2f} | {r['db_mb']:.1f} |")
    lines += [
        "",
        f"API: uvicorn (one process, default thread pool) serving the database read-only on 127.0.0.1; "
        f"{args.clients} concurrent clients (httpx, asyncio, one connection each, in one other process "
        "on the same 2 cores) request `/api/upstreams/AS131279?at=T`, 60 times T spread from the target's "
        f"first route to the end of the history, for "
        f"{args.seconds:.0f} s.",
        "",
        "| database | route intervals | clients | requests | errors | requests/s | p50 ms | p99 ms "
        "| max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in loads:
        lines.append(f"| {r['db']} | {r['route_intervals']:,} | {r['clients']} | {r['requests']:,} "
                     f"| {r['errors']} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
                     f"| {r['max_ms']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="print the docs/performance.md section")
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()
    ingests: list[dict[str, Any]] = []
    if not args.skip_ingest:
        for name in INGEST_FILES:
            path = CORPUS / name
            if path.exists():
                ingests.append(measure_ingest(path, args.repeat))
                print(json.dumps(ingests[-1]), file=sys.stderr)
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        dbs = [demo_database(Path(tmp)), full_table_database(Path(tmp))]
        for db in dbs:
            if db is not None:
                loads.append(measure_api(db, "AS131279", args.clients, args.seconds))
                print(json.dumps(loads[-1]), file=sys.stderr)
    if args.markdown:
        print(markdown(ingests, loads, args))
    else:
        print(json.dumps({"ingest": ingests, "api": loads}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
