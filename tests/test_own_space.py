"""An AS target watches its own address space: the prefixes its ASNs originate are learnt from
the RIB and as they appear, and a more-specific or the same prefix from another origin (sub-prefix
and exact hijacks) is reported without the user listing the prefixes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from transitwatch import Observation
from transitwatch.cli.main import main
from transitwatch.detect.origin_change import origin_events
from transitwatch.detect.upstream_change import upstream_changes
from transitwatch.sources.files import read_files
from transitwatch.sources.mrt_writer import write_mrt
from transitwatch.state.table import OwnSpace
from transitwatch.state.target import Target
from transitwatch.state.view import target_view

T0 = 1600000200.0  # 2020-09-13T12:30:00Z
PEERS = [("198.51.100.1", 3356), ("198.51.100.2", 174), ("198.51.100.3", 2914)]
OWN = "185.216.32.0/24"        # originated by AS211002 through AS6939
LATER = "2a0e:8f02:f000::/48"  # first announced by AS211002 in the update file


def ob(t: float, kind: str, peer: int, prefix: str | None = None, path: str | None = None) -> Observation:
    ip, asn = PEERS[peer]
    hop = "2001:db8::1" if prefix and ":" in prefix else ip
    return Observation(time=t, kind=kind, peer_ip=ip, peer_asn=asn, prefix=prefix, as_path=path,
                       origin="IGP" if path else None, next_hop=hop if path else None, collector="rrc00")


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    rrc = tmp_path / "rrc00"
    rrc.mkdir()
    rib = [ob(T0, "rib", p, OWN, f"{PEERS[p][1]} 6939 211002") for p in range(3)]
    rib += [ob(T0, "rib", p, "8.8.8.0/24", f"{PEERS[p][1]} 15169") for p in range(3)]
    updates = [
        ob(T0 + 10, "announce", 0, "1.1.1.0/24", "3356 13335"),
        # AS211002 starts announcing an IPv6 prefix: learnt as it appears
        ob(T0 + 20, "announce", 0, LATER, "3356 6939 211002"),
        ob(T0 + 21, "announce", 1, LATER, "174 6939 211002"),
        # a /25 inside its /24 from AS64496's customer cone (seen by two peers), later withdrawn
        ob(T0 + 60, "announce", 0, "185.216.32.128/25", "3356 1299 64496"),
        ob(T0 + 65, "announce", 2, "185.216.32.128/25", "2914 1299 64496"),
        # a /56 inside the new IPv6 /48 from another origin
        ob(T0 + 90, "announce", 1, "2a0e:8f02:f000:100::/56", "174 3257 64511"),
        # the exact /24 from another origin at one peer (replaces its route to AS211002)
        ob(T0 + 120, "announce", 1, OWN, "174 9002 64500"),
        ob(T0 + 200, "withdraw", 0, "185.216.32.128/25"),
        ob(T0 + 201, "withdraw", 2, "185.216.32.128/25"),
        # an unrelated more-specific elsewhere: not AS211002's space
        ob(T0 + 210, "announce", 2, "8.8.8.0/25", "2914 64499"),
        ob(T0 + 299, "announce", 0, "1.1.1.0/24", "3356 13335"),
    ]
    bview, upd = str(rrc / "bview.20200913.1230.gz"), str(rrc / "updates.20200913.1230.gz")
    write_mrt(bview, rib)
    write_mrt(upd, updates)
    return [bview, upd]


def test_own_space_learns_originated_prefixes_and_covers_more_specifics() -> None:
    own = OwnSpace([211002])
    assert own.learn(OWN, "3356 6939 211002") and not own.learn("10.0.0.0/8", "3356 64500")
    assert not own.learn(OWN, "3356 6939 211002")  # known already
    assert own.covers(OWN) and own.covers("185.216.32.128/25") and own.covers("185.216.32.7/32")
    assert not own.covers("185.216.33.0/24") and not own.covers("185.216.0.0/16")
    assert own.learn(LATER, "6939 211002 211002") and own.covers("2a0e:8f02:f000:100::/56")
    assert not own.covers("2a0e:8f02:f001::/48") and len(own) == 2


@pytest.mark.parametrize("filtered", [True, False])
def test_sub_prefix_and_exact_hijacks_of_an_as_target(files: list[str], filtered: bool) -> None:
    target = Target.parse("AS211002")
    view = target_view(target, read_files(files, route_filter=target.route_filter() if filtered else None))
    found = {(e.type, e.prefix, e.origin): e for e in origin_events(view)}
    assert set(found) == {
        ("more_specific", "185.216.32.128/25", 64496),
        ("more_specific", "2a0e:8f02:f000:100::/56", 64511),
        ("origin_change", OWN, 64500),
    }
    sub = found[("more_specific", "185.216.32.128/25", 64496)]
    assert (sub.covering, sub.usual, sub.peers, sub.onset, sub.end) == (OWN, [211002], 2, T0 + 60, T0 + 201)
    assert sub.evidence[0].source == files[1] and sub.evidence[0].as_path == "3356 1299 64496"
    assert found[("more_specific", "2a0e:8f02:f000:100::/56", 64511)].covering == LATER
    exact = found[("origin_change", OWN, 64500)]
    assert exact.peers == 1 and exact.end is None
    # the foreign routes are not the target's: no upstream AS1299/AS3257/AS9002, no unattributed
    changes = upstream_changes(view, min_peers=1)
    assert {e.upstream for e in changes.events} <= {6939}
    assert all(s.upstream == 6939 for s in view.spans)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_events_cli_reports_the_sub_prefix_hijack(
    files: list[str], workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["events", "AS211002", *files, "--json", "--detect", "origin", "--workers", workers]) == 0
    out = json.loads(capsys.readouterr().out)
    got = {(e["type"], e["prefix"], e["origin"], e["covering"], e["end"]) for e in out["events"]}
    assert ("more_specific", "185.216.32.128/25", 64496, OWN, "2020-09-13T12:33:21Z") in got
    assert ("origin_change", OWN, 64500, OWN, None) in got


def test_the_store_sees_the_same_hijacks(files: list[str], tmp_path: Path) -> None:
    from transitwatch.store import Store, ingest, stored_events
    from transitwatch.store.query import target_view as stored_view

    db = tmp_path / "own.duckdb"
    with Store(db) as store:
        ingest(store, files, watch_targets=["AS211002"])
    with Store(db, read_only=True) as store:
        view = stored_view(store, "AS211002")
        kinds = {(e["type"], e["prefix"], e["origin"]) for e in stored_events(
            store, types=["more_specific", "origin_change"]).events}
    from_files = target_view("AS211002", read_files(files))
    summary = [(e.type, e.prefix, e.origin, e.covering, e.peers, e.onset, e.end) for e in origin_events(view)]
    assert summary == [(e.type, e.prefix, e.origin, e.covering, e.peers, e.onset, e.end)
                       for e in origin_events(from_files)]
    assert kinds == {("more_specific", "185.216.32.128/25", 64496),
                     ("more_specific", "2a0e:8f02:f000:100::/56", 64511), ("origin_change", OWN, 64500)}
    assert all(s.upstream == 6939 for s in view.spans) and len(view.foreign) == len(from_files.foreign)
