"""End-to-end time of `upstreams` beside decoding alone, on the largest real file.

    .venv/bin/python bench/upstreams.py [FILE] [--target AS131279] [--repeat 5] [--json]

Each measurement runs in a fresh interpreter (so peak RSS belongs to it alone):

- ``decode``: the MRT decoder's batches, nothing else (the floor);
- ``decode+iterate``: every observation through a Python ``for`` loop (the merged file stream);
- ``upstreams``: ``upstreams_of(TARGET, read_files([FILE]))`` — decoding, time-merging, state
  tracking of the target's routes and the report;
- ``events``: the same view plus ``upstream_changes`` (detection);
- ``cli``: ``transitwatch upstreams TARGET FILE --json`` as a user runs it (interpreter start too).

Goal (issue 3): state tracking and detection add at most 30% to decoding: upstreams/decode <= 1.30.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT.parent / "shared" / "data" / "mrt" / "bgpdump-corpus" / "input"
DEFAULT_FILE = DEFAULT_FILE / "updates.et-header.2015.gz"
MODES = ("decode", "decode+iterate", "upstreams (no filter)", "upstreams", "events", "cli")
GOAL = 1.30


def _child(mode: str, path: str, target: str) -> dict[str, Any]:
    from transitwatch.sources.files import read_files
    from transitwatch.sources.mrt import MrtReader

    start = time.perf_counter()
    cpu = time.process_time()
    extra: dict[str, Any] = {}
    if mode == "decode":
        n = 0
        for batch in MrtReader(path).batches():
            n += len(batch)
        extra["observations"] = n
    elif mode == "decode+iterate":
        n = 0
        for _ in read_files([path]):
            n += 1
        extra["observations"] = n
    elif mode in ("upstreams", "upstreams (no filter)"):
        from transitwatch.metrics.upstreams import upstreams_of
        from transitwatch.state.target import Target

        # As the CLI does: the decoder drops announcements that cannot concern the target.
        tgt = Target.parse(target)
        flt = tgt.route_filter() if mode == "upstreams" else None
        report = upstreams_of(tgt, read_files([path], route_filter=flt))
        extra["upstreams"] = {u.asn: len(u.prefixes) for u in report.upstreams}
    elif mode == "events":
        from transitwatch.detect.upstream_change import upstream_changes
        from transitwatch.state.target import Target
        from transitwatch.state.view import target_view

        tgt = Target.parse(target)
        changes = upstream_changes(target_view(tgt, read_files([path], route_filter=tgt.route_filter())))
        extra["events"] = len(changes.events)
    else:
        raise SystemExit(f"unknown mode {mode}")
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        **extra,
    }


def _measure(mode: str, path: str, target: str) -> dict[str, Any]:
    if mode == "cli":
        cmd = [str(Path(sys.executable).parent / "transitwatch"), "upstreams", target, path, "--json"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
        ups = {u["asn"]: len(u["prefixes"]) for u in json.loads(proc.stdout)["upstreams"]}
        return {"seconds": seconds, "peak_rss_kb": usage.ru_maxrss, "upstreams": ups}
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
    parser.add_argument("--target", default="AS131279")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", metavar="MODE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.file, args.target)))
        return 0
    if not os.path.exists(args.file):
        print(f"bench/upstreams.py: {args.file}: no such file", file=sys.stderr)
        return 2
    results: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        runs = [_measure(mode, args.file, args.target) for _ in range(args.repeat)]
        errors = [r["error"] for r in runs if "error" in r]
        if errors:
            results[mode] = {"error": errors[0]}
            continue
        secs = [r["seconds"] for r in runs]
        results[mode] = {
            "median_s": statistics.median(secs),
            "min_s": min(secs),
            "peak_rss_mb": max(r["peak_rss_kb"] for r in runs) / 1024,
            **{k: v for k, v in runs[0].items() if k not in ("seconds", "cpu_seconds", "peak_rss_kb")},
        }
    base = results["decode"].get("median_s")
    ratios = {m: r["median_s"] / base for m, r in results.items() if base and "median_s" in r}
    summary = {"file": args.file, "target": args.target, "repeat": args.repeat, "results": results,
               "ratio_to_decode": ratios, "goal": GOAL,
               "goal_met": bool(ratios.get("upstreams", 99) <= GOAL and ratios.get("events", 99) <= GOAL)}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{args.file}  target {args.target}  median of {args.repeat} fresh processes")
    print(f"{'mode':22} {'median s':>9} {'min s':>8} {'x decode':>9} {'peak RSS MB':>12}  result")
    for mode, r in results.items():
        if "error" in r:
            print(f"{mode:22} error: {r['error']}")
            continue
        shown = {k: v for k, v in r.items() if k not in ("median_s", "min_s", "peak_rss_mb")}
        print(f"{mode:22} {r['median_s']:9.3f} {r['min_s']:8.3f} {ratios.get(mode, 0):9.2f} "
              f"{r['peak_rss_mb']:12.1f}  {shown}")
    print(f"goal: upstreams and events <= {GOAL:.2f} x decode: {'met' if summary['goal_met'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
