"""The country view, fast and true for its date: bulk prefix placement against the per-prefix
path on real files, the geoip2fast loader against the installed wheel, AS names from AS-level
sources only, and dated registry snapshots downloaded from a local mirror and chosen by the
data's time."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import random
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from local_http import LocalHTTPServer, ServedFile
from transitwatch.cli.main import main
from transitwatch.cli.render_country import print_country_upstreams
from transitwatch.metrics.country import country_upstreams
from transitwatch.registry import Registry, geo
from transitwatch.registry.rir import parse_as2org
from transitwatch.registry.snapshots import archive_urls, as2org_quarter, with_mirror
from transitwatch.sources.mrt import read_mrt
from transitwatch.state.table import RoutingState

ET_2015 = "mrt/bgpdump-corpus/input/updates.et-header.2015.gz"


def _prefixes(path: Path) -> list[str]:
    return sorted({o.prefix for o in read_mrt(path) if o.prefix})


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# -- bulk placement == per-prefix placement, on real tables --------------------------------------
@pytest.mark.parametrize("name", [ET_2015, "mrt/caida-2015/ris.rrc06.updates.1427846400.gz"])
def test_bulk_placement_matches_per_prefix(shared_data: Path, name: str) -> None:
    prefixes = _prefixes(shared_data / name)
    rng = random.Random(13)
    # every short prefix (they span many geolocation blocks: the hard case) and a sample of the rest
    wide = [p for p in prefixes if int(p.rsplit("/", 1)[1]) < (14 if ":" not in p else 32)]
    sample = sorted(set(wide) | set(rng.sample(prefixes, min(len(prefixes), 3000))))
    assert any(":" in p for p in sample) or name == ET_2015  # rrc06 brings real IPv6
    sample += ["0.0.0.0/0", "10.0.0.0/8", "::1/128", "nonsense", "1.2.3.4/33", "2001:db8::/129"]
    tables = geo.load_tables()
    parsed = geo.parse_prefixes(sample)
    countries = geo.place(parsed, "country", tables)
    names = geo.place(parsed, "name", tables)
    assert (parsed.version > 0).sum() == len(sample) - 3
    placed = 0
    for i, prefix in enumerate(sample):
        one = geo.lookup_prefix(prefix)
        cc = tables.countries[countries.label[i]] if countries.label[i] >= 0 else None
        name_ = tables.names[names.label[i]] if names.label[i] >= 0 else None
        assert (cc, name_) == (one.country, one.name), prefix
        assert countries.share[i] == pytest.approx(one.country_share, abs=1e-12), prefix
        placed += cc is not None
    assert placed > len(sample) * 0.8
    # and the registry's bulk path gives the per-prefix answers, sources included
    registry = Registry()
    bulk = registry.place_prefixes(sample)
    assert list(zip(*bulk, strict=True)) == [registry.country_of_prefix(p) for p in sample]


def test_parse_prefixes_odd_input_falls_back() -> None:
    parsed = geo.parse_prefixes(["1.2.3.0/24", "1.2.3.4/22", "300.1.1.0/24", "1.2.3/24", "", "2001:db8::/32"])
    assert parsed.version.tolist() == [4, 4, 0, 0, 0, 6]
    assert parsed.first[1] == (1 << 24) + (2 << 16)  # host bits cleared
    assert parsed.last[1] == (1 << 24) + (2 << 16) + 1023
    assert parsed.first[5] == 0x20010DB8 << 32  # IPv6 in /64 units


# -- the geoip2fast loader against the installed wheel -------------------------------------------
def test_loader_agrees_with_geoip2fast_public_lookup() -> None:
    import geoip2fast
    from geoip2fast import GeoIP2Fast

    assert geoip2fast.__version__ == geo.GEOIP2FAST_VERSION  # pinned in pyproject.toml
    info = geo.geo_info()
    assert info["date"] == "2024-06-18" and info["ipv6"] and info["asn_names"]
    fresh = geo._from_data_file(Path(info["data_file"]))  # the data file, not the .npy cache
    cached = geo.load_tables()
    for kind in ("country", "name"):
        for v in (4, 6):
            a, b = fresh.table(kind, v), cached.table(kind, v)
            assert np.array_equal(a.first, b.first) and np.array_equal(a.label, b.label)
    reference = GeoIP2Fast(geoip2fast_data_file=geo.GEO_DATA_FILE)
    rng = random.Random(2015)
    checked = 0
    for _ in range(400):
        v4 = rng.random() < 0.6
        value = rng.getrandbits(32) if v4 else (0x2000 << 112) | rng.getrandbits(125)
        text = str(__import__("ipaddress").ip_address(value))
        result = reference.lookup(text)
        table = cached.table("country", 4 if v4 else 6)
        key = value if v4 else value >> 64
        i = int(np.searchsorted(table.first, np.uint64(key), side="right")) - 1
        hit = i >= 0 and table.last[i] >= key and table.label[i] >= 0
        ours = cached.countries[table.label[i]] if hit else None
        theirs = result.country_code if (not result.is_private and len(result.country_code) == 2
                                         and result.country_code.isalpha()) else None
        if not v4 and result.cidr and int(result.cidr.rsplit("/", 1)[1]) > 64:
            continue  # blocks longer than /64 are dropped on purpose
        assert ours == theirs, (text, result.country_code, result.cidr)
        checked += 1
    assert checked > 350


# -- names: AS-level sources only --------------------------------------------------------------
@pytest.fixture(scope="module")
def state_2015() -> RoutingState:
    """The 2015 full table, replayed once for the tests that need it."""
    from conftest import SHARED_DATA

    if not (SHARED_DATA / ET_2015).is_file():
        pytest.skip(f"real data not found at {SHARED_DATA} (CI always has it)")
    return RoutingState().replay(read_mrt(SHARED_DATA / ET_2015))


def test_names_never_from_geolocation_and_same_whatever_the_input(state_2015: RoutingState) -> None:
    full = country_upstreams(state_2015, "KP", Registry())
    for up in full.upstreams:
        assert up.name is None  # offline: no AS-level name source
        assert up.name_source == "geolocation-2024" and up.name_hint
    # the same AS from a small input: still no name (before, the guessed name changed with input)
    small = Registry()
    small.add_origins([(4837, "175.45.176.0/24")])
    info = small.as_info(4837)
    assert info.name is None and info.country == "KP"  # what it originates here is all we know
    assert json.loads(json.dumps(full.to_dict()))["upstreams"][0]["name"] is None


def test_as2org_parser() -> None:
    lines = AS2ORG.splitlines()
    orgs, bad, first_bad = parse_as2org([*lines, "garbage"])
    assert orgs[6762] == ("SEABONE-NET TELECOM ITALIA SPARKLE S.p.A.", "IT")
    assert orgs[20485] == ("TRANSTELECOM JSC Company TransTeleCom", "RU")
    assert bad == 1 and first_bad == len(lines) + 1


# -- dated snapshots from a local mirror ------------------------------------------------------
AS2ORG = """# name: AS Org
# format:org_id|changed|org_name|country|source
TIS-RIPE|20170801|TELECOM ITALIA SPARKLE S.p.A.|IT|RIPE
TTK-RIPE|20170801|JSC Company TransTeleCom|RU|RIPE
CU-AP|20170801|China Unicom|CN|APNIC
# format:aut|changed|aut_name|org_id|opaque_id|source
6762|20170801|SEABONE-NET|TIS-RIPE|x_RIPE|RIPE
20485|20170801|TRANSTELECOM|TTK-RIPE|x_RIPE|RIPE
4837|20170801|CHINA169-BACKBONE|CU-AP|x_APNIC|APNIC
"""


def _delegated(registry: str, day: str, records: list[str]) -> bytes:
    head = f"2|{registry}|{day}|{len(records)}|19830101|{day}|+0000\n"
    return (head + "".join(f"{registry}|{r}\n" for r in records)).encode()


def _mirror_files(day: date) -> dict[str, ServedFile]:
    d = f"{day:%Y%m%d}"
    bodies = {
        "afrinic": _delegated("afrinic", d, ["ZA|asn|37100|1|20100101|allocated"]),
        "apnic": gzip.compress(_delegated("apnic", d, [
            "KP|ipv4|175.45.176.0|1024|20091016|allocated", "CN|asn|4837|1|20020101|allocated",
            "KP|asn|131279|1|20091016|allocated"])),
        "arin": _delegated("arin", d, ["US|asn|3356|1|20000101|assigned"]),
        "lacnic": _delegated("lacnic", d, ["BR|asn|28573|1|20030101|allocated"]),
        "ripencc": bz2.compress(_delegated("ripencc", d, [
            "RU|asn|20485|1|20010101|allocated", "IT|asn|6762|1|19960101|allocated"])),
        "as2org": gzip.compress(AS2ORG.encode()),
    }
    files = {}
    for key, url in archive_urls(day).items():
        files["/" + url.split("/", 3)[3]] = ServedFile(bodies[key])
    return files


def test_update_at_date_from_mirror_and_nearest_snapshot(tmp_path: Path, shared_data: Path,
                                                          state_2015: RoutingState,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    day = date(2017, 10, 1)
    assert as2org_quarter(date(2017, 11, 20)) == day
    files = _mirror_files(day)
    with LocalHTTPServer(files) as server:
        mirror = server.url("/")
        assert with_mirror(archive_urls(day), mirror)["apnic"] == server.url(
            "/stats/apnic/2017/delegated-apnic-extended-20171001.gz")
        code = main(["registry", "update", "--at", "2017-10-01", "--mirror", mirror,
                     "--registry-dir", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and all(r["error"] is None for r in out) and len(out) == 6
    assert all(f.requests for f in files.values())  # every source came from the mirror
    registry = Registry.load(tmp_path, use_geo=False)
    choice = registry.use_time(_ts("2017-10-01T09:08:00"))
    assert choice.date == day and choice.source == "rir+as2org" and not choice.flagged
    info = registry.as_info(6762)
    assert info.name == "SEABONE-NET TELECOM ITALIA SPARKLE S.p.A." and info.name_source == "as2org"
    assert info.country == "IT" and info.country_source == "rir:ripencc"
    assert registry.as_info(20485).name_source == "as2org"
    assert registry.country_of_prefix("175.45.177.0/24") == ("KP", "rir:apnic")  # from the .gz
    # a 2015 question: nearest is still 2017-10-01, more than a year away: flagged
    far = registry.use_time(_ts("2015-10-23T02:00:00"))
    assert far.date == day and far.flagged and far.days_from_data is not None and far.days_from_data < -365
    assert "may not be true" in far.describe()

    # the country view says which snapshot answered, in JSON and text
    kp = shared_data / ET_2015
    assert main(["upstreams", "--country", "KP", str(kp), "--registry-dir", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["registry"]["date"] == "2017-10-01" and report["registry"]["flagged"] is True
    assert report["registry"]["geolocation"]["date"] == "2024-06-18"
    by_asn = {u["asn"]: u for u in report["upstreams"]}
    assert by_asn[4837]["name"] == "CHINA169-BACKBONE China Unicom"
    assert by_asn[4837]["name_source"] == "as2org"
    assert by_asn[4837]["share_ipv4"] == pytest.approx(0.8) and by_asn[4837]["share_ipv6"] is None
    again = country_upstreams(state_2015, "KP", Registry.load(tmp_path))  # same answer, Python API
    assert again.to_dict()["registry"] == {**report["registry"], "path": again.registry["path"]}
    buffer = io.StringIO()
    print_country_upstreams(again, tz=None, rich=False, file=buffer)
    text = buffer.getvalue()
    assert "registry: rir+as2org snapshot of 2017-10-01" in text and "FLAGGED" in text


def _two_snapshots(registry_dir: Path, old_name: str, new_name: str) -> None:
    """Dated snapshots of 2015-10-01 and 2017-10-01 whose as2org names AS20485 differently."""
    for day, asn_name in ((date(2015, 10, 1), old_name), (date(2017, 10, 1), new_name)):
        folder = registry_dir / "snapshots" / day.isoformat()
        folder.mkdir(parents=True)
        (folder / f"{day:%Y%m%d}.as-org2info.txt").write_text(
            "# format:org_id|changed|org_name|country|source\nO|x|Org|RU|RIPE\n"
            f"# format:aut|changed|aut_name|org_id|opaque_id|source\n20485|x|{asn_name}|O|y|RIPE\n")


def test_nearest_of_two_snapshots_and_offline_default(tmp_path: Path) -> None:
    _two_snapshots(tmp_path, "OLD-NAME", "NEW-NAME")
    registry = Registry.load(tmp_path, use_geo=False)
    assert registry.use_time(_ts("2015-10-23T00:00:00")).date == date(2015, 10, 1)
    assert registry.as_info(20485).name == "OLD-NAME Org"
    assert registry.use_time(_ts("2017-09-01T00:00:00")).date == date(2017, 10, 1)
    assert registry.as_info(20485).name == "NEW-NAME Org"
    assert registry.use_time(None).date == date(2017, 10, 1)  # no time: the newest
    # offline default: nothing downloaded, no network; says so and flags the 2024 geolocation
    offline = Registry()
    choice = Registry().use_time(_ts("2015-10-23T00:00:00"))
    assert choice.date is None and choice.flagged and choice.geolocation_flagged
    assert choice.to_dict()["geolocation"]["date"] == "2024-06-18"
    assert offline.country_of_prefix("175.45.176.0/24")[0] == "KP"


def test_update_at_bad_day_and_bad_mirror(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "update", "--at", "2017-13-01", "--registry-dir", str(tmp_path)]) != 0
    assert "--at '2017-13-01'" in capsys.readouterr().err
    assert main(["registry", "update", "--at", "2017-10-01", "--mirror", "ftp://x",
                 "--registry-dir", str(tmp_path)]) != 0
    assert "--mirror" in capsys.readouterr().err


# -- the array ranking == the route-by-route ranking -------------------------------------------
@pytest.mark.parametrize("name", ["mrt/caida-2015/ris.rrc06.updates.1427846400.gz",
                                  "mrt/caida-2015/routeviews.route-views.jinx.updates.1427846400.bz2"])
def test_countries_ranking_arrays_match_route_by_route(shared_data: Path, name: str) -> None:
    from transitwatch.metrics.country import _ranking_by_summaries, countries_report

    state = RoutingState().replay(read_mrt(shared_data / name))
    fast = countries_report(state, Registry())
    slow = _ranking_by_summaries(state, Registry())
    assert len(fast.rows) > 20
    assert [r.to_dict() for r in fast.rows] == [r.to_dict() for r in slow]
    both = [r for r in fast.rows if r.top_share_ipv4 is not None and r.top_share_ipv6 is not None]
    assert both, "a real table with IPv4 and IPv6 countries"
    for row in both:  # ranked on both families
        assert row.dependence == pytest.approx((row.top_share_ipv4 + row.top_share_ipv6) / 2)
    assert fast.registry is not None and fast.registry["geolocation"]["date"] == "2024-06-18"


def test_pinned_date_holds_against_another_thread(tmp_path: Path) -> None:
    import threading

    _two_snapshots(tmp_path, "OLD", "NEW")
    registry = Registry.load(tmp_path, use_geo=False)
    seen: list[date | None] = []
    later = _ts("2017-10-02T00:00:00")
    with registry.pinned(_ts("2015-10-23T00:00:00")):
        other = threading.Thread(target=lambda: seen.append(registry.use_time(later).date))
        other.start()
        other.join(0.2)
        assert other.is_alive() and not seen  # the other date waits for this computation
        assert registry.as_info(20485).name == "OLD Org"
    other.join(5)
    assert seen == [date(2017, 10, 1)] and registry.as_info(20485).name == "NEW Org"


def test_country_commands_quiet_in_pipes(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = shared_data / "mrt/caida-2015/ris.rrc06.updates.1427846400.gz"
    assert main(["countries", str(small), "--workers", "1"]) == 0
    out, err = capsys.readouterr()
    assert "reading" not in err and "ETA" not in err and "placing" not in err  # no progress in pipes
    assert "registry: no RIR or AS-name data" in out and "geolocation of 2024-06-18" in out
