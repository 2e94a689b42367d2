"""AS relationship inference (``transitwatch relationships``) beside decoding and gunzip, in one run.

    .venv/bin/python bench/relationships.py [FILE...] [--repeat 5] [--json]

Each measurement runs in a fresh interpreter (so peak RSS belongs to it alone):

- ``gunzip``: ``gzip.open().read()`` of the file (the physical floor);
- ``decode``: the MRT decoder's batches, nothing else;
- ``decode+iterate``: every observation through the merged file stream;
- ``dedupe``: the distinct (peer AS, AS path) pairs counted (``PathSet.of_observations``, in C);
- ``dedupe (python)``: the same pairs counted the way it was done before the C counter
  (``collections.Counter`` of ``(peer_asn, as_path)`` tuples, then ``PathSet.of_pairs``);
- ``infer``: the whole API call ``tw.relationships(FILES)`` (decode, dedupe, AS-Rank inference in
  C), with the CPU time of each inference step;
- ``infer (reference)``: decode, Python dedupe and the Python implementation of the inference
  (``infer_relationships(..., method="reference")``): what ``tw.relationships`` did before;
- ``cli``: ``transitwatch relationships FILES --out /dev/null`` as a user runs it;
- ``upstreams`` / ``upstreams --as-rel``: ``transitwatch upstreams TARGET FILES --json`` with
  relationships inferred from the same files, and with them loaded from a serial-1 file (the
  inferred one, written once before the runs): what the inference costs an upstreams question.

Goal (issue 12): inference on a full table within 3x the time of decoding it: infer/decode <= 3.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "mrt" / "bgpdump-corpus" / "input"
DEFAULT_FILE = CORPUS / "updates.et-header.2015.gz"
MODES = ("gunzip", "decode", "decode+iterate", "dedupe", "dedupe (python)", "infer", "infer (reference)",
         "cli", "upstreams", "upstreams --as-rel")
GOAL = 3.0


def _child(mode: str, paths: list[str]) -> dict[str, Any]:
    from transitwatch.sources.files import read_files
    from transitwatch.sources.mrt import MrtReader

    if mode.startswith(("dedupe", "infer")):
        # Import before the clock, as decode's modules are: the rows compare the work, not
        # module loading (~0.2 s CPU for the inference's modules and numpy). The cli row keeps
        # interpreter start and imports, as a user sees them.
        import transitwatch.engine.dependence  # noqa: F401

    start = time.perf_counter()
    cpu = time.process_time()
    extra: dict[str, Any] = {}
    if mode == "gunzip":
        extra["bytes"] = sum(len(gzip.open(p).read()) for p in paths)
    elif mode == "decode":
        extra["observations"] = sum(len(b) for p in paths for b in MrtReader(p).batches())
    elif mode == "decode+iterate":
        extra["observations"] = sum(1 for _ in read_files(paths))
    elif mode == "dedupe":
        from transitwatch.metrics.asrank import PathSet

        ps = PathSet.of_observations(read_files(paths))
        extra["routes"], extra["distinct_paths"] = ps.routes, len(ps.counts)
    elif mode == "dedupe (python)":
        import operator
        from collections import Counter

        from transitwatch.metrics.asrank import PathSet

        pairs = Counter(map(operator.attrgetter("peer_asn", "as_path"), read_files(paths)))
        ps = PathSet.of_pairs(pairs, None, None)
        extra["routes"], extra["distinct_paths"] = ps.routes, len(ps.counts)
    elif mode == "infer (reference)":
        import operator
        from collections import Counter

        from transitwatch.metrics.asrank import PathSet, infer_relationships

        ps = PathSet.of_pairs(Counter(map(operator.attrgetter("peer_asn", "as_path"), read_files(paths))),
                              None, None)
        rels, stats = infer_relationships(ps, confidence=False, method="reference")
        extra["links"] = rels.counts()
        extra["steps_cpu_s"] = {k: round(v, 3) for k, v in stats.timings.items()}
    elif mode == "infer":
        import transitwatch as tw

        result = tw.relationships(paths, confidence=False)   # what the serial-1 CLI computes
        assert result.stats is not None
        extra["links"] = result.rels.counts()
        extra["clique"] = result.rels.clique
        extra["steps_cpu_s"] = {k: round(v, 3) for k, v in result.stats.timings.items()}
    else:
        raise SystemExit(f"unknown mode {mode}")
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        **extra,
    }


def _command(mode: str, paths: list[str], target: str, as_rel: str) -> list[str]:
    exe = str(Path(sys.executable).parent / "transitwatch")
    if mode == "cli":
        return [exe, "relationships", *paths, "--out", os.devnull]
    cmd = [exe, "upstreams", target, *paths, "--json"]
    return cmd + ["--as-rel", as_rel] if mode.endswith("--as-rel") else cmd


def _run_command(cmd: list[str]) -> dict[str, Any]:
    """One command in a child of this (fresh) process: its CPU time and peak RSS alone (the
    children's usage of a process that ran several would give the largest of them all)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_kb": usage.ru_maxrss}


def _measure(mode: str, paths: list[str], target: str = "AS131279", as_rel: str = "") -> dict[str, Any]:
    if mode == "cli" or mode.startswith("upstreams"):
        args = ["--run", *_command(mode, paths, target, as_rel)]
    else:
        args = ["--child", mode, *paths]
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [r["error"] for r in runs if "error" in r]
    if errors:
        return {"error": errors[0]}
    return {
        "median_s": statistics.median(r["seconds"] for r in runs),
        "min_s": min(r["seconds"] for r in runs),
        "median_cpu_s": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_kb"] for r in runs) / 1024,
        **{k: v for k, v in runs[0].items() if k not in ("seconds", "cpu_seconds", "peak_rss_kb")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", default=[str(DEFAULT_FILE)])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--target", default="AS131279", help="the upstreams rows' target (default AS131279)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", metavar="MODE", help=argparse.SUPPRESS)
    if argv is None and sys.argv[1:2] == ["--run"]:
        print(json.dumps(_run_command(sys.argv[2:])))
        return 0
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.files)))
        return 0
    for f in args.files:
        if not os.path.exists(f):
            print(f"bench/relationships.py: {f}: no such file", file=sys.stderr)
            return 2
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        as_rel = os.path.join(tmp, "as-rel.txt")
        subprocess.run([str(Path(sys.executable).parent / "transitwatch"), "relationships", *args.files,
                        "--out", as_rel], capture_output=True, check=False)
        for mode in MODES:
            runs = [_measure(mode, args.files, args.target, as_rel) for _ in range(args.repeat)]
            results[mode] = _summary(runs)
    base = results["decode"].get("median_cpu_s")

    ratios = {m: r["median_cpu_s"] / base for m, r in results.items() if base and "median_cpu_s" in r}
    summary = {"files": args.files, "repeat": args.repeat, "results": results,
               "cpu_ratio_to_decode": ratios, "goal": GOAL, "goal_met": ratios.get("infer", 99) <= GOAL}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{', '.join(Path(f).name for f in args.files)}  median of {args.repeat} fresh processes")
    print(f"{'mode':20} {'median s':>9} {'min s':>8} {'cpu s':>8} {'x decode (cpu)':>15} {'peak RSS MB':>12}")
    for mode, r in results.items():
        if "error" in r:
            print(f"{mode:20} error: {r['error']}")
            continue
        print(f"{mode:20} {r['median_s']:9.3f} {r['min_s']:8.3f} {r['median_cpu_s']:8.3f} "
              f"{ratios.get(mode, 0):15.2f} {r['peak_rss_mb']:12.1f}")
    infer = results.get("infer", {})
    if "steps_cpu_s" in infer:
        print("inference steps (cpu s):", infer["steps_cpu_s"])
        print("links:", infer["links"], "clique:", infer["clique"])
    ref = results.get("infer (reference)", {})
    if "steps_cpu_s" in ref:
        print("reference steps (cpu s):", ref["steps_cpu_s"])
        print("same links as infer:", ref.get("links") == infer.get("links"))
    print(f"goal: infer <= {GOAL:.1f} x decode (cpu): {'met' if summary['goal_met'] else 'NOT met'} "
          f"({ratios.get('infer', 0):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
