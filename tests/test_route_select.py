"""Route filters of `tw.routes` and `transitwatch dump`, applied in the C decoder: on real files of
every MRT kind (TABLE_DUMP, TABLE_DUMP_V2, ADD-PATH, BGP4MP, BGP4MP_ET, legacy BGP), the decoder's
selection keeps exactly what the plain Python predicate keeps over all observations."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

import transitwatch as tw
from transitwatch.cli.main import main
from transitwatch.engine.routes import RouteQuery

TABLE_2015 = "mrt/bgpdump-corpus/input/updates.et-header.2015.gz"


def real_files(shared_data: Path) -> list[Path]:
    corpus = sorted((shared_data / "mrt" / "bgpdump-corpus" / "input").iterdir())
    routers = sorted((shared_data / "mrt" / "routers").iterdir())
    return [p for p in corpus + routers if p.is_file() and p.stat().st_size < 1_000_000]


def queries_for(observations: list) -> list[dict]:
    """Filters drawn from the file itself, so each keeps something and drops something."""
    routes = [o for o in observations if o.prefix and o.as_path]
    if not routes:
        return [{"type": "W"}, {"type": "A"}]
    some = routes[len(routes) // 2]
    net = ipaddress.ip_network(some.prefix)
    wider = net.supernet(new_prefix=max(0, net.prefixlen - 8))
    origin = some.as_path.split()[-1].strip("{}").split(",")[0]
    times = sorted(o.time for o in observations)
    return [
        {"peer_asn": some.peer_asn},
        {"origin_asn": int(origin)},
        {"prefix": some.prefix},
        {"prefix_super": some.prefix},
        {"prefix_sub": str(wider)},
        {"prefix_sub": str(wider), "type": "W"},
        {"type": "A"},
        {"type": "W"},
        {"as_path_regex": f" {origin}$"},
        {"start": times[len(times) // 3], "end": times[2 * len(times) // 3]},
        {"peer_asn": [some.peer_asn], "prefix_super": some.prefix, "type": "A"},
    ]


def test_decoder_selection_equals_the_python_predicate(shared_data: Path) -> None:
    checked = 0
    for path in real_files(shared_data):
        everything = list(tw.files([path], merge=False))
        for q in queries_for(everything):
            query = RouteQuery.of(**q)
            expected = [o.to_dict() for o in everything if query.matches(o)]
            got = [o.to_dict() for o in tw.routes(tw.files([path], merge=False), **q)]
            assert got == expected, (path.name, q)
            checked += 1
    assert checked > 100


def test_filters_on_the_full_table_and_merged_sources(shared_data: Path) -> None:
    path = shared_data / TABLE_2015
    kp_expected = sorted(f"175.45.{n}.0/24" for n in range(176, 180))
    small = shared_data / "mrt" / "caida-2015"
    other = sorted(p for p in small.iterdir() if p.is_file())[0]
    # one file read directly, and with another collector's file through the time-merged reader
    for src in (tw.files([path]), tw.files([path, other])):
        kp = list(tw.routes(src, prefix_sub="175.45.176.0/22"))
        assert sorted(o.prefix for o in kp) == kp_expected
        assert [o.to_dict() for o in tw.routes(src, origin_asn="AS131279")] == [o.to_dict() for o in kp]
        withdrawn = list(tw.routes(src, type="W", peer_asn=3856))
        assert len(withdrawn) == 3 and {o.kind for o in withdrawn} == {"withdraw"}


def test_dump_filters_match_grep_of_the_unfiltered_dump(shared_data: Path) -> None:
    path = str(shared_data / "mrt" / "bgpdump-corpus" / "input" / "updates.20070211.0141.gz")
    tw_cmd = [sys.executable, "-m", "transitwatch", "dump", "-q"]
    every = subprocess.run([*tw_cmd, path], capture_output=True, text=True, check=True).stdout.splitlines()
    routes = [line.split("|") for line in every if line.split("|")[2] in ("A", "W")]
    middle = routes[len(routes) // 2]
    wider = ipaddress.ip_network(middle[5]).supernet(new_prefix=8)
    inside = [line for line in every if line.split("|")[2] in ("A", "W")
              and ipaddress.ip_network(line.split("|")[5]).version == wider.version
              and ipaddress.ip_network(line.split("|")[5]).subnet_of(wider)]  # type: ignore[arg-type]
    got = subprocess.run([*tw_cmd, "--prefix-sub", str(wider), path], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert got == inside and 0 < len(got) < len(every)
    origin = next(f[6].split()[-1] for f in routes[len(routes) // 2:] if f[2] == "A")
    by_path = subprocess.run([*tw_cmd, "--as-path", f" {origin}$", "--type", "A", path],
                             capture_output=True, text=True, check=True).stdout.splitlines()
    assert by_path == [line for line in every if line.split("|")[2] == "A"
                       and line.split("|")[6].endswith(f" {origin}")] and by_path


@pytest.mark.parametrize("args, message", [
    (["--prefix", "175.45.176.0/33"], "175.45.176.0/33"),
    (["--as-path", "(4837"], "--as-path '(4837'"),
    (["--peer-asn", "ASX"], "ASX"),
    (["--start", "2017-10-02", "--end", "2017-10-01"], "before"),
    (["--start", "tomorrow"], "tomorrow"),
])
def test_dump_bad_filters_are_one_line(shared_data: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                       message: str) -> None:
    assert main(["dump", *args, str(shared_data / TABLE_2015)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and message in captured.err
