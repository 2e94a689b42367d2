"""Archive layouts (RIS, RouteViews), window resolution, and fetching a real archive tree served
from 127.0.0.1: whole files, cut connections, missing files, an unreachable archive."""

from __future__ import annotations

import bz2
import gzip
import json
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local_http import LocalHTTPServer, ServedFile
from transitwatch.cli.main import main
from transitwatch.sources.archive import (
    COLLECTORS,
    ArchiveError,
    UnknownCollectorError,
    collector,
    default_cache_dir,
    fetch,
    fetch_window,
    files_for_window,
    parse_archive_urls,
    parse_time,
    resolve,
)

WINDOW = ("2017-10-01T09:00", "2017-10-01T09:30")


def at(hhmm: str) -> datetime:
    return datetime(2017, 10, 1, int(hhmm[:2]), int(hhmm[2:]), tzinfo=UTC)


# --- layouts and resolution (nothing contacted) --------------------------------------------------

def test_ris_layout_rib_before_window_and_bridging_updates(tmp_path: Path) -> None:
    files = resolve("rrc00", *WINDOW, cache_dir=tmp_path)
    rib, *updates = files
    assert rib.kind == "rib" and rib.time == at("0800")
    assert rib.url == "https://data.ris.ripe.net/rrc00/2017.10/bview.20171001.0800.gz"
    assert rib.cache_path == tmp_path / "rrc00" / "2017.10" / "bview.20171001.0800.gz"
    # updates every 5 minutes from the RIB (08:00) to the last file starting before 09:30
    assert [u.time for u in updates] == [at(f"{h:02d}{m:02d}") for h in (8, 9) for m in range(0, 60, 5)
                                        if at(f"{h:02d}{m:02d}") < at("0930")]
    assert updates[-1].url == "https://data.ris.ripe.net/rrc00/2017.10/updates.20171001.0925.gz"
    assert {u.kind for u in updates} == {"updates"}


def test_no_bridge_keeps_only_files_overlapping_the_window() -> None:
    files = resolve(["rrc00"], "2017-10-01T09:07", "2017-10-01T09:20", bridge=False)
    assert [f.name for f in files] == [
        "bview.20171001.0800.gz", "updates.20171001.0905.gz",  # 09:05 file holds 09:07
        "updates.20171001.0910.gz", "updates.20171001.0915.gz",
    ]


def test_ris_ribs_are_at_00_08_16() -> None:
    assert resolve("rrc21", "2017-10-01T07:59", "2017-10-01T08:00", bridge=False)[0].time == at("0000")
    assert resolve("rrc21", "2017-10-01T16:00", "2017-10-01T16:01")[0].time == at("1600")
    assert resolve("rrc21", "2017-10-01T23:59", "2017-10-02T00:01")[0].time == at("1600")


def test_routeviews_layouts() -> None:
    rv2 = resolve("route-views2", "2017-10-01T09:10", "2017-10-01T09:20", bridge=False)
    assert [f.url for f in rv2] == [
        "https://archive.routeviews.org/bgpdata/2017.10/RIBS/rib.20171001.0800.bz2",
        "https://archive.routeviews.org/bgpdata/2017.10/UPDATES/updates.20171001.0900.bz2",
        "https://archive.routeviews.org/bgpdata/2017.10/UPDATES/updates.20171001.0915.bz2",
    ]
    linx = resolve("route-views.linx", "2017-10-01T11:59", "2017-10-01T12:00")
    assert linx[0].url == ("https://archive.routeviews.org/route-views.linx/bgpdata/2017.10/RIBS/"
                           "rib.20171001.1000.bz2")
    # bridged: every 15 minutes from the 10:00 RIB up to the file holding 11:59
    assert [f.time.strftime("%H%M") for f in linx[1:]] == [
        "1000", "1015", "1030", "1045", "1100", "1115", "1130", "1145"]
    assert all("/UPDATES/updates.201710" in f.url for f in linx[1:])


def test_several_collectors_each_get_rib_then_updates() -> None:
    files = resolve("rrc00, route-views2,rrc00", *WINDOW)  # duplicates dropped, spaces ignored
    assert [f.collector for f in files if f.kind == "rib"] == ["rrc00", "route-views2"]
    assert len([f for f in files if f.collector == "rrc00"]) == 1 + 18
    assert len([f for f in files if f.collector == "route-views2"]) == 1 + 6


def test_month_folder_follows_the_file_time() -> None:
    files = resolve("rrc00", "2017-10-31T23:55", "2017-11-01T00:05", bridge=False)
    assert [f.url.split("/")[-2] for f in files] == ["2017.10", "2017.10", "2017.11"]


def test_archive_url_for_a_project_or_one_collector(tmp_path: Path) -> None:
    urls = parse_archive_urls(["ris=http://mirror.example/ris/", "route-views.linx=http://m2/linx"])
    ris = resolve("rrc00", *WINDOW, archive_urls=urls, bridge=False)
    assert ris[0].url == "http://mirror.example/ris/rrc00/2017.10/bview.20171001.0800.gz"
    linx = resolve("route-views.linx", *WINDOW, archive_urls=urls, bridge=False)
    assert linx[0].url == "http://m2/linx/bgpdata/2017.10/RIBS/rib.20171001.0800.bz2"
    rv2 = resolve("route-views2", *WINDOW, archive_urls=urls, bridge=False)
    assert rv2[0].url.startswith("https://archive.routeviews.org/bgpdata/")


def test_a_new_collector_is_accepted_when_its_url_is_given() -> None:
    with pytest.raises(UnknownCollectorError):
        resolve("route-views.newix", *WINDOW)
    urls = {"route-views.newix": "http://mirror/newix", "rrc27": "http://mirror/rrc27"}
    rv = resolve("route-views.newix", *WINDOW, archive_urls=urls, bridge=False)
    assert rv[0].url == "http://mirror/newix/bgpdata/2017.10/RIBS/rib.20171001.0800.bz2"
    assert len(rv) == 1 + 2  # RouteViews intervals: 09:00, 09:15
    ris = resolve("rrc27", *WINDOW, archive_urls=urls, bridge=False)
    assert ris[-1].url == "http://mirror/rrc27/2017.10/updates.20171001.0925.gz"
    with pytest.raises(UnknownCollectorError, match="did you mean route-views.linx"):
        resolve("rrc00", *WINDOW, archive_urls={"route-views.lnx": "http://x"})  # no typo slips in


@pytest.mark.parametrize(("name", "suggestion"), [
    ("rrc0", "rrc00"), ("route-views.lnx", "route-views.linx"), ("routeviews2", "route-views2"),
    ("route-views.sydny", "route-views.sydney"),
])
def test_unknown_collector_suggests_close_names(name: str, suggestion: str) -> None:
    with pytest.raises(UnknownCollectorError, match=f"unknown collector '{name}'.*{suggestion}"):
        resolve(f"rrc01,{name}", *WINDOW)


def test_collector_list_is_plausible() -> None:
    assert collector("RRC00").name == "rrc00"
    assert "rrc17" not in COLLECTORS  # never existed
    assert collector("rrc02").retired
    assert collector("route-views.amsix").updates_interval.total_seconds() == 900
    assert collector("rrc26").rib_interval.total_seconds() == 8 * 3600


@pytest.mark.parametrize(("start", "end", "message"), [
    ("2017-10-01T10:00", "2017-10-01T09:00", "empty time window"),
    ("2017-10-01T10:00", "2017-10-01T10:00", "empty time window"),
    ("yesterday", "2017-10-01T10:00", "cannot read time 'yesterday'"),
    ("2999-01-01T00:00", "2999-01-02T00:00", "starts in the future"),
])
def test_bad_windows(start: str, end: str, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        resolve("rrc00", start, end)


def test_bad_archive_urls() -> None:
    with pytest.raises(ArchiveError, match="NAME=URL"):
        parse_archive_urls(["http://mirror"])
    with pytest.raises(UnknownCollectorError, match="route-views.linx"):
        resolve("rrc00", *WINDOW, archive_urls={"route-views.lnx": "http://x"})
    with pytest.raises(ArchiveError, match="not an http"):
        resolve("rrc00", *WINDOW, archive_urls={"ris": "ftp://x"})


def test_time_zones_are_converted_to_utc() -> None:
    # 17:38 in Pyongyang (UTC+8:30 in 2017) is 09:08 UTC
    assert parse_time("2017-10-01T17:38+08:30") == at("0908")
    assert parse_time("2017-10-01T09:08Z") == at("0908")
    assert parse_time("2017-10-01 09:08") == at("0908")


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "transitwatch" / "archive"
    expected = tmp_path / "transitwatch/archive/rrc00/2017.10/bview.20171001.0800.gz"
    assert resolve("rrc00", *WINDOW)[0].cache_path == expected


# --- a real archive tree served from 127.0.0.1 --------------------------------------------------

def archive_tree(shared: Path) -> dict[str, bytes]:
    """Real MRT files from ../shared/data under archive names for rrc00 and route-views2,
    2017-10-01 09:00-09:30 (no bridging): {url path: bytes}."""
    corpus = shared / "mrt" / "bgpdump-corpus" / "input"
    rib = (corpus / "bview.ipv4_unicast_add_path.gz").read_bytes()
    ris_updates = ["updates.20020722.2238.gz", "updates.long_withdrawal.gz", "updates.20100722.2015.gz",
                   "updates.nlri_mask_trailing_bits.gz", "updates.20071015.1505.gz",
                   "updates.20020722.2238.gz"]
    tree = {"/ris/rrc00/2017.10/bview.20171001.0800.gz": rib}
    for i, name in enumerate(ris_updates):
        tree[f"/ris/rrc00/2017.10/updates.20171001.09{i * 5:02d}.gz"] = (corpus / name).read_bytes()
    # RouteViews ships bzip2: the real jinx update file as is, the real RIB re-compressed.
    jinx = (shared / "mrt" / "caida-2015" / "routeviews.route-views.jinx.updates.1427846400.bz2").read_bytes()
    tree["/rv/bgpdata/2017.10/RIBS/rib.20171001.0800.bz2"] = bz2.compress(gzip.decompress(rib))
    tree["/rv/bgpdata/2017.10/UPDATES/updates.20171001.0900.bz2"] = jinx
    tree["/rv/bgpdata/2017.10/UPDATES/updates.20171001.0915.bz2"] = bz2.compress(
        gzip.decompress((corpus / "updates.20100722.2015.gz").read_bytes()))
    return tree


def mirrors(server: LocalHTTPServer) -> dict[str, str]:
    return {"ris": server.url("/ris"), "routeviews": server.url("/rv")}


def test_fetch_whole_tree_then_skip_what_is_cached(shared_data: Path, tmp_path: Path) -> None:
    tree = archive_tree(shared_data)
    served = {path: ServedFile(body) for path, body in tree.items()}
    with LocalHTTPServer(served) as server:
        files = resolve("rrc00,route-views2", *WINDOW, archive_urls=mirrors(server), cache_dir=tmp_path,
                        bridge=False)
        assert len(files) == len(tree)
        report = fetch(files, workers=3)
        assert report.ok and len(report.fetched) == len(tree) and not report.skipped
        for f in files:
            path = f.url.split(str(server.url("")), 1)[1]
            assert f.cache_path.read_bytes() == tree[path]
        assert report.paths == [f.cache_path for f in files]
        assert not list(tmp_path.rglob("*.part"))
        again = fetch(files, workers=3)
    assert len(again.skipped) == len(tree) and not again.fetched
    assert all(len(s.requests) == 1 for s in served.values())  # second run asked for nothing


def test_cut_connections_resume(shared_data: Path, tmp_path: Path) -> None:
    tree = archive_tree(shared_data)
    served = {path: ServedFile(body, cut_after=len(body) // 3) for path, body in tree.items()}
    with LocalHTTPServer(served) as server:
        files = resolve("rrc00,route-views2", *WINDOW, archive_urls=mirrors(server), cache_dir=tmp_path,
                        bridge=False)
        report = fetch(files, workers=4)
    assert report.ok, report.gaps()
    for f in files:
        assert f.cache_path.read_bytes() == _served_body(served, f.url)
    for s in served.values():
        assert s.requests[0] is None and s.requests[1] == f"bytes={len(s.body) // 3}-"


def _served_body(served: dict[str, ServedFile], url: str) -> bytes:
    return next(s.body for path, s in served.items() if url.endswith(path))


def test_missing_files_are_reported_and_the_rest_is_used(shared_data: Path, tmp_path: Path) -> None:
    tree = archive_tree(shared_data)
    del tree["/ris/rrc00/2017.10/updates.20171001.0910.gz"]
    del tree["/rv/bgpdata/2017.10/RIBS/rib.20171001.0800.bz2"]
    with LocalHTTPServer({p: ServedFile(b) for p, b in tree.items()}) as server:
        gaps: list[str] = []
        paths = files_for_window("rrc00,route-views2", *WINDOW, archive_urls=mirrors(server),
                                 cache_dir=tmp_path, on_gap=gaps.append)
        report = fetch_window("rrc00,route-views2", *WINDOW, archive_urls=mirrors(server), cache_dir=tmp_path)
    names = [p.name for p in paths]
    assert "updates.20171001.0910.gz" not in names and "rib.20171001.0800.bz2" not in names
    assert "updates.20171001.0915.gz" in names and "bview.20171001.0800.gz" in names
    # files_for_window bridges from the RIB: 08:00-08:55 are missing from this small tree too
    assert any("rrc00: no updates for 2017-10-01 09:10 UTC (not in the archive (HTTP 404))" in g
               for g in gaps)
    assert any("route-views2: no RIB dump for 2017-10-01 08:00 UTC" in g for g in gaps)
    # runs of consecutive missing files are one line: rrc00 08:00-08:55 and 09:10, the RV RIB, RV 08:00-08:45
    assert len(gaps) == 4 and len(report.failed) == 12 + 1 + 1 + 4
    assert any(g.startswith("rrc00: no updates for 2017-10-01 08:00 .. 08:55 UTC (12 files, not in the")
               and g.endswith("/ris/rrc00/2017.10/updates.20171001.0800.gz .. updates.20171001.0855.gz")
               for g in gaps)
    assert {o.status for o in report.failed} == {"missing"}
    assert len(report.skipped) == len(tree)  # the second call found everything in the cache


def test_archive_answering_404_everywhere_is_a_clear_error(tmp_path: Path) -> None:
    with LocalHTTPServer({}) as server, \
            pytest.raises(ArchiveError, match=r"no data in the archive.*all 19 files"):
        fetch_window("rrc00", *WINDOW, archive_urls=mirrors(server), cache_dir=tmp_path)


def test_unreachable_archive_fails_fast_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    urls = {"ris": f"http://127.0.0.1:{port}/ris"}
    files = resolve("rrc00", *WINDOW, archive_urls=urls, cache_dir=tmp_path)
    report = fetch(files, workers=1, retries=0)
    assert len(report.failed) == len(files)
    reasons = [o.reason or "" for o in report.failed]
    assert "cannot connect" in reasons[0]
    assert all(r == f"not tried: 127.0.0.1:{port} unreachable" for r in reasons[1:])
    with pytest.raises(ArchiveError, match="could not fetch any of 19 archive files: .*cannot connect"):
        report.raise_if_empty()


# --- the command line ----------------------------------------------------------------------------

def test_cli_fetch_json_and_exit_codes(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = archive_tree(shared_data)
    del tree["/ris/rrc00/2017.10/updates.20171001.0920.gz"]
    with LocalHTTPServer({p: ServedFile(b) for p, b in tree.items()}) as server:
        argv = ["fetch", "--collector", "rrc00,route-views2", "--from", WINDOW[0], "--to", WINDOW[1],
                "--archive-url", f"ris={server.url('/ris')}",
                "--archive-url", f"routeviews={server.url('/rv')}",
                "--cache-dir", str(tmp_path), "--no-bridge", "--workers", "2"]
        assert main([*argv, "--dry-run", "--json"]) == 0
        planned = json.loads(capsys.readouterr().out)
        assert [f["status"] for f in planned["files"]] == ["planned"] * (len(tree) + 1)
        assert main([*argv, "--json"]) == 1  # one file missing: exit 1, the rest fetched
        report = json.loads(capsys.readouterr().out)
    assert report["fetched"] == len(tree) and report["failed"] == 1
    assert report["gaps"] == [
        f"rrc00: no updates for 2017-10-01 09:20 UTC (not in the archive (HTTP 404)): "
        f"{server.url('/ris')}/rrc00/2017.10/updates.20171001.0920.gz"]
    assert (tmp_path / "route-views2" / "2017.10" / "rib.20171001.0800.bz2").is_file()


def test_cli_fetch_unknown_collector_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch", "--collector", "rrc99", "--from", WINDOW[0], "--to", WINDOW[1], "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("transitwatch: error: unknown collector 'rrc99'") and err.count("\n") == 1


def test_cli_window_helper_for_other_commands(shared_data: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from transitwatch.cli.common import UserError, _add_archive_window_args, source_from_args

    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*")
    _add_archive_window_args(parser, required=False)
    with pytest.raises(UserError, match="give MRT files, or --collector, --from and --to"):
        source_from_args(parser.parse_args([]))
    tree = archive_tree(shared_data)
    with LocalHTTPServer({p: ServedFile(b) for p, b in tree.items()}) as server:
        args = parser.parse_args(["--collector", "rrc00", "--from", WINDOW[0], "--to", WINDOW[1],
                                  "--archive-url", f"ris={server.url('/ris')}", "--cache-dir", str(tmp_path)])
        paths = [Path(p) for p in source_from_args(args).paths()]
    assert [p.name for p in paths] == ["bview.20171001.0800.gz"] + [
        f"updates.20171001.09{m:02d}.gz" for m in range(0, 30, 5)]
    # the bridging files 08:00-08:55 are not in the small tree: one warning line for the run
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning.startswith("transitwatch: warning: rrc00: no updates for 2017-10-01 08:00 .. 08:55 UTC "
                              "(12 files, not in the archive (HTTP 404)): http://")


def test_fetched_files_read_back_with_collector_from_the_cache_layout(
    shared_data: Path, tmp_path: Path
) -> None:
    from transitwatch.sources.files import read_files
    from transitwatch.sources.mrt import read_mrt

    tree = archive_tree(shared_data)
    with LocalHTTPServer({p: ServedFile(b) for p, b in tree.items()}) as server:
        files = resolve("rrc00,route-views2", *WINDOW, archive_urls=mirrors(server), cache_dir=tmp_path,
                        bridge=False)
        report = fetch(files)
    assert report.ok
    observations = list(read_files(report.paths))
    per_collector: dict[str, int] = {}
    for o in observations:
        per_collector[o.collector] = per_collector.get(o.collector, 0) + 1
    expected = {c: sum(1 for f in files if f.collector == c for _ in read_mrt(f.cache_path))
                for c in ("rrc00", "route-views2")}
    assert per_collector == expected and min(expected.values()) > 0


def test_python_api_fetch_then_read_the_window(shared_data: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import transitwatch as tw

    tree = archive_tree(shared_data)
    with LocalHTTPServer({p: ServedFile(b) for p, b in tree.items()}) as server:
        planned = tw.fetch("rrc00", *WINDOW, archive_url=mirrors(server), cache_dir=tmp_path, bridge=False,
                           dry_run=True)
        assert {r["status"] for r in planned.records()} == {"planned"} and not list(tmp_path.rglob("*.gz"))
        got = tw.fetch(["rrc00"], *WINDOW, archive_url=mirrors(server), cache_dir=tmp_path, bridge=False)
        assert got.ok and got.to_dict()["files"] and len(got.paths) == 7
        assert main(["fetch", "--collector", "rrc00", "--from", WINDOW[0], "--to", WINDOW[1],
                     "--no-bridge", "--archive-url", f"ris={server.url('/ris')}",
                     "--cache-dir", str(tmp_path), "--json"]) == 0
        assert {f["status"] for f in json.loads(capsys.readouterr().out)["files"]} == {"cached"}
        window = tw.archive("rrc00", *WINDOW, archive_url=mirrors(server), cache_dir=tmp_path)
        assert [Path(p).name for p in window.paths()][0] == "bview.20171001.0800.gz"
        assert sum(1 for _ in tw.routes(window, type="W")) > 4000  # long_withdrawal's 4,096 and more
    with pytest.raises(tw.TransitwatchError, match="before start"):
        tw.fetch("rrc00", WINDOW[1], WINDOW[0], cache_dir=tmp_path)
