"""Long hostile AS paths through the inference's path cleaning: C beside the Python reference.

    .venv/bin/python bench/hostile_paths.py [--asns 16000] [--repeat 5]

An AS_PATH attribute can hold ~16k 4-byte ASNs. The cleaning (prepending collapsed, loops and
reserved ASNs discarded) must not compare every pair of hops: pairwise, such paths cost the C
code six times the Python reference's set-based time. Ten distinct paths of ``--asns`` hops (a
loop at the end of one, prepending only in another) are cleaned by ``_asrank.sanitise`` (C) and by
``asrank._sanitise_all`` (the reference), best of ``--repeat``, CPU seconds; both must give the
same result. (Moved here from a test: tests never time things.)
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from transitwatch.metrics import _asrank, asrank


def _paths(n: int) -> Counter[str]:
    counts: Counter[str] = Counter()
    for k in range(8):
        counts[" ".join(str(200_000 + k * n + i) for i in range(n))] = 1
    counts[" ".join(str(200_000 + i) for i in range(n)) + " 200000"] = 2          # a loop at the end
    counts[" ".join(str(200_000 + i // 2) for i in range(2 * n))] = 3             # prepending only
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asns", type=int, default=16_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    counts = _paths(args.asns)
    best = {"C (_asrank.sanitise)": float("inf"), "Python reference": float("inf")}
    for _ in range(args.repeat):
        start = time.process_time()
        got = _asrank.sanitise(counts, frozenset(), lambda t: asrank.sanitise_path(t, frozenset()))
        best["C (_asrank.sanitise)"] = min(best["C (_asrank.sanitise)"], time.process_time() - start)
        start = time.process_time()
        want = asrank._sanitise_all(counts, frozenset())
        best["Python reference"] = min(best["Python reference"], time.process_time() - start)
        if got[3] != dict(want[1]):
            raise SystemExit("bench: the C and the reference disagree")
    print(f"{len(counts)} paths of {args.asns:,}-{2 * args.asns:,} hops; best of {args.repeat}, CPU s")
    for name, seconds in best.items():
        print(f"  {name}: {seconds:.4f}")
    print(f"  C / reference: {best['C (_asrank.sanitise)'] / best['Python reference']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
