"""The routing tables known at a moment: only peers whose collector's data covers it.

The country commands (``upstreams --country``, ``countries``) count whole tables at ``T``; as for
an AS target (:meth:`~transitwatch.state.view.TargetView.known_at`), a table answers only when its
collector's data covers ``T`` and carries its routes there (:meth:`Coverage.table_known
<transitwatch.state.coverage.Coverage.table_known>`: gaps of at most
:data:`~transitwatch.state.coverage.MAX_CARRY` since the data began or since the collector's last
RIB dump). The other peers' routes are unknown then, not absent: they are left out, and the
``coverage`` block (the keys of ``upstreams``' own) says which collectors had no data.

>>> state, block = known_tables(state, stream.coverage.settle(T), T)   # doctest: +SKIP
>>> block["collectors"], [g["collector"] for g in block["gaps"]]       # doctest: +SKIP
(['rrc00'], ['route-views2'])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from transitwatch.state.coverage import Coverage
from transitwatch.state.snapshot import RouteSnapshot
from transitwatch.times import iso_utc

__all__ = ["KnownTables", "known_tables", "uncovered_block"]


class KnownTables:
    """A state's tables of the peers ``keep`` says are known (what the full-table metrics read:
    ``tables()``, ``peers()``, ``table()``, ``routes()``, ``to_records()``, ``start``, ``time``)."""

    def __init__(self, state: Any, keep: set[tuple[str, str]]) -> None:
        self.state, self.keep = state, keep
        self.start = state.start
        self.time = state.time
        self.observations = getattr(state, "observations", 0)

    def _known(self) -> Iterator[Any]:
        return (t for t in self.state.tables() if (t.peer.collector, t.peer.ip) in self.keep)

    def tables(self) -> list[Any]:
        return list(self._known())

    def peers(self) -> list[Any]:
        return [t.peer for t in self._known()]

    def table(self, peer: Any) -> Any:
        found = self.state.table(peer)
        return found if found is not None and (found.peer.collector, found.peer.ip) in self.keep else None

    def routes(self, prefix: str) -> dict[Any, str]:
        return {p: a for p, a in self.state.routes(prefix).items() if (p.collector, p.ip) in self.keep}

    def to_records(self) -> list[dict[str, Any]]:
        return [r for r in self.state.to_records() if (r["collector"], r["peer_ip"]) in self.keep]


def uncovered_block(cov: Coverage, when: float) -> dict[str, Any]:
    """The coverage block when no collector's data covers ``when`` (nothing is known then)."""
    out: dict[str, Any] = {"peers": 0, **cov.at(when)}
    span = cov.span()
    if span is not None:
        out["note"] = (f"no data covers {iso_utc(when)}: the routes are unknown then, not absent "
                       f"(data from {iso_utc(span[0])} to {iso_utc(span[1])}, with gaps; see coverage.gaps)")
    return out


def known_tables(state: Any, cov: Coverage | None, when: float | None) -> tuple[Any, dict[str, Any]]:
    """``state`` (a :class:`~transitwatch.state.snapshot.RouteSnapshot` or any state with
    ``tables()``) without the peers whose tables are not known at ``when`` (see the module doc),
    and the ``coverage`` block: ``peers`` (known), ``collectors`` (whose data covers ``when``),
    ``gaps`` (of the others), and ``unknown_peers`` / ``note`` when some or all are left out.
    Without coverage (or a moment) the state is returned as it is: nothing to check."""
    peers = list(state.peers) if isinstance(state, RouteSnapshot) else list(state.peers())
    if cov is None or not cov.windows or when is None:
        return state, {"peers": len(peers), "collectors": sorted({p.collector for p in peers}), "gaps": []}
    block: dict[str, Any] = cov.at(when)
    known = {c: cov.table_known(c, when) for c in {p.collector for p in peers}}
    if all(known.values()):
        # the common case (no gap at `when`): no pass over the routes
        block = {"peers": len(peers), **block}
        return state, _noted(block, cov, when)
    keep = [known[p.collector] for p in peers]
    kept = sum(keep)
    block = {"peers": kept, **block, "unknown_peers": len(peers) - kept}
    if isinstance(state, RouteSnapshot):
        out: Any = state.only_peers(np.array(keep, dtype=bool))
    else:
        out = KnownTables(state, {(p.collector, p.ip) for p, k in zip(peers, keep, strict=True) if k})
    return out, _noted(block, cov, when)


def _noted(block: dict[str, Any], cov: Coverage, when: float) -> dict[str, Any]:
    if not block["collectors"]:
        return {**uncovered_block(cov, when), **{k: v for k, v in block.items() if k == "unknown_peers"},
                "peers": block["peers"]}
    if block.get("unknown_peers"):
        covering = set(block["collectors"])
        absent = [f"{g['collector'] or '(unnamed)'} (no data from {g['from']} to {g['to'] or 'the end'})"
                  for g in block["gaps"] if g["collector"] not in covering]
        stale = [c or "(unnamed)" for c in block["collectors"] if not cov.table_known(c, when)]
        why = []
        if absent:
            why.append("no data covers it from " + ", ".join(absent))
        if stale:
            why.append("its routes resumed after a gap longer than they are carried, with no RIB "
                       "dump since, on " + ", ".join(stale))
        block["note"] = (f"{block['unknown_peers']} peer(s) left out at {iso_utc(when)}: "
                         + "; ".join(why) + " (their routes are unknown then, not absent)")
    return block
