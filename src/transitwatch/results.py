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


# -- the results of the API functions (transitwatch.engine.queries) ------------------------------------

#: Keys whose values are times in the JSON shape (ISO 8601 text there, datetimes in records).
_TIME_KEYS = frozenset({"time", "at", "onset", "end", "confirmed", "first_seen", "last_seen", "start",
                        "baseline_time", "since", "until"})


def _timed(row: dict[str, Any]) -> dict[str, Any]:
    """A flat JSON row with its ISO 8601 times as aware UTC datetimes and no ``*_local`` copies
    (a local time is a view of the same moment: ``df[col].dt.tz_convert(zone)``)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key.endswith("_local"):
            continue
        if key in _TIME_KEYS and isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        out[key] = value
    return out


class _Wrapped(Result):
    """A Result around a lower layer's report object: its attributes are reachable directly
    (``result.upstreams``, ``result.events``), ``to_dict`` is the CLI's ``--json`` document."""

    _inner: Any = None

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("_inner")
        if inner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(inner, name)


class UpstreamsResult(_Wrapped):
    """Who carried a target at one moment (``tw.upstreams``): one row per (upstream, prefix)."""

    columns = ("target", "upstream", "prefix", "peers", "share", "first_seen", "last_seen")

    def __init__(self, report: Any, tz: str | None = None) -> None:
        self._inner = self.report = report
        self.tz = tz

    @property
    def time(self) -> datetime | None:
        """The moment answered about (the end of the input unless ``at=`` was given)."""
        return utc_datetime(self.report.at)

    @property
    def coverage(self) -> dict[str, Any]:
        """Who could answer: ``{"peers": N, "collectors": [...], "gaps": [...]}`` (the vantage
        points whose data covers the moment; with a ``"note"`` when none does)."""
        return dict(self.report.coverage)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.report.to_dict(self.tz))

    def records(self) -> list[dict[str, Any]]:
        target = str(self.report.target)
        return [{"target": target, "upstream": u.asn, "prefix": p, "peers": u.peers, "share": u.share,
                 "first_seen": utc_datetime(u.first_seen), "last_seen": utc_datetime(u.last_seen)}
                for u in self.report.upstreams for p in u.prefixes]

    def _summary(self) -> str:
        ups = ", ".join(f"AS{u.asn} ({u.share:.0%})" for u in self.report.upstreams[:6]) or "no route"
        at = self.report.to_dict()["at"]
        return f"{self.report.target} at {at}: {ups}"


class EventsResult(Result):
    """What changed for a target (``tw.events``): one row per confirmed event, every type.

    ``changes`` (upstream changes, None when that detector was not asked), ``others`` (outage and
    origin detectors' findings, None when none was asked), ``view`` (the target's routes over
    time), ``timeline`` (upstream bars, when asked)."""

    def __init__(self, view: Any, changes: Any, others: Any, detectors: tuple[str, ...], *,
                 tz: str | None = None, timeline: Any = None, country: str | None = None,
                 registry: Any = None) -> None:
        self.view, self.changes, self.others = view, changes, others
        self.detectors, self.tz, self.timeline = detectors, tz, timeline
        self.country, self.registry = country, registry
        #: where upstream events' ``relationship`` came from (None: the upstream detector did not run)
        self.relationships: dict[str, Any] | None = None

    @property
    def target(self) -> Any:
        return self.view.target

    @property
    def events(self) -> list[Any]:
        """Every confirmed event, by onset."""
        found = list(self.changes.events) if self.changes is not None else []
        found += list(self.others.events) if self.others is not None else []
        return sorted(found, key=lambda e: (e.onset, e.type))

    @property
    def transients(self) -> list[Any]:
        found = list(self.changes.transients) if self.changes is not None else []
        found += list(self.others.transients) if self.others is not None else []
        return sorted(found, key=lambda e: (e.onset, e.type))

    @property
    def notices(self) -> list[str]:
        return list(self.view.notices)

    def to_dict(self) -> dict[str, Any]:
        tz = self.tz
        if self.country is not None:
            from transitwatch.detect.country_change import country_changes_dict

            out = country_changes_dict(self.changes, self.registry, tz)
        elif self.changes is not None:
            out = self.changes.to_dict(tz)
        else:
            out = {"target": str(self.view.target)}
        if self.others is not None:
            found = self.others.to_dict(tz)
            out["events"] = sorted([*out.get("events", []), *found["events"]], key=lambda e: e["onset"])
            out["transients"] = sorted([*out.get("transients", []), *found["transients"]],
                                       key=lambda e: e["onset"])
            out["detectors"] = (found["detectors"] if "baseline" not in out
                                else ["upstream", *found["detectors"]])
            out["vantage_lost"] = found["vantage_lost"]
            out["silences"] = found["silences"]
        if self.timeline is not None:
            out["timeline"] = self.timeline.to_dict()
        if self.relationships is not None:
            out["relationships"] = self.relationships
        return out

    def records(self) -> list[dict[str, Any]]:
        return [_timed({k: v for k, v in row.items() if k not in ("evidence", "peer_list")})
                for row in self.to_dict()["events"]]

    def _summary(self) -> str:
        kinds: dict[str, int] = {}
        for e in self.events:
            kinds[e.type] = kinds.get(e.type, 0) + 1
        found = ", ".join(f"{n} {k}" for k, n in kinds.items()) or "no event"
        return f"{self.view.target}: {found}, {len(self.transients)} transient"


class VisibilityResult(_Wrapped):
    """How visible a target was over time (``tw.visibility``): one row per point."""

    columns = ("target", "time", "prefixes", "slash24", "slash48", "peers", "peers_up", "share",
               "low_slash24", "low_slash48")

    def __init__(self, series: Any, tz: str | None = None, view: Any = None) -> None:
        self._inner = self.series = series
        self.tz = tz
        self.view = view

    def to_dict(self) -> dict[str, Any]:
        return dict(self.series.to_dict(self.tz))

    def records(self) -> list[dict[str, Any]]:
        return [_timed({"target": self.series.target, **p.to_dict()}) for p in self.series.points]

    def _summary(self) -> str:
        pts = self.series.points
        if not pts:
            return f"{self.series.target}: no point"
        low = min(p.slash24 for p in pts)
        return (f"{self.series.target}: {len(pts)} points every {self.series.resolution:g} s, "
                f"{pts[0].to_dict()['time']} to {pts[-1].to_dict()['time']}, lowest {low:g} /24s")


class CountriesResult(Result):
    """Every country seen, ranked by how concentrated its international upstreams are
    (``tw.countries``): one row per country."""

    columns = ("country", "name", "upstreams", "top_upstream", "top_name", "top_name_hint", "top_share",
               "top_share_ipv4", "top_share_ipv6", "dependence", "hhi", "prefixes", "addresses",
               "address_family")

    def __init__(self, rows: list[Any], notices: list[str], time: float | None = None,
                 registry: dict[str, Any] | None = None) -> None:
        self.rows, self.notices, self._time = rows, notices, time
        #: the registry snapshot that placed the countries (date, source, flagged...)
        self.registry = registry
        #: which collectors' data covers the moment (the keys of ``upstreams``' own block)
        self.coverage: dict[str, Any] = {}

    @property
    def time(self) -> datetime | None:
        return utc_datetime(self._time)

    def to_dict(self) -> dict[str, Any]:
        from transitwatch.times import iso_utc

        # the moment answered: "time" as in the other country answers, "at" as in upstreams
        when = iso_utc(self._time) if self._time is not None else None
        return {"time": when, "at": when, "countries": [r.to_dict() for r in self.rows],
                "registry": self.registry, "coverage": self.coverage, "notices": self.notices}

    def records(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rows]

    def _summary(self) -> str:
        top = ", ".join(f"{r.country} {r.top_share:.0%} AS{r.top_upstream}" for r in self.rows[:5])
        return f"{len(self.rows)} countries" + (f"; most concentrated: {top}" if top else "")


class CountryUpstreamsResult(_Wrapped):
    """A country's international upstreams at one moment (``tw.country_upstreams``): one row per
    upstream."""

    columns = ("country", "asn", "name", "name_source", "name_hint", "upstream_country", "prefixes",
               "addresses", "share", "share_ipv4", "share_ipv6", "peers")

    def __init__(self, report: Any, tz: str | None = None, notices: list[str] | None = None) -> None:
        self._inner = self.report = report
        self.tz = tz
        self.notices = notices if notices is not None else []
        #: which collectors' data covers the moment (the keys of ``upstreams``' own block)
        self.coverage: dict[str, Any] = {}

    @property
    def time(self) -> datetime | None:
        return utc_datetime(self.report.time)

    def to_dict(self) -> dict[str, Any]:
        from transitwatch.times import iso_local

        report = dict(self.report.to_dict())
        out: dict[str, Any] = {}
        for key, value in report.items():
            out[key] = value
            if key == "time":   # "at" as in upstreams' answer, the same moment ("time" stays)
                out["at"] = value
        if self.tz and self.report.time is not None:
            out["time_local"] = out["at_local"] = iso_local(self.report.time, self.tz)
        out["coverage"] = self.coverage
        out["notices"] = self.notices
        return out

    def records(self) -> list[dict[str, Any]]:
        cc = self.report.country
        rows = []
        for u in self.report.upstreams:
            d = u.to_dict()
            rows.append({"country": cc, "asn": d["asn"], "name": d["name"], "name_source": d["name_source"],
                         "name_hint": d["name_hint"], "upstream_country": d["country"],
                         "prefixes": d["prefixes"], "addresses": d["addresses"], "share": d["share"],
                         "share_ipv4": d["share_ipv4"], "share_ipv6": d["share_ipv6"],
                         "peers": d["peers"]})
        return rows

    def _summary(self) -> str:
        ups = ", ".join(f"AS{u.asn} {u.name or ('~' + u.name_hint if u.name_hint else '?')} ({u.share:.0%})"
                        for u in self.report.upstreams[:5])
        return f"{self.report.country}: {ups or 'no route'}"
