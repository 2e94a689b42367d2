"""The one observation type that crosses every boundary of transitwatch.

Every source (MRT files, archives, RIS Live) yields :class:`Observation` objects; state, metrics,
detectors and the store consume them. The storage lives in the C decoder so that decoding straight
into these objects is cheap; this subclass adds the conveniences.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import transitwatch.sources._mrt as _mrt

if TYPE_CHECKING:
    import pyarrow

ANNOUNCE = "announce"
WITHDRAW = "withdraw"
RIB = "rib"
STATE = "state"
KINDS = (ANNOUNCE, WITHDRAW, RIB, STATE)

#: Subsequent address families (RFC 4760) whose routes the decoder yields. Routing state, metrics
#: and the store hold unicast routes unless asked otherwise (multicast routes are another table).
SAFI_UNICAST = 1
SAFI_MULTICAST = 2

#: BGP finite state machine states, as numbered in MRT STATE_CHANGE records (RFC 6396).
BGP_STATES = {1: "Idle", 2: "Connect", 3: "Active", 4: "Opensent", 5: "Openconfirm", 6: "Established"}
ESTABLISHED = 6


class Observation(_mrt.ObservationBase):
    """One thing a vantage point saw: a route announced, withdrawn, present in a RIB dump, or a
    session state change.

    Fields (all read-only; build with keywords, copy with ``replace``):

    ``time`` float UTC epoch seconds (microseconds where the file has them) · ``kind`` one of
    ``"announce" "withdraw" "rib" "state"`` · ``peer_ip`` str · ``peer_asn`` int · ``prefix`` str
    CIDR or None · ``as_path`` str in bgpdump notation (``"2914 1239 4837 131279"``, AS_SETs as
    ``{a,b}``) or None · ``origin`` ``"IGP" "EGP" "INCOMPLETE"`` · ``next_hop`` str · ``local_pref``
    int|None · ``med`` int|None · ``communities`` str|None · ``large_communities`` str|None ·
    ``atomic_aggregate`` bool · ``aggregator`` str ``"ASN IP"``|None · ``path_id`` int|None
    (ADD-PATH) · ``safi`` int (1 unicast, 2 multicast; None for state changes) ·
    ``old_state``/``new_state`` int|None (state changes, 6 = Established) ·
    ``originated`` int|None (RIB entries) · ``record_type`` str (bgpdump's label) · ``collector``
    str · ``source`` str (file) · ``offset`` int (byte offset of the record in the decompressed file).
    """

    __slots__ = ()
    FIELDS: tuple[str, ...] = _mrt.FIELDS

    def __init__(self, **fields: Any) -> None:
        fields.setdefault("atomic_aggregate", False)
        fields.setdefault("collector", "")
        fields.setdefault("source", "")
        fields.setdefault("record_type", "")
        if "safi" not in fields and fields.get("kind") != STATE:
            fields["safi"] = SAFI_UNICAST  # routes built by hand (scenarios, RIS Live) are unicast
        super().__init__(**fields)

    @property
    def datetime(self) -> datetime:
        """The observation time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time, tz=UTC)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of all fields (JSON-serialisable), e.g. for pandas.DataFrame(...)."""
        return dict(zip(self.FIELDS, self.fields(), strict=True))

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.to_dict().items() if v not in (None, "", False)}
        inner = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"Observation({inner})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable, so observations can cross process boundaries (workers, Dask).
        return (_rebuild, (self.fields(),))


def arrow_schema() -> pyarrow.Schema:
    """The Arrow schema of observations (one column per field, in ``Observation.FIELDS`` order)."""
    import pyarrow as pa

    types = {
        "time": pa.timestamp("us", tz="UTC"), "peer_asn": pa.int64(), "local_pref": pa.int64(),
        "med": pa.int64(), "atomic_aggregate": pa.bool_(), "path_id": pa.int64(), "safi": pa.int64(),
        "old_state": pa.int64(), "new_state": pa.int64(), "originated": pa.int64(), "offset": pa.int64(),
    }
    return pa.schema([pa.field(name, types.get(name, pa.string())) for name in Observation.FIELDS])


def to_arrow(observations: Iterable[Observation]) -> pyarrow.Table:
    """Observations as a ``pyarrow.Table`` of :func:`arrow_schema` (times as UTC timestamps)."""
    import pyarrow as pa

    schema = arrow_schema()
    columns: list[list[Any]] = [[] for _ in Observation.FIELDS]
    for obs in observations:
        for column, value in zip(columns, obs.fields(), strict=True):
            column.append(value)
    # times: epoch seconds -> integer microseconds, the storage of timestamp[us]
    micros = pa.array([None if t is None else round(t * 1_000_000) for t in columns[0]], type=pa.int64())
    arrays = [micros.cast(schema.field(0).type)]
    arrays += [pa.array(c, type=f.type) for c, f in zip(columns[1:], list(schema)[1:], strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _rebuild(values: tuple[Any, ...]) -> Observation:
    return Observation(**dict(zip(Observation.FIELDS, values, strict=True)))


_mrt.set_observation_type(Observation)
