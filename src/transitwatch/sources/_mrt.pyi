"""Type stubs for the C core of the MRT decoder."""

from typing import Any

FIELDS: tuple[str, ...]

class ObservationBase:
    time: Any
    kind: Any
    peer_ip: Any
    peer_asn: Any
    prefix: Any
    as_path: Any
    origin: Any
    next_hop: Any
    local_pref: Any
    med: Any
    communities: Any
    large_communities: Any
    atomic_aggregate: Any
    aggregator: Any
    path_id: Any
    safi: Any
    old_state: Any
    new_state: Any
    originated: Any
    record_type: Any
    collector: Any
    source: Any
    offset: Any
    def __init__(self, **fields: Any) -> None: ...
    def fields(self) -> tuple[Any, ...]: ...
    def replace(self, **fields: Any) -> Any: ...

def set_observation_type(cls: type) -> None: ...

class Decoder:
    def __init__(self, source: str, collector: str) -> None: ...
    def select_safi(self, safi: int) -> None: ...
    def set_columns(self, on: bool) -> None: ...
    # a list of Observations; in column mode the packed tuple (see set_columns' doc)
    def feed(self, data: bytes) -> Any: ...
    def finish(self) -> Any: ...
    def set_filter(
        self,
        asns: list[int],
        prefixes: list[tuple[int, bytes, int]],
        seen: PrefixSet | None = ...,
        own: PrefixSet | None = ...,
    ) -> None: ...
    @property
    def stats(self) -> dict[str, Any]: ...
    @property
    def errors(self) -> list[tuple[int, str]]: ...
    @property
    def offset(self) -> int: ...
    @property
    def not_mrt(self) -> bool: ...

def format_bgpdump(observations: Any) -> bytes: ...

class PrefixSet:
    def __len__(self) -> int: ...
