"""Throughput of one process, 1 and 2 worker processes, and a Dask LocalCluster, on the same files.

    .venv/bin/python bench/scale.py [--scale 1.0] [--work DIR] [--target AS131279]

Generates (once, cached in --work) a workload with transitwatch.scenarios.synthetic: 4 collectors (two
with gzip files like RIS, two with bzip2 like RouteViews), each a RIB dump of 10 full-table peers
and 24 five-minute update files, the watched AS moving to a new upstream in the middle. Then, each
mode in a fresh process: the single-process reference ``target_view(read_files(...))``, and
``parallel_target_view`` with 1 and 2 local workers and on a LocalCluster of 2 workers. Reports
wall time, observations per second, speed-up over 1 worker, peak RSS of the main process and of
each worker (VmHWM), and checks every mode gave the same spans. Modes ``ingest1``/``ingest2``
ingest the same files into a new DuckDB store in one process and with 2 workers (one collector per
task) and check the two databases hold the same rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

COLLECTORS = [("rrc00", "gz"), ("rrc01", "gz"), ("route-views2", "bz2"), ("route-views.linx", "bz2")]


def _vm_hwm(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _write_collector(args: tuple[str, str, str, int, int, int, int]) -> list[str]:
    from transitwatch.scenarios.synthetic import SyntheticInternet, write_workload

    work, collector, compression, prefixes, files, updates, seed = args
    net = SyntheticInternet(prefixes=prefixes, peers=10, seed=seed)
    paths = write_workload(
        work,
        net,
        collectors=[collector],
        update_files=files,
        updates_per_file=updates,
        move_target_after=files // 2,
        compression=compression,
    )
    return [str(p) for p in paths]


def make_workload(work: Path, scale: float) -> list[str]:
    prefixes, files, updates = int(100_000 * scale), 24, int(100_000 * scale)
    folder = work / f"scale-{scale:g}"
    done = folder / "files.json"
    if done.exists():
        return list(json.loads(done.read_text()))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    jobs = [(str(folder), c, comp, prefixes, files, updates, 7 + i) for i, (c, comp) in enumerate(COLLECTORS)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        paths = [p for chunk in pool.map(_write_collector, jobs) for p in chunk]
    done.write_text(json.dumps(paths))
    print(f"wrote {len(paths)} files in {time.time() - started:.0f} s", file=sys.stderr)
    return paths


def _digest(view: Any) -> str:
    text = json.dumps(
        [s.to_dict() for s in view.spans] + [e.to_dict() for e in view.sessions], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_mode(mode: str, target: str, paths: list[str]) -> dict[str, Any]:
    from transitwatch.engine.parallel import open_pool, parallel_target_view
    from transitwatch.sources.files import read_files
    from transitwatch.state.view import target_view

    started, cpu = time.perf_counter(), time.process_time()
    workers_rss: list[int] = []
    extra: dict[str, Any] = {}
    if mode == "single":
        counted = [0]

        def counting(stream: Any) -> Any:
            for obs in stream:
                counted[0] += 1
                yield obs

        view = target_view(target, counting(read_files(paths)))
        observations = counted[0]
    elif mode == "single-filtered":  # what the CLI runs in one process
        from transitwatch.state.target import Target

        view = target_view(target, read_files(paths, route_filter=Target.parse(target).route_filter()))
        observations = None
    elif mode.startswith("workers"):
        n = int(mode[len("workers") :])
        with open_pool(workers=n) as pool:
            run = parallel_target_view(target, paths, pool=pool)
            workers_rss = [_vm_hwm(pid) for pid in run.worker_cpu]
        view, observations = run.view, run.observations
        extra = {
            "kept": run.kept,
            "repaired": run.repaired,
            "worker_cpu_s": [round(c, 1) for c in run.worker_cpu.values()],
        }
    elif mode.startswith("ingest"):
        return _run_ingest(int(mode[len("ingest") :]), paths)
    else:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            started = time.perf_counter()  # the cluster's start-up is not the work
            run = parallel_target_view(target, paths, scheduler=client)
            workers_rss = list(client.run(_vm_hwm).values())
        view, observations = run.view, run.observations
        extra = {"kept": run.kept, "repaired": run.repaired}
    seconds = time.perf_counter() - started
    extra["load_avg_1min"] = round(os.getloadavg()[0], 2)  # other jobs on the machine skew wall times
    return {
        "mode": mode,
        "seconds": round(seconds, 2),
        "main_cpu_s": round(time.process_time() - cpu, 2),
        "observations": observations,
        "spans": len(view.spans),
        "digest": _digest(view),
        "main_peak_rss_mb": round(_vm_hwm() / 2**20),
        "worker_peak_rss_mb": [round(r / 2**20) for r in workers_rss],
        **extra,
    }


def _run_ingest(workers: int, paths: list[str]) -> dict[str, Any]:
    import tempfile

    from transitwatch.store import Store, ingest

    with tempfile.TemporaryDirectory(prefix="transitwatch-bench-ingest-") as tmp:
        with Store(Path(tmp) / "bench.duckdb") as store:
            started, cpu = time.perf_counter(), time.process_time()
            report = ingest(store, paths, workers=workers)
            seconds = time.perf_counter() - started
            # What the database holds, cheaply: rows per table and an order-free hash of the routes.
            row = store.con.execute(
                "SELECT count(*), sum(hash(peer_id, prefix_id, path_id, aspath_id, t_start, start_cause, "
                "last_seen, t_end, end_cause) % 1000000007) FROM routes").fetchone()
            digest = hashlib.sha256(json.dumps([store.counts(), str(row)]).encode()).hexdigest()[:16]
            db_mb = round(os.path.getsize(Path(tmp) / "bench.duckdb") / 2**20)
    return {
        "mode": f"ingest{workers}",
        "seconds": round(seconds, 2),
        "main_cpu_s": round(time.process_time() - cpu, 2),
        "observations": report.observations,
        "route_intervals": report.route_intervals,
        "db_digest": digest,
        "db_mb": db_mb,
        "main_peak_rss_mb": round(_vm_hwm() / 2**20),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="workload size factor (1.0: about a minute)")
    parser.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "transitwatch-bench"
    )
    parser.add_argument("--target", default="AS131279")
    parser.add_argument("--modes", default="single,single-filtered,workers1,workers2,dask2,ingest1,ingest2")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    paths = make_workload(args.work, args.scale)
    if args.run:
        print(json.dumps(run_mode(args.run, args.target, paths)))
        return
    size = sum(os.path.getsize(p) for p in paths)
    print(
        f"workload: {len(paths)} files, {size / 2**20:.0f} MB compressed; target {args.target}",
        file=sys.stderr,
    )
    results = []
    for mode in args.modes.split(","):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--scale",
                str(args.scale),
                "--work",
                str(args.work),
                "--target",
                args.target,
                "--run",
                mode,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr)
    # every observation in the files (the unfiltered single-process run counts them)
    observations = next((r["observations"] for r in results if r["mode"] == "single"), None)
    base = next((r["seconds"] for r in results if r["mode"] == "workers1"), None)
    ingest_base = next((r["seconds"] for r in results if r["mode"] == "ingest1"), None)
    for r in results:
        if r["mode"].startswith("ingest"):
            r["obs_per_s"] = round(r["observations"] / r["seconds"])
            r["speedup_vs_1_worker"] = round(ingest_base / r["seconds"], 2) if ingest_base else None
            continue
        if r["mode"].startswith("workers"):
            r["passed_route_filter"] = r["observations"]
        r["observations"] = observations
        r["obs_per_s"] = round(observations / r["seconds"]) if observations else None
        r["speedup_vs_1_worker"] = round(base / r["seconds"], 2) if base else None
    # On a shared machine wall time also measures the neighbours: the CPU-bound figure is the work
    # of one worker divided by the busiest worker's share of it.
    one = next((r for r in results if r["mode"] == "workers1"), None)
    for r in results:
        if one and r.get("worker_cpu_s"):
            r["cpu_speedup_vs_1_worker"] = round(sum(one["worker_cpu_s"]) / max(r["worker_cpu_s"]), 2)
    same = len({r["digest"] for r in results if "digest" in r}) <= 1
    same = same and len({r["db_digest"] for r in results if "db_digest" in r}) <= 1
    print(
        json.dumps(
            {
                "files": len(paths),
                "compressed_mb": round(size / 2**20),
                "same_result": same,
                "results": results,
            },
            indent=2,
        )
    )
    if not same:
        sys.exit("modes disagree")


if __name__ == "__main__":
    main()
