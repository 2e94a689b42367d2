"""The SAFI of every route (RFC 4760): carried on observations, multicast kept out of unicast state,
SAFIs whose NLRI is not a plain prefix list counted by kind instead of misread (issue 14, 3 and 5)."""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from mrt_bytes import attr, basic_attrs, bgp4mp, prefix4, prefix6, segment, update
from transitwatch import Observation
from transitwatch.observation import to_arrow
from transitwatch.sources.files import read_files
from transitwatch.sources.mrt import MrtReader, format_bgpdump
from transitwatch.sources.mrt_writer import write_mrt
from transitwatch.state.table import RoutingState

T0 = 1_372_636_800.0  # 2013-07-01
PEER = {"peer_ip": "192.0.2.1", "peer_asn": 64500, "origin": "IGP"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "transitwatch", *args], capture_output=True, text=True,
                          timeout=120)


def _mixed(tmp_path: Path) -> Path:
    """Unicast and multicast routes for the same prefixes and peer (as in 2013 RouteViews updates),
    then a multicast withdrawal of the prefix the unicast route still holds."""
    obs = [
        Observation(time=T0, kind="rib", prefix="198.51.100.0/24", as_path="64500 3356", next_hop="192.0.2.1",
                    safi=1, **PEER),
        Observation(time=T0, kind="rib", prefix="198.51.100.0/24", as_path="64500 6939", next_hop="192.0.2.1",
                    safi=2, **PEER),
        Observation(time=T0 + 10, kind="announce", prefix="203.0.113.0/24", as_path="64500 174",
                    next_hop="192.0.2.1", safi=1, **PEER),
        Observation(time=T0 + 20, kind="announce", prefix="203.0.113.0/24", as_path="64500 2914",
                    next_hop="192.0.2.1", safi=2, **PEER),
        Observation(time=T0 + 25, kind="announce", prefix="2001:db8::/32", as_path="64500 2914",
                    next_hop="2001:db8::1", safi=2, peer_ip="192.0.2.1", peer_asn=64500, origin="IGP"),
        Observation(time=T0 + 30, kind="withdraw", prefix="203.0.113.0/24", safi=2, peer_ip="192.0.2.1",
                    peer_asn=64500),
        Observation(time=T0 + 40, kind="withdraw", prefix="198.51.100.0/24", safi=2, peer_ip="192.0.2.1",
                    peer_asn=64500),
    ]
    path = tmp_path / "updates.20130701.0000"
    write_mrt(path, obs, compression="none")
    return path


def test_safi_is_carried_and_multicast_kept_out_of_unicast_state(tmp_path: Path) -> None:
    path = _mixed(tmp_path)
    every = list(MrtReader(path, safi=None))
    assert [(o.kind, o.prefix, o.safi) for o in every] == [
        ("rib", "198.51.100.0/24", 1), ("rib", "198.51.100.0/24", 2),
        ("announce", "203.0.113.0/24", 1), ("announce", "203.0.113.0/24", 2),
        ("announce", "2001:db8::/32", 2), ("withdraw", "203.0.113.0/24", 2),
        ("withdraw", "198.51.100.0/24", 2),
    ]
    reader = MrtReader(path)  # unicast by default
    assert [o.safi for o in reader] == [1, 1]
    assert reader.stats.safi_filtered == 5 and "5 routes of other SAFIs left out" in reader.stats.summary()
    # the multicast withdrawals must not remove the unicast routes
    state = RoutingState().replay(read_files([str(path)]))
    table = state.table(("", "192.0.2.1"))
    assert table is not None
    assert dict(table.items()) == {"198.51.100.0/24": "64500 3356", "203.0.113.0/24": "64500 174"}
    # studying multicast: its own table, where the withdrawals did remove the routes
    mstate = RoutingState().replay(read_files([str(path)], safi=2))
    mtable = mstate.table(("", "192.0.2.1"))
    assert mtable is not None and dict(mtable.items()) == {"2001:db8::/32": "64500 2914"}


def test_safi_in_json_arrow_and_dump(tmp_path: Path) -> None:
    path = _mixed(tmp_path)
    out = _cli("dump", "--json", "-q", str(path))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["safi"] for r in rows] == [1, 2, 1, 2, 2, 2, 2]
    assert [r["safi"] for r in json.loads(_cli("dump", "--json", "-q", "--safi", "multicast", str(path))
                                          .stdout.replace("}\n{", "},{").join("[]"))] == [2, 2, 2, 2, 2]
    table = to_arrow(MrtReader(path, safi=None))
    assert str(table.schema.field("safi").type) == "int64"
    assert table.column("safi").to_pylist() == [1, 2, 1, 2, 2, 2, 2]
    # dump -m prints what bgpdump prints: multicast BGP4MP routes (lines like unicast ones), but
    # not the TABLE_DUMP_V2 multicast entry
    out = _cli("dump", "-m", str(path))
    lines = out.stdout
    assert lines.encode() == format_bgpdump([o for o in MrtReader(path, safi=None)
                                             if not (o.kind == "rib" and o.safi == 2)])
    assert len(lines.splitlines()) == 6 and "1 routes of other SAFIs left out" in out.stderr
    assert len(_cli("dump", "-m", "--safi", "2", str(path)).stdout.splitlines()) == 5
    if shutil.which("bgpdump"):
        theirs = subprocess.run(["bgpdump", "-m", str(path)], capture_output=True, text=True,
                                timeout=60).stdout
        assert sorted(theirs.splitlines()) == sorted(lines.splitlines())


def test_real_multicast_routes(shared_data: Path) -> None:
    path = shared_data / "mrt/bgpdump-corpus/input/updates.20070211.0141.gz"
    every = list(MrtReader(path, safi=None))
    multicast = [o for o in every if o.safi == 2]
    assert multicast and all(o.kind in ("announce", "withdraw") for o in multicast)
    reader = MrtReader(path)
    unicast = list(reader)
    assert len(unicast) == len(every) - len(multicast) and reader.stats.safi_filtered == len(multicast)
    assert all(o.safi in (1, None) for o in unicast)


def _vpn_reach() -> bytes:
    # MP_REACH_NLRI AFI 2 SAFI 128: next hop = 8-byte RD + IPv6; NLRI = length, label, RD, prefix
    nh = bytes(8) + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    nlri = bytes((24 + 64 + 16,)) + b"\x00\x01\x01" + struct.pack(">HII", 0, 64500, 1) + b"\x20\x01"
    return attr(14, struct.pack(">HBB", 2, 128, len(nh)) + nh + b"\x00" + nlri, flags=0x80)


def test_vpn_routes_are_counted_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "vpn.mrt"
    path_attr = segment(2, [64500, 3356], 4)
    unicast = bgp4mp(update(basic_attrs(path_attr), prefix4("198.51.100.0/24")))
    vpn = bgp4mp(update(attr(1, b"\x00") + attr(2, path_attr) + _vpn_reach()))
    unreach = struct.pack(">HB", 1, 128) + bytes((24 + 64 + 8,)) + bytes(11) + b"\x0a"
    vpn_withdraw = bgp4mp(update(attr(15, unreach, flags=0x80)))
    path.write_bytes(unicast + vpn + vpn_withdraw)
    reader = MrtReader(path, safi=None)
    obs = list(reader)
    assert [(o.kind, o.prefix) for o in obs] == [("announce", "198.51.100.0/24")]  # no "::/112"
    kind = "SAFI 128 (MPLS-labeled VPN) NLRI, not decoded"
    assert reader.stats.unsupported == {kind: 2} and reader.stats.skipped == {kind: 2}
    assert not reader.stats.damaged and reader.stats.damage == []
    assert f"skipped: 2 {kind}" in reader.stats.summary()
    out = _cli("dump", "-m", str(path))
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 1
    assert "SAFI 128 (MPLS-labeled VPN)" in out.stderr


def test_writer_rejects_safis_it_cannot_encode(tmp_path: Path) -> None:
    bad = Observation(time=T0, kind="announce", prefix="10.0.0.0/8", as_path="1", next_hop="192.0.2.1",
                      safi=128, **{k: v for k, v in PEER.items() if k != "origin"})
    with pytest.raises(ValueError, match="safi 128"):
        write_mrt(tmp_path / "x.mrt", [bad])


def test_ipv6_multicast_rib_entries(tmp_path: Path) -> None:
    obs = [Observation(time=T0, kind="rib", prefix="2001:db8::/32", as_path="64500 2914",
                       next_hop="2001:db8::1", safi=safi, peer_ip="2001:db8::2", peer_asn=64500, origin="IGP")
           for safi in (1, 2)]
    path = tmp_path / "bview"
    write_mrt(path, obs, compression="none")
    every = MrtReader(path, safi=None)
    assert [(o.safi, o.next_hop) for o in every] == [(1, "2001:db8::1"), (2, "2001:db8::1")]
    assert [o.safi for o in MrtReader(path, safi=2)] == [2]
    _ = prefix6  # (helper shared with other tests)


def test_store_holds_the_unicast_routes(tmp_path: Path) -> None:
    """Ingest reads unicast routes: the multicast withdrawal of a prefix leaves its unicast route
    held, and no multicast path enters the store."""
    from transitwatch.store import Store, ingest

    path = _mixed(tmp_path)
    renamed = tmp_path / "rrc00" / "updates.20130701.0000"
    renamed.parent.mkdir()
    path.rename(renamed)
    with Store(tmp_path / "h.duckdb") as store:
        ingest(store, [renamed], collector="rrc00")
        rows = store.con.execute(
            """SELECT x.prefix, a.as_path, r.t_end FROM routes r JOIN prefixes x USING (prefix_id)
               JOIN aspaths a USING (aspath_id) ORDER BY x.prefix""").fetchall()
    assert rows == [("198.51.100.0/24", "64500 3356", None), ("203.0.113.0/24", "64500 174", None)]


def _ingested(tmp_path: Path, name: str, method: str = "columnar") -> Path:
    from transitwatch.store import Store, ingest

    folder = tmp_path / name / "rrc00"
    folder.mkdir(parents=True)
    path = _mixed(folder)
    db = tmp_path / f"{name}.duckdb"
    with Store(db) as store:
        ingest(store, [path], collector="rrc00", method=method)
    return db


_SAFI_ROWS = """SELECT x.prefix, a.as_path, r.t_end, r.safi FROM routes r JOIN prefixes x USING (prefix_id)
                JOIN aspaths a USING (aspath_id) ORDER BY ALL"""


def test_stored_routes_carry_their_safi_and_exports_have_it(tmp_path: Path) -> None:
    """Every stored route row says its SAFI (1: the store holds the unicast table), the same by the
    columnar and the reference ingest and by the live writer (which leaves multicast out, as ingest
    does), and the flat and the partitioned Parquet exports carry the column."""
    import duckdb

    from transitwatch.store import Store
    from transitwatch.store.export import export, export_partitioned
    from transitwatch.store.live import LiveWriter

    expected = [("198.51.100.0/24", "64500 3356", None, 1), ("203.0.113.0/24", "64500 174", None, 1)]
    for method in ("columnar", "reference"):
        with Store(_ingested(tmp_path, method, method), read_only=True) as store:
            assert store.con.execute(_SAFI_ROWS).fetchall() == expected, method
    live = tmp_path / "live.duckdb"
    with Store(live) as store:
        writer = LiveWriter(store)
        writer.begin_segment("ris-live:test", T0)
        writer.write(read_files([str(_mixed(tmp_path))], collector="rrc00", safi=None))
        assert store.con.execute(_SAFI_ROWS).fetchall() == expected
    with Store(tmp_path / "columnar.duckdb", read_only=True) as store:
        flat = export(store, tmp_path / "flat", "parquet", ["route_intervals"])[0]
        export_partitioned(store, tmp_path / "parts")
    con = duckdb.connect()
    assert con.execute(f"SELECT prefix, safi FROM read_parquet('{flat}') ORDER BY 1").fetchall() == [
        ("198.51.100.0/24", 1), ("203.0.113.0/24", 1)]
    parts = tmp_path / "parts" / "routes" / "**" / "*.parquet"
    assert con.execute(f"SELECT prefix, safi FROM read_parquet('{parts}') ORDER BY 1").fetchall() == [
        ("198.51.100.0/24", 1), ("203.0.113.0/24", 1)]
    with Store(tmp_path / "parts", read_only=True) as store:  # the export read back as a store
        assert [r[3] for r in store.con.execute(_SAFI_ROWS).fetchall()] == [1, 1]


def test_a_database_from_before_the_safi_column(tmp_path: Path) -> None:
    """An older database (no routes.safi) is read as unicast read-only, and migrated when opened
    for writing; a later ingest appends to it."""
    import duckdb

    from transitwatch.store import Store, ingest
    from transitwatch.store.export import export

    db = _ingested(tmp_path, "old")
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE routes DROP COLUMN safi")  # the layout before this column
    con.close()
    with Store(db, read_only=True) as store:
        flat = export(store, tmp_path / "flat", "parquet", ["route_intervals"])[0]
    assert duckdb.connect().execute(f"SELECT DISTINCT safi FROM read_parquet('{flat}')").fetchall() == [(1,)]
    later = tmp_path / "later" / "rrc00" / "updates.20130701.0100"
    later.parent.mkdir(parents=True)
    new = Observation(time=T0 + 3600, kind="announce", prefix="192.0.2.0/24", as_path="64500 1299",
                      next_hop="192.0.2.1", safi=1, **PEER)
    write_mrt(later, [new], compression="none")
    with Store(db) as store:
        ingest(store, [later], collector="rrc00")
        rows = store.con.execute(_SAFI_ROWS).fetchall()
    assert [(r[0], r[3]) for r in rows] == [
        ("192.0.2.0/24", 1), ("198.51.100.0/24", 1), ("203.0.113.0/24", 1)]
