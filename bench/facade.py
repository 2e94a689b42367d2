"""The Python API's price and the dump filters' gain (a benchmark, not a test).

On the 2015 full table (``updates.et-header.2015.gz``, 577,740 routes), each measurement in a fresh
process, best of ``--repeat``, ratios from the same run:

1. ``transitwatch dump -m`` with and without filters, beside ``gunzip -c`` (the floor),
   ``bgpdump -m`` and pybgpkit-parser with the same filter (when installed): a filtered dump skips
   building the routes it drops (the C decoder's selection), so it is faster than an unfiltered one.
2. ``upstreams AS131279`` three ways: the lower layers called by hand (read_files, target_view,
   upstream_report), ``tw.upstreams`` (the facade), and the CLI (``transitwatch upstreams --json``,
   a new interpreter, so its start-up is in it; ``transitwatch --version`` shows that part alone).

    .venv/bin/python bench/facade.py                 # table on stdout
    .venv/bin/python bench/facade.py --markdown      # for docs/performance.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT.parent / "shared" / "data" / "mrt" / "bgpdump-corpus" / "input" / "updates.et-header.2015.gz"
PY = sys.executable
TW = [PY, "-m", "transitwatch"]

HAND = """
import sys, time
t = time.perf_counter()
from transitwatch.sources.files import read_files
from transitwatch.state.target import Target
from transitwatch.state.view import target_view
from transitwatch.metrics.upstreams import upstream_report
times = []
for _ in range(2):
    target = Target.parse("AS131279")
    notices = []
    stream = read_files([sys.argv[1]], notices=notices, route_filter=target.route_filter())
    view = target_view(target, stream, notices=notices)
    report = upstream_report(view)
    assert {u.asn for u in report.upstreams} == {4837}
    times.append(time.perf_counter() - t)
    t = time.perf_counter()
print(*times)
"""

FACADE = """
import sys, time
t = time.perf_counter()
import transitwatch as tw
times = []
for _ in range(2):
    result = tw.upstreams("AS131279", tw.files([sys.argv[1]]), workers=1, OPTIONS)
    assert {u.asn for u in result.upstreams} == {4837}
    times.append(time.perf_counter() - t)
    t = time.perf_counter()
print(*times)
"""

BGPKIT = """
import sys, time
t = time.perf_counter()
import pybgpkit_parser
n = sum(1 for _ in pybgpkit_parser.Parser(url=sys.argv[1], filters={"prefix_sub": "175.45.176.0/22"}))
assert n == 4, n
print(time.perf_counter() - t)
"""


def wall(argv: list[str], repeat: int) -> float:
    """Best wall time of ``argv`` (stdout to /dev/null) over ``repeat`` fresh runs."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - started)
    return best


def inner(code: str, repeat: int, call: int = 0) -> float:
    """Best time a fresh interpreter reports for ``code`` (start-up not included): its first
    call (``call=0``, imports included) or the same call again in that process (``call=1``)."""
    return min(float(subprocess.run([PY, "-c", code, str(TABLE)], capture_output=True, text=True,
                                    check=True).stdout.split()[call]) for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    if not TABLE.exists():
        print(f"no {TABLE}", file=sys.stderr)
        return 1
    f = str(TABLE)
    rows: list[tuple[str, float]] = []
    rows.append(("gunzip -c (floor)", wall(["gunzip", "-c", f], args.repeat)))
    if shutil.which("bgpdump"):
        rows.append(("bgpdump -m", wall(["bgpdump", "-m", f], args.repeat)))
    rows.append(("transitwatch dump -m", wall([*TW, "dump", "-m", "-q", f], args.repeat)))
    filters = (["--prefix-sub", "175.45.176.0/22"], ["--origin-asn", "131279"],
               ["--prefix", "175.45.176.0/24"], ["--type", "W"],
               ["--start", "1445565679", "--end", "1445565680"],
               ["--as-path", " 4837 131279$"])
    for flt in filters:
        seconds = wall([*TW, "dump", "-m", "-q", *flt, f], args.repeat)
        rows.append((f"transitwatch dump -m {' '.join(flt)}", seconds))
    try:
        rows.append(("pybgpkit-parser, prefix_sub filter (in-process)", inner(BGPKIT, args.repeat)))
    except subprocess.CalledProcessError:
        pass
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        # a given relationship file: no inference, so the rows compare the same work
        rel = Path(tmp) / "as-rel.txt"
        rel.write_text("# serial-1\n4837|131279|-1\n")
        given = f"transit=True, as_rel={str(rel)!r}"
        api: list[tuple[str, float]] = [
            ("lower layers by hand (read_files, target_view, upstream_report), first call",
             inner(HAND, args.repeat)),
            ("tw.upstreams(..., transit=True, as_rel=FILE): the same work through the facade, first call",
             inner(FACADE.replace("OPTIONS", given), args.repeat)),
            ("lower layers by hand, the same call again in the process", inner(HAND, args.repeat, 1)),
            ("tw.upstreams(..., transit=True, as_rel=FILE), the same call again",
             inner(FACADE.replace("OPTIONS", given), args.repeat, 1)),
            ("transitwatch upstreams AS131279 FILE --transit --as-rel FILE --json (new process)",
             wall([*TW, "upstreams", "AS131279", f, "--json", "--workers", "1", "--transit",
                   "--as-rel", str(rel)], args.repeat)),
            ("transitwatch --version (start-up alone)", wall([*TW, "--version"], args.repeat)),
            ("tw.upstreams(...) default: own address space, relationships inferred from the file (AS-Rank)",
             inner(FACADE.replace("OPTIONS", "transit=False"), 1)),
            ("transitwatch upstreams AS131279 FILE --json, default (new process)",
             wall([*TW, "upstreams", "AS131279", f, "--json", "--workers", "1"], 1)),
        ]
    base = dict(rows)["transitwatch dump -m"]
    hand = api[0][1]
    load = os.getloadavg()[0]
    if args.markdown:
        print(f"2015 table, best of {args.repeat}, load average {load:.1f} on {os.cpu_count()} cores\n")
        print("| dump | seconds | × unfiltered dump |\n|---|---:|---:|")
        for name, s in rows:
            print(f"| {name} | {s:.3f} | {s / base:.2f} |")
        print("\n| upstreams AS131279 | seconds | × by hand |\n|---|---:|---:|")
        for name, s in api:
            print(f"| {name} | {s:.3f} | {s / hand:.2f} |")
    else:
        for name, s in rows:
            print(f"{name:60} {s:7.3f} s  {s / base:5.2f}x unfiltered dump")
        for name, s in api:
            print(f"{name:60} {s:7.3f} s  {s / hand:5.2f}x by hand")
    return 0


if __name__ == "__main__":
    sys.exit(main())
