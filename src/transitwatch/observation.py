"""The one observation type that crosses every boundary of transitwatch.

Every source (MRT files, archives, RIS Live) yields :class:`Observation` objects; state, metrics,
detectors and the store consume them. The storage lives in the C decoder so that decoding straight
into these objects is cheap; this subclass adds the conveniences.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import transitwatch.sources._mrt as _mrt

ANNOUNCE = "announce"
WITHDRAW = "withdraw"
RIB = "rib"
STATE = "state"
KINDS = (ANNOUNCE, WITHDRAW, RIB, STATE)

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
    (ADD-PATH) · ``old_state``/``new_state`` int|None (state changes, 6 = Established) ·
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


def _rebuild(values: tuple[Any, ...]) -> Observation:
    return Observation(**dict(zip(Observation.FIELDS, values, strict=True)))


_mrt.set_observation_type(Observation)
