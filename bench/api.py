"""Store and API benchmark (a benchmark, not a test).

1. Ingest speed: routes/s into a fresh database, beside decoding alone (``read_files``) and
   replaying the routing state alone (``RoutingState``, no store), best of ``--repeat``.
2. API load: a real uvicorn server on 127.0.0.1 (its own process) serving the demo database;
   ``--clients`` concurrent HTTP clients (asyncio, one keep-alive connection each) request
   ``/api/upstreams/AS131279?at=...`` (times spread over the history) for ``--seconds``;
   requests/s, p50/p99 latency and errors. The same against a database of a full table.
3. Live: ``transitwatch serve --live`` (its own process) fed by a local RIS Live websocket server
   at ``--rate`` messages/s (announcements of the target's prefixes, upstreams switching), while
   the clients ask ``/api/upstreams``, ``/api/events`` and ``/api/timeline``: the same numbers with
   the feed quiet and with the feed writing, and the longest wait (does writing stall reading?).
4. Hostile load (issue 16), on the full-table database: ``--hostile-clients`` (200) clients for
   ``--seconds`` each phase: *uncached* (every request a different AS, each needing its view
   computed: the worker pool, single-flight and the deadline are what keep the server up),
   then *cached* (the same requests again), with ``/api/summary`` sampled meanwhile (it must stay
   fast); a burst of 40 identical uncached requests (single-flight: computed once). Time-outs
   (client gives up after 10 s), 503s (with Retry-After: the server said "later") and the
   server's peak memory are reported.

    .venv/bin/python bench/api.py                 # defaults: 200 clients, 30 s, best of 3
    .venv/bin/python bench/api.py --markdown      # the section for docs/performance.md
    .venv/bin/python bench/api.py --skip-ingest --only-live --rate 200
    .venv/bin/python bench/api.py --hostile-only --markdown   # only part 4

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


class _Conn:
    """A minimal HTTP/1.1 keep-alive client on one asyncio connection: a load generator must cost
    far less CPU per request than the server it measures (httpx costs about as much; on a shared
    2-core machine it would measure itself)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        await self.reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


async def _load(base: str, urls: list[str], clients: int, seconds: float, *, timeout: float = 30.0,
                once: bool = False, probe: str | None = None) -> dict[str, Any]:
    """``clients`` keep-alive connections requesting ``urls`` round robin for ``seconds``
    (``once``: each URL once, then stop); a request not answered within ``timeout`` seconds is a
    time-out (the client gives up on it, as a browser or script would); ``probe`` is requested
    every 0.25 s on its own connection meanwhile (its latencies reported)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    probes: list[float] = []
    answered: list[str] = []
    errors = timeouts = busy = 0
    stop = time.perf_counter() + seconds
    done = asyncio.Event()

    async def client(index: int) -> None:
        nonlocal errors, timeouts, busy
        conn = _Conn(host, int(port))
        i = index
        while time.perf_counter() < stop and not (once and i >= len(urls)):
            t = time.perf_counter()
            try:
                status = await asyncio.wait_for(conn.get(urls[i % len(urls)]), timeout)
                ok = status == 200
                busy += status == 503
                if ok:
                    answered.append(urls[i % len(urls)])
            except TimeoutError:
                ok = False
                timeouts += 1
                await conn.close()
            except (OSError, asyncio.IncompleteReadError, ValueError):
                ok = False
                await conn.close()
            latencies.append(time.perf_counter() - t)
            errors += not ok
            i += clients
        await conn.close()

    async def prober() -> None:
        assert probe is not None
        conn = _Conn(host, int(port))
        while not done.is_set():
            t = time.perf_counter()
            try:
                await asyncio.wait_for(conn.get(probe), timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                await conn.close()
            probes.append(time.perf_counter() - t)
            await asyncio.sleep(0.25)
        await conn.close()

    started = time.perf_counter()
    side = asyncio.create_task(prober()) if probe else None
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    done.set()
    if side is not None:
        await side
    latencies.sort()
    probes.sort()
    out = {
        "requests": len(latencies), "errors": errors, "timeouts": timeouts, "busy_503": busy,
        "seconds": elapsed, "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "max_ms": 1000 * latencies[-1],
    }
    if once:
        out["answered"] = sorted(set(answered))
    if probes:
        out["probe_p99_ms"] = 1000 * probes[min(len(probes) - 1, int(0.99 * len(probes)))]
        out["probe_max_ms"] = 1000 * probes[-1]
    return out


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def measure_hostile(db: Path, clients: int, seconds: float) -> dict[str, Any]:
    """Part 3 of the module doc."""
    from transitwatch.store import Store

    with Store(db, read_only=True) as store:
        asns = [r[0] for r in store.cursor().execute(
            "SELECT DISTINCT asns[-1] FROM aspaths WHERE len(asns) > 1 ORDER BY 1 LIMIT 2000").fetchall()]
    urls = [f"/api/upstreams/AS{a}" for a in asns]
    proc, base = _start_server(db)
    try:
        uncached = asyncio.run(_load(base, urls, clients, seconds, timeout=10, once=True,
                                     probe="/api/summary"))
        asked = uncached.pop("answered") or urls[:1]  # the answers now in the cache
        cached = asyncio.run(_load(base, asked, clients, seconds, timeout=10, probe="/api/summary"))
        burst_target = f"/api/upstreams/AS{asns[-1]}"  # asked by nobody yet (once=True stopped early)

        async def burst() -> tuple[float, list[int]]:
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                t = time.perf_counter()
                answers = await asyncio.gather(*(http.get(burst_target) for _ in range(40)))
                return time.perf_counter() - t, [a.status_code for a in answers]

        burst_s, statuses = asyncio.run(burst())
        peak = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {"db": db.name, "clients": clients, "targets": len(urls), "uncached": uncached,
            "cached": cached, "burst_40_identical_s": burst_s,
            "burst_statuses": sorted(set(statuses)), "server_peak_rss_mb": peak}


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


# -- live: serve --live under a write load --------------------------------------------------------------


class _Feed:
    """A local RIS Live server (127.0.0.1, its own thread): after the client subscribes it sends
    ``rate`` UPDATE messages a second, announcements of ``prefixes`` by 20 peers through one of two
    upstreams (so routes change and intervals close), timestamps now; ``rate`` 0: quiet."""

    def __init__(self, rate: float, prefixes: list[str], origin: int) -> None:
        import threading

        self.rate, self.prefixes, self.origin = rate, prefixes, origin
        self.sent = 0
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=lambda: self._loop.run_until_complete(self._main()),
            daemon=True)

    async def _handler(self, ws: Any) -> None:
        import random

        rng = random.Random(1)
        try:
            await asyncio.wait_for(ws.recv(), 10)  # the first subscription
        except TimeoutError:
            return
        step = 0.05
        while self._stop is not None and not self._stop.is_set():
            t = time.time()
            for _ in range(int(self.rate * step)):
                peer = rng.randrange(20)
                upstream = (4837, 20485)[rng.random() < 0.3]
                message = {"type": "ris_message", "data": {
                    "type": "UPDATE", "timestamp": t, "peer": f"192.0.2.{peer + 1}",
                        "peer_asn": str(64600 + peer),
                    "host": "rrc00", "path": [64600 + peer, 3356, upstream, self.origin], "origin": "igp",
                    "announcements": [{"next_hop": f"192.0.2.{peer + 1}",
                                       "prefixes": [rng.choice(self.prefixes)]}]}}
                await ws.send(json.dumps(message))
                self.sent += 1
            await asyncio.sleep(max(0.0, step - (time.time() - t)))

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> _Feed:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def measure_live(db: Path, target: str, clients: int, seconds: float, rate: float) -> dict[str, Any]:
    """serve --live on a copy of ``db`` fed at ``rate`` messages/s, under ``clients`` readers."""
    import shutil

    from transitwatch.store import Store, target_view

    with Store(db, read_only=True) as store:
        view = target_view(store, target)
    prefixes = sorted({s.prefix for s in view.spans})
    with tempfile.TemporaryDirectory() as tmp, _Feed(rate, prefixes, 131279) as feed:
        copy = Path(tmp) / "live.duckdb"
        shutil.copy(db, copy)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "transitwatch", "serve", "--db", str(copy), "--live", target, "--port",
                str(port),
             "--ris-live-url", f"ws://127.0.0.1:{feed.port}/", "--no-backfill", "--baseline", "0"],
            stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/api/live", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("serve --live did not start")
                time.sleep(0.2)
            enc = target
            urls = [f"/api/upstreams?target={enc}", f"/api/events?target={enc}",
                    f"/api/timeline?target={enc}&buckets=120"]
            httpx.get(base + urls[0], timeout=30).raise_for_status()
            before = httpx.get(f"{base}/api/live", timeout=10).json()
            # /api/upstreams probed every 0.25 s on its own connection during the load...
            result = asyncio.run(_load(base, urls, clients, seconds, probe=urls[0]))
            # ...then one reader alone (the machine no longer busy with the load): do writes stall it?
            alone = asyncio.run(_load(base, urls, 1, min(15.0, seconds)))
            after = httpx.get(f"{base}/api/live", timeout=10).json()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    written = after["observations"] - before["observations"]
    return {"db": db.name, "target": target, "clients": clients, "rate": rate, "feed_sent": feed.sent,
            "written_per_s": written / (result["seconds"] + alone["seconds"]),
            "batches": after["batches"] - before["batches"], **result,
            **{f"alone_{k}": v for k, v in alone.items()}}


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


def hostile_markdown(h: dict[str, Any], args: argparse.Namespace) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    lines = [
        "### Under hostile load (issue 16)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')}, commit {commit}, {os.cpu_count()} cores shared with "
        f"other jobs. Server: `create_app` defaults (2 worker threads computing and rendering answers, "
        f"single-flight, bounded caches, 8 s deadline then 503 + Retry-After) on {h['db']}; "
        f"{h['clients']} clients (one process, a minimal asyncio HTTP/1.1 client, one keep-alive "
        "connection each; a request not answered in 10 s is a time-out); uncached: "
        f"each of {h['targets']} ASes once (until {args.seconds:.0f} s); cached: the answered ones again "
        f"for {args.seconds:.0f} s; `/api/summary` probed every 0.25 s meanwhile.",
        "",
        "| phase | requests | 200 | 503 | time-outs | requests/s | p50 ms | p99 ms | max ms "
        "| summary p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in ("uncached", "cached"):
        r = h[phase]
        lines.append(f"| {phase} | {r['requests']:,} | {r['requests'] - r['errors']:,} | {r['busy_503']:,} "
                     f"| {r['timeouts']} | {r['rps']:,.0f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} "
                     f"| {r['max_ms']:.0f} | {r.get('probe_p99_ms', float('nan')):.0f} |")
    lines += ["", "40 identical requests for a target nobody asked before: "
              f"{h['burst_40_identical_s']:.2f} s for all (statuses {h['burst_statuses']}), computed "
              "once. Server peak memory "
              f"{h['server_peak_rss_mb']:.0f} MB."]
    return "\n".join(lines) + "\n"


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
        f"{args.clients} concurrent clients (a minimal asyncio HTTP/1.1 client, one keep-alive "
        "connection each, in one other process "
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


def live_markdown(lives: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        "",
        f"Live: `transitwatch serve --live AS131279` on a copy of the demo database, fed by a local RIS Live "
        f"server (0 or {args.rate:.0f} UPDATE messages/s, 20 peers, the target's prefixes, upstreams "
        f"switching); {args.clients} clients ask `/api/upstreams`, `/api/events` and `/api/timeline` "
        f"(`?target=`) for {args.seconds:.0f} s, `/api/upstreams` probed every 0.25 s meanwhile. While "
        "the feed writes, cached answers become stale at most once a second (less often while "
        "recomputing them takes longer): a stale answer is given at once while it is recomputed.",
        "",
        "| feed msgs/s | written obs/s | write batches | requests | errors | requests/s | p50 ms | p99 ms "
        "| max ms | probe p99 ms | probe max ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in lives:
        lines.append(f"| {r['rate']:.0f} | {r['written_per_s']:,.0f} | {r['batches']} | {r['requests']:,} "
                     f"| {r['errors']} | {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
                     f"| {r['max_ms']:.1f} | {r.get('probe_p99_ms', float('nan')):.1f} "
                     f"| {r.get('probe_max_ms', float('nan')):.1f} |")
    lines += [
        "",
        "Then one reader alone, same feed, for 15 s (each request waits for the previous one): the "
        "write load's own effect on a read, without 200 clients competing for the CPU.",
        "",
        "| feed msgs/s | requests | requests/s | p50 ms | p99 ms | max ms |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in lives:
        lines.append(f"| {r['rate']:.0f} | {r['alone_requests']:,} | {r['alone_rps']:,.0f} "
                     f"| {r['alone_p50_ms']:.1f} | {r['alone_p99_ms']:.1f} | {r['alone_max_ms']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=200.0, help="live feed: messages per second")
    parser.add_argument("--only-live", action="store_true", help="only the serve --live measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="print the docs/performance.md section")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--hostile-clients", type=int, default=200)
    parser.add_argument("--hostile-only", action="store_true", help="only part 3 (hostile load)")
    args = parser.parse_args()
    if args.hostile_only:
        with tempfile.TemporaryDirectory() as tmp:
            db = full_table_database(Path(tmp)) or demo_database(Path(tmp))
            hostile = measure_hostile(db, args.hostile_clients, args.seconds)
        print(json.dumps(hostile), file=sys.stderr)
        print(hostile_markdown(hostile, args) if args.markdown else json.dumps(hostile, indent=2))
        return 0
    ingests: list[dict[str, Any]] = []
    if not args.skip_ingest:
        for name in INGEST_FILES:
            path = CORPUS / name
            if path.exists():
                ingests.append(measure_ingest(path, args.repeat))
                print(json.dumps(ingests[-1]), file=sys.stderr)
    loads = []
    lives = []
    with tempfile.TemporaryDirectory() as tmp:
        demo = demo_database(Path(tmp))
        if not args.only_live:
            for db in [demo, full_table_database(Path(tmp))]:
                if db is not None:
                    loads.append(measure_api(db, "AS131279", args.clients, args.seconds))
                    print(json.dumps(loads[-1]), file=sys.stderr)
        for rate in (0.0, args.rate):
            lives.append(measure_live(demo, "AS131279", args.clients, args.seconds, rate))
            print(json.dumps(lives[-1]), file=sys.stderr)
    if args.markdown:
        print(markdown(ingests, loads, args) + live_markdown(lives, args))
    else:
        print(json.dumps({"ingest": ingests, "api": loads, "live": lives}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
