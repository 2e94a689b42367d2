"""Ingest at decode speed? `transitwatch ingest` beside the decoder and `dump -m`, in one run.

    .venv/bin/python bench/ingest.py [--file F] [--work DIR] [--repeat 2] [--json]

On the real 2015 full table (`updates.et-header.2015.gz`: 577,740 routes, one PCH peer), each in a
fresh process, timed and measured by GNU time (wall, user+system CPU, peak RSS of the largest
process): the floor (gunzip in Python), the observation stream (decode only), the decoder's column
mode (no Observation per route: what ingest reads), `dump -m`, `ingest` (columnar, the default) and
`ingest --method reference` (the row-by-row path it replaced). Then the same table four times over
as four collectors (four RIS-layout copies whose gzip headers differ, so the store sees four files):
one process, `--workers 2` and a Dask LocalCluster (`--scheduler local`). Reports seconds, ratios to
`dump -m`, routes/s (wall) and routes per CPU-second (per core), and peak RSS; with --repeat N the
best of N (interleaved), and the median wall time of the N (on a machine shared with other jobs the
median is the steadier ratio). `--quick` times only the single-file modes, for many repeats.

`--before SRC` also times `ingest` from another source tree (e.g. `git archive REV | tar -x -C SRC`,
its extensions built with `python setup.py build_ext --inplace`), run with this interpreter and
`PYTHONPATH=SRC/src`: before and after in the same run. Every command runs as an installed package
does, from compiled bytecode (the source trees are byte-compiled first, whatever
PYTHONDONTWRITEBYTECODE says), so that no contender pays for compiling its modules.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT.parent / "shared/data/mrt/bgpdump-corpus/input/updates.et-header.2015.gz"
PY = sys.executable
TW = [PY, "-m", "transitwatch"]


def _timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` under GNU time; wall, CPU and peak RSS (stdout discarded)."""
    out = cwd / "time.txt"
    proc = subprocess.run(["/usr/bin/time", "-o", str(out), "-f", "%e %U %S %M", *cmd], cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd[:6])}... failed: {proc.stderr.strip().splitlines()[-1:]}")
    wall, user, sys_, rss = out.read_text().split()[-4:]
    return {"seconds": float(wall), "cpu_seconds": float(user) + float(sys_), "peak_rss_mb": int(rss) / 1024}


def _four_collectors(src: Path, work: Path) -> list[str]:
    """The file as four collectors' update files: same records, gzip headers (mtime) differ."""
    raw = gzip.decompress(src.read_bytes())
    paths = []
    for i, collector in enumerate(("rrc90", "rrc91", "rrc92", "rrc93")):
        folder = work / collector
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "updates.20151023.0000.gz"
        with open(path, "wb") as handle, gzip.GzipFile(fileobj=handle, mode="wb", mtime=10**6 + i) as gz:
            gz.write(raw)
        paths.append(str(path))
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: temporary)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-reference", action="store_true", help="do not time the row-by-row path")
    parser.add_argument("--quick", action="store_true",
                        help="single-file modes only (no reference, no four collectors)")
    parser.add_argument("--before", type=Path, default=None,
                        help="a source tree of an earlier version: its ingest is timed too")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.file.exists():
        print(f"bench: {args.file}: not found (the real data lives in ../shared/data)", file=sys.stderr)
        return 2
    trees = [ROOT / "src"] + ([args.before.resolve() / "src"] if args.before else [])
    for tree in trees:
        subprocess.run([PY, "-m", "compileall", "-q", str(tree)], check=True, stdout=subprocess.DEVNULL)
    work = Path(args.work or tempfile.mkdtemp(prefix="tw-bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    f = str(args.file.resolve())
    four = _four_collectors(args.file, work / "four")
    routes = 577_740 if args.file == DEFAULT_FILE else None
    decode_code = ("from transitwatch.sources.files import read_files\n"
                   f"n = sum(1 for o in read_files([{f!r}]) if o.kind != 'state')\nprint(n)")
    columns_code = ("from transitwatch.sources.files import read_files\n"
                    f"b = read_files([{f!r}], columns=True).batches()\n"
                    "print(sum(int((x.kind != 3).sum()) for x in b))")
    gunzip_code = f"import gzip\nf = gzip.open({f!r})\nwhile f.read(1 << 20): pass"
    if routes is None:
        counted = subprocess.run([PY, "-c", decode_code], capture_output=True, text=True, check=True)
        routes = int(counted.stdout)

    def fresh(name: str) -> str:
        db = work / f"{name}.duckdb"
        for p in (db, db.with_suffix(".duckdb.wal")):
            if p.exists():
                p.unlink()
        return str(db)

    ref, four1, four2, fourd = "ingest --method reference", "ingest 4 collectors, 1 process", \
        "ingest 4 collectors, --workers 2", "ingest 4 collectors, Dask LocalCluster"
    before = "ingest (before)"
    before_env = {**os.environ, "PYTHONPATH": str(trees[-1])} if args.before else None
    modes: dict[str, tuple[Any, int]] = {
        "gunzip (floor)": (lambda: [PY, "-c", gunzip_code], routes),
        "decode (observation stream)": (lambda: [PY, "-c", decode_code], routes),
        "decode (columns, what ingest reads)": (lambda: [PY, "-c", columns_code], routes),
        "dump -m": (lambda: [*TW, "dump", "-m", f], routes),
        "ingest": (lambda: [*TW, "ingest", f, "--db", fresh("one")], routes),
        before: (lambda: [*TW, "ingest", f, "--db", fresh("before")], routes),
        ref: (lambda: [*TW, "ingest", f, "--db", fresh("ref"), "--method", "reference"], routes),
        four1: (lambda: [*TW, "ingest", *four, "--db", fresh("four1"), "--workers", "1"], 4 * routes),
        four2: (lambda: [*TW, "ingest", *four, "--db", fresh("four2"), "--workers", "2"], 4 * routes),
        fourd: (lambda: [*TW, "ingest", *four, "--db", fresh("fourd"), "--scheduler", "local",
                         "--workers", "2"], 4 * routes),
    }
    if args.skip_reference or args.quick:
        del modes[ref]
    if args.quick:
        for name in (four1, four2, fourd):
            del modes[name]
    if not args.before:
        del modes[before]
    best: dict[str, dict[str, Any]] = {}
    walls: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for name, (cmd, n) in modes.items():
            got = _timed(cmd(), work, before_env if name == before else None)
            got["routes"] = n
            walls.setdefault(name, []).append(got["seconds"])
            old = best.get(name)
            if old is None or got["seconds"] < old["seconds"]:
                best[name] = {**got, "peak_rss_mb": max(got["peak_rss_mb"], old["peak_rss_mb"] if old else 0)}
            print(f"  {name}: {got['seconds']:.2f} s", file=sys.stderr)
    dump = best["dump -m"]["seconds"]
    one = best["ingest"]["peak_rss_mb"]
    medians = {name: sorted(runs)[len(runs) // 2] for name, runs in walls.items()}
    for row in best.values():
        row["x_dump"] = row["seconds"] / dump
        row["routes_per_s"] = row["routes"] / row["seconds"]
        row["routes_per_cpu_s"] = row["routes"] / row["cpu_seconds"] if row["cpu_seconds"] else None
        row["rss_x_one_ingest"] = row["peak_rss_mb"] / one
    for name, row in best.items():
        row["median_seconds"] = medians[name]
        row["median_x_dump"] = medians[name] / medians["dump -m"]
    if args.json:
        print(json.dumps({"file": f, "routes": routes, "load": os.getloadavg(), "modes": best}, indent=2))
    else:
        print(f"{args.file.name}: {routes:,} routes; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores; best of {args.repeat}")
        print("| mode | s | x dump -m | median s | median x dump -m | CPU s | routes/s | routes/CPU-s | "
              "peak RSS MB | x one ingest |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, r in best.items():
            per_cpu = f"{r['routes_per_cpu_s']:,.0f}" if r["routes_per_cpu_s"] else "-"
            print(f"| {name} | {r['seconds']:.2f} | {r['x_dump']:.2f} | {r['median_seconds']:.2f} | "
                  f"{r['median_x_dump']:.2f} | {r['cpu_seconds']:.2f} | "
                  f"{r['routes_per_s']:,.0f} | {per_cpu} | {r['peak_rss_mb']:.0f} | "
                  f"{r['rss_x_one_ingest']:.2f} |")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
