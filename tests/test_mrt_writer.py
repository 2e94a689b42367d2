"""The MRT writer: bytes per RFC 6396, read back identically by bgpdump and by our own decoder."""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import ipaddress
import re
import shutil
import struct
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transitwatch import Observation
from transitwatch.sources.mrt_writer import MrtWriter, write_mrt

BGPDUMP = shutil.which("bgpdump")
needs_bgpdump = pytest.mark.skipif(
    BGPDUMP is None, reason="bgpdump not on PATH (Debian package 'bgpdump'; .ci/run installs it)"
)

T0 = 1506848880  # 2017-10-01 09:08 UTC: AS131279 gains AS20485 beside AS4837.


def rib(peer_ip: str, peer_asn: int, prefix: str, as_path: str, next_hop: str, **kw: object) -> Observation:
    kw.setdefault("origin", "IGP")
    return Observation(time=T0, kind="rib", peer_ip=peer_ip, peer_asn=peer_asn, prefix=prefix,
                       as_path=as_path, next_hop=next_hop, **kw)


def scenario() -> list[Observation]:
    """A small RIB (v4 + v6, three peers) followed by updates using every attribute, then a state change."""
    v4a, v4b, v6 = ("193.0.0.56", 3333), ("80.81.192.1", 20485), ("2001:7f8::3", 4200000001)
    return [
        rib(*v4a, "175.45.176.0/22", "3333 174 4837 131279", "193.0.0.56",
            communities="3333:1 174:21000", originated=T0 - 86400),
        rib(*v4b, "175.45.176.0/22", "20485 4837 131279", "80.81.192.1", med=10, local_pref=200),
        rib(*v6, "175.45.176.0/22", "4200000001 2914 4837 131279", "10.0.0.1",
            large_communities="4200000001:1:2"),
        rib(*v4a, "210.52.109.0/24", "3333 4837 {131279,65001}", "193.0.0.56", origin="INCOMPLETE",
            atomic_aggregate=True, aggregator="4837 219.158.1.1"),
        rib(*v6, "2001:db8:100::/40", "4200000001 (65000 65001) [65002,65003] 131279", "2001:7f8::3",
            origin="EGP"),
        rib(*v4a, "2001:db8:100::/40", "3333 131279", "2001:7f8::1:3333"),
        Observation(time=T0 + 60, kind="announce", peer_ip="80.81.192.1", peer_asn=20485,
                    prefix="175.45.176.0/24", as_path="20485 131279 {64512,4200000000}", origin="IGP",
                    next_hop="80.81.192.1", med=0, local_pref=100, communities="20485:1 no-export",
                    large_communities="20485:0:1 131279:2:3", atomic_aggregate=True,
                    aggregator="131279 175.45.176.1"),
        Observation(time=T0 + 61, kind="announce", peer_ip="2001:7f8::3", peer_asn=4200000001,
                    prefix="2001:db8:200::/48", as_path="4200000001 20485", origin="EGP",
                    next_hop="2001:7f8::3", med=7, communities="65535:0"),
        Observation(time=T0 + 62, kind="withdraw", peer_ip="80.81.192.1", peer_asn=20485,
                    prefix="175.45.176.0/24"),
        Observation(time=T0 + 62, kind="withdraw", peer_ip="2001:7f8::3", peer_asn=4200000001,
                    prefix="2001:db8:200::/48"),
        Observation(time=T0 + 63, kind="state", peer_ip="80.81.192.1", peer_asn=20485, old_state=6,
                    new_state=1),
    ]


def bgpdump_line(obs: Observation, *, extended_time: bool = False, large: bool = True) -> str:
    """The line `bgpdump -m [-l]` prints for obs, built from its fields (bgpdump 1.6.2's format)."""
    micros = round((obs.time - int(obs.time)) * 1e6)
    if obs.kind == "rib":
        stamp = f"{int(obs.time)}"
    elif extended_time and micros:
        stamp = f"{int(obs.time)}.{micros:06d}"
    else:
        stamp = f"{int(obs.time)}"
    label = {"rib": "TABLE_DUMP2"}.get(obs.kind, "BGP4MP_ET" if stamp != f"{int(obs.time)}" else "BGP4MP")
    if obs.path_id is not None:
        label += "_AP"
    head = f"{label}|{stamp}|"
    if obs.kind == "state":
        line = f"{head}STATE|{obs.peer_ip}|{obs.peer_asn}|{obs.old_state}|{obs.new_state}"
        return canonical_lines([line])[0]
    prefix = obs.prefix if obs.path_id is None else f"{obs.prefix}|{obs.path_id}"
    if obs.kind == "withdraw":
        return canonical_lines([f"{head}W|{obs.peer_ip}|{obs.peer_asn}|{prefix}"])[0]
    fields = [
        "B" if obs.kind == "rib" else "A", obs.peer_ip, str(obs.peer_asn), prefix, obs.as_path or "",
        obs.origin or "INCOMPLETE", obs.next_hop, str(obs.local_pref or 0), str(obs.med or 0),
        obs.communities or "",
    ]
    if large:
        fields.append(obs.large_communities or "")
    aggregator = obs.aggregator or ""
    if aggregator.endswith(" 255.255.255.255"):
        aggregator = ""  # bgpdump's "no aggregator" value: it prints nothing for it
    fields += ["AG" if obs.atomic_aggregate else "NAG", aggregator]
    return canonical_lines([head + "|".join(fields) + "|"])[0]


def canonical(text: str) -> str:
    """An address or prefix in RFC 5952 form, anything else unchanged. bgpdump (and, following it,
    our decoder) shortens a single zero group of an IPv6 address to "::" ("2001::1:0:1:0:1:0"),
    where Python and RFC 5952 keep it ("2001:0:1:0:1:0:1:0"): the same address either way."""
    if ":" not in text or " " in text:
        return text
    try:
        return str(ipaddress.ip_network(text) if "/" in text else ipaddress.ip_address(text))
    except ValueError:
        return text


def canonical_lines(lines: Iterable[str]) -> list[str]:
    return ["|".join(canonical(field) for field in line.split("|")) for line in lines]


def run_bgpdump(path: Path, *options: str) -> list[str]:
    assert BGPDUMP is not None
    done = subprocess.run([BGPDUMP, "-q", "-m", *options, str(path)], capture_output=True, text=True,
                          check=True)
    return canonical_lines(done.stdout.splitlines())


def mrt_records(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(time, type, subtype, body) of each record of an uncompressed MRT file (RFC 6396 2.)."""
    records, offset = [], 0
    while offset < len(data):
        time, mrt_type, subtype, length = struct.unpack_from(">IHHI", data, offset)
        records.append((time, mrt_type, subtype, data[offset + 12 : offset + 12 + length]))
        offset += 12 + length
    assert offset == len(data), "the last record is truncated"
    return records


# --- bgpdump as the oracle ------------------------------------------------------------------------


@needs_bgpdump
def test_bgpdump_prints_every_field_we_wrote(tmp_path: Path) -> None:
    observations = scenario()
    path = tmp_path / "rrc00" / "updates.20171001.0908.gz"
    path.parent.mkdir()
    count = write_mrt(path, observations)
    assert count == 1 + 3 + 5  # peer index + 3 prefixes; 2 announces, 2 withdrawals, 1 state change
    assert run_bgpdump(path, "-l") == [bgpdump_line(o) for o in observations]
    # Without -l bgpdump leaves large communities out of the line altogether.
    assert run_bgpdump(path) == [bgpdump_line(o, large=False) for o in observations]


@needs_bgpdump
def test_bgpdump_reads_extended_time_and_add_path(tmp_path: Path) -> None:
    base = scenario()
    observations = [
        base[0], base[1].replace(path_id=5), base[2].replace(path_id=6),  # plain and ADD-PATH RIB records
        base[6].replace(time=T0 + 60.25), base[7].replace(time=T0 + 61.000001, path_id=1),
        base[8].replace(time=T0 + 62.5, path_id=3), base[9].replace(time=T0 + 62.5),
        base[10].replace(time=T0 + 63.999999), base[6].replace(time=T0 + 64.0),
    ]
    path = tmp_path / "updates.et.mrt"
    write_mrt(path, observations, extended_time=True)
    expected = [bgpdump_line(o, extended_time=True) for o in observations]
    assert expected[3].startswith("BGP4MP_ET|1506848940.250000|A|")  # the oracle's own check
    assert run_bgpdump(path, "-l") == expected


@needs_bgpdump
def test_fractional_times_are_truncated_without_extended_time(tmp_path: Path) -> None:
    obs = scenario()[10].replace(time=T0 + 5.9)
    write_mrt(tmp_path / "u.mrt", [obs])
    assert run_bgpdump(tmp_path / "u.mrt") == [f"BGP4MP|{T0 + 5}|STATE|80.81.192.1|20485|6|1"]


@needs_bgpdump
def test_long_as_path_and_attributes_over_255_bytes(tmp_path: Path) -> None:
    long_path = " ".join(str(4200000000 + i) for i in range(600))  # 3 AS_SEQUENCE segments, 2406 bytes
    communities = " ".join(f"65000:{i}" for i in range(100))  # 400 bytes: extended length
    observations = [
        rib("193.0.0.56", 3333, "0.0.0.0/0", long_path, "193.0.0.56", communities=communities),
        scenario()[7].replace(as_path=long_path, communities=communities),
    ]
    write_mrt(tmp_path / "long.mrt", observations)
    assert run_bgpdump(tmp_path / "long.mrt", "-l") == [bgpdump_line(o) for o in observations]


def _address(version: int, value: int) -> str:
    """An address from an integer; IPv6 ones inside 2000::/3, since for ::/96 bgpdump (via glibc)
    prints the IPv4-compatible form "::0.0.0.2" where Python prints "::2"."""
    if version == 6:
        value |= 0x2001 << 112
    return str(ipaddress.ip_address(value.to_bytes(4 if version == 4 else 16, "big")))


ASN = st.integers(0, 2**32 - 1)
AS_PATH = st.lists(st.one_of(
    ASN.map(str),
    st.lists(ASN, min_size=1, max_size=4).map(lambda s: "{" + ",".join(map(str, s)) + "}"),
    st.lists(ASN, min_size=1, max_size=3).map(lambda s: "(" + " ".join(map(str, s)) + ")"),
    st.lists(ASN, min_size=1, max_size=3).map(lambda s: "[" + ",".join(map(str, s)) + "]"),
), max_size=8).map(" ".join)
COMMUNITIES = st.lists(st.tuples(st.integers(0, 65534), st.integers(0, 65535)), max_size=5).map(
    lambda cs: " ".join(f"{a}:{b}" for a, b in cs) or None)
LARGE_COMMUNITIES = st.lists(st.tuples(ASN, ASN, ASN), max_size=3).map(
    lambda cs: " ".join(f"{a}:{b}:{c}" for a, b, c in cs) or None)


def random_observations(data: st.DataObject, kinds: list[str], *, micros: bool = False,
                        path_ids: bool = False) -> list[Observation]:
    """A few observations of the given kinds with random fields (RIB entries first, as one dump)."""
    observations = []
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(kinds))
        obs = Observation(
            time=T0 if kind == "rib" else T0 + data.draw(st.integers(1, 1000)) + (
                data.draw(st.integers(0, 999_999)) / 1e6 if micros else 0),
            kind=kind,
            peer_ip=_address(data.draw(st.sampled_from([4, 6])), data.draw(st.integers(1, 2**32 - 1))),
            peer_asn=data.draw(ASN),
        )
        if kind == "state":
            observations.append(obs.replace(old_state=data.draw(st.integers(1, 6)),
                                            new_state=data.draw(st.integers(1, 6))))
            continue
        version = data.draw(st.sampled_from([4, 6]))
        bits = 32 if version == 4 else 128
        length = data.draw(st.integers(0, bits))
        mask = (2**bits - 1) >> (bits - length) << (bits - length)
        network = int(ipaddress.ip_address(_address(version, data.draw(st.integers(0, 2**bits - 1))))) & mask
        network_type = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
        obs = obs.replace(prefix=str(network_type((network, length))))
        if path_ids and data.draw(st.booleans()):
            obs = obs.replace(path_id=data.draw(ASN))
        if kind != "withdraw":
            obs = obs.replace(
                as_path=data.draw(AS_PATH), origin=data.draw(st.sampled_from(["IGP", "EGP", "INCOMPLETE"])),
                next_hop=_address(version, data.draw(st.integers(1, 2**bits - 1))),
                med=data.draw(st.none() | st.integers(1, 2**32 - 1)),
                local_pref=data.draw(st.none() | st.integers(1, 2**32 - 1)),
                communities=data.draw(COMMUNITIES), large_communities=data.draw(LARGE_COMMUNITIES),
                atomic_aggregate=data.draw(st.booleans()),
                aggregator=data.draw(st.none() | st.tuples(ASN, st.integers(0, 2**32 - 1)).map(
                    lambda a: f"{a[0]} {_address(4, a[1])}")),
            )
            if kind == "rib" and data.draw(st.booleans()):
                obs = obs.replace(originated=T0 - data.draw(st.integers(0, 10**6)))
        observations.append(obs)
    observations.sort(key=lambda o: o.kind != "rib")  # a stable sort: the RIB entries form one dump
    return observations


@needs_bgpdump
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bgpdump_agrees_on_random_observations(tmp_path: Path, data: st.DataObject) -> None:
    extended_time = data.draw(st.booleans())
    observations = random_observations(data, ["rib", "announce", "withdraw", "state"], micros=extended_time,
                                       path_ids=True)
    path = tmp_path / "random.mrt"
    write_mrt(path, observations, extended_time=extended_time)
    assert run_bgpdump(path, "-l") == [bgpdump_line(o, extended_time=extended_time) for o in observations]


# --- bytes, records, compression ------------------------------------------------------------------


def test_withdrawal_bytes_follow_rfc_6396_and_4271(tmp_path: Path) -> None:
    obs = Observation(time=T0, kind="withdraw", peer_ip="80.81.192.1", peer_asn=20485, prefix="10.128.0.0/9")
    assert write_mrt(tmp_path / "w.mrt", [obs], local_asn=65000, local_ip="192.0.2.9") == 1
    withdrawn = bytes([9, 10, 128])  # /9 needs two address bytes
    bgp = b"\xff" * 16 + struct.pack(">HBH", 19 + 2 + 3 + 2, 2, 3) + withdrawn + b"\x00\x00"
    body = struct.pack(">IIHH", 20485, 65000, 0, 1) + bytes([80, 81, 192, 1, 192, 0, 2, 9]) + bgp
    assert (tmp_path / "w.mrt").read_bytes() == struct.pack(">IHHI", T0, 16, 4, len(body)) + body


def test_rib_dump_layout(tmp_path: Path) -> None:
    observations = scenario()[:6]
    assert write_mrt(tmp_path / "bview.mrt", observations, bgp_id="10.9.8.7", view_name="rrc00") == 4
    records = mrt_records((tmp_path / "bview.mrt").read_bytes())
    assert [(t, ty, sub) for t, ty, sub, _ in records] == [(T0, 13, 1), (T0, 13, 2), (T0, 13, 2), (T0, 13, 4)]
    index = records[0][3]
    assert index[:4] == bytes([10, 9, 8, 7]) and index[4:11] == b"\x00\x05rrc00"
    assert struct.unpack_from(">H", index, 11)[0] == 3  # three distinct peers, in order of appearance
    # First RIB record: sequence 0, 175.45.176.0/22, three entries; the first originated a day earlier.
    seq, length = struct.unpack_from(">IB", records[1][3])
    assert (seq, length, records[1][3][5:8]) == (0, 22, bytes([175, 45, 176]))
    count, peer, originated = struct.unpack_from(">HHI", records[1][3], 8)
    assert (count, peer, originated) == (3, 0, T0 - 86400)
    assert [struct.unpack_from(">I", r[3])[0] for r in records[1:]] == [0, 1, 2]


def test_each_new_dump_time_starts_a_new_peer_index(tmp_path: Path) -> None:
    first = scenario()[0]
    observations = [first, first.replace(time=T0 + 1), first.replace(prefix="10.0.0.0/8", time=T0 + 1)]
    assert write_mrt(tmp_path / "two.mrt", observations) == 2 + 3
    kinds = [(t, sub) for t, _, sub, _ in mrt_records((tmp_path / "two.mrt").read_bytes())]
    assert kinds == [(T0, 1), (T0, 2), (T0 + 1, 1), (T0 + 1, 2), (T0 + 1, 2)]


def test_compression_from_suffix_and_by_name(tmp_path: Path) -> None:
    observations = scenario()
    plain = tmp_path / "updates.mrt"
    write_mrt(plain, observations)
    raw = plain.read_bytes()
    assert raw[:4] == struct.pack(">I", T0)
    cases = [("a.gz", None, b"\x1f\x8b", gzip.decompress), ("a.bz2", None, b"BZh", bz2.decompress),
             ("b.dat", "gzip", b"\x1f\x8b", gzip.decompress), ("b.bin", "bz2", b"BZh", bz2.decompress)]
    for name, compression, magic, decompress in cases:
        path = tmp_path / name
        assert write_mrt(path, observations, compression=compression) == 9
        data = path.read_bytes()
        assert data.startswith(magic) and len(data) < len(raw), name
        assert decompress(data) == raw, name
    write_mrt(tmp_path / "c.gz", observations, compression="none")
    assert (tmp_path / "c.gz").read_bytes() == raw
    write_mrt(tmp_path / "again.gz", observations)
    assert (tmp_path / "again.gz").read_bytes() == (tmp_path / "a.gz").read_bytes()  # reproducible
    with pytest.raises(ValueError, match="compression 'zstd'"):
        write_mrt(tmp_path / "d", observations, compression="zstd")


@needs_bgpdump
def test_compressed_files_decode_identically_in_bgpdump(tmp_path: Path) -> None:
    observations = scenario()
    outputs = []
    for name in ("u.mrt", "u.gz", "u.bz2"):
        write_mrt(tmp_path / name, observations)
        outputs.append(run_bgpdump(tmp_path / name, "-l"))
    assert outputs[0] == outputs[1] == outputs[2] and len(outputs[0]) == len(observations)


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prefix": "175.45.176.0/33"}, "prefix '175.45.176.0/33'"),
        ({"prefix": "175.45.176.1/22"}, "prefix '175.45.176.1/22' has host bits set"),
        ({"prefix": "north-korea"}, "prefix 'north-korea'"),
        ({"prefix": None}, "prefix None"),
        ({"as_path": "3333 x 131279"}, "as_path '3333 x 131279'"),
        ({"as_path": "3333 {4837"}, "as_path '3333 {4837'"),
        ({"as_path": "3333 4294967296"}, "as_path '3333 4294967296': '4294967296' is not an AS number"),
        ({"next_hop": "193.0.0.256"}, "next_hop '193.0.0.256'"),
        ({"next_hop": "2001:db8::1"}, "next_hop '2001:db8::1' is IPv6 but prefix"),
        ({"next_hop": None}, "next_hop is missing"),
        ({"peer_ip": "peer"}, "peer_ip 'peer'"),
        ({"peer_asn": -1}, "peer_asn -1"),
        ({"origin": "BGP"}, "origin 'BGP'"),
        ({"med": 2**32}, "med 4294967296"),
        ({"communities": "1:70000"}, "communities '1:70000'"),
        ({"large_communities": "1:2"}, "large_communities '1:2'"),
        ({"aggregator": "4837 2001:db8::1"}, "aggregator '4837 2001:db8::1'"),
        ({"kind": "update"}, "kind 'update'"),
    ],
)
def test_bad_observation_names_field_and_value(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    good = scenario()[6]
    path = tmp_path / "bad.mrt"
    with MrtWriter(path) as writer:
        writer.write(good)
        with pytest.raises(ValueError, match=f"bad.mrt: observation #1: {re.escape(message)}"):
            writer.write(good.replace(**change))
        writer.write(good)  # the writer is still usable and wrote nothing of the bad observation
        assert writer.records_written == 2
    assert len(mrt_records(path.read_bytes())) == 2


def test_bad_rib_entry_leaves_the_dump_intact(tmp_path: Path) -> None:
    observations = scenario()[:3]
    with MrtWriter(tmp_path / "r.mrt") as writer:
        writer.write(observations[0])
        with pytest.raises(ValueError, match="as_path"):
            writer.write(observations[1].replace(as_path="(1 2"))
        for obs in observations[1:]:
            writer.write(obs)
    with MrtWriter(tmp_path / "ok.mrt") as writer:
        for obs in observations:
            writer.write(obs)
    assert (tmp_path / "r.mrt").read_bytes() == (tmp_path / "ok.mrt").read_bytes()


def test_state_change_needs_states_and_closed_writer_refuses(tmp_path: Path) -> None:
    writer = MrtWriter(tmp_path / "s.mrt")
    with pytest.raises(ValueError, match="new_state None"):
        writer.write(scenario()[10].replace(new_state=None))
    writer.close()
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(scenario()[10])
    assert (tmp_path / "s.mrt").read_bytes() == b""


# --- round trip through the project's decoder -----------------------------------------------------

CARRIED = ("time", "kind", "peer_ip", "peer_asn", "prefix", "as_path", "origin", "next_hop", "local_pref",
           "med", "communities", "large_communities", "atomic_aggregate", "aggregator", "path_id",
           "old_state", "new_state", "originated")


def carried(observations: Iterable[Observation]) -> list[dict[str, object]]:
    """The fields MRT carries (not source, offset, collector, record_type), times to the microsecond."""
    def value(field: str, v: object) -> object:
        if field == "time":
            return round(v, 6) if isinstance(v, float) else v
        return canonical(v) if field in ("peer_ip", "prefix", "next_hop") and isinstance(v, str) else v

    return [{k: value(k, v) for k, v in o.to_dict().items() if k in CARRIED} for o in observations]


def as_written(obs: Observation, *, extended_time: bool = False) -> Observation:
    """What MRT can say about obs: RIB originated times, no attributes on withdrawals, and whole
    seconds except for BGP4MP_ET records."""
    if obs.kind == "rib":
        return obs.replace(time=int(obs.time), originated=obs.originated or int(obs.time))
    if not extended_time:
        obs = obs.replace(time=int(obs.time))
    if obs.kind == "withdraw":
        return Observation(time=obs.time, kind="withdraw", peer_ip=obs.peer_ip, peer_asn=obs.peer_asn,
                           prefix=obs.prefix, path_id=obs.path_id)
    return obs


def needs_decoder() -> None:
    if importlib.util.find_spec("transitwatch.sources.mrt") is None:
        pytest.skip("transitwatch.sources.mrt (the decoder) has not landed yet")


def test_round_trip_through_read_mrt(tmp_path: Path) -> None:
    needs_decoder()
    from transitwatch.sources.mrt import read_mrt

    observations = scenario()
    observations += [observations[1].replace(path_id=9), observations[6].replace(path_id=4, time=T0 + 70)]
    for name in ("rt.mrt", "rt.gz", "rt.bz2"):
        write_mrt(tmp_path / name, observations)
        decoded = list(read_mrt(tmp_path / name))
        assert carried(decoded) == carried(as_written(o) for o in observations), name
    labels = [o.record_type for o in decoded]
    assert labels == ["TABLE_DUMP2"] * 6 + ["BGP4MP"] * 5 + ["TABLE_DUMP2_AP", "BGP4MP_AP"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_round_trip_through_read_mrt(tmp_path: Path, data: st.DataObject) -> None:
    needs_decoder()
    from transitwatch.sources.mrt import read_mrt

    extended_time = data.draw(st.booleans())
    observations = random_observations(data, ["rib", "announce", "withdraw", "state"],
                                       micros=data.draw(st.booleans()), path_ids=True)
    path = tmp_path / "random.mrt"
    write_mrt(path, observations, extended_time=extended_time)
    expected = [as_written(o, extended_time=extended_time) for o in observations]
    assert carried(read_mrt(path)) == carried(expected)
