"""AS paths, targets, per-peer routing tables (transitwatch.state) and file merging (sources.files)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import transitwatch as tw
from transitwatch import Observation
from transitwatch.sources.files import collector_and_time_from_name, read_files
from transitwatch.sources.mrt_writer import write_mrt
from transitwatch.state import (
    ASPathError,
    RoutingState,
    Target,
    TargetError,
    parse_as_path,
    reserved_asn_reason,
)
from transitwatch.times import iso_local, iso_utc, parse_duration, parse_time

T0 = 1506844800.0  # 2017-10-01T08:00:00Z


def obs(t: float, kind: str, peer: str = "192.0.2.1", asn: int = 3356, prefix: str | None = None,
        path: str | None = None, **kw: object) -> Observation:
    return Observation(time=t, kind=kind, peer_ip=peer, peer_asn=asn, prefix=prefix, as_path=path,
                       origin="IGP" if path else None, next_hop=peer if path else None, **kw)


# -- AS paths ------------------------------------------------------------------------------------

def test_as_path_cleaning() -> None:
    p = parse_as_path("2914 1239 1239 1239 4837 {4134,4809} 131279 131279")
    assert p.hops == (2914, 1239, 4837, frozenset({4134, 4809}), 131279)
    assert p.prepended and not p.loop and not p.confed
    assert p.origin == 131279
    assert p.asns == frozenset({2914, 1239, 4837, 131279})
    assert str(p) == "2914 1239 4837 {4134,4809} 131279"


def test_as_path_flags() -> None:
    p = parse_as_path("(65001 65002) 3356 64512 23456 4200000001 3356 1")
    assert p.confed and p.hops == (3356, 64512, 23456, 4200000001, 3356, 1)
    assert p.loop
    assert p.reserved == (23456, 64512, 4200000001)
    assert reserved_asn_reason(64500) == "documentation (RFC 5398)"
    assert reserved_asn_reason(65535) and reserved_asn_reason(0) and reserved_asn_reason(100000)
    assert reserved_asn_reason(4837) is None
    assert parse_as_path("1.10 5").hops == (65546, 5)  # asdot
    assert parse_as_path("").hops == ()


@pytest.mark.parametrize("bad", ["1 x 2", "1 {} 2", "1 -5", "99999999999"])
def test_as_path_errors(bad: str) -> None:
    with pytest.raises(ASPathError):
        parse_as_path(bad)


def test_origin_of_path_text() -> None:
    from transitwatch.detect import origin_change
    from transitwatch.state.aspath import origin_of

    assert origin_of("2914 4837 131279") == 131279
    assert origin_of("2914 4837 131279 ") == 131279
    assert origin_of("(65001 65002) 3356") == 3356
    assert origin_of("3356 1.10") == 65546               # asdot: the full parse
    assert origin_of("3356 {4134,4809}") is None          # an AS_SET origin
    assert origin_of("3356 {}") is None                   # unparsable
    assert origin_of("") is None and origin_of(None) is None
    assert origin_change.origin_of is origin_of           # one definition for detectors and metrics


def test_upstream_of_runs() -> None:
    p = parse_as_path("2914 4837 131279 64000")
    assert p.upstream_of({131279}) == 4837
    assert p.upstream_of({131279, 64000}) == 4837
    assert p.upstream_of({2914}) is None  # the peer itself is the target
    assert p.upstream_of({131279, 64000}, origin_run=True) == 4837
    assert p.upstream_of(set(), origin_run=True) == 131279
    assert parse_as_path("3356 {1,2} 131279").upstream_of({131279}) == frozenset({1, 2})


# -- targets -------------------------------------------------------------------------------------

def test_target_parse() -> None:
    assert Target.parse("AS131279").asns == {131279}
    assert Target.parse("131279") == Target.parse("as131279")
    t = Target.parse("175.45.176.0/22")
    assert str(t) == "175.45.176.0/22" and not t.asns
    assert t.selects_prefix("175.45.176.0/24") and t.selects_prefix("175.45.176.0/22")
    assert not t.selects_prefix("175.45.180.0/24") and not t.selects_prefix("175.45.0.0/16")
    assert not t.selects_prefix("175.45.17.0/24")  # same text start, other network
    both = Target.parse("AS131279,2001:db8::/32")
    assert both.selects_path("1 131279") and both.selects_prefix("2001:db8:1::/48")
    assert not both.selects_prefix("2001:db9::/48")
    assert Target.parse("2001:0:0:5::/64").selects_prefix("2001::5:0:0:0:0/80")


@pytest.mark.parametrize("bad", ["foo", "AS", "1.2.3", "", "AS1,", "300.1.1.0/24", "AS4294967296"])
def test_target_errors(bad: str) -> None:
    with pytest.raises(TargetError) as info:
        Target.parse(bad)
    assert "\n" not in str(info.value)


def test_target_upstream_prefix_vs_path() -> None:
    t = Target.parse("175.45.176.0/22")
    assert t.upstream("3356 4837 131279", "175.45.178.0/24") == 4837
    t2 = Target.parse("AS4837")
    assert t2.upstream("3356 4837 131279", "175.45.178.0/24") == 3356


# -- times ---------------------------------------------------------------------------------------

def test_times() -> None:
    assert iso_utc(1506848880.0) == "2017-10-01T09:08:00Z"
    assert iso_local(1506848880.0, "Asia/Pyongyang") == "2017-10-01T17:38:00+08:30"
    assert iso_local(1546300800.0, "Asia/Pyongyang") == "2019-01-01T09:00:00+09:00"  # offset changed in 2018
    assert parse_time("2017-10-01T17:38:00+08:30") == 1506848880.0
    assert parse_time("2017-10-01 09:08") == 1506848880.0
    assert parse_time("1506848880") == 1506848880.0
    assert parse_duration("5m") == 300 and parse_duration("90s") == 90 and parse_duration("2h") == 7200
    for bad in ("5 parsecs", "-1"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    with pytest.raises(ValueError):
        parse_time("yesterday")
    with pytest.raises(ValueError, match="unknown time zone"):
        iso_local(0, "Mars/Olympus")


# -- routing tables ------------------------------------------------------------------------------

def test_announce_withdraw_and_add_path() -> None:
    s = RoutingState().replay([
        obs(T0, "announce", prefix="10.0.0.0/8", path="3356 1"),
        obs(T0 + 1, "announce", prefix="10.0.0.0/8", path="3356 2"),
        obs(T0 + 2, "announce", prefix="11.0.0.0/8", path="3356 3", path_id=1),
        obs(T0 + 2, "announce", prefix="11.0.0.0/8", path="3356 4", path_id=2),
        obs(T0 + 3, "withdraw", prefix="11.0.0.0/8", path_id=1),
        obs(T0 + 4, "announce", peer="192.0.2.2", asn=174, prefix="10.0.0.0/8", path="174 1"),
    ])
    t = s.table("192.0.2.1")
    assert t is not None
    assert t.get("10.0.0.0/8") == "3356 2"
    assert t.get("11.0.0.0/8", 1) is None and t.get("11.0.0.0/8", 2) == "3356 4"
    assert s.routes("10.0.0.0/8") == {s.peers()[0]: "3356 2", s.peers()[1]: "174 1"}
    assert (s.start, s.time) == (T0, T0 + 4)


def test_rib_dump_replaces_and_session_down_drops() -> None:
    changes: list = []
    sessions: list = []
    s = RoutingState(on_change=changes.append, on_session=sessions.append)
    s.replay([
        obs(T0, "rib", prefix="10.0.0.0/8", path="3356 1", source="a"),
        obs(T0, "rib", prefix="11.0.0.0/8", path="3356 1", source="a"),
        obs(T0 + 10, "announce", prefix="12.0.0.0/8", path="3356 1"),
        # second dump: 11/8 is gone; 12/8 was announced before it and is not in it either
        obs(T0 + 100, "rib", prefix="10.0.0.0/8", path="3356 1", source="b"),
        obs(T0 + 200, "announce", prefix="13.0.0.0/8", path="3356 1"),
    ])
    t = s.table("192.0.2.1")
    assert t is not None and sorted(t.routes) == ["10.0.0.0/8", "13.0.0.0/8"]
    removed = [(c.prefix, c.cause, c.time) for c in changes if c.new_path is None]
    assert sorted(removed) == [
        ("11.0.0.0/8", "rib_replace", T0 + 100), ("12.0.0.0/8", "rib_replace", T0 + 100)]
    s.replay([obs(T0 + 300, "state", old_state=6, new_state=1)])
    assert len(t) == 0 and t.established is False
    assert [x.up for x in sessions] == [False]
    s.replay([obs(T0 + 310, "state", old_state=5, new_state=6),
              obs(T0 + 320, "announce", prefix="10.0.0.0/8", path="3356 1")])
    assert t.get("10.0.0.0/8") == "3356 1" and [x.up for x in sessions] == [False, True]


def test_dump_in_progress_keeps_updates_made_during_it() -> None:
    s = RoutingState().replay([
        obs(T0, "announce", prefix="9.0.0.0/8", path="3356 1"),
        obs(T0 + 5, "rib", prefix="10.0.0.0/8", path="3356 1", source="d"),
        obs(T0 + 5, "announce", prefix="14.0.0.0/8", path="3356 1"),  # same second as the dump
        obs(T0 + 6, "rib", prefix="11.0.0.0/8", path="3356 1", source="d"),
    ])
    t = s.table("192.0.2.1")
    assert t is not None and sorted(t.routes) == ["10.0.0.0/8", "11.0.0.0/8", "14.0.0.0/8"]


_PATHS = ["3356 4837 131279", "174 4837 131279", "3356 1299 20485 131279", "3356 15169", "174 2914 7"]
_PREFIXES = ["175.45.176.0/24", "175.45.177.0/24", "8.8.8.0/24", "1.1.1.0/24"]


@st.composite
def _streams(draw: st.DrawFn) -> list[Observation]:
    out = []
    t = T0
    for _ in range(draw(st.integers(1, 40))):
        t += draw(st.integers(0, 3))
        peer = draw(st.sampled_from(["192.0.2.1", "192.0.2.2"]))
        kind = draw(st.sampled_from(["announce", "announce", "withdraw", "rib", "state"]))
        prefix = draw(st.sampled_from(_PREFIXES))
        if kind == "state":
            out.append(obs(t, kind, peer=peer, old_state=6, new_state=draw(st.sampled_from([1, 6]))))
        elif kind == "withdraw":
            out.append(obs(t, kind, peer=peer, prefix=prefix))
        else:
            out.append(obs(t, kind, peer=peer, prefix=prefix, path=draw(st.sampled_from(_PATHS)),
                           source=draw(st.sampled_from(["r1", "r2"]))))
    return out


@settings(max_examples=200, deadline=None)
@given(_streams(), st.sampled_from(["AS131279", "AS20485", "175.45.176.0/23", "AS4837"]))
def test_selected_replay_equals_full_replay_filtered(stream: list[Observation], text: str) -> None:
    # The fast path (only the target's routes) must agree with the full tables, filtered.
    target = Target.parse(text)
    full = RoutingState().replay(stream)
    fast = RoutingState(target).replay(stream)
    want = {(r["peer_ip"], r["prefix"], r["as_path"]) for r in full.to_records()
            if target.selects(r["prefix"], r["as_path"])}
    got = {(r["peer_ip"], r["prefix"], r["as_path"]) for r in fast.to_records()}
    assert got == want


# -- files ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "collector", "iso"), [
    ("rrc00/2017.10/updates.20171001.0905.gz", "rrc00", "2017-10-01T09:05:00Z"),
    ("/cache/rrc06/2017.10/bview.20171001.0800.gz", "rrc06", "2017-10-01T08:00:00Z"),
    ("ris.rrc06.updates.1427846400.gz", "rrc06", "2015-04-01T00:00:00Z"),
    ("route-views2/bgpdata/2017.10/UPDATES/updates.20171001.0900.bz2", "route-views2",
     "2017-10-01T09:00:00Z"),
    ("route-views.linx/bgpdata/2017.10/RIBS/rib.20171001.0800.bz2", "route-views.linx",
     "2017-10-01T08:00:00Z"),
    ("routeviews.route-views.jinx.updates.1427846400.bz2", "route-views.jinx", "2015-04-01T00:00:00Z"),
    ("updates.20171001.0905.gz", None, "2017-10-01T09:05:00Z"),
    ("updates.et-header.2015.gz", None, None),
])
def test_collector_and_time_from_name(path: str, collector: str | None, iso: str | None) -> None:
    got_collector, when = collector_and_time_from_name(path)
    assert got_collector == collector
    assert (iso_utc(when) if when is not None else None) == iso


def test_read_files_merges_by_time_and_reports_overlap(tmp_path: os.PathLike[str]) -> None:
    base = os.path.join(tmp_path, "rrc00")
    os.makedirs(base)
    a = [obs(T0 + i * 10, "announce", prefix=f"10.{i}.0.0/16", path="3356 1") for i in range(10)]
    b = [obs(T0 + 35 + i * 10, "announce", peer="192.0.2.2", asn=174, prefix=f"11.{i}.0.0/16", path="174 1")
         for i in range(3)]
    c = [obs(T0 + 1000, "announce", prefix="12.0.0.0/8", path="3356 1")]
    paths = [os.path.join(base, n) for n in
             ("updates.20171001.0800.gz", "updates.20171001.0801.gz", "updates.20171001.0815.gz")]
    for p, items in zip(paths, (a, b, c), strict=True):
        write_mrt(p, items)
    notices: list[str] = []
    merged = list(read_files([paths[2], paths[1], paths[0]], notices=notices))
    times = [o.time for o in merged]
    assert times == sorted(times) and len(merged) == 14
    assert {o.collector for o in merged} == {"rrc00"}
    assert any("out of time order" in n for n in notices)
    assert sum("overlaps" in n for n in notices) == 1
    assert any(paths[0] in n and paths[1] in n for n in notices if "overlaps" in n)
    # in order and not overlapping: nothing to say
    quiet: list[str] = []
    assert len(list(read_files([paths[0], paths[2]], notices=quiet, collector="rrc99"))) == 11
    assert quiet == []


def test_read_files_missing_file() -> None:
    with pytest.raises(FileNotFoundError, match="nope.gz: no such file"):
        read_files(["nope.gz"])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(0, 500), min_size=1, max_size=30), min_size=1, max_size=4))
def test_read_files_merge_is_a_stable_time_sort(tmp_path_factory: pytest.TempPathFactory,
                                                 files: list[list[int]]) -> None:
    base = tmp_path_factory.mktemp("merge")
    paths, expected = [], []
    for i, offsets in enumerate(files):
        items = [obs(T0 + t, "announce", prefix=f"10.{i}.{n}.0/24", path="3356 1")
                 for n, t in enumerate(sorted(offsets))]
        path = str(base / f"updates.{i}.gz")
        write_mrt(path, items)
        paths.append(path)
        expected += [(o.time, o.prefix) for o in items]
    notices: list[str] = []
    merged = [(o.time, o.prefix) for o in read_files(paths, notices=notices)]
    assert sorted(merged) == sorted(expected)
    assert [t for t, _ in merged] == sorted(t for t, _ in expected)
    # within one file, the file's order is kept
    for i in range(len(files)):
        mine = [p for _, p in merged if p.startswith(f"10.{i}.")]
        assert mine == sorted(mine, key=lambda p: int(p.split(".")[2]))


def test_rib_dump_not_closed_by_another_collectors_records() -> None:
    """A dump's records may span several seconds; another collector's updates merged in between
    must not close it (that used to drop the routes read before the interruption)."""
    from transitwatch.state.compact import CompactRoutingState

    def o(t: float, kind: str, collector: str, prefix: str, source: str) -> Observation:
        return Observation(time=t, kind=kind, collector=collector, peer_ip="192.0.2.1", peer_asn=64500,
                           prefix=prefix, as_path="64500 3", source=source, record_type="TABLE_DUMP2")

    stream = [
        o(100.0, "rib", "rrc00", "10.0.0.0/8", "rrc00/bview.gz"),
        o(100.5, "announce", "rrc01", "11.0.0.0/8", "rrc01/updates.gz"),
        o(101.0, "rib", "rrc00", "12.0.0.0/8", "rrc00/bview.gz"),
        o(102.0, "announce", "rrc00", "13.0.0.0/8", "rrc00/updates.gz"),
    ]
    for state in (RoutingState(), CompactRoutingState()):
        state.replay(stream)
        table = state.table(("rrc00", "192.0.2.1"))
        assert table is not None
        assert sorted(p for p, _ in table.items()) == ["10.0.0.0/8", "12.0.0.0/8", "13.0.0.0/8"]


@pytest.mark.parametrize("text", [
    "1", "0", "23456", "1 1 1", "1 2 1", "3 2 3 3 2", " 1 2 ", "1  2", "01 1", "4294967295",
    "4294967296", "64512 1", "65535 4200000000", "1 65552 2 2", "\uff11\uff12", "\u00b2", "",
    "1 {2,3}", "(65001 65002) 3", "AS1 2", "1.2 3"])
def test_plain_path_fast_path_equals_the_general_parse(text: str) -> None:
    from transitwatch.state.aspath import _parse_general

    def outcome(parse: Any) -> Any:
        try:
            return parse(text)
        except ASPathError as exc:
            return str(exc)

    assert outcome(parse_as_path.__wrapped__) == outcome(_parse_general)


def test_plain_path_fast_path_on_real_tables(shared_data: Path) -> None:
    from transitwatch.state.aspath import _parse_general

    folder = shared_data / "mrt" / "bgpdump-corpus" / "input"
    texts = {o.as_path for name in ("updates.20071015.1505.gz", "bview.20020722.2337.gz")
             for o in tw.files(str(folder / name)).observations() if o.as_path}
    assert len(texts) > 10000
    assert all(parse_as_path.__wrapped__(t) == _parse_general(t) for t in texts)


@pytest.mark.parametrize("name", ["updates.20071015.1505.gz", "bview.ipv4_unicast_add_path.gz",
                                  "updates.20100722.2015.gz"])
def test_plain_replay_equals_the_replay_with_callbacks(shared_data: Path, name: str) -> None:
    """A full state without callbacks inlines announcements: the same tables, in the same order,
    as the general path (forced here by an on_change callback)."""
    path = str(shared_data / "mrt" / "bgpdump-corpus" / "input" / name)
    plain = RoutingState().replay(tw.files(path).observations())
    general = RoutingState()
    changes: list[object] = []
    general.on_change = changes.append
    general.replay(tw.files(path).observations())

    def tables(state: RoutingState) -> list[tuple[object, ...]]:
        return [(t.peer, list(t.routes.items()), t.updated, t.established) for t in state.tables()]

    assert changes and tables(plain) == tables(general)
    assert (plain.start, plain.time, plain.observations) == (
        general.start, general.time, general.observations)
