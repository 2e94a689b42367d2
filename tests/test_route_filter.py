"""The decoder-level route filter keeps exactly what a target-only consumer needs."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from transitwatch.sources.files import read_files
from transitwatch.sources.mrt import MrtReader, RouteFilter, read_mrt
from transitwatch.state.target import Target
from transitwatch.state.view import target_view

UPDATES = "mrt/bgpdump-corpus/input/updates.20160811.1600.gz"  # IPv4 and IPv6, withdrawals, states


def _wanted(o: object, asns: set[int], nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
            seen: set[str]) -> bool:
    if o.kind != "announce":  # type: ignore[attr-defined]
        return True
    if o.prefix in seen:  # type: ignore[attr-defined]
        return True
    tokens = (o.as_path or "").replace("{", " ").replace("}", " ").replace(",", " ").split()  # type: ignore[attr-defined]
    if any(int(t) in asns for t in tokens if t.isdigit()):
        seen.add(o.prefix)  # type: ignore[attr-defined]
        return True
    net = ipaddress.ip_network(o.prefix)  # type: ignore[attr-defined]
    return any(net.version == n.version and net.subnet_of(n) for n in nets)  # type: ignore[arg-type]


def test_filter_keeps_exactly_the_target_announcements(shared_data: Path) -> None:
    path = shared_data / UPDATES
    everything = list(read_mrt(path))
    asns = {6939}
    nets = [ipaddress.ip_network("2804::/16"), ipaddress.ip_network("192.0.0.0/8")]
    reader = MrtReader(path, route_filter=RouteFilter(frozenset(asns), tuple(str(n) for n in nets)))
    kept = list(reader)
    seen: set[str] = set()
    expected = [o for o in everything if _wanted(o, asns, nets, seen)]
    assert kept == expected
    assert 0 < len(kept) < len(everything)
    assert reader.stats.filtered == len(everything) - len(kept)
    assert reader.stats.last_time == max(o.time for o in everything)


def test_filtered_view_equals_unfiltered_view(shared_data: Path) -> None:
    cases = {
        UPDATES: ("AS6939", "2804::/16", "AS3356"),
        "mrt/bgpdump-corpus/input/updates.20070211.0141.gz": ("AS3491", "196.0.0.0/8"),
        "mrt/caida-2015/ris.rrc06.updates.1427846400.gz": ("AS2914", "AS2497"),
    }
    for name, targets in cases.items():
        path = str(shared_data / name)
        for text in targets:
            target = Target.parse(text)
            full = target_view(target, read_files([path]))
            fast = target_view(target, read_files([path], route_filter=target.route_filter()))
            assert fast.spans == full.spans and fast.sessions == full.sessions, (name, text)
            assert fast.end == full.end
            assert len(full.spans) > 0, (name, text)
