"""The shape every Python API answer shares: a table of rows plus the CLI's ``--json`` document.

A result is a plain dataclass of what was asked and found. It has:

- ``to_dict()``: the document ``--json`` prints (and the HTTP API returns), JSON-serialisable;
- ``records()``: one dict per row of its main table, times as aware UTC ``datetime`` objects;
- ``to_arrow()`` / ``to_pandas()``: that table as a ``pyarrow.Table`` / ``pandas.DataFrame``, with
  real timestamp columns (``timestamp[us, tz=UTC]``), not strings;
- a short readable ``repr`` (what a notebook shows).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas
    import pyarrow

__all__ = ["Result", "utc_datetime"]


def utc_datetime(seconds: float | None) -> datetime | None:
    """Epoch seconds -> aware UTC datetime (None stays None): the time type of result rows."""
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


class Result:
    """Base of every API result. Subclasses implement ``to_dict`` and ``records``."""

    #: Column order of the table (``records`` keys); empty means the order of the first row.
    columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def records(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def to_arrow(self) -> pyarrow.Table:
        import pyarrow as pa

        rows = self.records()
        if not rows and not self.columns:
            return pa.table({})
        names = list(self.columns) or list(rows[0])
        return pa.Table.from_pylist([{k: row.get(k) for k in names} for row in rows],
                                    schema=_schema(names, rows))

    def to_pandas(self) -> pandas.DataFrame:
        return self.to_arrow().to_pandas()

    def _summary(self) -> str:
        """One line of what the result holds (subclasses say more)."""
        return f"{len(self.records())} rows"

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self._summary()}>"


def _schema(names: list[str], rows: list[dict[str, Any]]) -> pyarrow.Schema | None:
    """Arrow types inferred from the rows, with datetimes as UTC microsecond timestamps."""
    import pyarrow as pa

    fields = []
    for name in names:
        sample = next((row[name] for row in rows if row.get(name) is not None), None)
        if isinstance(sample, datetime):
            fields.append(pa.field(name, pa.timestamp("us", tz="UTC")))
        elif sample is None:
            fields.append(pa.field(name, pa.null()))
        else:
            fields.append(pa.field(name, pa.array([sample]).type))
    try:
        return pa.schema(fields)
    except (pa.ArrowInvalid, TypeError):
        return None
