"""The columnar ingest writes the same database as the row-by-row reference, table for table:
on real MRT files (RIS, RouteViews, PCH, router daemons, ADD-PATH), on written scenarios (RIB
dumps replacing tables, dumps back to back, sessions going down and up, withdrawals of unknown
routes, confirmations) and on synthetic full-feed workloads; appended in pieces and rebuilt."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest

from test_store import table_contents
from transitwatch.observation import ESTABLISHED, Observation
from transitwatch.scenarios.synthetic import SyntheticInternet, write_workload
from transitwatch.sources.mrt_writer import write_mrt
from transitwatch.store import Store, ingest
from transitwatch.store.db import TABLES

BGPDUMP = "mrt/bgpdump-corpus/input"


def _both(tmp_path: Path, groups: list[list[Path]], name: str = "db") -> tuple[Path, Path]:
    """Ingest ``groups`` of files (one ingest call each) with both methods; the two databases."""
    out = []
    for method in ("reference", "columnar"):
        db = tmp_path / f"{name}-{method}.duckdb"
        with Store(db) as store:
            for group in groups:
                report = ingest(store, group, method=method)
                assert not report.failures
        out.append(db)
    return out[0], out[1]


def _assert_same(reference: Path, columnar: Path) -> None:
    """Every table holds the same rows (as multisets; compared inside DuckDB, which is quick on
    the full table's 577,708 intervals); file paths and ingest times aside."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{reference}' AS ref (READ_ONLY)")
        con.execute(f"ATTACH '{columnar}' AS col (READ_ONLY)")
        routes = con.execute("SELECT count(*) FROM ref.routes").fetchone()
        assert routes and routes[0], "nothing was stored: the comparison would prove nothing"
        for table in TABLES:
            exclude = " EXCLUDE (ingested_at, path)" if table == "files" else ""
            a, b = f"SELECT *{exclude} FROM ref.{table}", f"SELECT *{exclude} FROM col.{table}"
            for first, second in ((a, b), (b, a)):
                extra = con.execute(f"SELECT * FROM ({first} EXCEPT ALL {second}) LIMIT 3").fetchall()
                assert not extra, f"table {table} differs: {extra}"
    finally:
        con.close()


@pytest.mark.parametrize("files", [
    [f"{BGPDUMP}/updates.et-header.2015.gz"],
    [f"{BGPDUMP}/bview.20020722.2337.gz", f"{BGPDUMP}/updates.20020722.2238.gz"],
    [f"{BGPDUMP}/updates.20070211.0141.gz", f"{BGPDUMP}/updates.20071015.1505.gz",
     f"{BGPDUMP}/updates.20100722.2015.gz", f"{BGPDUMP}/updates.20160811.1600.gz",
     f"{BGPDUMP}/updates.long_withdrawal.gz", f"{BGPDUMP}/updates.nlri_mask_trailing_bits.gz"],
    [f"{BGPDUMP}/bview.ipv4_unicast_add_path.gz", f"{BGPDUMP}/bview.ipv6_unicast_add_path.gz",
     f"{BGPDUMP}/bview.64k_stream_overflow.gz"],
    ["mrt/caida-2015/ris.rrc06.updates.1427846400.gz",
     "mrt/caida-2015/routeviews.route-views.jinx.updates.1427846400.bz2"],
    ["mrt/routers/bird-mrtdump_rib", "mrt/routers/bird-mrtdump_bgp", "mrt/routers/bird6-mrtdump_rib",
     "mrt/routers/bird6-mrtdump_bgp", "mrt/routers/openbgpd_rib_table-v2", "mrt/routers/openbgpd_bgp",
     "mrt/routers/quagga_rib", "mrt/routers/quagga_bgp"],
], ids=["pch-2015-full-table", "ris-2002-rib+updates", "updates-2007-2016", "add-path-ribs",
        "caida-2015-two-collectors", "router-daemons"])
def test_real_files_give_the_reference_database(shared_data: Path, tmp_path: Path, files: list[str]) -> None:
    paths = [shared_data / f for f in files]
    _assert_same(*_both(tmp_path, [paths]))


def _obs(t: float, kind: str, peer: int, prefix: str | None = None, path: str | None = None,
         **extra: object) -> Observation:
    ip = f"192.0.2.{peer}"
    asn = 64500 + peer
    if kind in ("announce", "rib"):
        return Observation(time=t, kind=kind, peer_ip=ip, peer_asn=asn, prefix=prefix, as_path=path,
                           origin="IGP", next_hop=ip, **extra)
    if kind == "withdraw":
        return Observation(time=t, kind=kind, peer_ip=ip, peer_asn=asn, prefix=prefix)
    return Observation(time=t, kind="state", peer_ip=ip, peer_asn=asn, **extra)


def _written_history(root: Path) -> list[Path]:
    """A collector's day in miniature, with every rule the interval builder must get right."""
    rng = random.Random(17)
    prefixes = [f"10.{i // 256}.{i % 256}.0/24" for i in range(300)]
    t0 = 1_500_000_000.0
    folder = root / "rrc99"
    folder.mkdir(parents=True)
    files: list[Path] = []

    def write(name: str, observations: list[Observation]) -> None:
        files.append(folder / name)
        write_mrt(folder / name, observations)

    def rib(t: float, keep: float) -> list[Observation]:
        # peer 3 is absent from every dump: its table must survive them
        return [_obs(t + (i % 3), "rib", peer, p,
                     f"{64500 + peer} {rng.choice((3356, 174))} {65000 + i % 50}")
                for i, p in enumerate(prefixes) for peer in (1, 2) if rng.random() < keep]

    write("bview.20170714.0240.gz", rib(t0, 1.0))
    updates: list[Observation] = []
    t = t0 + 10
    for step in range(1500):
        t += rng.choice((0, 0, 1))
        peer = rng.choice((1, 2, 3))
        prefix = rng.choice(prefixes[:120])
        roll = rng.random()
        if roll < 0.25:
            updates.append(_obs(t, "withdraw", peer, prefix))  # also of routes the peer never had
        elif roll < 0.5:  # the same path again: a confirmation, not a new interval
            updates.append(_obs(t, "announce", peer, prefix, f"{64500 + peer} 3356 {65000 + step % 50}"))
            updates.append(_obs(t, "announce", peer, prefix, f"{64500 + peer} 3356 {65000 + step % 50}"))
        elif roll < 0.51:
            updates.append(_obs(t, "state", peer, old_state=ESTABLISHED, new_state=1))  # down: all routes end
            updates.append(_obs(t + 1, "state", peer, old_state=1, new_state=ESTABLISHED))
        else:
            updates.append(_obs(t, "announce", peer, prefix, f"{64500 + peer} {{3356,174}} {65000 + step % 7}"
                                if roll > 0.97 else f"{64500 + peer} 1299 {65000 + step % 50}"))
    write("updates.20170714.0245.gz", updates)
    t = updates[-1].time + 60
    # two dumps back to back (no update between): the second replaces what the first left
    write("bview.20170714.0300.gz", rib(t, 0.8))
    write("bview.20170714.0310.gz", rib(t + 600, 0.7))
    write("updates.20170714.0320.gz", [_obs(t + 1300 + i, "announce", 3, p, "64503 6939 65001")
                                       for i, p in enumerate(prefixes[200:260])])
    return files


def test_written_scenario_in_one_run_in_pieces_and_out_of_order(tmp_path: Path) -> None:
    files = _written_history(tmp_path / "mrt")
    reference, columnar = _both(tmp_path, [files], "one")
    _assert_same(reference, columnar)
    contents = table_contents(reference)
    causes = {row[5] for row in contents["routes"]} | {row[10] for row in contents["routes"]}
    assert causes >= {"announce", "withdraw", "rib", "rib_replace", "down"}, causes
    assert contents["sessions"]
    # appended file by file (the open intervals restored from the database each time)
    _assert_same(reference, _both(tmp_path, [[f] for f in files], "pieces")[1])
    # late files: the collector is rebuilt from all its files
    _assert_same(reference, _both(tmp_path, [files[2:], files[:2]], "late")[1])


def test_synthetic_full_feed_workload(tmp_path: Path) -> None:
    net = SyntheticInternet(prefixes=3_000, peers=6, seed=3)
    files = write_workload(tmp_path / "mrt", net, collectors=["rrc00", "rrc01"], update_files=3,
                           updates_per_file=2_000, move_target_after=1)
    _assert_same(*_both(tmp_path, [files]))


def test_unknown_method_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "x.duckdb") as store, pytest.raises(ValueError, match="unknown ingest method"):
        ingest(store, [], method="fast")


def test_a_damaged_real_file_gives_the_reference_database(shared_data: Path, tmp_path: Path) -> None:
    # the 2015 table cut inside its gzip stream: what was decoded before the damage is kept, the
    # damage is in the file's notes, in both methods (the columnar one reads in column mode)
    cut = tmp_path / "updates.cut.gz"
    cut.write_bytes((shared_data / BGPDUMP / "updates.et-header.2015.gz").read_bytes()[:400_000])
    reference, columnar = _both(tmp_path, [[cut]])
    _assert_same(reference, columnar)
    con = duckdb.connect(str(columnar), read_only=True)
    try:
        row = con.execute("SELECT (SELECT count(*) FROM routes), notes FROM files").fetchone()
    finally:
        con.close()
    assert row is not None and row[0] > 50_000 and "truncated gzip data" in row[1]
