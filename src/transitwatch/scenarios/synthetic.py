"""Synthetic routing tables and update streams, shaped like real ones, for benchmarks and scale tests.

>>> net = SyntheticInternet(prefixes=2_000, peers=4, seed=1)
>>> len(net.prefixes), len(net.peers)
(2000, 4)
>>> paths = write_workload("work", net, collectors=["rrc00"], update_files=3)   # doctest: +SKIP

Not recorded data. The shapes come from a real RIB (RIPE RIS ``bview.20020722.2337``, in the
bgpdump corpus under ``../shared/data``): its IPv4 prefix-length mix (/24 about half, then /19,
/22, /23, /16...) and AS-path-length mix (4 hops most common, 3 to 6 for 85 %); IPv6 prefixes
follow today's mix (/48 most common, then /32, /44, /40...). Each peer reaches each origin AS
through a fixed chain of transit ASes (two alternatives per origin), so a table holds about as
many distinct paths per peer as there are origins, as in real tables.

A watched network is planted for detector tests: ``TARGET_ASN`` (AS131279) with four /24s behind
``TARGET_UPSTREAM`` (AS4837); :func:`synthetic_updates` can make some peers move it behind
``NEW_UPSTREAM`` (AS20485) at a given time, the shape of the 2017 North Korea event.

Everything is deterministic for a given seed.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from transitwatch.observation import ANNOUNCE, ESTABLISHED, RIB, STATE, WITHDRAW, Observation
from transitwatch.sources.mrt_writer import write_mrt

__all__ = [
    "NEW_UPSTREAM",
    "SyntheticInternet",
    "TARGET_ASN",
    "TARGET_PREFIXES",
    "TARGET_UPSTREAM",
    "synthetic_rib",
    "synthetic_updates",
    "write_workload",
]

TARGET_ASN = 131279
TARGET_UPSTREAM = 4837
NEW_UPSTREAM = 20485
TARGET_PREFIXES = ("175.45.176.0/24", "175.45.177.0/24", "175.45.178.0/24", "175.45.179.0/24")

# IPv4 prefix lengths of bview.20020722.2337 (route counts per length).
IPV4_LENGTHS = {8: 18, 9: 6, 10: 7, 11: 12, 12: 35, 13: 88, 14: 239, 15: 431, 16: 7459, 17: 1492,
                18: 2722, 19: 8127, 20: 7652, 21: 5323, 22: 8102, 23: 9850, 24: 63378, 25: 212,
                26: 183, 27: 34, 28: 32, 29: 21, 30: 79, 32: 19}
# AS path lengths (hops, prepending included) of the same dump.
PATH_LENGTHS = {1: 370, 2: 2506, 3: 25363, 4: 48755, 5: 22922, 6: 8218, 7: 3161, 8: 1824, 9: 910,
                10: 380, 11: 303, 12: 186, 13: 140, 14: 244, 15: 109, 16: 115}
# IPv6 prefix lengths, roughly today's global table (share in %).
IPV6_LENGTHS = {29: 5, 32: 12, 36: 3, 40: 6, 44: 8, 46: 3, 47: 3, 48: 60}


def _weighted(rng: random.Random, table: dict[int, int], n: int) -> list[int]:
    return rng.choices(list(table), weights=list(table.values()), k=n)


@dataclass
class SyntheticInternet:
    """Prefixes, their origin ASes, peers, and the transit chains between them.

    ``prefixes`` routes in the table (``ipv6_share`` of them IPv6) · ``peers`` vantage points
    (all full-table) · ``origins`` origin ASes (default: one per 12 prefixes, heavy-tailed).
    """

    prefixes: int | list[str] = 10_000
    peers: int | list[tuple[str, int]] = 10
    seed: int = 0
    ipv6_share: float = 0.17
    origins: int = 0
    origin_of: dict[str, int] = field(default_factory=dict, repr=False)
    _chains: dict[int, tuple[str, str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        count = self.prefixes if isinstance(self.prefixes, int) else len(self.prefixes)
        if isinstance(self.peers, int):
            self.peers = [(f"192.0.2.{i + 1}" if i < 200 else f"2001:db8::{i + 1:x}", 64600 + i)
                          for i in range(self.peers)]
        plain = count - len(TARGET_PREFIXES)
        v6 = int(plain * self.ipv6_share)
        prefixes = list(TARGET_PREFIXES) + self._v4(rng, plain - v6) + self._v6(rng, v6)
        self.prefixes = prefixes
        self.origins = self.origins or max(10, count // 12)
        transit = [rng.randrange(1000, 60000) for _ in range(max(50, self.origins // 20))]
        tier1 = transit[:12]
        for prefix in prefixes[len(TARGET_PREFIXES):]:
            # Heavy tail: a few origins announce many prefixes.
            self.origin_of[prefix] = 200000 + int(self.origins * rng.random() ** 2.5)
        for prefix in TARGET_PREFIXES:
            self.origin_of[prefix] = TARGET_ASN
        lengths = _weighted(rng, PATH_LENGTHS, len(set(self.origin_of.values())))
        for origin, length in zip(sorted(set(self.origin_of.values())), lengths, strict=True):
            middle = max(0, length - 2)
            chains = []
            for _ in range(2):
                hops = [rng.choice(tier1)] + [rng.choice(transit) for _ in range(middle - 1)]
                hops = hops if middle else []
                if origin == TARGET_ASN:
                    hops = [rng.choice(tier1), TARGET_UPSTREAM]
                chains.append(" ".join(map(str, hops)))
            self._chains[origin] = (chains[0], chains[1])

    @staticmethod
    def _v4(rng: random.Random, n: int) -> list[str]:
        seen: set[tuple[int, int]] = set()
        out: list[str] = []
        for length in _weighted(rng, IPV4_LENGTHS, n * 2):
            if len(out) == n:
                break
            net = (rng.randrange(1 << 24, 224 << 24) >> (32 - length)) << (32 - length)
            if (net, length) in seen or (net >> 24) in (10, 127, 175):
                continue
            seen.add((net, length))
            out.append(f"{net >> 24}.{(net >> 16) & 255}.{(net >> 8) & 255}.{net & 255}/{length}")
        while len(out) < n:  # pragma: no cover - only for absurd sizes
            out.append(f"{len(out) >> 16 & 255}.{len(out) >> 8 & 255}.{len(out) & 255}.0/24")
        return out

    @staticmethod
    def _v6(rng: random.Random, n: int) -> list[str]:
        seen: set[tuple[int, int]] = set()
        out: list[str] = []
        while len(out) < n:
            length = _weighted(rng, IPV6_LENGTHS, 1)[0]
            net = (rng.randrange(0x2001 << 112, 0x2c00 << 112) >> (128 - length)) << (128 - length)
            if (net, length) in seen:
                continue
            seen.add((net, length))
            groups = [(net >> (112 - 16 * i)) & 0xFFFF for i in range((length + 15) // 16)]
            while groups and groups[-1] == 0:
                groups.pop()
            text = ":".join(f"{g:x}" for g in groups)
            out.append(f"{text}::/{length}" if len(groups) < 8 else f"{text}/{length}")
        return out

    def path(self, peer: int, prefix: str, variant: int = 0) -> str:
        """The AS path ``peer`` (an index) has for ``prefix``; ``variant`` 0 or 1 picks the chain."""
        peers = self.peer_list
        origin = self.origin_of[prefix]
        chain = self._chains[origin][(peer + variant + origin) % 2]
        asn = peers[peer][1]
        head = f"{asn} {chain}" if chain else str(asn)
        return f"{head} {origin}"

    @property
    def peer_list(self) -> list[tuple[str, int]]:
        assert isinstance(self.peers, list)
        return self.peers

    @property
    def prefix_list(self) -> list[str]:
        assert isinstance(self.prefixes, list)
        return self.prefixes


def _next_hop(peer_ip: str, prefix: str) -> str:
    if ":" in prefix:
        return peer_ip if ":" in peer_ip else "2001:db8::fe"
    return peer_ip if ":" not in peer_ip else "192.0.2.254"


def synthetic_rib(net: SyntheticInternet, time: float, *, collector: str = "") -> Iterator[Observation]:
    """The RIB dump at ``time``: every peer's route to every prefix, grouped by prefix."""
    peers = net.peer_list
    for prefix in net.prefix_list:
        for i, (ip, asn) in enumerate(peers):
            yield Observation(time=float(int(time)), kind=RIB, peer_ip=ip, peer_asn=asn, prefix=prefix,
                              as_path=net.path(i, prefix), origin="IGP", next_hop=_next_hop(ip, prefix),
                              collector=collector, originated=int(time) - 3600)


def synthetic_updates(
    net: SyntheticInternet,
    start: float,
    seconds: float,
    count: int,
    *,
    seed: int = 0,
    move_target_at: float | None = None,
    moving_peers: Sequence[int] = (0, 1, 2),
    session_reset: bool = True,
) -> Iterator[Observation]:
    """``count`` updates over [start, start + seconds), in time order (whole seconds).

    Mostly path changes between a prefix's two chains and withdrawals followed by re-announcements;
    with ``session_reset`` one peer's session goes down and comes back in the middle. With
    ``move_target_at``, the ``moving_peers`` reach the target through ``NEW_UPSTREAM`` from then on.
    """
    rng = random.Random(seed)
    peers = net.peer_list
    prefixes = net.prefix_list
    times = sorted(int(start) + int(rng.random() * seconds) for _ in range(count))
    withdrawn: list[tuple[int, str]] = []
    reset_at = times[len(times) // 2] if session_reset and times and len(peers) > 3 else None
    reset_peer = len(peers) - 1
    moved = False
    out: list[Observation] = []
    for t in times:
        if move_target_at is not None and not moved and t >= move_target_at:
            moved = True
            for i in moving_peers:
                if i >= len(peers):
                    continue
                ip, asn = peers[i]
                for prefix in TARGET_PREFIXES:
                    path = f"{asn} 3216 {NEW_UPSTREAM} {TARGET_ASN}"
                    out.append(Observation(time=float(t), kind=ANNOUNCE, peer_ip=ip, peer_asn=asn,
                                           prefix=prefix, as_path=path, origin="IGP",
                                           next_hop=_next_hop(ip, prefix)))
        if reset_at is not None and t == reset_at:
            ip, asn = peers[reset_peer]
            out.append(Observation(time=float(t), kind=STATE, peer_ip=ip, peer_asn=asn, old_state=ESTABLISHED,
                                   new_state=1))
            out.append(Observation(time=float(t), kind=STATE, peer_ip=ip, peer_asn=asn, old_state=5,
                                   new_state=ESTABLISHED))
            reset_at = None
        roll = rng.random()
        if withdrawn and roll < 0.2:
            i, prefix = withdrawn.pop(rng.randrange(len(withdrawn)))
            ip, asn = peers[i]
            out.append(Observation(time=float(t), kind=ANNOUNCE, peer_ip=ip, peer_asn=asn, prefix=prefix,
                                   as_path=net.path(i, prefix), origin="IGP", next_hop=_next_hop(ip, prefix)))
            continue
        i = rng.randrange(len(peers))
        prefix = prefixes[rng.randrange(len(TARGET_PREFIXES), len(prefixes))]
        ip, asn = peers[i]
        if roll < 0.2:
            withdrawn.append((i, prefix))
            out.append(Observation(time=float(t), kind=WITHDRAW, peer_ip=ip, peer_asn=asn, prefix=prefix))
        else:
            out.append(Observation(time=float(t), kind=ANNOUNCE, peer_ip=ip, peer_asn=asn, prefix=prefix,
                                   as_path=net.path(i, prefix, variant=int(roll * 10) % 2), origin="IGP",
                                   next_hop=_next_hop(ip, prefix)))
    yield from out


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y%m%d.%H%M")


def write_workload(
    directory: str | os.PathLike[str],
    net: SyntheticInternet,
    *,
    collectors: Sequence[str] = ("rrc00",),
    start: float = 1506844800.0,  # 2017-10-01T08:00Z
    update_files: int = 12,
    updates_per_file: int = 5_000,
    file_seconds: int = 300,
    move_target_after: int | None = None,
    compression: str = "gz",
) -> list[Path]:
    """Write, per collector, a RIB dump at ``start`` and ``update_files`` update files after it, in
    the RIS layout (``<collector>/bview.YYYYMMDD.HHMM.gz``, ``updates....gz``). With
    ``move_target_after`` (a file number), the target moves to ``NEW_UPSTREAM`` in that file.
    Returns the paths in time order."""
    root = Path(directory)
    paths: list[Path] = []
    for c, collector in enumerate(collectors):
        folder = root / collector
        folder.mkdir(parents=True, exist_ok=True)
        rib = folder / f"bview.{_stamp(start)}.{compression}"
        write_mrt(rib, synthetic_rib(net, start))
        paths.append(rib)
        for k in range(update_files):
            t0 = start + k * file_seconds
            move = t0 + file_seconds / 3 if move_target_after == k else None
            upd = folder / f"updates.{_stamp(t0)}.{compression}"
            write_mrt(upd, synthetic_updates(net, t0, file_seconds, updates_per_file, seed=net.seed * 7919
                                             + c * 1009 + k, move_target_at=move,
                                             session_reset=k % 4 == 1))
            paths.append(upd)
    return paths
