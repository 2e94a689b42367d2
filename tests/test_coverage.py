"""Coverage and honest gaps: the windows a set of files covers, answers only from vantage points
that cover the moment asked about, and no confirmation "by duration" across time with no data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transitwatch.cli.main import main
from transitwatch.detect.upstream_change import upstream_changes
from transitwatch.metrics.upstreams import upstream_report
from transitwatch.scenarios.scenario import load_scenario
from transitwatch.sources.files import read_files
from transitwatch.state.coverage import Coverage, FileSpan, Window
from transitwatch.state.view import TargetView, target_view
from transitwatch.times import parse_time

T8 = parse_time("2017-10-01T08:00Z")


def test_windows_gaps_and_observed_time() -> None:
    cov = Coverage.of_files([
        FileSpan("rrc00/bview.20171001.0800.gz", "rrc00", T8, T8, T8),
        FileSpan("rrc00/updates.20171001.0800.gz", "rrc00", T8, T8 + 3, T8 + 290),
        FileSpan("rrc00/updates.20171001.0805.gz", "rrc00", T8 + 300, None, None),  # quiet: still data
        FileSpan("rrc00/updates.20171001.0815.gz", "rrc00", T8 + 900, T8 + 901, T8 + 1190),
        # RouteViews: 15-minute files
        FileSpan("route-views2/updates.20171001.0800.bz2", "route-views2", T8, T8 + 1, T8 + 899),
        FileSpan("route-views2/updates.20171001.0815.bz2", "route-views2", T8 + 900, T8 + 901, T8 + 1799),
    ])
    assert cov.merged("rrc00") == [(T8, T8 + 600), (T8 + 900, T8 + 1200)]
    assert cov.merged("route-views2") == [(T8, T8 + 1800)]
    assert [(g.collector, g.start, g.end) for g in cov.gaps()] == [("rrc00", T8 + 600, T8 + 900)]
    assert cov.covering(T8 + 700) == ["route-views2"] and cov.uncovered() == []
    assert cov.covering(T8 + 100) == ["route-views2", "rrc00"]
    # 300 s of observed time from 08:08 on rrc00: 2 min before the gap, 3 after it
    assert cov.reach(["rrc00"], T8 + 480, 300) == T8 + 900 + 180
    assert cov.reach(["rrc00", "route-views2"], T8 + 480, 300) == T8 + 780
    assert cov.reach(["rrc00"], T8 + 1100, 300) is None  # the data ends first
    assert cov.covered_seconds(["rrc00"], T8, T8 + 1200) == 900
    whole = cov.uncovered(T8 - 100, T8 + 2000)
    assert [(g.start, g.end) for g in whole] == [(T8 - 100, T8), (T8 + 1800, T8 + 2000)]
    # a route seen at 08:05 is still known at 08:16 (a 5-minute hole), not after a long gap
    assert cov.carried("rrc00", T8 + 300, T8 + 960) and not cov.carried("rrc00", T8 + 300, T8 + 700)
    assert not cov.carried("rrc00", T8 + 300, T8 + 960, max_carry=60)
    cov.add(Window("rrc00", T8 + 9000, T8 + 9300, "live"))  # 2 h after the last file
    assert not cov.carried("rrc00", T8 + 300, T8 + 9100) and cov.carried("rrc00", T8 + 9050, T8 + 9100)
    with pytest.raises(ValueError):
        cov.add(Window("rrc00", 10.0, 5.0))


def test_damaged_file_covers_only_what_was_read_and_unnamed_files_their_records() -> None:
    cov = Coverage.of_files([
        FileSpan("rrc00/updates.20171001.0800.gz", "rrc00", T8, T8 + 1, T8 + 100, complete=False),
        FileSpan("x/updates.et-header.2015.gz", "", None, 1000.0, 2000.0),
    ])
    assert cov.merged("rrc00") == [(T8, T8 + 100)]
    assert cov.merged("") == [(1000.0, 2000.0)]


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The 2017 North Korea scenario as RIS files: a RIB dump at 08:00, 5-minute updates to 12:00;
    AS20485 appears at 09:08."""
    return load_scenario("kp-2017-transtelecom").write_mrt(tmp_path_factory.mktemp("kp"))


def without(paths: list[Path], start: str, end: str) -> list[str]:
    """The series without the update files named from ``start`` to ``end`` (HHMM, inclusive)."""
    def hhmm(p: Path) -> str:
        return p.name.split(".")[2]
    return [str(p) for p in paths if not (p.name.startswith("updates.") and start <= hhmm(p) <= end)]


def view_of(paths: list[str]) -> TargetView:
    return target_view("AS131279", read_files(paths))


def test_files_with_a_gap_answer_only_where_data_covers(series: list[Path]) -> None:
    view = view_of(without(series, "0905", "0955"))
    assert view.coverage is not None
    assert [(g.to_dict()["from"], g.to_dict()["to"]) for g in view.coverage.gaps()] == [
        ("2017-10-01T09:05:00Z", "2017-10-01T10:00:00Z")]
    before = upstream_report(view, parse_time("2017-10-01T09:00Z")).to_dict()
    assert [u["asn"] for u in before["upstreams"]] == [4837]
    assert before["coverage"]["peers"] == before["peers"] > 0
    assert before["coverage"]["collectors"] == ["rrc00"]
    inside = upstream_report(view, parse_time("2017-10-01T09:30Z")).to_dict()
    assert inside["upstreams"] == [] and inside["coverage"]["peers"] == 0
    assert inside["coverage"]["collectors"] == [] and "no data covers" in inside["coverage"]["note"]
    assert inside["coverage"]["gaps"][0]["from"] == "2017-10-01T09:05:00Z"
    # the full series at the same moment: both upstreams
    full = upstream_report(view_of([str(p) for p in series]), parse_time("2017-10-01T09:30Z"))
    assert full.asns == {4837, 20485} and full.coverage["gaps"] == []


def test_a_route_seen_before_a_gap_is_unknown_after_it_until_seen_again(series: list[Path]) -> None:
    # Only the dump at 08:00 and the last hour: routes of the dump not announced again in the
    # last hour are not known there (any update of the missing three hours may have changed them).
    paths = without(series, "0800", "1055")
    view = view_of(paths)
    at = parse_time("2017-10-01T11:59Z")
    report = upstream_report(view, at)
    known = {(s.peer, s.prefix) for s in view.spans if s.active_at(at) and view.known_at(s, at)}
    resumed = parse_time("2017-10-01T11:00Z")
    stale = {(s.peer, s.prefix) for s in view.spans if s.active_at(at) and s.last_seen < resumed}
    assert stale and not known & stale
    assert sum(len(u.prefixes) for u in report.upstreams) <= len(known)


def test_no_confirmation_by_duration_across_a_gap(series: list[Path]) -> None:
    # min_peers high: only the duration rule can confirm AS20485 (first seen 09:08)
    full = upstream_changes(view_of([str(p) for p in series]), min_peers=99)
    new = [e for e in full.events if e.upstream == 20485]
    assert [(e.confirmed_by, e.confirmed - e.onset) for e in new] == [("duration", 300.0)]
    onset = new[0].onset
    # the files from 09:10 to 10:55 are missing: 09:08-09:10 is observed, then 3 more minutes
    # from 11:00, so it is confirmed at 11:03 at the earliest, never inside the gap
    gap = upstream_changes(view_of(without(series, "0910", "1055")), min_peers=99)
    got = [e for e in gap.events if e.upstream == 20485]
    assert [e.onset for e in got] == [onset]
    assert got[0].confirmed >= parse_time("2017-10-01T11:00Z") + 180
    # the data ends at 09:10: not confirmed at all, as when the input ends
    cut = upstream_changes(view_of(without(series, "0910", "1155")), min_peers=99)
    assert not [e for e in cut.events if e.upstream == 20485]
    assert [(t.upstream, t.reason) for t in cut.transients if t.upstream == 20485] == [
        (20485, "input ended before it was confirmed")]


def test_cli_upstreams_json_has_coverage(series: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    paths = without(series, "0905", "0955")
    assert main(["upstreams", "AS131279", *paths, "--at", "2017-10-01T09:30:00Z", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["upstreams"] == [] and out["coverage"]["peers"] == 0 and out["coverage"]["gaps"]
    assert main(["upstreams", "AS131279", *paths, "--at", "2017-10-01T10:30:00Z", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["coverage"]["peers"] > 0 and out["coverage"]["collectors"] == ["rrc00"]
    assert main(["upstreams", "AS131279", *paths, "--at", "2017-10-01T09:30:00Z"]) == 0
    captured = capsys.readouterr()
    assert "no data covers 2017-10-01T09:30:00Z" in captured.out + captured.err
