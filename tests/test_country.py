"""Country upstreams, the countries ranking and country events, on observations built here and
on the real full table in updates.et-header.2015.gz."""

from __future__ import annotations

from pathlib import Path

import pytest

from transitwatch import Observation
from transitwatch.metrics.country import (
    countries_ranking,
    country_upstream_of_path,
    country_upstreams,
    country_upstreams_from_view,
    country_view,
)
from transitwatch.registry import Registry, UnknownCountryError
from transitwatch.state.table import RoutingState

T0 = 1506844800.0  # 2017-10-01 08:00 UTC
T1 = 1506848880.0  # 09:08 UTC

PEERS = {"ntt": ("129.250.0.11", 2914), "level3": ("4.69.184.193", 3356), "he": ("216.218.252.164", 6939)}
KP = ["175.45.176.0/24", "175.45.177.0/24", "175.45.178.0/24", "175.45.179.0/24"]


def obs(kind: str, time: float, peer: str, prefix: str, path: str | None = None) -> Observation:
    ip, asn = PEERS[peer]
    return Observation(time=time, kind=kind, peer_ip=ip, peer_asn=asn, prefix=prefix, as_path=path,
                       origin="IGP" if path else None, next_hop=ip if path else None,
                       collector="rrc00", source="test.mrt", offset=int(time - T0))


def baseline() -> list[Observation]:
    out = []
    for peer, (_, asn) in PEERS.items():
        for prefix in KP:
            out.append(obs("rib", T0, peer, prefix, f"{asn} 4837 131279"))
        # China Unicom's own routes, so AS4837's country and name come from what it originates
        out.append(obs("rib", T0, peer, "221.192.0.0/14", f"{asn} 4837"))
        out.append(obs("rib", T0, peer, "188.43.0.0/16", f"{asn} 20485"))
        # a prefix that geolocates to North Korea but is originated by China Unicom's AS9929
        out.append(obs("rib", T0, peer, "210.52.109.0/24", f"{asn} 9929"))
        out.append(obs("rib", T0, peer, "113.207.128.0/17", f"{asn} 9929"))
        out.append(obs("rib", T0, peer, "8.8.8.0/24", f"{asn} 15169"))
    return out


def transtelecom() -> list[Observation]:
    # 09:08: two peers hear three of the four KP routes through TransTelecom AS20485
    return [obs("announce", T1 + i, peer, prefix, f"{PEERS[peer][1]} 20485 131279")
            for i, peer in enumerate(["ntt", "level3"])
            for prefix in (KP[0], KP[2], KP[3])]


def test_country_upstreams_kp() -> None:
    state = RoutingState().replay(baseline())
    report = country_upstreams(state, "kp", Registry())
    assert report.country == "KP" and report.timezone == "Asia/Pyongyang"
    assert report.addresses == 5 * 256 and report.address_family == "ipv4"
    by_asn = {u.asn: u for u in report.upstreams}
    assert set(by_asn) == {4837, 9929}
    assert by_asn[4837].share == pytest.approx(0.8) and by_asn[4837].prefixes == KP
    assert by_asn[4837].country == "CN" and by_asn[4837].peers == 3
    assert by_asn[9929].share == pytest.approx(0.2) and by_asn[9929].prefixes == ["210.52.109.0/24"]
    assert by_asn[9929].country == "CN"  # a /17 in China outweighs the /24 in North Korea
    # offline: no AS-level name; the 2024 holder of its addresses is only a hint
    assert by_asn[4837].name is None and by_asn[4837].name_source == "geolocation-2024"
    assert by_asn[4837].name_hint and "UNICOM" in by_asn[4837].name_hint.upper()
    assert [n.asn for n in report.networks] == [131279]
    sources = {p.prefix: p.source for p in report.prefixes}
    assert sources == dict.fromkeys([*KP, "210.52.109.0/24"], "geolite2")
    as_json = report.to_dict()
    assert as_json["country"] == "KP"
    assert as_json["upstreams"][0]["asn"] == 4837 and as_json["upstreams"][0]["share"] == 0.8
    assert {"asn", "name", "country", "prefixes", "share", "peers"} <= set(as_json["upstreams"][0])


def test_country_upstreams_after_transtelecom() -> None:
    state = RoutingState().replay(baseline() + transtelecom())
    report = country_upstreams(state, "KP", Registry())
    by_asn = {u.asn: u for u in report.upstreams}
    assert by_asn[20485].country == "RU" and by_asn[20485].peers == 2
    assert by_asn[20485].share == pytest.approx(0.6)  # 3 of the 5 /24s
    # HE still holds all four /24s through 4837, and NTT and Level 3 keep .177 through it
    assert by_asn[4837].prefixes == KP and by_asn[4837].share == pytest.approx(0.8)
    assert by_asn[4837].peers == 3
    assert {p.prefix: p.upstreams for p in report.prefixes}[KP[0]] == [4837, 20485]


def test_upstream_walk() -> None:
    registry = Registry()
    registry.add_origins([(131279, KP[0]), (4837, "221.192.0.0/14"), (20485, "188.43.0.0/16")])
    assert country_upstream_of_path("2914 4837 131279", "KP", registry) == 4837
    assert country_upstream_of_path("2914 4837 4837 131279", "KP", registry) == 4837
    assert country_upstream_of_path("131279", "KP", registry) is None  # the peer is domestic
    assert country_upstream_of_path("2914 {4837,20485} 131279", "KP", registry) == frozenset({4837, 20485})
    assert country_upstream_of_path("2914 20485", "KP", registry) == 20485  # foreign origin


def test_unknown_country() -> None:
    state = RoutingState().replay(baseline())
    with pytest.raises(UnknownCountryError, match="unknown country code 'XY'"):
        country_upstreams(state, "XY", Registry())


def test_country_without_routes_is_empty() -> None:
    report = country_upstreams(RoutingState().replay(baseline()), "FR", Registry())
    assert report.upstreams == [] and report.addresses == 0 and report.timezone == "Europe/Paris"


def test_countries_ranking() -> None:
    state = RoutingState().replay(baseline() + transtelecom())
    rows = {r.country: r for r in countries_ranking(state, Registry())}
    assert {"KP", "CN", "RU", "US"} <= set(rows)
    kp = rows["KP"]
    assert kp.upstreams == 3 and kp.top_upstream == 4837
    # shares 0.8, 0.6, 0.2 normalised: HHI = (0.8² + 0.6² + 0.2²) / 1.6²
    assert kp.hhi == pytest.approx((0.64 + 0.36 + 0.04) / 2.56)
    # single-upstream countries (each peer's own AS is the upstream of CN, RU, US) rank by share
    ranking = countries_ranking(state, Registry())
    assert ranking[0].top_share >= ranking[-1].top_share
    assert all(r.to_dict()["country"] == r.country for r in ranking)


def test_country_view_over_time() -> None:
    registry = Registry()
    view = country_view("KP", baseline() + transtelecom(), registry)
    assert view.target.label == "KP"
    before = country_upstreams_from_view(view, registry, at=T1 - 1)
    after = country_upstreams_from_view(view, registry, at=T1 + 10)
    assert {u.asn for u in before.upstreams} == {4837, 9929}
    assert {u.asn for u in after.upstreams} == {4837, 9929, 20485}
    span = next(s for s in view.spans if s.upstream == 20485)
    assert span.start == T1 and span.path.endswith("20485 131279") and span.source == "test.mrt"


def test_real_full_table_kp(shared_data: Path) -> None:
    """PCH AS3856's full table of 2015-10-23: KP's upstreams with the offline (bundled) data."""
    from transitwatch.sources.mrt import read_mrt

    path = shared_data / "mrt" / "bgpdump-corpus" / "input" / "updates.et-header.2015.gz"
    state = RoutingState().replay(read_mrt(path))
    report = country_upstreams(state, "KP", Registry())
    shares = {u.asn: round(u.share, 6) for u in report.upstreams}
    assert shares == {4837: 0.8, 9929: 0.2}
    by_asn = {u.asn: u for u in report.upstreams}
    assert by_asn[4837].prefixes == KP and by_asn[4837].country == "CN"
    assert by_asn[9929].prefixes == ["210.52.109.0/24"] and by_asn[9929].country == "CN"
    origins = {p.prefix: (p.origins, p.source) for p in report.prefixes}
    assert origins["210.52.109.0/24"] == ([9929], "geolite2")
    assert all(origins[p] == ([131279], "geolite2") for p in KP)
    assert [n.asn for n in report.networks] == [131279]


def test_country_events_new_upstream() -> None:
    from transitwatch.detect.country_change import country_changes, country_changes_dict

    registry = Registry()
    changes = country_changes("KP", baseline() + transtelecom(), registry)
    assert changes.baseline == [4837, 9929]
    assert [(e.type, e.upstream) for e in changes.events] == [("new_upstream", 20485)]
    event = changes.events[0]
    assert event.onset == T1 and event.confirmed_by == "peers" and event.peers == 2
    assert event.evidence[0].as_path == "2914 20485 131279" and event.evidence[0].source == "test.mrt"
    out = country_changes_dict(changes, registry, "Asia/Pyongyang")
    assert out["country"] == "KP" and out["target"] == "KP"
    first = out["events"][0]
    assert first["country"] == "KP" and first["upstream_country"] == "RU"
    assert first["onset"] == "2017-10-01T09:08:00Z"
    assert first["onset_local"] == "2017-10-01T17:38:00+08:30"  # Pyongyang was UTC+8:30 in 2017


def test_country_events_lost_upstream() -> None:
    from transitwatch.detect.country_change import country_changes

    # every peer withdraws the KP-geolocated prefix that AS9929 originates
    gone = [obs("withdraw", T1 + 60 + i, peer, "210.52.109.0/24") for i, peer in enumerate(PEERS)]
    changes = country_changes("KP", baseline() + gone, Registry())
    assert [(e.type, e.upstream) for e in changes.events] == [("lost_upstream", 9929)]
    assert changes.events[0].peers == 3


def test_country_routes_found_by_position_equal_a_walk(shared_data: Path) -> None:
    """One country's routes are picked by their rows in the index (not a second walk of every
    table): the same routes, in the same order, as walking the tables, on a many-peer RIB."""
    from collections import defaultdict

    import transitwatch as tw
    from transitwatch.metrics.country import _Route, _TableIndex

    path = shared_data / "mrt" / "bgpdump-corpus" / "input" / "bview.20020722.2337.gz"
    state = RoutingState().replay(tw.files(str(path)).observations())
    index = _TableIndex.of(state, Registry(), per_route=False)
    codes = sorted({c for c in index.countries if c})
    assert len(state.tables()) > 5 and len(codes) > 50
    for wanted in [*codes[::10], None]:
        got, _ = index.routes_by_country(wanted)
        where = {p: c for p, c in zip(index.prefixes, index.countries, strict=True)
                 if c is not None and (wanted is None or c == wanted)}
        walked: dict[str, list[_Route]] = defaultdict(list)
        for table in state.tables():
            for key, as_path in table.items():
                prefix = key if isinstance(key, str) else key[0]
                if prefix in where:
                    walked[where[prefix]].append(_Route(table.peer, prefix, as_path))
        assert list(got.items()) == list(walked.items())
