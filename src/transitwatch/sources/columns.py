"""A decoded batch as packed columns: the routes of one file without an Observation per route.

For bulk consumers that need only a route's kind, time, offset, peer, prefix, ADD-PATH id and AS
path (the store's ingest): making and freeing an Observation for each of a full table's routes
costs more than decoding them. ``MrtReader(path, columns=True).batches()`` (and
``read_files(..., columns=True)``) yield :class:`RouteColumns` instead of lists; the rows are the
same observations in the same order (tests compare the two on every real file). A state change
is a row of kind 3 whose :class:`~transitwatch.observation.Observation` is kept whole.

A batch behaves like the list it replaces where the merge of files needs it: ``len``, ``batch[i]``
(the Observation of a state change, else a :class:`RouteRow` with the row's time and source) and
slices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from transitwatch.observation import Observation

__all__ = ["KIND_NAMES", "RouteColumns", "RouteRow"]

#: Row kinds, by code.
KIND_NAMES = ("announce", "withdraw", "rib", "state")


@dataclass(frozen=True)
class RouteRow:
    """One route row of a :class:`RouteColumns` (what the merge of files reads: its time)."""

    time: float
    kind: str
    source: str


class RouteColumns:
    """Rows of one file in stream order (see the module doc). Arrays: ``kind`` int8, ``time``
    float64, ``offset`` int64 (-1: none), ``peer`` int32 (index into ``peers``, (peer_ip,
    peer_asn) pairs), ``path_id`` int64 (ADD-PATH id, -1: none), ``path`` int32 (index into
    ``paths``, the AS path texts or None; -1 for withdrawals and state changes);
    ``prefix_offsets`` int32 (rows + 1) into ``prefix_text`` (ASCII bytes); ``others``: row ->
    Observation of each state change."""

    __slots__ = ("source", "kind", "time", "offset", "peer", "peers", "prefix_offsets", "prefix_text",
                 "path_id", "path", "paths", "others")

    def __init__(self, source: str, kind: npt.NDArray[np.int8], time: npt.NDArray[np.float64],
                 offset: npt.NDArray[np.int64], peer: npt.NDArray[np.int32], peers: list[tuple[str, int]],
                 prefix_offsets: npt.NDArray[np.int32], prefix_text: bytes | memoryview,
                 path_id: npt.NDArray[np.int64], path: npt.NDArray[np.int32], paths: list[str | None],
                 others: dict[int, Observation]) -> None:
        self.source = source
        self.kind = kind
        self.time = time
        self.offset = offset
        self.peer = peer
        self.peers = peers
        self.prefix_offsets = prefix_offsets
        self.prefix_text = prefix_text
        self.path_id = path_id
        self.path = path
        self.paths = paths
        self.others = others

    @classmethod
    def from_decoder(cls, source: str, packed: tuple[Any, ...]) -> RouteColumns:
        """From what ``Decoder.feed``/``finish`` return in column mode."""
        _, kind, time, offset, peer, peers, pfx_off, pfx, path_id, path, paths, others = packed
        return cls(source, np.frombuffer(kind, np.int8), np.frombuffer(time, np.float64),
                   np.frombuffer(offset, np.int64), np.frombuffer(peer, np.int32), peers,
                   np.frombuffer(pfx_off, np.int32), pfx, np.frombuffer(path_id, np.int64),
                   np.frombuffer(path, np.int32), paths, dict(others))

    def __len__(self) -> int:
        return len(self.kind)

    def __bool__(self) -> bool:
        return len(self.kind) > 0

    @overload
    def __getitem__(self, i: int) -> Observation | RouteRow: ...
    @overload
    def __getitem__(self, i: slice) -> RouteColumns: ...

    def __getitem__(self, i: int | slice) -> Observation | RouteRow | RouteColumns:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1:
                raise ValueError("RouteColumns slices are contiguous")
            return self._slice(start, max(start, stop))
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("row out of range")
        other = self.others.get(i)
        if other is not None:
            return other
        return RouteRow(float(self.time[i]), KIND_NAMES[int(self.kind[i])], self.source)

    def _slice(self, a: int, b: int) -> RouteColumns:
        if a == 0 and b == len(self):
            return self
        offsets = self.prefix_offsets[a: b + 1]
        text = memoryview(self.prefix_text)[int(offsets[0]): int(offsets[-1])]
        others = {row - a: obs for row, obs in self.others.items() if a <= row < b}
        # peer and path indexes stay valid: the lists are shared, not cut
        return RouteColumns(self.source, self.kind[a:b], self.time[a:b], self.offset[a:b], self.peer[a:b],
                            self.peers, offsets - offsets[0], text, self.path_id[a:b], self.path[a:b],
                            self.paths, others)

    @classmethod
    def concat(cls, parts: list[RouteColumns]) -> RouteColumns:
        """Batches of one file, one after another, as one."""
        if len(parts) == 1:
            return parts[0]
        peers: list[tuple[str, int]] = []
        paths: list[str | None] = []
        peer_cols, path_cols, offset_cols = [], [], []
        others: dict[int, Observation] = {}
        rows = text_len = 0
        for p in parts:
            peer_cols.append(p.peer + np.int32(len(peers)))
            path_cols.append(np.where(p.path >= 0, p.path + np.int32(len(paths)), np.int32(-1)))
            offset_cols.append(p.prefix_offsets[:-1] + np.int32(text_len))
            others.update({row + rows: obs for row, obs in p.others.items()})
            peers.extend(p.peers)
            paths.extend(p.paths)
            rows += len(p)
            text_len += int(p.prefix_offsets[-1])
        offset_cols.append(np.asarray([text_len], np.int32))
        return cls(parts[0].source, np.concatenate([p.kind for p in parts]),
                   np.concatenate([p.time for p in parts]), np.concatenate([p.offset for p in parts]),
                   np.concatenate(peer_cols).astype(np.int32), peers,
                   np.concatenate(offset_cols).astype(np.int32),
                   b"".join(p.prefix_text for p in parts), np.concatenate([p.path_id for p in parts]),
                   np.concatenate(path_cols).astype(np.int32), paths, others)

    def observations(self) -> list[Observation]:
        """The rows as Observations (what the list form of the batch holds, for the fields kept
        here: kind, time, peer, prefix, ADD-PATH id, AS path, offset, source)."""
        out: list[Observation] = []
        text = bytes(self.prefix_text)
        off = self.prefix_offsets.tolist()
        for i, (k, t, o, p, pid, path) in enumerate(zip(
                self.kind.tolist(), self.time.tolist(), self.offset.tolist(), self.peer.tolist(),
                self.path_id.tolist(), self.path.tolist(), strict=True)):
            other = self.others.get(i)
            if other is not None:
                out.append(other)
                continue
            ip, asn = self.peers[p]
            out.append(Observation(
                time=t, kind=KIND_NAMES[k], peer_ip=ip, peer_asn=asn,
                prefix=text[off[i]: off[i + 1]].decode(),
                as_path=self.paths[path] if path >= 0 else None, path_id=None if pid < 0 else pid,
                source=self.source, offset=None if o < 0 else o))
        return out
