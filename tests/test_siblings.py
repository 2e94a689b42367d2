"""Siblings: ASes of one organisation (CAIDA as2org of the data's date) are 'sibling', not
provider or peer, in every answer that names a relationship; a file a year away is not used."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from transitwatch.registry.organisations import organisations_at
from transitwatch.registry.relationships import Relationships
from transitwatch.scenarios.scenario import load_scenario

AS2ORG = """# format:org_id|changed|org_name|country|source
ORG-KP|20170101|Star Joint Venture|KP|APNIC
ORG-CU|20170101|China Unicom|CN|APNIC
# format:aut|changed|aut_name|org_id|opaque_id|source
131279|20170101|STAR-KP|ORG-KP|x_APNIC|APNIC
20485|20170101|TRANSTELECOM|ORG-KP|x_RIPE|RIPE
4837|20170101|CHINA169-BACKBONE|ORG-CU|x_APNIC|APNIC
9929|20170101|CNCNET-CN|ORG-CU|x_APNIC|APNIC
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    sc = load_scenario("kp-2017-transtelecom")
    return [str(p) for p in sc.write_mrt(tmp_path_factory.mktemp("kp2017"))]


def _registry(root: Path, day: str, name: str) -> Path:
    folder = root / "transitwatch" / "registry" / "snapshots" / day
    folder.mkdir(parents=True)
    (folder / name).write_bytes(gzip.compress(AS2ORG.encode()))
    return root


def _json(env_root: Path, *args: str) -> dict:
    run = subprocess.run([sys.executable, "-m", "transitwatch", *args, "--json"], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "XDG_CACHE_HOME": str(env_root)})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_with_siblings_turns_only_same_organisation_links() -> None:
    rels = Relationships(source="test")
    rels.add(4837, 9929, -1)
    rels.add(4837, 131279, -1)
    rels.add(3356, 4837, 0)
    out = rels.with_siblings({4837: "CU", 9929: "CU", 131279: "KP"}, "as2org test")
    assert out.relationship(9929, 4837) == "sibling" and out.relationship(4837, 9929) == "sibling"
    assert out.relationship(131279, 4837) == "provider" and out.relationship(4837, 3356) == "peer"
    assert rels.relationship(9929, 4837) == "provider"        # the original is left as it was
    assert out.describe()["siblings"] == "as2org test (1 link(s) between ASes of one organisation)"
    assert out.counts()["s2s"] == 1 and out.counts()["links"] == rels.counts()["links"]


def test_a_sibling_upstream_is_named_sibling(files: list[str], tmp_path: Path) -> None:
    root = _registry(tmp_path, "2017-10-01", "20171001.as-org2info.txt.gz")
    up = _json(root, "upstreams", "AS131279", *files)
    assert {u["asn"]: u["relationship"] for u in up["upstreams"]} == {4837: "provider", 20485: "sibling"}
    assert up["relationships"]["siblings"].startswith("as2org 2017-10-01 (20171001.as-org2info.txt.gz")
    # (here as2org also makes AS20485 a KP network -- its organisation's country -- so the country
    # view changes for that reason; it still says where its siblings came from)
    kp = _json(root, "upstreams", "--country", "KP", *files)
    assert kp["relationships"]["siblings"].startswith("as2org 2017-10-01")
    ev = _json(root, "events", "AS131279", *files, "--detect", "upstream")
    assert [(e["upstream"], e["relationship"]) for e in ev["events"] if e["type"] == "new_upstream"] == [
        (20485, "sibling")]
    env = {**os.environ, "XDG_CACHE_HOME": str(root)}
    text = subprocess.run([sys.executable, "-m", "transitwatch", "upstreams", "AS131279", *files],
                          capture_output=True, text=True, timeout=120, env=env)
    assert "siblings: as2org 2017-10-01" in text.stdout + text.stderr


def test_an_as2org_file_a_year_away_is_not_used(files: list[str], tmp_path: Path) -> None:
    root = _registry(tmp_path, "2015-07-01", "20150701.as-org2info.txt.gz")
    up = _json(root, "upstreams", "AS131279", *files)
    assert {u["asn"]: u["relationship"] for u in up["upstreams"]} == {4837: "provider", 20485: "provider"}
    assert "siblings" not in up["relationships"]
    assert organisations_at(root / "transitwatch" / "registry", 1506848400.0) is None
    near = organisations_at(root / "transitwatch" / "registry", 1435708800.0)   # 2015-07-01
    assert near is not None and near.org_of[4837] == near.org_of[9929] == "ORG-CU"
