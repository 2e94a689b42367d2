"""What the outage, origin and visibility code adds to decoding, on the largest real file.

    .venv/bin/python bench/detect.py [FILE] [--target AS131279 --target AS4837] [--repeat 5] [--json]

Each measurement runs in a fresh interpreter; the median of ``--repeat`` runs is kept:

- ``decode``: ``read_files([FILE])`` iterated, nothing else (decoding and the merged stream);
- ``view``: ``target_view(TARGET, read_files(...))``: the state replay every detector reads
  (the upstream detector's own cost, measured by bench/upstreams.py);
- ``detect``: the same with the collector liveness tracker on the stream, then every detector
  (``detect_events``: upstream changes, outages and lost vantage points, origin changes) and the
  5-minute visibility series.

Goal (issue 7): detectors add at most 30% to decoding: (detect - view) / decode <= 0.30.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT.parent / "shared" / "data" / "mrt" / "bgpdump-corpus" / "input"
DEFAULT_FILE = DEFAULT_FILE / "updates.et-header.2015.gz"
MODES = ("decode", "view", "detect")
GOAL = 0.30


def _child(mode: str, path: str, target: str) -> dict[str, Any]:
    from transitwatch.sources.files import read_files

    start = time.perf_counter()
    cpu = time.process_time()
    extra: dict[str, Any] = {}
    if mode == "decode":
        extra["observations"] = sum(1 for _ in read_files([path]))
    elif mode == "view":
        from transitwatch.state.view import target_view

        extra["spans"] = len(target_view(target, read_files([path])).spans)
    elif mode == "detect":
        from transitwatch.detect.events import detect_events
        from transitwatch.metrics.visibility import visibility
        from transitwatch.state.liveness import LivenessTracker
        from transitwatch.state.view import target_view

        tracker = LivenessTracker()
        view = target_view(target, tracker.watch(read_files([path])))
        found = detect_events(view, tracker.liveness())
        series = visibility(view)
        extra.update(spans=len(view.spans), events=len(found.events), transients=len(found.transients),
                     vantage_lost=len(found.vantage_lost), points=len(series.points))
    else:
        raise SystemExit(f"unknown mode {mode}")
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu, **extra}


def _measure(mode: str, path: str, target: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, path, "--target", target],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?", default=str(DEFAULT_FILE))
    parser.add_argument("--target", action="append", help="repeatable (default: AS131279 and AS4837)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", metavar="MODE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    targets = args.target or ["AS131279", "AS4837"]
    if args.child:
        print(json.dumps(_child(args.child, args.file, targets[0])))
        return 0
    if not os.path.exists(args.file):
        print(f"bench/detect.py: {args.file}: no such file", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    for target in targets:
        results: dict[str, dict[str, Any]] = {}
        for mode in MODES:
            runs = [_measure(mode, args.file, target) for _ in range(args.repeat)]
            errors = [r["error"] for r in runs if "error" in r]
            if errors:
                print(f"bench/detect.py: {mode} {target}: {errors[0]}", file=sys.stderr)
                return 1
            results[mode] = {
                "median_s": statistics.median(r["seconds"] for r in runs),
                "median_cpu_s": statistics.median(r["cpu_seconds"] for r in runs),
                **{k: v for k, v in runs[0].items() if k not in ("seconds", "cpu_seconds")},
            }
        decode = results["decode"]["median_cpu_s"]
        added = results["detect"]["median_cpu_s"] - results["view"]["median_cpu_s"]
        rows.append({"target": target, "results": results, "added_s": added,
                     "added_ratio": added / decode, "goal_met": added / decode <= GOAL})
    summary = {"file": args.file, "repeat": args.repeat, "goal": GOAL, "targets": rows,
               "goal_met": all(r["goal_met"] for r in rows)}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{args.file}  median of {args.repeat} fresh processes (CPU seconds; wall in brackets)")
    for row in rows:
        r = row["results"]
        print(f"{row['target']}:")
        for mode in MODES:
            shown = {k: v for k, v in r[mode].items() if k not in ("median_s", "median_cpu_s")}
            print(f"  {mode:8} {r[mode]['median_cpu_s']:7.3f} s  [{r[mode]['median_s']:.3f}]  {shown}")
        print(f"  detectors add {row['added_s']:.3f} s = {row['added_ratio']:.0%} of decoding "
              f"(goal <= {GOAL:.0%}): {'met' if row['goal_met'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
