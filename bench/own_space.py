"""The price of an AS target watching its own address space (issue 11), beside the floor.

    .venv/bin/python bench/own_space.py [FILE] [--repeat 3] [--json]

On the 2015 full-table update file, in one run (best of ``--repeat``; wall and CPU seconds):

- ``gunzip``: decompression alone (the physical floor);
- ``filter`` / ``filter+own``: the decoder with the target's route filter, without and with the
  learnt own address space (prefixes the target originates; more-specifics from other origins
  pass), for a small edge AS (AS131279, 4 prefixes) and a large one (AS4837, hundreds);
- ``view`` / ``view+own``: ``target_view`` over the filtered stream (replay, spans), without and
  with the own space (routes inside it kept apart as ``view.foreign``);
- ``store view``: the same target's view from a database of the file (``store.query.target_view``:
  the own address space found by one equi-join), the database ingested first, untimed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT.parent / "shared" / "data" / "mrt" / "bgpdump-corpus" / "input"
DEFAULT_FILE = DEFAULT_FILE / "updates.et-header.2015.gz"
TARGETS = ("AS131279", "AS4837")


def _best(fn: Any, repeat: int) -> tuple[float, float, Any]:
    best: tuple[float, float, Any] | None = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if best is None or wall < best[0]:
            best = (wall, cpu, out)
    assert best is not None
    return best


def run(path: str, repeat: int) -> list[dict[str, Any]]:
    from transitwatch.sources.files import read_files
    from transitwatch.sources.mrt import MrtReader, RouteFilter
    from transitwatch.state.table import RoutingState
    from transitwatch.state.target import Target
    from transitwatch.state.view import ViewBuilder
    from transitwatch.store import Store, ingest
    from transitwatch.store.query import target_view as stored_view

    rows: list[dict[str, Any]] = []

    def add(name: str, target: str, result: tuple[float, float, Any]) -> None:
        rows.append({"measure": name, "target": target, "seconds": round(result[0], 3),
                     "cpu": round(result[1], 3), "kept": result[2]})

    def gunzip() -> int:
        with gzip.open(path) as fh:
            return len(fh.read())

    add("gunzip", "", _best(gunzip, repeat))
    for target in TARGETS:
        tgt = Target.parse(target)
        for own in (False, True):
            def decode(own: bool = own, tgt: Target = tgt) -> int:
                rf = RouteFilter(asns=tgt.asns, own_space=own)
                return sum(len(b) for b in MrtReader(path, route_filter=rf).batches())
            add("filter+own" if own else "filter", target, _best(decode, repeat))

            def view(own: bool = own, tgt: Target = tgt) -> int:
                builder = ViewBuilder(tgt)
                state = RoutingState(tgt, on_change=builder.route, on_session=builder.session, own_space=own)
                flt = RouteFilter(asns=tgt.asns, own_space=own)
                state.replay(read_files([path], route_filter=flt))
                return len(builder.view(state).foreign)
            add("view+own" if own else "view", target, _best(view, repeat))
    with tempfile.TemporaryDirectory() as folder:
        db = os.path.join(folder, "bench.duckdb")
        with Store(db) as store:
            ingest(store, [path])
        with Store(db, read_only=True) as store:
            for target in TARGETS:
                add("store view", target, _best(lambda t=target: len(stored_view(store, t).foreign), repeat))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(DEFAULT_FILE))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not os.path.exists(args.file):
        print(f"{args.file}: no such file (the shared data is at ../shared/data)", file=sys.stderr)
        return 2
    rows = run(args.file, args.repeat)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'measure':<12} {'target':<9} {'seconds':>8} {'cpu s':>7} {'kept/foreign':>12}")
    for r in rows:
        print(f"{r['measure']:<12} {r['target']:<9} {r['seconds']:>8.3f} {r['cpu']:>7.3f} {r['kept']:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
