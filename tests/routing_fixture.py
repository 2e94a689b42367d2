"""Small routing histories written as real MRT files (the project's writer), for detector tests.

A :class:`History` collects RIB entries, announcements, withdrawals and session changes of peers on
one or more collectors; :meth:`History.write` lays them out as RIS does (``<collector>/bview...gz``
and ``<collector>/updates...gz``), so tests read them back through ``read_files`` like real data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from transitwatch.observation import ANNOUNCE, ESTABLISHED, RIB, STATE, WITHDRAW, Observation
from transitwatch.sources.mrt_writer import write_mrt

#: 2014-12-22T00:00:00Z
T0 = 1419206400
KP = ("175.45.176.0/24", "175.45.177.0/24", "175.45.178.0/24", "175.45.179.0/24")
BACKGROUND = "8.8.8.0/24"


@dataclass(frozen=True)
class FixturePeer:
    collector: str
    ip: str
    asn: int


class History:
    """Observations of a few peers, written per collector as a RIB dump and one update file."""

    def __init__(self, start: int = T0) -> None:
        self.start = start
        self.peers: dict[str, FixturePeer] = {}
        self.observations: list[Observation] = []

    def peer(self, name: str, collector: str, ip: str, asn: int) -> FixturePeer:
        p = self.peers[name] = FixturePeer(collector, ip, asn)
        return p

    def _route(self, kind: str, time: float, name: str, prefix: str, path: str | None) -> None:
        p = self.peers[name]
        if kind == WITHDRAW:
            obs = Observation(time=float(time), kind=kind, peer_ip=p.ip, peer_asn=p.asn, prefix=prefix,
                              collector=p.collector)
        else:
            obs = Observation(time=float(time), kind=kind, peer_ip=p.ip, peer_asn=p.asn, prefix=prefix,
                              as_path=path, origin="IGP", next_hop=p.ip, collector=p.collector,
                              originated=self.start - 86400 if kind == RIB else None)
        self.observations.append(obs)

    def rib(self, name: str, prefix: str, path: str) -> None:
        self._route(RIB, self.start, name, prefix, path)

    def announce(self, time: float, name: str, prefix: str, path: str) -> None:
        self._route(ANNOUNCE, time, name, prefix, path)

    def withdraw(self, time: float, name: str, prefix: str) -> None:
        self._route(WITHDRAW, time, name, prefix, None)

    def session(self, time: float, name: str, old: int, new: int) -> None:
        p = self.peers[name]
        self.observations.append(Observation(time=float(time), kind=STATE, peer_ip=p.ip, peer_asn=p.asn,
                                             old_state=old, new_state=new, collector=p.collector))

    def reset(self, down: float, up: float, name: str) -> None:
        """The peer's session leaves Established at ``down`` and is back at ``up``."""
        self.session(down, name, ESTABLISHED, 1)
        for old, new, dt in ((1, 2, 3), (2, 4, 2), (4, 5, 1), (5, ESTABLISHED, 0)):
            self.session(up - dt, name, old, new)

    def kp_everywhere(self, upstream: int = 4837) -> None:
        """Every peer has the four KP /24s (via ``upstream``) and 8.8.8.0/24 in the RIB dump."""
        for name, p in self.peers.items():
            for prefix in KP:
                self.rib(name, prefix, f"{p.asn} {upstream} 131279")
            self.rib(name, BACKGROUND, f"{p.asn} 15169")

    def background(self, until: float, every: float = 240.0, *, collector: str | None = None,
                   quiet: tuple[float, float] | None = None) -> None:
        """Re-announce 8.8.8.0/24 from each collector's first peer every ``every`` seconds (a
        collector with traffic), except inside ``quiet`` for ``collector``."""
        firsts: dict[str, str] = {}
        for name, p in self.peers.items():
            firsts.setdefault(p.collector, name)
        for coll, name in firsts.items():
            if collector is not None and coll != collector:
                continue
            t = self.start + every
            while t < until:
                if not (quiet is not None and quiet[0] < t < quiet[1]):
                    self.announce(t, name, BACKGROUND, f"{self.peers[name].asn} 15169")
                t += every

    def write(self, outdir: Path) -> list[Path]:
        """``<outdir>/<collector>/bview.<start>.gz`` and ``updates.<start>.gz`` per collector."""
        stamp = datetime.fromtimestamp(self.start, tz=UTC).strftime("%Y%m%d.%H%M")
        paths: list[Path] = []
        for collector in sorted({p.collector for p in self.peers.values()}):
            folder = outdir / collector
            folder.mkdir(parents=True, exist_ok=True)
            mine = [o for o in self.observations if o.collector == collector]
            ribs = [o for o in mine if o.kind == RIB]
            updates = sorted((o for o in mine if o.kind != RIB), key=lambda o: o.time)
            if ribs:
                paths.append(folder / f"bview.{stamp}.gz")
                write_mrt(paths[-1], ribs)
            if updates:
                paths.append(folder / f"updates.{stamp}.gz")
                write_mrt(paths[-1], updates)
        return paths


def four_peers(collectors: tuple[str, ...] = ("rrc00",)) -> History:
    """A history with four peers (NTT, Level 3, Cogent, Telia) spread over ``collectors``."""
    h = History()
    specs = [("ntt", "129.250.0.11", 2914), ("level3", "4.69.184.193", 3356),
             ("cogent", "154.54.0.17", 174), ("telia", "62.115.0.14", 1299)]
    for i, (name, ip, asn) in enumerate(specs):
        h.peer(name, collectors[i * len(collectors) // len(specs)], ip, asn)
    h.kp_everywhere()
    return h
