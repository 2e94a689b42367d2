"""Arrow columns from numpy arrays and Python lists, with their types given, built from buffers.

Why not ``pa.array``: on its first call with anything but an Arrow object (a list, even a numpy
array with an explicit type) pyarrow imports pandas to ask whether the input is a pandas object.
That costs 0.4 s of CPU and 40 MB in every process that ingests, for nothing: the ingest never
has pandas objects. ``pa.Array.from_buffers`` takes the bytes as they are and never asks, and
numpy arrays are handed over without a copy where the width already matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["bools", "column", "int_lists", "numeric", "strings", "table", "text_column"]

_NUMPY: dict[pa.DataType, Any] = {
    pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32, pa.int64(): np.int64,
    pa.uint8(): np.uint8, pa.uint16(): np.uint16, pa.uint32(): np.uint32, pa.uint64(): np.uint64,
    pa.float32(): np.float32, pa.float64(): np.float64,
}


def _validity(null: Any, n: int) -> pa.Buffer | None:
    """The validity bitmap of ``null`` (True where the value is null), or None when none is."""
    if null is None:
        return None
    null = np.asarray(null, np.bool_)
    if not null.any():
        return None
    return pa.py_buffer(np.packbits(~null, bitorder="little"))


def numeric(values: Any, type: pa.DataType, null: Any = None) -> pa.Array:
    """A numeric Arrow array of ``type`` over ``values`` (converted to its width when needed);
    ``null`` (booleans) marks nulls."""
    data = np.ascontiguousarray(values, _NUMPY[type])
    return pa.Array.from_buffers(type, len(data), [_validity(null, len(data)), pa.py_buffer(data)])


def bools(values: Any, null: Any = None) -> pa.Array:
    data = np.asarray(values, np.bool_)
    return pa.Array.from_buffers(pa.bool_(), len(data), [_validity(null, len(data)),
                                                         pa.py_buffer(np.packbits(data, bitorder="little"))])


def strings(count: int, offsets: Any, data: Any, null: Any = None) -> pa.Array:
    """A string array over int32 ``offsets`` (count + 1) and UTF-8 ``data``, without copying."""
    return pa.Array.from_buffers(pa.string(), count, [_validity(null, count), pa.py_buffer(offsets),
                                                      pa.py_buffer(data)])


def text_column(values: Sequence[str | None]) -> pa.Array:
    """A string array of Python texts (None: null)."""
    encoded = [b"" if v is None else v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    null = [v is None for v in values] if None in values else None
    return strings(len(encoded), offsets, b"".join(encoded), null)


def int_lists(lists: Sequence[Sequence[int]]) -> pa.Array:
    """A list<int64> array of Python lists of ints."""
    offsets = np.zeros(len(lists) + 1, np.int32)
    np.cumsum([len(x) for x in lists], out=offsets[1:])
    values = np.fromiter((v for x in lists for v in x), np.int64, int(offsets[-1]))
    return pa.ListArray.from_arrays(numeric(offsets, pa.int32()), numeric(values, pa.int64()))


def column(values: Sequence[Any], type: pa.DataType) -> pa.Array:
    """An Arrow array of ``type`` from a Python list (None: null)."""
    if type == pa.string():
        return text_column(values)
    if pa.types.is_list(type):
        return int_lists([[] if v is None else v for v in values])
    null = [v is None for v in values] if None in values else None
    if type == pa.bool_():
        return bools([bool(v) for v in values], null)
    if null is not None:
        values = [0 if v is None else v for v in values]
    return numeric(np.asarray(values, _NUMPY[type]), type, null)


def table(columns: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.Table:
    """A table of ``schema`` from Python lists, one per field."""
    arrays = [column(values, f.type) for values, f in zip(columns, schema, strict=True)]
    return pa.table(arrays, schema=schema)
