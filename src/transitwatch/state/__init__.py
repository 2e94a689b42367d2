"""Per-peer routing state, AS paths, targets and a target's view over time.

- :mod:`~transitwatch.state.aspath`: parse and clean AS paths (:func:`parse_as_path`).
- :mod:`~transitwatch.state.target`: what is watched (:class:`Target`).
- :mod:`~transitwatch.state.table`: per-(collector, peer) tables replayed from observations
  (:class:`RoutingState`).
- :mod:`~transitwatch.state.view`: a target's route spans per peer, mergeable across streams
  (:func:`target_view`, :class:`TargetView`).
"""

from transitwatch.state.aspath import ASPath, ASPathError, parse_as_path, reserved_asn_reason
from transitwatch.state.table import PeerKey, PeerTable, RouteChange, RoutingState, SessionChange
from transitwatch.state.target import Target, TargetError
from transitwatch.state.view import RouteSpan, SessionEvent, TargetView, target_view

__all__ = [
    "ASPath",
    "ASPathError",
    "PeerKey",
    "PeerTable",
    "RouteChange",
    "RouteSpan",
    "RoutingState",
    "SessionChange",
    "SessionEvent",
    "Target",
    "TargetError",
    "TargetView",
    "parse_as_path",
    "reserved_asn_reason",
    "target_view",
]
