"""The country commands on a real full table, as ratios to `dump -m` on the same file, in one run.

Goals (issue 13): `upstreams --country KP` within 1.5x `dump -m`, `countries` within 2x, peak
RSS under 1 GB. Each command runs in a fresh process through bench/_runner.py (wall, CPU, peak
RSS from GNU time), ``REPEAT`` times, median kept; beside them the physical floor (gunzip),
``upstreams --country KP --as-rel FILE`` (the country view without the relationship inference:
the file is written by ``transitwatch relationships`` first) and, in-process, the bulk prefix
placement against the per-prefix path. Every command runs as an installed package does, from
compiled bytecode (the source trees are byte-compiled first, whatever PYTHONDONTWRITEBYTECODE
says: otherwise each run would pay ~0.15 s compiling the modules a country command imports).

``--before SRC`` also times the country commands from another source tree (e.g. ``git archive
REV | tar -x -C SRC`` and ``python setup.py build_ext --inplace`` there), run with this
interpreter and ``PYTHONPATH=SRC/src``: before and after in the same run.

Run: nice .venv/bin/python bench/country.py [MRT file] [--repeat N] [--before SRC]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = HERE.parent.parent / "shared" / "data"
DEFAULT = SHARED / "mrt" / "bgpdump-corpus" / "input" / "updates.et-header.2015.gz"
GOALS = {"upstreams --country KP": 1.5, "countries": 2.0}
RSS_GOAL_MB = 1024


def _measure(argv: list[str], repeat: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, str(HERE / "_runner.py"), "cmd", "--", *argv],
                             capture_output=True, text=True, check=True, env=env).stdout
        result = json.loads(out.strip().splitlines()[-1])
        if not result.get("ok"):
            return result
        runs.append(result)
    return {"ok": True, "seconds": statistics.median(r["seconds"] for r in runs),
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
            "peak_rss_kb": max(r["peak_rss_kb"] for r in runs)}


def _in_process(path: Path) -> dict[str, float]:
    from transitwatch.registry import geo
    from transitwatch.sources.mrt import read_mrt

    prefixes = sorted({o.prefix for o in read_mrt(path) if o.prefix})
    t = time.perf_counter()
    geo.load_tables()
    load = time.perf_counter() - t
    t = time.perf_counter()
    placed = geo.place(geo.parse_prefixes(prefixes))
    bulk = time.perf_counter() - t
    sample = prefixes[:: max(1, len(prefixes) // 20000)]
    t = time.perf_counter()
    for prefix in sample:
        geo.lookup_prefix(prefix)
    one = (time.perf_counter() - t) / len(sample)
    return {"prefixes": len(prefixes), "placed": int((placed.label >= 0).sum()), "table_load_s": load,
            "bulk_s": bulk, "bulk_per_s": len(prefixes) / bulk, "per_prefix_us": one * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", type=Path, default=None,
                        help="a source tree of an earlier version: its country commands are timed too")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    trees = [ROOT / "src"] + ([args.before.resolve() / "src"] if args.before else [])
    for tree in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree)], check=True,
                       stdout=subprocess.DEVNULL)
    tw = str(Path(sys.executable).with_name("transitwatch"))
    path = str(args.file)
    as_rel = Path(tempfile.mkdtemp(prefix="tw-bench-country-")) / "as-rel.txt"
    subprocess.run([tw, "relationships", path, "--out", str(as_rel)], check=True, capture_output=True)
    commands: dict[str, list[str]] = {"gunzip (floor)": ["gzip", "-dc", path]}
    if shutil.which("bgpdump"):
        commands["bgpdump -m (C)"] = ["bgpdump", "-m", path]
    commands.update({
        "dump -m": [tw, "dump", "-m", path],
        "upstreams --country KP": [tw, "upstreams", "--country", "KP", path],
        "  with --as-rel FILE": [tw, "upstreams", "--country", "KP", path, "--as-rel", str(as_rel)],
        "countries": [tw, "countries", path],
    })
    envs: dict[str, dict[str, str]] = {}
    if args.before:
        before_env = {**os.environ, "PYTHONPATH": str(trees[-1])}
        module = [sys.executable, "-m", "transitwatch"]
        for name, argv in (("upstreams --country KP (before)", ["upstreams", "--country", "KP", path]),
                           ("  with --as-rel FILE (before)",
                            ["upstreams", "--country", "KP", path, "--as-rel", str(as_rel)]),
                           ("countries (before)", ["countries", path])):
            commands[name] = module + argv
            envs[name] = before_env
    results = {name: _measure(argv, args.repeat, envs.get(name)) for name, argv in commands.items()}
    base = results["dump -m"]
    report: dict[str, Any] = {"file": path, "repeat": args.repeat, "commands": results,
                              "in_process": _in_process(args.file)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{Path(path).name}, median of {args.repeat} runs each, one process per run")
    print(f"{'command':32} {'wall s':>7} {'cpu s':>7} {'RSS MB':>7} {'x dump -m (wall/cpu)':>21}  goal")
    for name, r in results.items():
        if not r.get("ok"):
            print(f"{name:32} failed: {r.get('error')}")
            continue
        ratio = (f"{r['seconds'] / base['seconds']:.2f} / {r['cpu_seconds'] / base['cpu_seconds']:.2f}"
                 if base.get("ok") else "?")
        goal = GOALS.get(name)
        verdict = ""
        if goal is not None and base.get("ok"):
            met = r["cpu_seconds"] / base["cpu_seconds"] <= goal and r["peak_rss_kb"] / 1024 < RSS_GOAL_MB
            verdict = f"<= {goal}x, < {RSS_GOAL_MB} MB: {'met' if met else 'NOT met'}"
        print(f"{name:32} {r['seconds']:7.2f} {r['cpu_seconds']:7.2f} {r['peak_rss_kb'] / 1024:7.0f} "
              f"{ratio:>21}  {verdict}")
    ip = report["in_process"]
    print(f"\nprefix placement: {ip['prefixes']:,} prefixes in bulk {ip['bulk_s']:.2f} s "
          f"({ip['bulk_per_s']:,.0f}/s), per prefix {ip['per_prefix_us']:.0f} us; "
          f"range tables loaded in {ip['table_load_s']:.2f} s")


if __name__ == "__main__":
    main()
