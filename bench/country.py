"""Registry and country metrics on a real full table: geolocation look-ups, country upstreams,
countries ranking. Run: .venv/bin/python bench/country.py [MRT file]"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

from transitwatch.metrics.country import countries_ranking, country_upstreams
from transitwatch.registry import Registry, geo
from transitwatch.sources.mrt import read_mrt
from transitwatch.state.table import RoutingState

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
DEFAULT = SHARED / "mrt" / "bgpdump-corpus" / "input" / "updates.et-header.2015.gz"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    t = time.perf_counter()
    state = RoutingState().replay(read_mrt(path))
    prefixes = {k if isinstance(k, str) else k[0] for table in state.tables() for k, _ in table.items()}
    print(f"replay            {time.perf_counter() - t:6.2f} s  {len(prefixes):,} prefixes")
    t = time.perf_counter()
    geo.geo_info()
    geo._flat_tables()
    print(f"geo data load     {time.perf_counter() - t:6.2f} s")
    t = time.perf_counter()
    for prefix in prefixes:
        geo.lookup_prefix(prefix)
    dt = time.perf_counter() - t
    print(f"prefix look-ups   {dt:6.2f} s  {len(prefixes) / dt:,.0f}/s (uncached)")
    geo.lookup_prefix.cache_clear()
    t = time.perf_counter()
    country_upstreams(state, "KP", Registry())
    print(f"country KP        {time.perf_counter() - t:6.2f} s  (cold caches)")
    t = time.perf_counter()
    rows = countries_ranking(state, Registry())
    print(f"countries ranking {time.perf_counter() - t:6.2f} s  {len(rows)} countries (warm geo cache)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS          {peak:6.0f} MB")


if __name__ == "__main__":
    main()
