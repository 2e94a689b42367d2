"""The C interning of the columnar ingest (store/_intern.c): store ids equal db.stable_id, AS paths
parse as the reference parser reads them, route keys keep ADD-PATH ids apart, and `ingest` never
loads pandas (pyarrow is given typed buffers, so it never asks)."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import transitwatch.store.intervals as intervals
from transitwatch import native
from transitwatch.observation import Observation
from transitwatch.state.aspath import ASPathError, parse_as_path
from transitwatch.store import _intern
from transitwatch.store.db import stable_id


def test_the_installed_extension_matches_its_source() -> None:
    assert _intern.SOURCE_SHA256 == native.source_sha256(Path(intervals.__file__).with_name("_intern.c"))


def test_ids_are_the_stores_stable_ids() -> None:
    rng = random.Random(17)
    # every length around MD5's padding boundaries (55/56, 63/64, 119/120 bytes), and non-ASCII text
    texts = ["", "1.0.0.0/24", "2001:db8::/32", "é 4.3.2.1 €"] + ["x" * n for n in range(130)]
    alphabet = "0123456789 {},./:"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300))) for _ in range(500)]
    ids = np.frombuffer(_intern.stable_ids(texts), np.uint64)
    assert [int(i) for i in ids] == [stable_id(t) for t in texts]


def test_interned_texts_get_the_stores_ids_whatever_their_length() -> None:
    # new texts' ids are worked out in a batch (short ones eight at a time, long ones alone) and
    # the table grows past several sizes: every id and every code must stay right
    rng = random.Random(5)
    texts = list(dict.fromkeys(" ".join(str(rng.randint(1, 4_000_000_000)) for _ in range(rng.randint(1, 30)))
                               for _ in range(20_000)))
    paths = _intern.Interner(paths=True)
    codes_b, added = paths.intern(texts)
    assert added is not None and added[0] == len(texts)
    assert list(np.frombuffer(codes_b, np.int64)) == list(range(len(texts)))
    assert [int(i) for i in np.frombuffer(added[3], np.uint64)] == [stable_id(t) for t in texts]
    again, none = paths.intern(list(reversed(texts)))
    assert none is None and list(np.frombuffer(again, np.int64)) == list(reversed(range(len(texts))))


def _reference(text: str) -> tuple[int | None, list[int]]:
    try:
        parsed = parse_as_path(text)
    except ASPathError:
        return None, []
    return (parsed.origin if isinstance(parsed.origin, int) else None), sorted(parsed.asns)


def test_plain_paths_parse_as_the_reference_parser_reads_them() -> None:
    rng = random.Random(4)
    plain = ["1", "3356 1299 4837", "7 7 7 2 2", "4294967295 1", "01 002", "65000 " * 60 + "1"]
    plain += [" ".join(str(rng.choice([rng.randint(0, 70000), rng.randint(0, 2**32 - 1)]))
                       for _ in range(rng.randint(1, 40))) for _ in range(300)]
    slow = ["", "1 {2,3}", "(65001 65002) 3", "1  2", " 1", "1 ", "4294967296 1", "12345678901", "1,2", "a"]
    table = _intern.Interner(paths=True)
    codes_b, added = table.intern([*plain, *slow, *plain])
    assert added is not None
    count, text_off, text, ids, _, slow_b, origin_b, asn_off, asns_b = added
    codes = np.frombuffer(codes_b, np.int64)
    n = len(dict.fromkeys(plain + slow))
    assert count == n == len(table) and codes.max() == n - 1
    assert list(codes[len(plain) + len(slow):]) == list(codes[: len(plain)])   # the same text, the same code
    flags = np.frombuffer(slow_b, np.bool_)
    origins = np.frombuffer(origin_b, np.int64)
    offs = np.frombuffer(asn_off, np.int32)
    asns = np.frombuffer(asns_b, np.uint64)
    texts_off = np.frombuffer(text_off, np.int32)
    for i, path in enumerate(dict.fromkeys(plain + slow)):
        assert text[texts_off[i]: texts_off[i + 1]].decode() == path
        assert int(np.frombuffer(ids, np.uint64)[i]) == stable_id(path)
        if path in slow:
            assert flags[i], path   # left to the reference parser
            continue
        assert not flags[i], path
        assert (int(origins[i]), [int(a) for a in asns[offs[i]: offs[i + 1]]]) == _reference(path)


def test_route_keys_keep_add_path_ids_apart() -> None:
    keys = _intern.Interner()
    codes_b, added = keys.intern(["1.0.0.0/24", "1.0.0.0/24", "1.0.0.0/24", "10.0.0.0/8", "1.0.0.0/24"],
                                 [None, 5, None, 5, 6])
    assert list(np.frombuffer(codes_b, np.int64)) == [0, 1, 0, 2, 3]
    assert added is not None and added[0] == 4
    assert list(np.frombuffer(added[4], np.int64)) == [-1, 5, 5, 6]
    prefixes = ["1.0.0.0/24", "1.0.0.0/24", "10.0.0.0/8", "1.0.0.0/24"]
    assert [int(i) for i in np.frombuffer(added[3], np.uint64)] == [stable_id(p) for p in prefixes]
    offsets, data = keys.texts(np.array([3, 2, 0], np.int64))   # an ADD-PATH key gives its prefix
    assert list(np.frombuffer(offsets, np.int32)) == [0, 10, 20, 30]
    assert data == b"1.0.0.0/2410.0.0.0/81.0.0.0/24"
    with pytest.raises(IndexError):
        keys.texts(np.array([4], np.int64))
    assert keys.intern([])[1] is None
    keys.seal()   # the index is freed; texts stay
    assert keys.texts(np.array([2], np.int64))[1] == b"10.0.0.0/8"
    with pytest.raises(ValueError):
        keys.intern(["10.0.0.0/8"])


def test_columns_of_a_batch() -> None:
    def obs(kind: str, prefix: str | None, path: str | None, **kw: object) -> Observation:
        return Observation(time=1.5, kind=kind, peer_ip="192.0.2.1", peer_asn=64500, prefix=prefix,
                           as_path=path, collector="c", source="f", offset=7, **kw)

    batch = [obs("announce", "1.0.0.0/24", "1 2"), obs("withdraw", "1.0.0.0/24", None),
             obs("rib", "1.0.0.0/24", None, path_id=9), obs("state", None, None, old_state=6, new_state=1),
             obs("announce", "2.0.0.0/16", "1 2")]
    peers: dict[str, int] = {}
    keys, paths = _intern.Interner(), _intern.Interner(paths=True)
    kind, times, offsets, peer, key, path, new_peers, new_keys, new_paths = _intern.columns(
        batch, peers, keys, paths)
    assert list(np.frombuffer(kind, np.int8)) == [0, 1, 2, 3, 0]
    assert list(np.frombuffer(key, np.int64)) == [0, 0, 1, -1, 2]
    assert list(np.frombuffer(path, np.int32)) == [0, -1, 1, -1, 0]    # a RIB entry without a path: ''
    assert list(np.frombuffer(peer, np.int64)) == [0] * 5
    assert new_peers == ["192.0.2.1"] and peers == {"192.0.2.1": 0}
    assert list(np.frombuffer(times, np.float64)) == [1.5] * 5
    assert list(np.frombuffer(offsets, np.int64)) == [7] * 5
    assert new_keys is not None and new_keys[0] == 3 and new_paths is not None and new_paths[0] == 2
    again = _intern.columns(batch, peers, keys, paths)
    assert again[6] == [] and again[7] is None and again[8] is None
    with pytest.raises(TypeError):
        _intern.columns([object()], peers, keys, paths)
    with pytest.raises(ValueError):
        _intern.columns(batch, peers, paths, keys)


def test_ingest_does_not_load_pandas(shared_data: Path, tmp_path: Path) -> None:
    f = shared_data / "mrt/bgpdump-corpus/input/updates.20160811.1600.gz"
    code = ("import sys; from transitwatch.cli.main import main; "
            f"rc = main(['ingest', {str(f)!r}, '--db', {str(tmp_path / 'x.duckdb')!r}]); "
            "print(rc, 'pandas' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.split()[-2:] == ["0", "False"], run.stderr


def test_a_missing_extension_is_one_line_from_the_cli(tmp_path: Path) -> None:
    # A checkout updated without rebuilding has no _intern .so: say what to run, in one line.
    root = tmp_path / "site"
    shutil.copytree(Path(intervals.__file__).parents[1], root / "transitwatch",
                    ignore=shutil.ignore_patterns("__pycache__", "_intern*.so"))
    run = subprocess.run([sys.executable, "-c", "import sys; from transitwatch.cli.main import main; "
                          f"sys.exit(main(['ingest', 'x.gz', '--db', {str(tmp_path / 'x.duckdb')!r}]))"],
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "_intern" in lines[0] and "make .venv/.installed" in lines[0]
