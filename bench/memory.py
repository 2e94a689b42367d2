"""Peak memory of the routing state for a full table: ~1M IPv4+IPv6 prefixes x 40 peers.

    .venv/bin/python bench/memory.py [--prefixes 1000000] [--peers 40] [--work DIR]

Writes (once, cached in --work) a synthetic full table with the project's MRT writer, shaped like
a real RIB (transitwatch.scenarios.synthetic: prefix lengths and path lengths of RIS bview.20020722.2337),
as two collectors' RIB dumps of peers/2 full-table peers each, then replays it in a fresh process
into ``RoutingState()`` (every route of every peer kept) and reports the peak RSS (VmHWM) and
what it holds. The same files read by ``parallel_target_view`` are measured per worker in
bench/scale.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _write(args: tuple[str, int, int, int, int]) -> str:
    from transitwatch.scenarios.synthetic import SyntheticInternet, synthetic_rib
    from transitwatch.sources.mrt_writer import write_mrt

    path, prefixes, peers, first_peer, seed = args
    net = SyntheticInternet(prefixes=prefixes, peers=peers + first_peer, seed=seed)
    net.peers = net.peer_list[first_peer:]
    write_mrt(path, synthetic_rib(net, 1506844800.0))
    return path


def make_table(work: Path, prefixes: int, peers: int) -> list[str]:
    half = peers // 2
    names = [
        str(work / f"fulltable-{prefixes}x{peers}" / c / "bview.20171001.0800.gz") for c in ("rrc00", "rrc01")
    ]
    todo = [(n, prefixes, half, i * half, 42) for i, n in enumerate(names) if not os.path.exists(n)]
    for n, *_ in todo:
        Path(n).parent.mkdir(parents=True, exist_ok=True)
    if todo:
        started = time.time()
        with ProcessPoolExecutor(max_workers=2) as pool:
            list(pool.map(_write, [(n + ".part", *rest) for n, *rest in todo]))
        for n, *_ in todo:
            os.replace(n + ".part", n)
        print(f"wrote {len(todo)} RIB files in {time.time() - started:.0f} s", file=sys.stderr)
    return names


def measure(kind: str, paths: list[str]) -> dict[str, object]:
    """In this (fresh) process: replay the files into a full RoutingState (or a
    CompactRoutingState); peak RSS."""
    import resource  # noqa: F401 - VmHWM below is the reliable figure

    from transitwatch.sources.files import read_files
    from transitwatch.state.compact import CompactRoutingState
    from transitwatch.state.table import RoutingState

    def vm(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        return 0

    base = vm("VmRSS")
    started, cpu = time.perf_counter(), time.process_time()
    state: Any = (CompactRoutingState() if kind == "compact" else RoutingState()).replay(read_files(paths))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak, after = vm("VmHWM"), vm("VmRSS")  # before the counting below allocates anything
    tables = state.tables()
    routes = sum(len(t) for t in tables)
    paths_held = len({p for t in tables for _, p in t.items()})
    return {
        "state": type(state).__name__,
        "tables": len(tables),
        "routes": routes,
        "distinct_paths": paths_held,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "baseline_rss_mb": round(base / 2**20),
        "peak_rss_mb": round(peak / 2**20),
        "rss_after_mb": round(after / 2**20),
        "bytes_per_route": round((peak - base) / max(routes, 1), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prefixes", type=int, default=1_000_000)
    parser.add_argument("--peers", type=int, default=40)
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "transitwatch-bench"
    )
    parser.add_argument(
        "--state",
        default="both",
        choices=["routing", "compact", "both"],
        help="RoutingState, CompactRoutingState, or both (default)",
    )
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], args.measure[1:])))
        return
    paths = make_table(args.work, args.prefixes, args.peers)
    kinds = ["routing", "compact"] if args.state == "both" else [args.state]
    results = []
    for kind in kinds:
        out = subprocess.run(
            [sys.executable, __file__, "--measure", kind, *paths], check=True, capture_output=True, text=True
        )
        result = json.loads(out.stdout)
        result.update(
            prefixes=args.prefixes,
            peers=args.peers,
            file_mb=round(sum(os.path.getsize(p) for p in paths) / 2**20),
        )
        results.append(result)
        print(json.dumps(result), file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
