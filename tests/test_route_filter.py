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


def test_filter_sees_a_replacement_in_a_later_file(tmp_path: Path) -> None:
    """The target route sits deep in a RIB dump (a late decoding chunk); the update file replaces
    it. Files are decoded in merge order, so the filter has learnt the prefix from the dump before
    it meets the replacement, which must end the target route (not leave it held forever)."""
    from transitwatch import Observation
    from transitwatch.sources.mrt_writer import write_mrt

    t0 = 1506844800.0
    peer = {"peer_ip": "192.0.2.1", "peer_asn": 64600, "origin": "IGP", "next_hop": "192.0.2.1"}
    rib = [Observation(time=t0, kind="rib", prefix=f"{10 + i // 65536}.{(i // 256) % 256}.{i % 256}.0/24",
                       as_path="64600 174 3356 15169", **peer) for i in range(60_000)]
    rib.append(Observation(time=t0, kind="rib", prefix="175.45.176.0/24", as_path="64600 4837 131279",
                           **peer))
    write_mrt(tmp_path / "bview.20171001.0800.gz", rib)
    replace = Observation(time=t0 + 30, kind="announce", prefix="175.45.176.0/24", as_path="64600 174 9999",
                          **peer)
    write_mrt(tmp_path / "updates.20171001.0800.gz", [replace])
    paths = [str(tmp_path / "updates.20171001.0800.gz"), str(tmp_path / "bview.20171001.0800.gz")]
    target = Target.parse("AS131279")
    fast = target_view(target, read_files(paths, route_filter=target.route_filter()))
    full = target_view(target, read_files(paths))
    assert [(s.end, s.end_cause) for s in full.spans] == [(t0 + 30, "announce")]
    assert fast.spans == full.spans
