import pickle

import pytest

from transitwatch import Observation


def test_observation_keywords_defaults_and_copy() -> None:
    o = Observation(time=1.5, kind="announce", prefix="10.0.0.0/8", peer_asn=65001, as_path="65001 3")
    assert o.prefix == "10.0.0.0/8" and o.med is None and o.atomic_aggregate is False
    assert o.replace() == o
    assert o.replace(med=10) != o and o.replace(med=10).med == 10
    assert pickle.loads(pickle.dumps(o)) == o
    assert o.to_dict()["peer_asn"] == 65001
    assert o.datetime.isoformat() == "1970-01-01T00:00:01.500000+00:00"


def test_observation_rejects_unknown_fields_and_positionals() -> None:
    with pytest.raises(TypeError):
        Observation(colour="red")
    with pytest.raises(TypeError):
        Observation(1.0)  # type: ignore[call-arg]
