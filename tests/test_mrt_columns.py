"""The decoder's column mode (what the store's ingest reads): the same observations as the list
form, row for row, on every real MRT file and on written ones with session changes, ADD-PATH and
damage; slices and joins of column batches keep every row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from transitwatch.observation import ESTABLISHED, Observation
from transitwatch.sources.columns import RouteColumns, RouteRow
from transitwatch.sources.files import read_files
from transitwatch.sources.mrt import MrtReader
from transitwatch.sources.mrt_writer import write_mrt

_FIELDS = ("time", "kind", "peer_ip", "peer_asn", "prefix", "as_path", "path_id", "offset", "source")


def _real_files(shared: Path) -> list[Path]:
    mrt = shared / "mrt"
    return sorted(p for p in mrt.rglob("*") if p.is_file() and "expected" not in str(p.parent)
                  and p.suffix not in (".md", ".txt", ".json", ".csv"))


def _assert_same_rows(path: Path, **options: object) -> int:
    listed = [o for batch in MrtReader(path, **options).batches() for o in batch]  # type: ignore[arg-type]
    batches = list(MrtReader(path, columns=True, **options).batches())  # type: ignore[arg-type]
    assert all(isinstance(b, RouteColumns) and len(b) for b in batches)
    packed = [o for b in batches for o in b.observations()]
    assert len(packed) == len(listed), path
    for a, b in zip(listed, packed, strict=True):
        if a.kind == "state":
            assert a == b, path  # the state change's own Observation, whole
        else:
            assert [getattr(a, f) for f in _FIELDS] == [getattr(b, f) for f in _FIELDS], (path, a, b)
    return len(listed)


def test_column_mode_gives_every_real_files_rows(shared_data: Path) -> None:
    files = _real_files(shared_data)
    assert len(files) >= 20, "the real files were not found"
    rows = sum(_assert_same_rows(p) for p in files)
    assert rows > 800_000


def test_column_mode_with_every_safi_and_as_bgpdump(shared_data: Path) -> None:
    path = shared_data / "mrt/bgpdump-corpus/input/updates.20160811.1600.gz"
    for safi in (None, "bgpdump", 2):
        _assert_same_rows(path, safi=safi)


def _written(tmp_path: Path) -> Path:
    obs = []
    for i in range(40):
        t = 1_500_000_000.0 + i
        peer = ("192.0.2.1", 64500) if i % 3 else ("2001:db8::1", 64501)
        if i % 10 == 5:
            obs.append(Observation(time=t, kind="state", peer_ip=peer[0], peer_asn=peer[1], old_state=6,
                                   new_state=1))
            obs.append(Observation(time=t, kind="state", peer_ip=peer[0], peer_asn=peer[1], old_state=1,
                                   new_state=ESTABLISHED))
            continue
        kind = "withdraw" if i % 7 == 0 else "announce"
        prefix = f"10.{i}.0.0/16" if ":" not in peer[0] else f"2001:db8:{i:x}::/48"
        hop = None if kind == "withdraw" else ("192.0.2.254" if ":" not in peer[0] else "2001:db8::fe")
        obs.append(Observation(time=t, kind=kind, peer_ip=peer[0], peer_asn=peer[1], prefix=prefix,
                               as_path=None if kind == "withdraw" else f"{peer[1]} 3356 {i + 1}",
                               next_hop=hop))
    path = tmp_path / "written.mrt"
    write_mrt(path, obs)
    return path


def test_state_changes_are_rows_with_their_observation(tmp_path: Path) -> None:
    path = _written(tmp_path)
    _assert_same_rows(path)
    (batch,) = MrtReader(path, columns=True).batches()
    states = [i for i, k in enumerate(batch.kind.tolist()) if k == 3]
    assert len(states) == 8 and sorted(batch.others) == states
    assert all(isinstance(batch[i], Observation) and batch[i].kind == "state" for i in states)
    assert isinstance(batch[0], RouteRow) and batch[-1].time == batch.time[-1]
    # withdrawals have no path; announcements do
    assert set(batch.path[batch.kind == 1].tolist()) == {-1} and (batch.path[batch.kind == 0] >= 0).all()


def test_slices_and_joins_keep_every_row(tmp_path: Path) -> None:
    path = _written(tmp_path)
    (batch,) = MrtReader(path, columns=True).batches()
    whole = batch.observations()
    for cut in (0, 1, 7, 16, len(batch) - 1, len(batch)):
        left, right = batch[:cut], batch[cut:]
        assert len(left) + len(right) == len(batch)
        assert left.observations() + right.observations() == whole
        assert RouteColumns.concat([p for p in (left, right) if len(p)]).observations() == whole
    with pytest.raises(IndexError):
        batch[len(batch)]
    with pytest.raises(ValueError):
        batch[::2]


def test_read_files_merges_column_batches_by_time(tmp_path: Path) -> None:
    # two files interleaved in time: the merge cuts column batches as it cuts lists
    def write(name: str, start: float) -> Path:
        obs = [Observation(time=start + 2 * i, kind="announce", peer_ip="192.0.2.9", peer_asn=64509,
                           prefix=f"10.{i}.{int(start) % 2}.0/24", as_path="64509 1", next_hop="192.0.2.9")
               for i in range(20)]
        path = tmp_path / name
        write_mrt(path, obs)
        return path

    paths = [write("a.mrt", 1_600_000_000.0), write("b.mrt", 1_600_000_001.0)]
    listed = [o for b in read_files(paths).batches() for o in b]
    packed = [o for b in read_files(paths, columns=True).batches() for o in b.observations()]
    assert [(o.time, o.prefix, o.source) for o in listed] == [(o.time, o.prefix, o.source) for o in packed]
    assert np.all(np.diff([o.time for o in packed]) >= 0)


def test_read_ahead_hands_over_in_order_raises_in_order_and_stops() -> None:
    import threading

    from transitwatch.store.ingestion import _read_ahead

    assert list(_read_ahead(iter(range(50)))) == list(range(50))  # type: ignore[arg-type]

    def failing() -> Any:
        yield 1
        yield 2
        raise ValueError("damaged at byte 7")

    got: list[int] = []
    with pytest.raises(ValueError, match="damaged at byte 7"):
        for item in _read_ahead(failing()):
            got.append(item)  # type: ignore[arg-type]
    assert got == [1, 2]

    produced: list[int] = []

    def endless() -> Any:
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    before = threading.active_count()
    reader = _read_ahead(endless())
    assert next(reader) == 0
    reader.close()  # the caller stops early: the reader thread ends, it does not decode on
    assert threading.active_count() == before
    assert len(produced) <= 4
