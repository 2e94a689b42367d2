"""Honest gaps in the store: the same coverage, the same answers and the same "not confirmed
across a gap" rule as the file mode, on written scenarios with missing files; every detector's
events stored; /api/coverage lists the gaps."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from transitwatch import Observation
from transitwatch.api.app import create_app
from transitwatch.detect.upstream_change import upstream_changes
from transitwatch.metrics.upstreams import upstream_report
from transitwatch.scenarios.scenario import load_scenario
from transitwatch.sources.files import read_files
from transitwatch.sources.mrt_writer import write_mrt
from transitwatch.state.target import Target
from transitwatch.state.view import TargetView, target_view
from transitwatch.store import Store, ingest, stored_events, watch
from transitwatch.store.coverage import stored_coverage
from transitwatch.store.query import target_view as stored_view
from transitwatch.store.query import upstreams_at
from transitwatch.times import parse_time

KP = "AS131279"
TIMES = ["2017-10-01T08:30Z", "2017-10-01T09:09Z", "2017-10-01T09:30Z", "2017-10-01T11:00:30Z",
         "2017-10-01T11:30Z", "2017-10-01T11:59Z", "2017-10-01T13:00Z"]


def without(paths: list[Path], start: str, end: str) -> list[str]:
    return [str(p) for p in paths
            if not (p.name.startswith("updates.") and start <= p.name.split(".")[2] <= end)]


@pytest.fixture(scope="module")
def gappy(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """The 2017 scenario without the update files from 09:10 to 10:55 (AS20485 appears at 09:08)
    and without 11:40, ingested into a store that watches AS131279 (min_peers 99: only the
    duration rule confirms)."""
    folder = tmp_path_factory.mktemp("gappy")
    series = load_scenario("kp-2017-transtelecom").write_mrt(folder / "mrt")
    paths = [p for p in without(series, "0910", "1055") if "updates.20171001.1140" not in p]
    db = folder / "kp.duckdb"
    with Store(db) as store:
        watch(store, [KP], min_peers=99)
        ingest(store, paths)
    return paths, db


@pytest.fixture(scope="module")
def file_view(gappy: tuple[list[str], Path]) -> TargetView:
    return target_view(KP, read_files(gappy[0]))


def test_store_and_files_have_the_same_coverage(gappy: tuple[list[str], Path], file_view: TargetView) -> None:
    with Store(gappy[1], read_only=True) as store:
        cov = stored_coverage(store)
    assert file_view.coverage is not None
    assert [g.to_dict() for g in cov.gaps()] == [g.to_dict() for g in file_view.coverage.gaps()] == [
        {"collector": "rrc00", "from": "2017-10-01T09:10:00Z", "to": "2017-10-01T11:00:00Z",
         "seconds": 6600.0},
        {"collector": "rrc00", "from": "2017-10-01T11:40:00Z", "to": "2017-10-01T11:45:00Z",
         "seconds": 300.0}]


@pytest.mark.parametrize("when", TIMES)
def test_upstreams_at_agree_and_say_the_coverage(
    gappy: tuple[list[str], Path], file_view: TargetView, when: str
) -> None:
    at = parse_time(when)
    from_files = upstream_report(target_view(KP, read_files(gappy[0]), until=at), at).to_dict()
    with Store(gappy[1], read_only=True) as store:
        from_store = upstreams_at(store, KP, at).to_dict()
    for key in ("upstreams", "peers", "prefixes", "coverage"):
        stored, read = from_store[key], from_files[key]
        if key == "upstreams":  # the store keeps the latest confirmation only
            stored = [{k: v for k, v in u.items() if k != "last_seen"} for u in stored]
            read = [{k: v for k, v in u.items() if k != "last_seen"} for u in read]
        assert stored == read, key
    covered = when not in ("2017-10-01T09:30Z", "2017-10-01T13:00Z")
    assert bool(from_store["coverage"]["collectors"]) == covered
    if not covered:
        assert from_store["upstreams"] == [] and from_store["coverage"]["peers"] == 0
        assert from_store["coverage"]["note"].startswith(f"no data covers {from_store['at'][:16]}")


def test_changes_are_not_confirmed_across_a_gap_in_either_mode(
    gappy: tuple[list[str], Path], file_view: TargetView
) -> None:
    from_files = upstream_changes(file_view, min_peers=99)
    with Store(gappy[1], read_only=True) as store:
        from_store = upstream_changes(stored_view(store, KP), min_peers=99)
        stored = stored_events(store, types=["new_upstream"]).events

    def summary(changes: object) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        return ([(e.type, e.upstream, e.onset, e.confirmed, e.confirmed_by) for e in changes.events],  # type: ignore[attr-defined]
                [(t.type, t.upstream, t.onset, t.reason) for t in changes.transients])  # type: ignore[attr-defined]

    assert summary(from_store) == summary(from_files)
    new = [e for e in from_files.events if e.upstream == 20485]
    # seen at 09:08, two minutes of data, then nothing until 11:00: 5 minutes of observed time
    # end at 11:03, not at 09:13 inside the gap
    assert [(e.onset, e.confirmed, e.confirmed_by) for e in new] == [
        (parse_time("2017-10-01T09:08:00Z"), parse_time("2017-10-01T11:03:00Z"), "duration")]
    assert [(e["upstream"], e["confirmed"]) for e in stored] == [(20485, "2017-10-01T11:03:00Z")]


def test_api_coverage_lists_each_missing_file(gappy: tuple[list[str], Path]) -> None:
    client = TestClient(create_app(gappy[1]), base_url="http://127.0.0.1")
    body = client.get("/api/coverage").json()
    assert [(g["start"], g["end"], g["status"]) for g in body["gaps"]] == [
        ("2017-10-01T09:10:00Z", "2017-10-01T11:00:00Z", "unfilled"),
        ("2017-10-01T11:40:00Z", "2017-10-01T11:45:00Z", "unfilled")]
    assert "22 update file(s)" in body["gaps"][0]["reason"]
    assert "1 update file(s)" in body["gaps"][1]["reason"]
    assert body["collectors"][0]["collector"] == "rrc00" and body["collectors"][0]["windows"] == 3
    window = client.get("/api/coverage",
                        params={"from": "2017-10-01T11:30Z", "to": "2017-10-01T12:00Z"}).json()
    assert [g["start"] for g in window["gaps"]] == ["2017-10-01T11:40:00Z"]
    up = client.get("/api/upstreams", params={"target": KP, "at": "2017-10-01T10:00Z"}).json()
    assert up["upstreams"] == [] and up["coverage"]["peers"] == 0


def ob(t: float, kind: str, prefix: str, path: str) -> Observation:
    return Observation(time=t, kind=kind, peer_ip="192.0.2.9", peer_asn=3856, prefix=prefix, as_path=path,
                       origin="IGP", next_hop="192.0.2.9")


def test_a_route_from_an_old_dump_is_not_present_years_later(tmp_path: Path) -> None:
    # The shape of `upstreams AS4837 --db --at 2015-10-23` listing AS4134 from a 2002 RIB dump:
    # one collector (files without a collector folder), a dump in 2002, updates in 2015.
    t2002, t2015 = parse_time("2002-07-22T23:37Z"), parse_time("2015-10-23T02:01Z")
    rib, upd = str(tmp_path / "bview.20020722.2337.gz"), str(tmp_path / "updates.2015.gz")
    write_mrt(rib, [ob(t2002, "rib", "218.0.0.0/11", "3856 4134 4837")])
    write_mrt(upd, [ob(t2015 + i, "announce", "1.0.0.0/24", "3856 13335") for i in range(30)]
              + [ob(t2015 + 31, "announce", "218.104.0.0/14", "3856 1239 4837")])
    db = tmp_path / "old.duckdb"
    with Store(db) as store:
        ingest(store, [rib, upd])
    with Store(db, read_only=True) as store:
        assert upstreams_at(store, "AS4837", t2002).asns == {4134}
        between = upstreams_at(store, "AS4837", parse_time("2015-10-23")).to_dict()
        assert between["upstreams"] == [] and between["coverage"]["peers"] == 0
        assert "note" in between["coverage"]
        # in 2015 the 2002 route is unknown (not seen again), the 2015 one is there
        assert upstreams_at(store, "AS4837", t2015 + 31).asns == {1239}
        # after the last record of a file without a time in its name: not covered
        assert upstreams_at(store, "AS4837", t2015 + 40).coverage["peers"] == 0
        assert upstreams_at(store, "AS4837").asns == {1239}
    view = target_view(Target.parse("AS4837"), read_files([rib, upd]))
    assert upstream_report(view).asns == {1239}


def test_real_files_2002_dump_and_2015_updates(shared_data: Path) -> None:
    corpus = shared_data / "mrt" / "bgpdump-corpus" / "input"
    target = Target.parse("AS4837")
    files = [corpus / "bview.20020722.2337.gz", corpus / "updates.et-header.2015.gz"]
    view = target_view(target, read_files(files, route_filter=target.route_filter()))
    assert upstream_report(view, parse_time("2002-07-22T23:37:37Z")).asns == {4134}
    between = upstream_report(view, parse_time("2015-10-23")).to_dict()
    assert between["upstreams"] == [] and between["coverage"]["peers"] == 0
    assert between["coverage"]["gaps"][0]["to"].startswith("2015-10-23T02:01")
    now = upstream_report(view)
    assert 4134 not in now.asns and now.asns and now.coverage["collectors"] == [""]


def test_python_api_coverage_and_upstreams_coverage(gappy: tuple[list[str], Path]) -> None:
    import transitwatch as tw

    paths, db = gappy
    from_files, from_store = tw.coverage(tw.files(paths)), tw.coverage(tw.store(db))
    assert [(r["collector"], r["start"].isoformat(), r["seconds"]) for r in from_files.records()] == [
        ("rrc00", "2017-10-01T09:10:00+00:00", 6600.0), ("rrc00", "2017-10-01T11:40:00+00:00", 300.0)]
    assert from_store.to_dict()["gaps"] == from_files.to_dict()["gaps"]
    assert list(from_store.to_pandas().columns) == ["collector", "start", "end", "seconds"]
    window = tw.coverage(tw.store(db), start="2017-10-01T11:30Z", end="2017-10-01T12:00Z")
    assert [g.start for g in window.gaps] == [parse_time("2017-10-01T11:40Z")]
    answer = tw.upstreams(KP, tw.store(db), at="2017-10-01T09:30Z")
    assert answer.coverage["peers"] == 0 and "note" in answer.coverage and not answer.records()
    assert tw.upstreams(KP, tw.files(paths), at="2017-10-01T09:00Z").coverage["collectors"] == ["rrc00"]
    with pytest.raises(tw.TransitwatchError):
        tw.coverage(tw.store(db), start="not a time")


def test_live_feed_coverage_is_its_time_minus_unfilled_gaps(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from transitwatch.live.service import LIVE_TABLES

    t0 = parse_time("2026-11-30T09:00Z")
    with Store(tmp_path / "live.duckdb") as store:
        for statement in LIVE_TABLES:
            store.con.execute(statement)

        def source(path: str, first: float, last: float) -> None:
            store.con.execute("INSERT INTO files VALUES (?, ?, ?, 'rrc00', 0, ?, ?, 1, 1, 0, 0, 0, '[]', ?)",
                              [abs(hash(path)) % 2**63, path, path, first, last, datetime.now(UTC)])

        source("ris-live:ws://x/ 2026-11-30T09:00:00Z rrc00", t0, t0 + 600)
        source("ris-live:ws://x/ 2026-11-30T09:20:00Z rrc00", t0 + 1200, t0 + 3600)
        source("backfill:rrc00 2026-11-30T09:10:00Z", t0 + 610, t0 + 1190)
        # a dropped connection 09:10-09:20 that the archive filled, and 09:40-09:45 it could not
        store.con.execute("INSERT INTO live_gaps VALUES ('rrc00', ?, ?, 'connection lost', 'backfilled', '')",
                          [t0 + 600, t0 + 1200])
        store.con.execute("INSERT INTO live_gaps VALUES ('rrc00', ?, ?, 'connection lost', 'unfilled', 'x')",
                          [t0 + 2400, t0 + 2700])
        cov = stored_coverage(store)
    assert cov.merged("rrc00") == [(t0, t0 + 2400), (t0 + 2700, t0 + 3600)]
    assert cov.covers("rrc00", t0 + 900) and not cov.covers("rrc00", t0 + 2500)


def test_events_from_the_store_match_the_stored_ones(gappy: tuple[list[str], Path]) -> None:
    import transitwatch as tw

    paths, db = gappy
    asked = tw.events(KP, tw.store(db), min_peers=99).to_dict()
    with Store(db, read_only=True) as store:
        stored = stored_events(store, limit=1000).events
    lost = [(e["type"], e["onset"], e["end"]) for e in asked["vantage_lost"]]
    # the 110 minutes without files are a silence of rrc00: its peers' view was lost, then back
    assert lost and all(t == "vantage_point_lost" for t, _, _ in lost)
    assert sorted(lost) == sorted((e["type"], e["onset"], e["end"]) for e in stored
                                  if e["type"] == "vantage_point_lost")
    assert {e["type"] for e in stored} >= {"new_upstream", "vantage_point_lost"}


def test_quiet_intervals_with_identical_bytes_each_cover_their_own_interval(tmp_path: Path) -> None:
    """Quiet 5-minute intervals are update files with no record, all the same bytes: each still
    covers its interval in the store, as in the file mode (they were 'read once' and the others
    became gaps)."""
    import gzip

    series = load_scenario("kp-2017-transtelecom").write_mrt(tmp_path / "mrt")
    paths = [str(p) for p in series]
    quiet = [p for p in paths if p.endswith(("0910.gz", "0915.gz", "0920.gz", "0925.gz"))]
    assert len(quiet) == 4
    for q in quiet:   # (the scenario's files there are replaced by quiet ones: no record at all)
        Path(q).write_bytes(gzip.compress(b"", mtime=0))
    assert len({Path(q).read_bytes() for q in quiet}) == 1
    file_cov = target_view(KP, read_files(paths)).coverage
    assert file_cov is not None and not file_cov.gaps()
    db = tmp_path / "kp.duckdb"
    with Store(db) as store:
        first = ingest(store, paths)
        again = ingest(store, paths)                # a rerun reads nothing again
        cov = stored_coverage(store)
        n_files = store.con.execute("SELECT count(*) FROM files").fetchone()[0]
    assert not cov.gaps(), [g.to_dict() for g in cov.gaps()]
    assert n_files == len(paths)
    assert not [n for n in first.notices if "read once" in n]
    assert {f.status for f in again.files} == {"skipped"}
    # The same file given twice is still read once.
    with Store(tmp_path / "twice.duckdb") as store:
        twice = ingest(store, [*paths, quiet[0]])
    once = [n for n in twice.notices if "read once" in n]
    assert once == [f"{quiet[0]}: same content as {quiet[0]}; read once"]
