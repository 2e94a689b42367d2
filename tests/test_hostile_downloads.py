"""Downloads do not trust the server (issue 16): size limits, an overall deadline, verification
before the cache (quarantine), no redirects to another host, resume only from a verified part.
A hostile archive server on 127.0.0.1 plays each trick."""

from __future__ import annotations

import gzip
import itertools
import json
import time
from pathlib import Path

import pytest

from local_http import LocalHTTPServer, ServedFile
from routing_fixture import four_peers
from transitwatch.registry.rir import update_registry
from transitwatch.sources.archive import fetch, resolve
from transitwatch.sources.download import DownloadError, download_file
from transitwatch.sources.verify import NotVerified, verify_mrt, verify_registry

HTML = b"<!DOCTYPE html>\n<html><head><title>Mirror maintenance</title></head><body>Back soon</body></html>\n"
WINDOW = ("2017-10-01T09:00Z", "2017-10-01T09:04Z")
REGISTRY = Path(__file__).parent / "data" / "registry"


@pytest.fixture(scope="module")
def mrt_gz(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real gzip MRT updates file (BGP4MP records) written by the routing fixture."""
    h = four_peers()
    h.background(h.start + 3600)
    paths = h.write(tmp_path_factory.mktemp("mrt"))
    return next(p for p in paths if p.name.startswith("updates")).read_bytes()


def updates_file(tmp_path: Path, server: LocalHTTPServer) -> list:  # type: ignore[type-arg]
    files = resolve("rrc00", *WINDOW, archive_urls={"ris": server.url("/ris")}, cache_dir=tmp_path,
                    bridge=False)
    return [f for f in files if f.kind == "updates"][:1]


UPDATES_PATH = "/ris/rrc00/2017.10/updates.20171001.0900.gz"


def test_verification_tells_mrt_from_error_pages(tmp_path: Path, mrt_gz: bytes) -> None:
    good = tmp_path / "good.gz"
    good.write_bytes(mrt_gz)
    verify_mrt(good)
    verify_mrt(good, partial=True)
    plain = tmp_path / "plain"
    plain.write_bytes(gzip.decompress(mrt_gz))
    verify_mrt(plain)
    empty = tmp_path / "empty.gz"
    empty.write_bytes(gzip.compress(b""))
    verify_mrt(empty)  # a quiet interval: a valid, empty updates file
    for name, body, why in [("page.gz", HTML, "HTML page"),
                            ("zipped-page.gz", gzip.compress(HTML), r"not an MRT file \(inside gzip"),
                            ("junk.gz", b"\x1f\x8b" + b"\x00" * 100, "damaged"),
                            ("random", bytes(range(256)) * 4, "not an MRT file"),
                            ("nothing", b"", "empty")]:
        bad = tmp_path / name
        bad.write_bytes(body)
        with pytest.raises(NotVerified, match=why):
            verify_mrt(bad)
    verify_registry(REGISTRY / "delegated-apnic-extended-latest")
    verify_registry(REGISTRY / "asn.txt")
    page = tmp_path / "delegated-x"
    page.write_bytes(HTML)
    with pytest.raises(NotVerified, match="HTML"):
        verify_registry(page)


def test_an_endless_body_without_length_is_cut_at_the_size_limit(tmp_path: Path) -> None:
    def endless():  # type: ignore[no-untyped-def]
        block = b"\x00" * (1 << 16)
        for _ in itertools.count():
            yield block

    served = {"/big": ServedFile(b"", stream=endless)}
    dest = tmp_path / "big.gz"
    with LocalHTTPServer(served) as server:
        started = time.monotonic()
        with pytest.raises(DownloadError, match="limit"):
            download_file(server.url("/big"), dest, max_size=2 << 20, retries=0)
    assert time.monotonic() - started < 10
    assert not dest.exists() and not list(tmp_path.glob("*.part"))


def test_an_announced_size_over_the_limit_is_refused_before_reading(tmp_path: Path, mrt_gz: bytes) -> None:
    served = {UPDATES_PATH: ServedFile(mrt_gz)}
    with LocalHTTPServer(served) as server:
        files = updates_file(tmp_path, server)
        report = fetch(files, max_size={"updates": len(mrt_gz) - 1}, retries=0)
    (outcome,) = report.outcomes
    reason = outcome.reason or ""
    assert outcome.status == "failed" and "over the" in reason and "limit" in reason
    assert not files[0].cache_path.exists()


def test_an_html_page_with_status_200_is_quarantined_never_cached(tmp_path: Path, mrt_gz: bytes) -> None:
    served = {UPDATES_PATH: ServedFile(HTML)}
    with LocalHTTPServer(served) as server:
        files = updates_file(tmp_path, server)
        first = fetch(files, retries=0)
        (outcome,) = first.outcomes
        assert outcome.status == "failed" and "HTML page" in (outcome.reason or "")
        assert not files[0].cache_path.exists() and not first.paths
        quarantined = list((tmp_path / "quarantine").iterdir())
        assert len(quarantined) == 1 and quarantined[0].read_bytes() == HTML
        # the mirror is fixed: the next run fetches the real file (it was never "cached")
        served[UPDATES_PATH] = ServedFile(mrt_gz)
        second = fetch(files, retries=0)
    assert [o.status for o in second.outcomes] == ["fetched"]
    assert files[0].cache_path.read_bytes() == mrt_gz


def test_a_bad_file_already_in_the_cache_is_quarantined_and_fetched_again(
        tmp_path: Path, mrt_gz: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    served = {UPDATES_PATH: ServedFile(mrt_gz)}
    with LocalHTTPServer(served) as server:
        files = updates_file(tmp_path, server)
        files[0].cache_path.parent.mkdir(parents=True)
        files[0].cache_path.write_bytes(HTML)  # saved by an older, trusting version
        report = fetch(files, retries=0)
    assert [o.status for o in report.outcomes] == ["fetched"]
    assert files[0].cache_path.read_bytes() == mrt_gz
    assert "HTML page" in capsys.readouterr().err
    assert len(list((tmp_path / "quarantine").iterdir())) == 1


def test_a_trickling_server_is_cut_off_by_the_overall_deadline(tmp_path: Path, mrt_gz: bytes) -> None:
    assert len(mrt_gz) > 100
    served = {"/slow.gz": ServedFile(mrt_gz, trickle=0.1, chunk=2)}  # 20 bytes per second
    dest = tmp_path / "slow.gz"
    with LocalHTTPServer(served) as server:
        started = time.monotonic()
        with pytest.raises(DownloadError, match="deadline"):
            download_file(server.url("/slow.gz"), dest, deadline=1.0, timeout=30, retries=5, backoff=0.01)
        elapsed = time.monotonic() - started
    assert elapsed < 3, elapsed  # the per-read timeout (30 s) never fired: the deadline did
    assert not dest.exists()
    part = tmp_path / "slow.gz.part"
    assert part.exists() and 0 < part.stat().st_size < len(mrt_gz)  # kept to resume


def test_redirects_to_another_host_or_port_are_refused(tmp_path: Path, mrt_gz: bytes) -> None:
    target = {"/real.gz": ServedFile(mrt_gz)}
    with LocalHTTPServer(target) as elsewhere:
        served = {"/away": ServedFile(b"", location=elsewhere.url("/real.gz")),
                  "/moved": ServedFile(b"", location="/real.gz"), "/real.gz": ServedFile(mrt_gz)}
        with LocalHTTPServer(served) as server:
            with pytest.raises(DownloadError, match="redirect to another host or scheme refused"):
                download_file(server.url("/away"), tmp_path / "a.gz", retries=2, verify=verify_mrt)
            # a redirect on the same host and port is fine
            download_file(server.url("/moved"), tmp_path / "b.gz", verify=verify_mrt)
    assert target["/real.gz"].requests == []  # the other port was never asked
    assert (tmp_path / "b.gz").read_bytes() == mrt_gz and not (tmp_path / "a.gz").exists()


def test_resume_only_from_a_verified_part_of_the_same_url(tmp_path: Path, mrt_gz: bytes) -> None:
    served = {"/u.gz": ServedFile(mrt_gz, headers={"ETag": '"v1"'}),
              "/v.gz": ServedFile(mrt_gz)}
    with LocalHTTPServer(served) as server:
        # an error page left in the part file: not resumed, fetched whole
        dest = tmp_path / "u.gz"
        (tmp_path / "u.gz.part").write_bytes(HTML)
        download_file(server.url("/u.gz"), dest, verify=verify_mrt)
        assert dest.read_bytes() == mrt_gz and served["/u.gz"].requests == [None]
        # a good start of the same file (cut earlier): resumed, with If-Range
        dest2 = tmp_path / "u2.gz"
        (tmp_path / "u2.gz.part").write_bytes(mrt_gz[:100])
        (tmp_path / "u2.gz.part.json").write_text(json.dumps({"url": server.url("/u.gz"), "etag": '"v1"'}))
        download_file(server.url("/u.gz"), dest2, verify=verify_mrt)
        assert dest2.read_bytes() == mrt_gz and served["/u.gz"].requests[-1] == "bytes=100-"
        assert not (tmp_path / "u2.gz.part.json").exists()
        # a part left by another URL: not resumed
        dest3 = tmp_path / "v.gz"
        (tmp_path / "v.gz.part").write_bytes(mrt_gz[:100])
        (tmp_path / "v.gz.part.json").write_text(json.dumps({"url": "http://elsewhere/v.gz"}))
        download_file(server.url("/v.gz"), dest3, verify=verify_mrt)
        assert dest3.read_bytes() == mrt_gz and served["/v.gz"].requests == [None]


def test_registry_update_keeps_the_previous_file_when_the_new_one_is_a_page(tmp_path: Path) -> None:
    good = (REGISTRY / "delegated-apnic-extended-latest").read_bytes()
    (tmp_path / "delegated-apnic-extended-latest").write_bytes(good)
    served = {"/apnic/delegated-apnic-extended-latest": ServedFile(HTML),
              "/ripe/asn.txt": ServedFile((REGISTRY / "asn.txt").read_bytes())}
    with LocalHTTPServer(served) as server:
        results = update_registry(tmp_path, {"apnic": server.url("/apnic/delegated-apnic-extended-latest"),
                                             "asnames": server.url("/ripe/asn.txt")}, retries=0)
    by_key = {r.key: r for r in results}
    assert by_key["apnic"].error is not None and "HTML page" in by_key["apnic"].error
    assert by_key["asnames"].error is None
    assert (tmp_path / "delegated-apnic-extended-latest").read_bytes() == good  # the old one stays
    assert len(list((tmp_path / "quarantine").iterdir())) == 1
