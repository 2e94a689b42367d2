"""History at scale: ingest a written full-feed workload, export it partitioned, query the export.

    .venv/bin/python bench/history.py [--prefixes 50000] [--peers 10] [--files 24] [--updates 20000]
                                      [--work DIR] [--json]

Writes (once, cached in --work) a collector's RIB dump and update files with
``transitwatch.scenarios.synthetic`` (full tables of --prefixes for --peers peers, --files
five-minute update files of --updates routes each), then, each in a fresh process: ``transitwatch
ingest`` into a new database (wall, CPU, peak RSS), ``export --partitioned``, and a DuckDB
aggregate over the export (routes per collector and day, read as is). Reports per-route costs
and sizes (bytes per stored interval, database and Parquet) and projects them to one day and one
year of a RIS-like collector (see docs/scaling.md for the volumes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PY = sys.executable
TW = [PY, "-m", "transitwatch"]


def _timed(cmd: list[str], cwd: Path) -> dict[str, Any]:
    out = cwd / "time.txt"
    proc = subprocess.run(["/usr/bin/time", "-o", str(out), "-f", "%e %U %S %M", *cmd], cwd=cwd,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd[:5])}... failed: {proc.stderr.strip()[-300:]}")
    wall, user, sys_, rss = out.read_text().split()[-4:]
    return {"seconds": float(wall), "cpu_seconds": float(user) + float(sys_), "peak_rss_mb": int(rss) / 1024,
            "stdout": proc.stdout}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=50_000)
    parser.add_argument("--peers", type=int, default=10)
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tw-bench-history")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from transitwatch.scenarios.synthetic import SyntheticInternet, write_workload

    folder = args.work / f"p{args.prefixes}-n{args.peers}-f{args.files}-u{args.updates}"
    listing = folder / "files.json"
    if not listing.exists():
        started = time.time()
        net = SyntheticInternet(prefixes=args.prefixes, peers=args.peers, seed=11)
        paths = write_workload(folder / "mrt", net, collectors=["rrc00"], update_files=args.files,
                               updates_per_file=args.updates, move_target_after=args.files // 2)
        listing.write_text(json.dumps([str(p) for p in paths]))
        print(f"wrote {len(paths)} files in {time.time() - started:.0f} s", file=sys.stderr)
    paths = json.loads(listing.read_text())
    rib_entries = args.prefixes * args.peers
    update_routes = args.files * args.updates
    routes = rib_entries + update_routes
    mrt_bytes = sum(_size(Path(p)) for p in paths)

    db = folder / "history.duckdb"
    out = folder / "history"
    for p in (db, db.with_suffix(".duckdb.wal")):
        if p.exists():
            p.unlink()
    ingest = _timed([*TW, "ingest", *paths, "--db", str(db), "--json"], folder)
    report = json.loads(ingest["stdout"])
    intervals = report["route_intervals"]
    export = _timed([*TW, "export", "--db", str(db), "--partitioned", str(out), "--json"], folder)
    query = ("import duckdb, sys\n"
             "print(duckdb.sql(\"SELECT collector, day, count(*) FROM read_parquet('\" + sys.argv[1] + "
             "\"/routes/**/*.parquet', hive_partitioning = true) GROUP BY ALL\").fetchall())")
    scan = _timed([PY, "-c", query, str(out)], folder)
    upstreams = _timed([*TW, "upstreams", "AS131279", "--db", str(out), "--json"], folder)

    result = {
        "workload": {"rib_entries": rib_entries, "update_routes": update_routes, "routes": routes,
                     "files": len(paths), "mrt_mb": mrt_bytes / 1e6},
        "ingest": {k: v for k, v in ingest.items() if k != "stdout"} | {"route_intervals": intervals},
        "export": {k: v for k, v in export.items() if k != "stdout"},
        "duckdb_scan_of_export": {k: v for k, v in scan.items() if k != "stdout"},
        "upstreams_from_export": {k: v for k, v in upstreams.items() if k != "stdout"},
        "database_mb": _size(db) / 1e6, "parquet_mb": _size(out) / 1e6,
        "bytes_per_interval_db": _size(db) / intervals, "bytes_per_interval_parquet": _size(out) / intervals,
        "routes_per_cpu_s": routes / ingest["cpu_seconds"], "load": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    w = result["workload"]
    print(f"workload: {w['files']} files ({w['mrt_mb']:.1f} MB MRT): {rib_entries:,} RIB entries "
          f"({args.peers} peers x {args.prefixes:,} prefixes) + {update_routes:,} update routes; "
          f"load average {result['load']:.1f}")
    print("| step | s | CPU s | peak RSS MB | |")
    print("|---|---:|---:|---:|---|")
    print(f"| ingest | {ingest['seconds']:.1f} | {ingest['cpu_seconds']:.1f} | {ingest['peak_rss_mb']:.0f} | "
          f"{intervals:,} intervals; {result['routes_per_cpu_s']:,.0f} routes per CPU-s |")
    print(f"| export --partitioned | {export['seconds']:.1f} | {export['cpu_seconds']:.1f} | "
          f"{export['peak_rss_mb']:.0f} | database {result['database_mb']:.1f} MB "
          f"({result['bytes_per_interval_db']:.0f} B/interval), Parquet {result['parquet_mb']:.1f} MB "
          f"({result['bytes_per_interval_parquet']:.0f} B/interval) |")
    print(f"| DuckDB scan of the export | {scan['seconds']:.1f} | {scan['cpu_seconds']:.1f} | "
          f"{scan['peak_rss_mb']:.0f} | routes per collector and day |")
    print(f"| upstreams --db DIR | {upstreams['seconds']:.1f} | {upstreams['cpu_seconds']:.1f} | "
          f"{upstreams['peak_rss_mb']:.0f} | one target from the export |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
