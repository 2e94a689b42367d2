"""Registry: RIR delegated files (parse, download with resume, staleness), bundled geolocation,
time zones and the Registry facade."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from local_http import LocalHTTPServer, ServedFile
from transitwatch.registry import (
    Registry,
    UnknownCountryError,
    geo,
    normalise_country,
    rir,
    timezone_of,
    timezones,
)
from transitwatch.registry.rir import RegistryFileError, RirData, load_registry_dir, update_registry

FIXTURES = Path(__file__).parent / "data" / "registry"
APNIC = FIXTURES / "delegated-apnic-extended-latest"
RIPE = FIXTURES / "delegated-ripencc-extended-latest"
ASNAMES = FIXTURES / "asn.txt"


def _fresh(path: Path, directory: Path) -> Path:
    """Copy a fixture with today's mtime (the header dates are what staleness is judged on)."""
    target = directory / path.name
    shutil.copyfile(path, target)
    return target


# -- delegated files ---------------------------------------------------------------------------
def test_parse_delegated_records() -> None:
    rows = rir.parse_delegated(APNIC.read_text().splitlines())
    # header, summary and comment lines dropped; 9 records remain (one "available")
    assert len(rows) == 9
    kp = next(r for r in rows if r["cc"] == "KP" and r["type"] == "ipv4")
    assert kp["prefixes"] == ["175.45.176.0/22"] and kp["opaque_id"] == "A9171ACD"
    au = next(r for r in rows if r["cc"] == "AU")
    assert au["prefixes"] == ["1.0.0.0/23", "1.0.2.0/24"]  # 768 addresses: not a power of two
    v6 = next(r for r in rows if r["type"] == "ipv6" and r["cc"] == "KP")
    assert v6["prefixes"] == ["2400:6c00::/32"]


def test_rir_lookups() -> None:
    data = RirData()
    loaded = data.add_delegated(APNIC)
    data.add_delegated(RIPE)
    data.freeze()
    assert loaded.registry == "apnic" and loaded.data_date is not None
    assert loaded.data_date.isoformat() == "2024-06-17" and loaded.records == 8  # "available": no cc
    assert data.country_of_asn(131279) == ("KP", "apnic")
    assert data.country_of_asn(20483) == ("RU", "ripencc")  # inside the 20480+5 range
    assert data.country_of_asn(20479) is None
    assert data.country_of_prefix("175.45.178.0/24") == ("KP", "apnic")
    assert data.country_of_prefix("210.52.109.0/24") == ("CN", "apnic")
    assert data.country_of_prefix("1.0.3.0/24") is None  # "available": no country
    assert data.country_of_prefix("2400:6c00:1::/48") == ("KP", "apnic")
    assert data.country_of_prefix("2.56.0.0/22") is None  # reserved
    assert data.country_of_prefix("not a prefix") is None


def test_corrupt_lines_are_counted_and_rest_used(tmp_path: Path) -> None:
    bad = tmp_path / "delegated-apnic-extended-latest"
    lines = APNIC.read_text().splitlines()
    lines.insert(8, "apnic|KP|ipv4|999.1.2.3|256|20091016|allocated|X")
    lines.insert(9, "garbage")
    bad.write_text("\n".join(lines) + "\n")
    data = load_registry_dir(tmp_path)
    assert data.country_of_asn(131279) == ("KP", "apnic")
    assert data.files[0].bad_lines == 2 and data.files[0].first_bad_line == 9
    assert any("skipped 2 unreadable lines (first at line 9)" in w for w in data.warnings)


def test_file_without_records_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "delegated-arin-extended-latest").write_text("2|arin|20240618|0|x|20240617|-0500\nxx\n")
    (tmp_path / "asn.txt").write_bytes(b"\x00\x01binary")
    _fresh(RIPE, tmp_path)
    data = load_registry_dir(tmp_path)
    assert data.country_of_asn(20485) == ("RU", "ripencc")
    text = " ".join(data.warnings)
    assert "delegated-arin-extended-latest: no valid delegated-stats record" in text
    assert "asn.txt: no valid 'ASN NAME, CC' line" in text
    with pytest.raises(RegistryFileError, match="cannot read"):
        RirData().add_delegated(tmp_path / "missing")


def test_staleness_from_header_date(tmp_path: Path) -> None:
    data = load_registry_dir(FIXTURES)
    apnic = next(f for f in data.files if f.registry == "apnic")
    june_18 = time.mktime((2024, 6, 18, 12, 0, 0, 0, 0, -1))
    assert apnic.age_days(june_18) == pytest.approx(1.5, abs=0.1)
    assert not apnic.is_stale(june_18)
    assert apnic.is_stale(june_18 + 40 * 86400)
    # the fixtures are from 2024: today they are stale, and the warning says what to run
    assert any("days old; run 'transitwatch registry update'" in w for w in data.warnings)


def test_asnames() -> None:
    names, bad, first_bad = rir.parse_asnames(["4837 CHINA169-BACKBONE CHINA UNICOM, CN", "oops", ""])
    assert names == {4837: ("CHINA169-BACKBONE CHINA UNICOM", "CN")} and bad == 1 and first_bad == 2


# -- download ----------------------------------------------------------------------------------
def test_update_downloads_resumes_and_loads(tmp_path: Path) -> None:
    apnic = ServedFile(APNIC.read_bytes(), cut_after=300)
    ripe = ServedFile(RIPE.read_bytes())
    names = ServedFile(ASNAMES.read_bytes())
    files = {"/stats/apnic/delegated-apnic-extended-latest": apnic,
             "/stats/ripencc/delegated-ripencc-extended-latest": ripe, "/asnames/asn.txt": names}
    with LocalHTTPServer(files) as server:
        urls = {"apnic": server.url("/stats/apnic/delegated-apnic-extended-latest"),
                "ripencc": server.url("/stats/ripencc/delegated-ripencc-extended-latest"),
                "lacnic": server.url("/stats/lacnic/missing"),
                "asnames": server.url("/asnames/asn.txt")}
        results = update_registry(tmp_path, urls, retries=2)
    by_key = {r.key: r for r in results}
    assert by_key["apnic"].error is None and apnic.requests == [None, "bytes=300-"]
    assert (tmp_path / "delegated-apnic-extended-latest").read_bytes() == APNIC.read_bytes()
    assert by_key["lacnic"].path is None and "404" in (by_key["lacnic"].error or "")
    assert urls["lacnic"] in (by_key["lacnic"].error or "")
    registry = Registry.load(tmp_path, use_geo=False)
    assert registry.as_info(20485).to_dict() == {
        "asn": 20485, "name": "TRANSTELECOM", "name_source": "asnames", "name_hint": None,
        "country": "RU", "country_source": "rir:ripencc"}
    assert registry.country_of_prefix("175.45.176.0/24") == ("KP", "rir:apnic")


def test_update_unreachable_keeps_old_files(tmp_path: Path) -> None:
    _fresh(APNIC, tmp_path)
    with LocalHTTPServer({}) as server:
        url = server.url("/delegated-apnic-extended-latest")
    results = update_registry(tmp_path, {"apnic": url}, retries=0, timeout=2)
    assert results[0].error is not None and url in results[0].error
    assert (tmp_path / "delegated-apnic-extended-latest").read_bytes() == APNIC.read_bytes()


def test_default_registry_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert rir.default_registry_dir() == tmp_path / "transitwatch" / "registry"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert rir.default_registry_dir() == Path.home() / ".cache" / "transitwatch" / "registry"


def test_explicit_missing_registry_dir(tmp_path: Path) -> None:
    with pytest.raises(RegistryFileError, match="registry directory not found"):
        Registry.load(tmp_path / "nope")


# -- time zones --------------------------------------------------------------------------------
def test_timezones() -> None:
    assert str(timezone_of("KP")) == "Asia/Pyongyang"
    assert str(timezone_of("kp")) == "Asia/Pyongyang"
    assert str(timezone_of("RU")) == "Europe/Moscow"  # not Kaliningrad, zone.tab's first row
    assert str(timezone_of("CN")) == "Asia/Shanghai"
    assert str(timezone_of("FR")) == "Europe/Paris"
    assert timezone_of("XX") is None
    assert timezones.country_name("KP") == "Korea (North)"
    assert len(timezones.zones_of("US")) > 10
    # every country tzdata lists has a zone that zoneinfo can load
    for cc in timezones.known_countries():
        if timezones.zones_of(cc):
            assert timezone_of(cc) is not None


def test_normalise_country() -> None:
    assert normalise_country(" kp ") == "KP"
    with pytest.raises(UnknownCountryError, match="unknown country code 'XX'"):
        normalise_country("XX")


# -- bundled geolocation -----------------------------------------------------------------------
def test_geo_bundled_data() -> None:
    info = geo.geo_info()
    assert info["ipv6"] and info["asn_names"] and info["date"]
    kp = geo.lookup_prefix("175.45.176.0/22")
    assert kp.country == "KP" and kp.country_share == 1.0
    unicom = geo.lookup_prefix("210.52.109.0/24")
    assert unicom.country == "KP" and unicom.name is not None and "UNICOM" in unicom.name.upper()
    assert geo.lookup_prefix("2001:4860::/32").country == "US"
    assert geo.lookup_prefix("10.0.0.0/8").country is None  # private space
    assert geo.lookup_prefix("0.0.0.0/0").country is None
    assert geo.lookup_prefix("::1/128").country is None  # would alias 0.0.0.1 inside geoip2fast
    assert geo.lookup_prefix("nonsense").country is None


def test_registry_offline_as_from_origins() -> None:
    registry = Registry()  # no RIR files: geolocation only
    assert registry.country_of_prefix("175.45.176.0/24") == ("KP", "geolite2")
    registry.add_origins([(9929, "210.52.109.0/24"), (9929, "113.207.128.0/17"),
                          (9929, "119.40.32.0/24"), (131279, "175.45.176.0/24")])
    info = registry.as_info(9929)
    # a /17 in China outweighs a /24 in North Korea
    assert info.country == "CN" and info.country_source == "origins"
    # no AS-level name source: the 2024 holder of its addresses is a hint, never the name
    assert info.name is None
    assert info.name_source == "geolocation-2024" and info.name_hint and "UNICOM" in info.name_hint.upper()
    assert registry.as_country(131279) == "KP"
    assert registry.as_info(65000).to_dict()["country"] is None
    assert registry.prefixes_of(131279) == {"175.45.176.0/24"}


def test_registry_prefix_source_rir_first(tmp_path: Path) -> None:
    _fresh(APNIC, tmp_path)
    registry = Registry.load(tmp_path, prefix_source="rir")
    assert registry.country_of_prefix("210.52.109.0/24") == ("CN", "rir:apnic")
    assert registry.country_of_prefix("8.8.8.0/24") == ("US", "geolite2")  # not in the file
    described = registry.describe()
    assert described["rir_files"][0]["registry"] == "apnic"
    assert described["geolocation"]["source"].startswith("MAXMIND:GeoLite2")


def test_fixture_mtime_independent(tmp_path: Path) -> None:
    # staleness is judged by the header's date, not the file's mtime
    copy = _fresh(APNIC, tmp_path)
    os.utime(copy, (time.time(), time.time()))
    assert load_registry_dir(tmp_path).files[0].data_date is not None
    assert load_registry_dir(tmp_path).files[0].data_date.isoformat() == "2024-06-17"  # type: ignore[union-attr]


def test_32_bit_asns_past_int64_keep_their_own_prefixes() -> None:
    """asn << 32 of a private 32-bit ASN (4200010000) is past int64: it wrapped into another AS's
    range, so the bulk name hints gave it a stranger's name and its country was lost."""
    from transitwatch.registry.registry import Registry

    pairs = [(4200010000, "168.151.192.0/24"), (4200010000, "168.151.194.0/24"), (4294967294, "8.8.8.0/24"),
             (15169, "8.8.4.0/24"), (7018, "12.0.0.0/9")]
    one = Registry()
    one.add_origins(pairs)
    assert one.prefixes_of(4200010000) == {"168.151.192.0/24", "168.151.194.0/24"}
    assert one.prefixes_of(4294967294) == {"8.8.8.0/24"} and one.has_origins(4294967294)
    assert one.as_country(4200010000) == one.as_country(7018) == "US"
    bulk = Registry()
    bulk.add_origins(pairs)
    bulk.prefetch_hints([a for a, _ in pairs])
    for asn in {a for a, _ in pairs}:
        assert bulk.as_info(asn).name_hint == one.as_info(asn).name_hint, asn
