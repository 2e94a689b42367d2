"""The Python API (`import transitwatch as tw`): sources, questions, results, and the one error type.

Every answer's ``to_dict()`` is compared with what the CLI prints with ``--json`` for the same
input, so the API and the command line cannot drift apart.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import transitwatch as tw
from transitwatch.cli.main import main
from transitwatch.errors import TransitwatchError
from transitwatch.scenarios.scenario import load_scenario

TABLE_2015 = "mrt/bgpdump-corpus/input/updates.et-header.2015.gz"


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The 2017-10-01 reconstruction written as RIS-style MRT files (rrc00 RIB + updates)."""
    out = tmp_path_factory.mktemp("kp2017")
    return [str(p) for p in load_scenario("kp-2017-transtelecom").write_mrt(out)]


def cli_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_import_is_lazy_and_fast() -> None:
    code = (
        "import sys, transitwatch as tw; heavy = [m for m in ('pandas', 'duckdb', 'pyarrow', 'dask', "
        "'transitwatch.engine.queries') if m in sys.modules]; print(heavy, tw.__version__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("]")[0] == "["
    assert out.strip().endswith(tw.__version__)
    assert callable(tw.upstreams) and "upstreams" in dir(tw)
    with pytest.raises(AttributeError):
        tw.no_such_function  # noqa: B018


def test_cli_help_imports_no_heavy_library() -> None:
    code = ("import sys; from transitwatch.cli.main import build_parser; build_parser().format_help(); "
            "heavy = ('pandas', 'duckdb', 'pyarrow', 'dask', 'numpy', 'fastapi'); "
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_version_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"transitwatch {tw.__version__}"


def test_upstreams_matches_the_cli(demo_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    src = tw.files(demo_files)
    result = tw.upstreams("AS131279", src, tz="Asia/Pyongyang", workers=1)
    assert result.to_dict() == cli_json(
        ["upstreams", "AS131279", *demo_files, "--json", "--tz", "Asia/Pyongyang", "--workers", "1"], capsys
    )
    assert {u.asn for u in result.upstreams} == {4837, 20485}
    at = "2017-10-01T08:30Z"
    before = tw.upstreams("AS131279", src, at=at, workers=1)
    assert before.to_dict() == cli_json(
        ["upstreams", "AS131279", *demo_files, "--json", "--at", at, "--workers", "1"], capsys
    )
    assert {u.asn for u in before.upstreams} == {4837}
    assert before.time == datetime(2017, 10, 1, 8, 30, tzinfo=UTC)
    prefix = tw.upstreams("175.45.176.0/22", src, workers=1)
    assert prefix.to_dict() == cli_json(["upstreams", "175.45.176.0/22", *demo_files, "--json",
                                         "--workers", "1"], capsys)
    assert {u.asn for u in prefix.upstreams} == {4837, 20485}
    # parallel decoding is an argument and gives the same answer
    assert (
        tw.upstreams("AS131279", src, workers=2).to_dict()
        == tw.upstreams("AS131279", src, workers=1).to_dict()
    )


def test_results_are_tables_with_real_timestamps(demo_files: list[str]) -> None:
    result = tw.upstreams("AS131279", tw.files(demo_files), workers=1)
    df = result.to_pandas()
    assert list(df.columns) == list(result.columns)
    assert str(df["first_seen"].dtype) == "datetime64[us, UTC]"
    assert set(df["upstream"]) == {4837, 20485}
    table = result.to_arrow()
    assert str(table.schema.field("last_seen").type) == "timestamp[us, tz=UTC]"
    assert all(isinstance(r["first_seen"], datetime) for r in result.records())
    assert "AS4837" in repr(result) and "AS20485" in repr(result)


def test_events_matches_the_cli(demo_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    src = tw.files(demo_files)
    result = tw.events("AS131279", src, tz="Asia/Pyongyang", timeline=True, workers=1)
    assert result.to_dict() == cli_json(
        [
            "events",
            "AS131279",
            *demo_files,
            "--json",
            "--timeline",
            "--tz",
            "Asia/Pyongyang",
            "--workers",
            "1",
        ],
        capsys,
    )
    new = [e for e in result.events if e.type == "new_upstream"]
    assert [(e.upstream, e.onset) for e in new] == [(20485, new[0].onset)]
    df = result.to_pandas()
    row = df[df["type"] == "new_upstream"].iloc[0]
    assert row["onset"] == datetime(2017, 10, 1, 9, 8, tzinfo=UTC)
    only_upstream = tw.events("AS131279", src, detect="upstream", workers=1)
    assert only_upstream.to_dict() == cli_json(
        ["events", "AS131279", *demo_files, "--json", "--detect", "upstream", "--workers", "1"], capsys
    )


def test_country_questions_match_the_cli(demo_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    src = tw.files(demo_files)
    ups = tw.upstreams(src=src, country="KP")
    assert ups.to_dict() == cli_json(["upstreams", "--country", "KP", *demo_files, "--json"], capsys)
    assert {u.asn for u in ups.upstreams} == {4837, 20485}
    assert tw.country_upstreams("kp", src).to_dict() == ups.to_dict()
    ev = tw.events(src=src, country="KP")
    assert ev.to_dict() == cli_json(["events", "--country", "KP", *demo_files, "--json"], capsys)
    ranking = tw.countries(src, workers=1)
    assert ranking.to_dict() == cli_json(["countries", *demo_files, "--json", "--workers", "1"], capsys)
    assert "KP" in set(ranking.to_pandas()["country"])


def test_visibility_matches_the_cli(demo_files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    src = tw.files(demo_files)
    vis = tw.visibility("AS131279", src, resolution="15m")
    assert vis.to_dict() == cli_json(
        ["visibility", "AS131279", *demo_files, "--json", "--resolution", "15m"], capsys
    )
    df = vis.to_pandas()
    assert str(df["time"].dtype) == "datetime64[us, UTC]"
    assert (df["slash24"] == 4).any()


def test_routes_filters_on_the_2015_table(shared_data: Path) -> None:
    src = tw.files([shared_data / TABLE_2015])
    kp = tw.routes(src, prefix_sub="175.45.176.0/22")
    rows = list(kp)
    assert len(rows) == 4 and all(o.as_path == "2914 1239 4837 131279" for o in rows)
    assert len(list(tw.routes(src, origin_asn=131279))) == 4
    assert len(list(tw.routes(src, as_path_regex=" 4837 131279$"))) == 4
    assert len(list(tw.routes(src, prefix="175.45.176.0/24"))) == 1
    supers = list(tw.routes(src, prefix_super="175.45.176.0/24"))
    assert {o.prefix for o in supers} >= {"175.45.176.0/24"}
    assert all(o.prefix.startswith(("175.", "0.0.0.0")) or "/" in o.prefix for o in supers)
    withdrawn = list(tw.routes(src, type="W"))
    assert withdrawn and all(o.kind == "withdraw" for o in withdrawn)
    df = kp.to_pandas()
    assert str(df["time"].dtype) == "datetime64[us, UTC]" and set(df["prefix"]) == {
        "175.45.176.0/24",
        "175.45.177.0/24",
        "175.45.178.0/24",
        "175.45.179.0/24",
    }
    first = rows[0].time
    assert list(tw.routes(src, prefix_sub="175.45.176.0/22", end=first)) == []


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: tw.upstreams("AS13x", s), "AS13x"),
        (lambda s: tw.upstreams("", s), "target"),
        (lambda s: tw.upstreams("AS131279", s, at="yesterday"), "yesterday"),
        (lambda s: tw.upstreams("AS131279", s, tz="Mars/Olympus"), "Mars/Olympus"),
        (lambda s: tw.upstreams("AS131279", s, workers=0), "workers"),
        (lambda s: tw.upstreams(src=s, country="XX"), "XX"),
        (lambda s: tw.events("AS131279", s, detect="magic"), "magic"),
    (lambda s: tw.events("AS131279", s, detect=3), "detect 3"),
    (lambda s: tw.events("AS131279", s, timeline=-1), "timeline"),
    (lambda s: tw.countries(s, at="soonish"), "soonish"),
    (lambda s: tw.visibility("KP", s, tz="Nowhere/Land"), "Nowhere/Land"),
        (lambda s: tw.events("AS131279", s, min_peers=0), "min_peers"),
        (lambda s: tw.events("AS131279", s, min_duration="soon"), "soon"),
        (lambda s: tw.events("AS131279", s, start="2017-10-02", end="2017-10-01"), "before"),
        (lambda s: tw.visibility("AS131279", s, resolution="0s"), "resolution"),
        (lambda s: tw.routes(s, prefix="175.45.176.0/33"), "175.45.176.0/33"),
        (lambda s: tw.routes(s, as_path_regex="(4837"), "(4837"),
        (lambda s: tw.routes(s, type="X"), "'X'"),
        (lambda s: tw.routes(s, peer_asn="ASX"), "ASX"),
        (lambda s: tw.routes(s, start="2017-10-01T10:00Z", end="2017-10-01T09:00Z"), "before"),
        (lambda s: tw.upstreams("AS131279", None), "source"),
    ],
)
def test_bad_input_is_one_line_transitwatch_error(demo_files: list[str], call, message: str) -> None:
    with pytest.raises(TransitwatchError) as exc:
        call(tw.files(demo_files))
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_bad_sources_are_one_line_errors(tmp_path: Path) -> None:
    cases = [
        (lambda: tw.files([tmp_path / "missing.gz"]), "missing.gz: no such file"),
        (lambda: tw.files([]), "no MRT files"),
        (lambda: tw.files([tmp_path]), "is a directory"),
        (lambda: tw.archive(["rrc00"], "2017-10-01T10:00", "2017-10-01T09:00"), "before start"),
        (lambda: tw.archive(["rrc00"], "2017-10-01T10:00", "2017-10-01T10:00"), "empty"),
        (lambda: tw.archive(["route-views9"], "2017-10-01T09:00", "2017-10-01T10:00"), "route-views9"),
        (lambda: tw.archive([], "2017-10-01T09:00", "2017-10-01T10:00"), "collector"),
        (lambda: tw.archive("rrc00", "2017-10-01T09:00", "2017-10-01T10:00", archive_url=["x"]), "NAME=URL"),
        (lambda: tw.store(tmp_path / "none.duckdb"), "no such database"),
        (lambda: tw.live(["AS13x"]), "AS13x"),
        (lambda: tw.live(["AS131279"], ris_live_url="http://example"), "ws://"),
        (lambda: tw.upstreams("AS1", 42), "not a source"),
        (lambda: tw.files(42), "not MRT file paths"),  # type: ignore[arg-type]
        (lambda: tw.archive(7, "2017-10-01T09:00", "2017-10-01T10:00"), "not collector names"),
        (lambda: tw.live(None), "not targets"),  # type: ignore[arg-type]
    ]
    for call, message in cases:
        with pytest.raises(TransitwatchError) as exc:
            call()
        assert message in str(exc.value) and "\n" not in str(exc.value), (message, str(exc.value))


def test_not_mrt_and_store_misuse(tmp_path: Path, demo_files: list[str]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("this is not MRT\n" * 10)
    with pytest.raises(TransitwatchError, match="notes.txt"):
        tw.upstreams("AS131279", tw.files([text]), workers=1)
    with pytest.raises(TransitwatchError, match="notes.txt"):
        list(tw.files([text]))
    db = tmp_path / "kp.duckdb"
    assert main(["ingest", *demo_files, "--db", str(db)]) == 0
    src = tw.store(db)
    with pytest.raises(TransitwatchError, match="route intervals"):
        list(src)
    stored = tw.upstreams("AS131279", src)
    assert {u.asn for u in stored.upstreams} == {4837, 20485}


def test_one_time_parser_everywhere() -> None:
    from transitwatch.times import parse_time

    assert parse_time("2017-10-01T09:08:00Z") == parse_time("1506848880") == 1506848880.0
    assert parse_time("2017-10-01T17:38+08:30") == parse_time("2017-10-01 09:08") == 1506848880.0
    assert parse_time(datetime(2017, 10, 1, 9, 8)) == 1506848880.0
    assert parse_time("now-1h", now=1506848880.0) == 1506845280.0
    assert parse_time("now+90s", now=1000.0) == 1090.0 and parse_time("now", now=5.0) == 5.0
    # now-99999999d (year -271764) once passed the parser and failed later with a traceback
    # 9999-12-31T23:59:59Z has no local time east of UTC (an OverflowError in the country view)
    for bad in ("now-", "now-soon", "1e400", "nan", "2017-13-01", True, "now-99999999d",
                "9999-12-31T23:59:59Z", "253402300799"):
        with pytest.raises(TransitwatchError):
            parse_time(bad)  # type: ignore[arg-type]
    # an archive window takes epoch seconds and now-relative times too (it used to reject them)
    window = tw.archive("rrc00", "1506848880", "now-1h")
    assert window.start == 1506848880.0 and window.end > window.start


def test_version_is_the_package_version() -> None:
    from importlib.metadata import version

    assert tw.__version__ == version("transitwatch")


def test_dask_is_an_extra_imported_only_when_asked(
    demo_files: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code = ("import sys, transitwatch as tw; from transitwatch.cli.main import build_parser; build_parser(); "
            f"tw.upstreams('AS131279', tw.files({demo_files!r}), workers=2); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the [cluster] extra were not installed
    with pytest.raises(TransitwatchError, match=r"transitwatch\[cluster\]"):
        tw.upstreams("AS131279", tw.files(demo_files), scheduler="local")


def test_every_time_option_reads_the_same_syntax(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def planned(start: str, end: str) -> list[str]:
        assert main(["fetch", "--collector", "rrc00", "--from", start, "--to", end, "--dry-run", "--json",
                     "--cache-dir", str(tmp_path)]) == 0
        return [f["url"] for f in json.loads(capsys.readouterr().out)["files"]]

    iso = planned("2017-10-01T09:00Z", "2017-10-01T09:30Z")
    assert iso and planned("1506848400", "1506850200") == iso  # --from used to reject epoch seconds
    assert planned("2017-10-01T17:30+08:30", "2017-10-01 09:30") == iso
    assert planned("now-1h", "now")  # relative to the clock
    assert main(["fetch", "--collector", "rrc00", "--from", "now", "--to", "now-1h", "--dry-run"]) == 2
    assert "before start" in capsys.readouterr().err


def test_events_timeline_covers_the_window_asked(demo_files: list[str], tmp_path: Path) -> None:
    # events with --from/--to listed the window's events but drew the timeline of the whole
    # history; now both are the window (as far as the data reaches), from files and from a store
    db = tmp_path / "kp.duckdb"
    tw.ingest(db, demo_files)
    whole = tw.events("AS131279", tw.files(demo_files), timeline=8, workers=1).timeline
    assert whole is not None and whole.edges
    lo, hi = whole.edges[2], whole.edges[6]
    for src in (tw.files(demo_files), tw.store(db)):
        got = tw.events("AS131279", src, timeline=8, start=lo, end=hi, workers=1)
        line = got.timeline
        assert line is not None and len(line.edges) == 9
        assert line.edges[0] == pytest.approx(lo) and line.edges[-1] == pytest.approx(hi)
        assert all(lo <= e.onset <= hi for e in got.events)
        # a window the data does not reach: no buckets (not a run of empty ones)
        before = tw.events("AS131279", src, timeline=8, start=whole.edges[0] - 7200,
                           end=whole.edges[0] - 3600, workers=1)
        assert before.timeline is not None and before.timeline.edges == [] and before.events == []
