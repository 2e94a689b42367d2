"""The outage and origin detectors over every real update file in ../shared/data.

Routine churn (ordinary withdrawals, a peer's session coming up with its full table in the 2015
file, sessions dropping in router captures) must raise no outage. What they report is recorded in
docs/data.md ("Detectors on the real files").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from transitwatch.detect.origin_change import origin_events, origin_of
from transitwatch.detect.outage import OUTAGE, PARTIAL_OUTAGE, SESSION_DOWN, outage_changes
from transitwatch.sources.files import read_files
from transitwatch.sources.mrt import read_mrt
from transitwatch.state.liveness import Liveness, LivenessTracker
from transitwatch.state.target import Target
from transitwatch.state.view import TargetView, target_view

EVERYTHING = Target.parse("0.0.0.0/0,::/0")
BIG = "updates.et-header.2015.gz"


def _update_files(data: Path) -> list[Path]:
    mrt = data / "mrt"
    files = sorted((mrt / "bgpdump-corpus" / "input").glob("updates.*"))
    files += sorted((mrt / "caida-2015").iterdir())
    files += sorted(p for p in (mrt / "routers").iterdir() if p.name.endswith("_bgp"))
    return files


def _views(path: Path) -> tuple[TargetView, list[TargetView], Liveness]:
    """The whole table as one target, and one view per origin AS whose routes changed."""
    tracker = LivenessTracker()
    view = target_view(EVERYTHING, tracker.watch(read_files([path])))
    by_origin: dict[int, list] = {}
    for span in view.spans:
        origin = origin_of(span.path)
        if origin is not None:
            by_origin.setdefault(origin, []).append(span)
    per_origin = [TargetView(Target(asns=frozenset({asn})), spans, view.sessions, view.start, view.end)
                  for asn, spans in by_origin.items() if any(s.end is not None for s in spans)]
    return view, per_origin, tracker.liveness()


def test_routine_churn_raises_no_outage(shared_data: Path) -> None:
    files = [p for p in _update_files(shared_data) if p.name != BIG]
    assert len(files) >= 10
    checked = 0
    for path in files:
        view, per_origin, liveness = _views(path)
        for v in [view, *per_origin]:
            report = outage_changes(v, liveness)
            assert not [e for e in report.events if e.type in (OUTAGE, PARTIAL_OUTAGE)], (path, v.target)
            checked += 1
            if not v.spans:
                continue
            dumps = any(s.start_cause == "rib" for s in v.spans)
            ups = any(e.up for e in v.sessions)
            if not dumps and not ups:
                # Update files alone do not say what the peers had: no baseline, no verdict.
                assert any("not assessed" in n for n in report.notices)
    assert checked > 500
    # Without that rule the churn of update files looks like outages: the baseline would be the
    # prefixes that happened to change, and those are the ones withdrawn.
    path = next(p for p in files if p.name == "updates.20020722.2238.gz")
    view, _, liveness = _views(path)
    assert [e.type for e in outage_changes(view, liveness, require_table=False).events] == [OUTAGE]


def test_session_drops_in_router_captures_are_lost_vantage_points(shared_data: Path) -> None:
    routers = shared_data / "mrt" / "routers"
    for name in ("bird", "bird6", "quagga"):
        files = [routers / f"{name}-mrtdump_bgp" if name != "quagga" else routers / "quagga_bgp"]
        drops = [o for o in read_mrt(files[0]) if o.kind == "state" and o.old_state == 6]
        tracker = LivenessTracker()
        view = target_view(EVERYTHING, tracker.watch(read_files(files)))
        report = outage_changes(view, tracker.liveness())
        assert not report.events
        held_when_dropped = {(o.peer_ip, o.time) for o in drops
                             if any(s.peer.ip == o.peer_ip and s.end == o.time for s in view.spans)}
        assert held_when_dropped, name
        assert {(v.peer_list[0].ip, v.onset) for v in report.vantage_lost
                if v.reason == SESSION_DOWN} == held_when_dropped


def test_full_table_2015_kp_quiet(shared_data: Path) -> None:
    path = shared_data / "mrt" / "bgpdump-corpus" / "input" / BIG
    tracker = LivenessTracker()
    view = target_view("AS131279,175.45.176.0/22", tracker.watch(read_files([path])))
    report = outage_changes(view, tracker.liveness())
    # The peer's session came up at the start and sent its table: no outage, no lost vantage
    # point (it is still settling when the 37-second file ends: nothing to judge yet).
    assert not report.events and not report.transients and not report.vantage_lost
    assert [e.up for e in view.sessions] == [True]
    assert origin_events(view) == []
    assert {s.prefix for s in view.spans} == {
        "175.45.176.0/24", "175.45.177.0/24", "175.45.178.0/24", "175.45.179.0/24"}
    # With a settle time shorter than the file, the peer counts and KP stays visible throughout.
    settled = outage_changes(view, tracker.liveness(), settle=5)
    assert not settled.events and not settled.transients


@pytest.mark.parametrize("name", ["updates.20160811.1600.gz",
                                  "routeviews.route-views.jinx.updates.1427846400.bz2"])
def test_origin_changes_are_reported_with_their_peers(shared_data: Path, name: str) -> None:
    path = next(p for p in _update_files(shared_data) if p.name == name)
    view, _, _ = _views(path)
    events = origin_events(view)
    for e in events:
        # Each is backed by routes in the view from the unusual origin, first seen at its onset.
        spans = [s for s in view.spans if s.prefix == e.prefix]
        assert e.peers >= 1 and e.evidence and e.origin not in e.usual
        assert e.onset >= min(s.start for s in spans)
        assert all(origin_of(ev.as_path) == e.origin for ev in e.evidence)
