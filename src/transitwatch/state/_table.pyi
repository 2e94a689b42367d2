"""Type stubs for the C helpers of the columnar routing snapshot."""

from typing import Any

SOURCE_SHA256: str

def clear_points(
    kind: Any, peer: Any, source: Any, time: Any, base: int, peer_collector: Any, open_source: Any,
    until: Any, clear: Any,
) -> None: ...
def parse_prefixes(texts: Any) -> tuple[bytes, bytes, bytes, bytes, list[int]]: ...
def route_columns(
    batch: Any, peers: dict[Any, int], keys: dict[Any, int], paths: dict[Any, int], with_asn: bool
) -> tuple[bytes, bytes, bytes, bytes, bytes, bytes, list[Any], list[Any], list[Any]]: ...
def format_v4(keys: Any) -> list[str]: ...

OTHER_KEY: int
