"""CompactRoutingState holds what RoutingState holds, and reports the same changes."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transitwatch.observation import Observation
from transitwatch.scenarios.synthetic import SyntheticInternet, write_workload
from transitwatch.sources.files import read_files
from transitwatch.state.compact import CompactRoutingState
from transitwatch.state.table import RouteChange, RoutingState, SessionChange

T0 = 1_506_848_000.0
PREFIXES = ["175.45.176.0/24", "175.45.177.0/24", "10.0.0.0/8", "2001:db8::/32"]
PATHS = ["3356 4837 131279", "3216 20485 131279", "174 3356", "2914 1299 {64512,64513}", ""]


@st.composite
def streams(draw: st.DrawFn) -> list[Observation]:
    out = []
    t = T0
    for _ in range(draw(st.integers(1, 50))):
        t += draw(st.integers(0, 3))
        peer = draw(st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1"]))
        collector = draw(st.sampled_from(["rrc00", "rrc01"]))
        kind = draw(st.sampled_from(["announce", "announce", "withdraw", "rib", "rib", "state"]))
        prefix = draw(st.sampled_from(PREFIXES))
        path_id = draw(st.sampled_from([None, None, None, 1, 2]))
        base: dict[str, Any] = {
            "time": t,
            "kind": kind,
            "peer_ip": peer,
            "peer_asn": 65000,
            "collector": collector,
        }
        if kind == "state":
            out.append(Observation(**base, old_state=6, new_state=draw(st.sampled_from([1, 6]))))
        elif kind == "withdraw":
            out.append(Observation(**base, prefix=prefix, path_id=path_id))
        else:
            out.append(
                Observation(
                    **base,
                    prefix=prefix,
                    path_id=path_id,
                    as_path=draw(st.sampled_from(PATHS)),
                    source=draw(st.sampled_from(["bview.1", "bview.2"])),
                )
            )
    return out


def replay(
    cls: Any, stream: list[Observation], until: float | None = None
) -> tuple[Any, list[Any], list[Any]]:
    changes: list[RouteChange] = []
    sessions: list[SessionChange] = []
    state = cls(on_change=changes.append, on_session=sessions.append)
    half = len(stream) // 2
    # in two calls, as a caller reading in chunks does
    state.replay(stream[:half], until=until, finish=False)
    state.replay(stream[half:], until=until)
    return state, changes, sessions


def per_route(changes: list[RouteChange]) -> dict[Any, list[tuple[Any, ...]]]:
    # Changes of one route keep their order; changes closed together may interleave differently.
    out: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
    for c in changes:
        out[(c.peer, c.key)].append((c.prefix, c.old_path, c.new_path, c.selected, c.time, c.cause, c.obs))
    return dict(out)


def assert_same(compact: CompactRoutingState, full: RoutingState) -> None:
    def records(state: Any) -> list[tuple[Any, ...]]:
        return sorted(tuple(map(str, r.values())) for r in state.to_records())

    assert records(compact) == records(full)
    assert compact.peers() == full.peers()
    assert (compact.start, compact.time, compact.observations) == (full.start, full.time, full.observations)
    for mine, theirs in zip(compact.tables(), full.tables(), strict=True):
        assert (mine.peer, len(mine), mine.established, mine.updated) == (
            theirs.peer,
            len(theirs),
            theirs.established,
            theirs.updated,
        )
        assert dict(mine.items()) == dict(theirs.items())
        for key, path in theirs.items():
            prefix, path_id = (key, None) if isinstance(key, str) else key
            assert mine.get(prefix, path_id) == path and key in mine and mine.routes[key] == path
    for prefix in PREFIXES:
        assert compact.routes(prefix) == full.routes(prefix)


@settings(max_examples=300, deadline=None)
@given(streams(), st.one_of(st.none(), st.integers(0, 60)))
def test_random_streams_same_tables_and_changes(stream: list[Observation], cut: int | None) -> None:
    until = None if cut is None else T0 + cut
    compact, compact_changes, compact_sessions = replay(CompactRoutingState, stream, until)
    full, full_changes, full_sessions = replay(RoutingState, stream, until)
    assert_same(compact, full)
    assert per_route(compact_changes) == per_route(full_changes)
    assert sorted(map(repr, compact_changes)) == sorted(map(repr, full_changes))
    assert compact_sessions == full_sessions


def test_synthetic_workload_from_files(tmp_path: Path) -> None:
    net = SyntheticInternet(prefixes=3000, peers=6, seed=2)
    paths = write_workload(
        tmp_path,
        net,
        collectors=["rrc00", "rrc01"],
        update_files=4,
        updates_per_file=2000,
        move_target_after=1,
    )
    compact = CompactRoutingState().replay(read_files(paths))
    full = RoutingState().replay(read_files(paths))
    assert len(compact.to_records()) > 30_000  # 2 collectors x 6 peers x ~3000 prefixes, minus withdrawals
    assert_same(compact, full)
    assert compact.interned["prefixes"] == 3000


def test_countries_ranking_reads_a_compact_state(tmp_path: Path) -> None:
    pytest.importorskip("geoip2fast")
    from transitwatch.metrics.country import countries_ranking
    from transitwatch.registry import Registry

    net = SyntheticInternet(prefixes=800, peers=3, seed=4)
    paths = write_workload(tmp_path, net, update_files=1, updates_per_file=200)
    compact = CompactRoutingState().replay(read_files(paths))
    full = RoutingState().replay(read_files(paths))
    mine = [r.to_dict() for r in countries_ranking(compact, Registry())]  # type: ignore[arg-type]
    theirs = [r.to_dict() for r in countries_ranking(full, Registry())]
    assert mine == theirs and len(mine) > 5
