"""Parallel and distributed runs give the single-process results, event for event."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transitwatch.detect.upstream_change import upstream_changes
from transitwatch.engine.parallel import WorkPool, open_pool, parallel_target_view, reduce_file
from transitwatch.metrics.upstreams import upstream_report
from transitwatch.observation import ANNOUNCE, RIB, STATE, WITHDRAW, Observation
from transitwatch.scenarios.synthetic import NEW_UPSTREAM, TARGET_UPSTREAM, SyntheticInternet, write_workload
from transitwatch.sources.files import read_files
from transitwatch.sources.mrt_writer import write_mrt
from transitwatch.state.view import TargetView, target_view

TARGETS = ["AS131279", "175.45.176.0/22", "AS4837"]


def single(target: str, paths: list[str], until: float | None = None) -> TargetView:
    notes: list[str] = []
    return target_view(target, read_files(paths, notices=notes), until=until, notices=notes)


def assert_same(
    parallel: TargetView, expected: TargetView, notices: bool = True, filtered: bool = False
) -> None:
    assert parallel.spans == expected.spans
    assert parallel.sessions == expected.sessions
    assert parallel.end == expected.end
    if notices:  # with `until`, read_files may note an overlap it meets just past `until`
        assert parallel.notices[: len(expected.notices)] == expected.notices
    if not filtered:
        assert parallel.start == expected.start
    else:  # with the route filter: the first record read, which may come before the first observation
        assert parallel.start is not None and expected.start is not None
        assert expected.start - 60 <= parallel.start <= expected.start

    # and so every result computed from the view (notices compared above)
    def results(view: TargetView) -> tuple[dict[str, object], dict[str, object]]:
        report, changes = upstream_report(view).to_dict(), upstream_changes(view).to_dict()
        report.pop("notices", None)
        changes.pop("notices", None)
        return report, changes

    assert results(parallel) == results(expected)


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    net = SyntheticInternet(prefixes=1500, peers=5, seed=11)
    folder = tmp_path_factory.mktemp("workload")
    paths = write_workload(
        folder,
        net,
        collectors=["rrc00", "route-views2"],
        update_files=5,
        updates_per_file=1500,
        move_target_after=2,
    )
    return [str(p) for p in paths]


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkPool]:
    with open_pool(workers=2) as p:
        yield p


def test_workload_has_an_event(workload: list[str]) -> None:
    # The comparison below means something only if the workload holds spans, sessions and events.
    view = single("AS131279", workload)
    changes = upstream_changes(view)
    assert [e.upstream for e in changes.events] == [NEW_UPSTREAM]
    assert {s.upstream for s in view.spans} == {TARGET_UPSTREAM, NEW_UPSTREAM}
    assert view.sessions


@pytest.mark.parametrize("route_filter", [True, False])
@pytest.mark.parametrize("target", TARGETS)
def test_two_processes_match_one(
    workload: list[str], pool: WorkPool, target: str, route_filter: bool
) -> None:
    run = parallel_target_view(target, workload, pool=pool, route_filter=route_filter)
    assert run.failures == []
    assert run.backend == "processes" and run.workers == 2
    assert len({pid for pid in run.worker_cpu}) >= 1
    # The point of the map step: far fewer observations reach the merge than were decoded.
    assert run.kept < run.observations / 5
    # With the route filter, the merge does not see dropped announcements: overlap notices may
    # name another second.
    assert_same(run.view, single(target, workload), notices=not route_filter, filtered=route_filter)


def test_one_worker_and_shuffled_file_order(workload: list[str]) -> None:
    shuffled = workload[::-1]
    run = parallel_target_view("AS131279", shuffled, workers=1, route_filter=False)
    expected = single("AS131279", shuffled)
    assert "files given out of time order; reading them in time order" in expected.notices
    assert_same(run.view, expected)


def test_until_stops_where_a_single_process_stops(workload: list[str], pool: WorkPool) -> None:
    whole = single("AS131279", workload)
    assert whole.start is not None and whole.end is not None
    until = whole.start + (whole.end - whole.start) * 0.45
    run = parallel_target_view("AS131279", workload, until=until, pool=pool, route_filter=False)
    expected = single("AS131279", workload, until=until)
    assert expected.end is not None and expected.end <= until < whole.end
    assert_same(run.view, expected, notices=False)


def test_bad_files_are_reported_and_left_out(workload: list[str], pool: WorkPool, tmp_path: Path) -> None:
    corrupt = tmp_path / "updates.20171001.0900.gz"
    corrupt.write_bytes(b"\x1f\x8b" + os.urandom(64))
    not_mrt = tmp_path / "updates.20171001.0905"
    not_mrt.write_bytes(b"hello, this is not MRT data at all\n" * 4)
    missing = tmp_path / "updates.20171001.0910.gz"
    run = parallel_target_view("AS131279", [*workload, str(corrupt), str(not_mrt), str(missing)], pool=pool)
    assert sorted(f.path for f in run.failures) == sorted([str(corrupt), str(not_mrt), str(missing)])
    for failure in run.failures:
        assert "\n" not in str(failure) and str(failure).startswith(failure.path)
        assert f"{failure} (file left out)" in run.view.notices
    assert_same(run.view, single("AS131279", workload), notices=False, filtered=True)


def test_dask_local_cluster_matches_one_process(workload: list[str]) -> None:
    pytest.importorskip("distributed")
    run = parallel_target_view("AS131279", workload, scheduler="local", workers=2)
    assert run.backend == "dask-local"
    assert_same(run.view, single("AS131279", workload), notices=False, filtered=True)


def test_reduce_file_reports_errors_instead_of_raising(tmp_path: Path) -> None:
    from transitwatch.engine.parallel import FileTask
    from transitwatch.state.target import Target

    part = reduce_file(FileTask(0, str(tmp_path / "nope.gz"), "", Target.parse("AS1"), frozenset()))
    assert part.error is not None and "nope.gz" in part.error and part.kept == []


def test_real_files(shared_data: Path, pool: WorkPool) -> None:
    corpus = shared_data / "mrt" / "bgpdump-corpus" / "input"
    caida = shared_data / "mrt" / "caida-2015"
    paths = [
        str(corpus / "updates.et-header.2015.gz"),
        str(corpus / "updates.20160811.1600.gz"),
        *(str(p) for p in sorted(caida.iterdir())),
    ]
    for target in ("AS131279", "AS3356", "8.0.0.0/8"):
        expected = single(target, paths)
        for route_filter in (True, False):
            run = parallel_target_view(target, paths, pool=pool, route_filter=route_filter)
            assert_same(run.view, expected, notices=not route_filter, filtered=route_filter)
    # non-trivial: the big-carrier target has many spans
    assert len(single("AS3356", paths).spans) > 100


def test_route_filter_sees_replacements_decoded_before_the_target_route(tmp_path: Path) -> None:
    # A RIB dump with the target route in a late decoding chunk, and an update file, read at
    # once, whose first chunk replaces that route: the replacement must reach the state although
    # it was decoded before the filter learnt the prefix from the dump.
    t0 = 1506844800.0
    peer = {"peer_ip": "192.0.2.1", "peer_asn": 64600, "origin": "IGP", "next_hop": "192.0.2.1"}
    rib = [
        Observation(
            time=t0,
            kind=RIB,
            prefix=f"{10 + i // 65536}.{(i // 256) % 256}.{i % 256}.0/24",
            as_path="64600 174 3356 15169",
            **peer,
        )
        for i in range(60_000)
    ]
    rib.append(Observation(time=t0, kind=RIB, prefix="175.45.176.0/24", as_path="64600 4837 131279", **peer))
    write_mrt(tmp_path / "bview.20171001.0800.gz", rib)
    replace = Observation(
        time=t0 + 30, kind=ANNOUNCE, prefix="175.45.176.0/24", as_path="64600 174 9999", **peer
    )
    write_mrt(tmp_path / "updates.20171001.0800.gz", [replace])
    paths = [str(tmp_path / "bview.20171001.0800.gz"), str(tmp_path / "updates.20171001.0800.gz")]
    expected = single("AS131279", paths)
    assert [(s.end, s.end_cause) for s in expected.spans] == [(t0 + 30, "announce")]
    for workers in (1, 2):
        run = parallel_target_view("AS131279", paths, workers=workers)
        assert_same(run.view, expected, notices=False, filtered=True)


# -- adversarial streams: ties across files, RIB entries and updates mixed in one file, session resets
# inside dumps. Each file is in time order, as archive files are (read_files merges a file whose
# records go back in time by its decoding chunks, which a parallel run does not reproduce).
PEERS = [("192.0.2.1", 65001), ("192.0.2.2", 65002)]
PREFIXES = ["175.45.176.0/24", "175.45.177.0/24", "10.1.0.0/16", "10.2.0.0/16"]
PATHS = ["65001 4837 131279", "65001 3216 20485 131279", "65001 174 3356", "65001 2914"]

observation = st.builds(
    lambda kind, t, peer, prefix, path, up: Observation(
        time=1_000_000.0 + t,
        kind=kind,
        peer_ip=PEERS[peer][0],
        peer_asn=PEERS[peer][1],
        prefix=None if kind == STATE else PREFIXES[prefix],
        as_path=PATHS[path] if kind in (ANNOUNCE, RIB) else None,
        origin="IGP" if kind in (ANNOUNCE, RIB) else None,
        next_hop=PEERS[peer][0] if kind in (ANNOUNCE, RIB) else None,
        old_state=(6 if not up else 5) if kind == STATE else None,
        new_state=(6 if up else 1) if kind == STATE else None,
    ),
    st.sampled_from([RIB, RIB, ANNOUNCE, ANNOUNCE, ANNOUNCE, WITHDRAW, WITHDRAW, STATE]),
    st.integers(0, 6),
    st.integers(0, 1),
    st.integers(0, 3),
    st.integers(0, 3),
    st.booleans(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(st.tuples(st.booleans(), st.lists(observation, max_size=25)), min_size=1, max_size=4),
    target=st.sampled_from(["AS131279", "AS20485", "175.45.176.0/23", "AS3356"]),
    cut=st.one_of(st.none(), st.integers(0, 6)),
)
def test_random_streams_match(
    files: list[tuple[bool, list[Observation]]], target: str, cut: int | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, (is_rib, observations) in enumerate(files):
            path = Path(folder) / "rrc00" / f"{'bview' if is_rib else 'updates'}.2001010{i}.0000"
            path.parent.mkdir(exist_ok=True)
            write_mrt(path, sorted(observations, key=lambda o: o.time))
            paths.append(str(path))
        readable = [p for p, (_, obs) in zip(paths, files, strict=True) if obs]
        until = None if cut is None else 1_000_000.0 + cut
        run = parallel_target_view(target, paths, until=until, scheduler="inline", route_filter=False)
        assert sorted(f.path for f in run.failures) == sorted(set(paths) - set(readable))
        assert_same(run.view, single(target, readable, until=until), notices=until is None)


# -- the command line ----------------------------------------------------------------------------
def cli_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    import json

    from transitwatch.cli.main import main

    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    out.pop("notices", None)
    return out


@pytest.mark.parametrize("command", ["upstreams", "events"])
def test_cli_workers_and_scheduler_give_the_one_process_answer(
    workload: list[str], command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--detect", "upstream"] if command == "events" else []
    one = cli_json([command, "AS131279", *workload, "--json", "--workers", "1", *extra], capsys)
    two = cli_json([command, "AS131279", *workload, "--json", "--workers", "2", *extra], capsys)
    assert one == two
    if command == "events":
        assert [e["upstream"] for e in one["events"]] == [NEW_UPSTREAM]  # type: ignore[index]
        dask = cli_json(
            [command, "AS131279", *workload, "--json", "--scheduler", "local", "--workers", "2", *extra],
            capsys,
        )
        assert dask == one


def test_cli_reports_a_bad_file_and_goes_on(
    workload: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transitwatch.cli.main import main

    bad = tmp_path / "updates.20171001.0930.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert main(["upstreams", "AS131279", *workload, str(bad), "--json", "--workers", "2"]) == 0
    captured = capsys.readouterr()
    assert f"transitwatch: note: {bad}" in captured.err and "(file left out)" in captured.err
    assert main(["upstreams", "AS131279", *workload, "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


# -- full tables per collector (countries) ----------------------------------------------------------
@pytest.mark.parametrize("compact", [True, False])
def test_full_tables_per_collector_match_one_process(
    workload: list[str], pool: WorkPool, compact: bool
) -> None:
    from transitwatch.engine.parallel import parallel_routing_state
    from transitwatch.state.table import RoutingState

    whole = RoutingState().replay(read_files(workload))
    run = parallel_routing_state(workload, pool=pool, compact=compact)
    assert run.failures == [] and len(run.states) == 2  # one per collector
    assert sorted(map(str, (tuple(r.values()) for r in run.to_records()))) == sorted(
        map(str, (tuple(r.values()) for r in whole.to_records()))
    )
    assert len(run.to_records()) > 10_000
    assert sorted(run.peers()) == sorted(whole.peers())
    assert (run.start, run.time) == (whole.start, whole.time)
    assert run.routes("175.45.176.0/24") == whole.routes("175.45.176.0/24")
    peer = whole.peers()[0]
    assert dict(run.table(peer).items()) == dict(whole.table(peer).items())


def test_countries_ranking_in_parallel(workload: list[str], pool: WorkPool, tmp_path: Path) -> None:
    from transitwatch.engine.parallel import parallel_routing_state
    from transitwatch.metrics.country import countries_ranking
    from transitwatch.registry import Registry
    from transitwatch.state.table import RoutingState

    bad = tmp_path / "rrc00" / "updates.20171001.0830.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"not mrt at all, not even compressed" * 10)
    whole = RoutingState().replay(read_files(workload))
    run = parallel_routing_state([*workload, str(bad)], pool=pool)
    assert [f.path for f in run.failures] == [str(bad)]
    expected = [r.to_dict() for r in countries_ranking(whole, Registry())]
    assert [r.to_dict() for r in countries_ranking(run, Registry())] == expected  # type: ignore[arg-type]
    assert len(expected) > 5


def test_cli_countries_with_workers(workload: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    one = cli_json(["countries", *workload, "--json", "--workers", "1"], capsys)
    default = cli_json(["countries", *workload, "--json"], capsys)  # two collectors: parallel by default
    two = cli_json(["countries", *workload, "--json", "--workers", "2"], capsys)
    assert one == default == two and len(one["countries"]) > 5  # type: ignore[arg-type]
