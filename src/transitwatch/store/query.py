"""Questions asked of the store, answered with the same result objects as from files.

>>> with Store("kp.duckdb", read_only=True) as store:                                 # doctest: +SKIP
...     report = upstreams_at(store, "AS131279", at=parse_time("2017-10-01T09:30Z"))
...     report.to_dict()["upstreams"][0]["asn"]
4837

A target's :class:`~transitwatch.state.view.TargetView` is rebuilt from the route intervals that
touch it (their paths go through the target's ASNs or their prefixes lie in its networks): each
interval start, confirmation and end is handed to the state layer's
:class:`~transitwatch.state.view.ViewBuilder` exactly as a replay of the files would, so
:func:`~transitwatch.metrics.upstreams.upstream_report`,
:func:`~transitwatch.metrics.upstreams.upstream_timeline` and
:func:`~transitwatch.detect.upstream_change.upstream_changes` apply unchanged. For countries, the
routing tables at one moment are rebuilt as a :class:`~transitwatch.state.table.RoutingState`.

All SQL here is parameterised; nothing from the caller is pasted into a statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from transitwatch.observation import Observation
from transitwatch.state.table import (
    OwnSpace,
    PeerKey,
    PeerTable,
    RouteChange,
    RouteKey,
    RoutingState,
    SessionChange,
)
from transitwatch.state.target import Target
from transitwatch.state.view import TargetView, ViewBuilder
from transitwatch.store.coverage import stored_coverage
from transitwatch.store.db import Store
from transitwatch.times import iso_local, iso_utc, parse_time

__all__ = [
    "DEFAULT_MAX_INTERVALS",
    "TargetTooBroad",
    "StoredEvents",
    "data_range",
    "state_at",
    "stored_events",
    "target_view",
    "upstreams_at",
    "upstream_changes_of",
    "timeline_of",
    "countries_at",
    "countries_report_at",
    "country_upstreams_at",
    "known_country_upstreams_at",
    "search_targets",
    "originated_prefixes",
    "own_space_of",
    "country_view",
]

#: A target whose history has more route intervals than this is refused (a clear error, not a
#: server that runs out of memory): a transit giant like AS3356 is on most paths of a full table.
DEFAULT_MAX_INTERVALS = 500_000


class TargetTooBroad(ValueError):
    """The target touches more route intervals than the limit."""


def data_range(store: Store) -> tuple[float | None, float | None]:
    """First and last observation times in the database (None, None when empty)."""
    row = store.cursor().execute("SELECT min(first_time), max(last_time) FROM files").fetchone()
    return (row[0], row[1]) if row else (None, None)


def _selected_prefixes(cur: Any, target: Target) -> list[int]:
    """The ids of the stored prefixes inside the target's networks."""
    prefixes: list[int] = []
    for hint in target.prefix_hints:
        # The text hint narrows the scan; Target.selects_prefix decides exactly.
        for xid, prefix in cur.execute(
                "SELECT prefix_id, prefix FROM prefixes WHERE starts_with(prefix, ?)", [hint]).fetchall():
            if target.selects_prefix(prefix):
                prefixes.append(xid)
    return prefixes


def own_space_of(store: Store, target: Target, cur: Any = None) -> OwnSpace | None:
    """The prefixes an AS target's ASNs originate somewhere in the stored history (None for a
    target without ASNs): its own address space, whose more-specifics from other origins are
    possible hijacks."""
    if not target.asns:
        return None
    cur = cur if cur is not None else store.cursor()
    own = OwnSpace(target.asns)
    for prefix, origin in cur.execute(
            """SELECT DISTINCT x.prefix, a.origin FROM aspaths a JOIN routes r ON r.aspath_id = a.aspath_id
               JOIN prefixes x ON x.prefix_id = r.prefix_id
               WHERE a.origin IN (SELECT unnest(?::BIGINT[]))""", [sorted(target.asns)]).fetchall():
        own.learn(prefix, str(origin))
    return own


def _covered_prefixes(cur: Any, own: OwnSpace) -> list[int]:
    """The ids of the stored prefixes inside the learnt address space (its own prefixes too).

    IPv4 in one query: each stored prefix's address as an integer, shifted to every learnt
    length, joined on the learnt networks (an equi-join, so a transit AS with hundreds of
    prefixes over a full table stays a fraction of a second); IPv6 prefixes starting like a
    learnt one are checked here."""
    if not own.heads:
        return []
    if len(own) <= 8:
        # A few prefixes (an edge AS): their text hints narrow a cheap scan, as for a prefix target.
        return _selected_prefixes(cur, Target.parse(",".join(sorted(own.prefixes))))
    out: list[int] = []
    nets4 = own.nets(4)
    if nets4:
        keys = sorted(net * 64 + length for length, nets in nets4.items() for net in nets)
        out.extend(r[0] for r in cur.execute(
            """WITH c AS (
                   SELECT prefix_id,
                          (CAST(split_part(a, '.', 1) AS UBIGINT) << 24)
                          + (CAST(split_part(a, '.', 2) AS UBIGINT) << 16)
                          + (CAST(split_part(a, '.', 3) AS UBIGINT) << 8)
                          + CAST(split_part(a, '.', 4) AS UBIGINT) AS ip,
                          plen
                   FROM (SELECT prefix_id, split_part(prefix, '/', 1) AS a,
                                TRY_CAST(split_part(prefix, '/', 2) AS INTEGER) AS plen
                         FROM prefixes WHERE NOT contains(prefix, ':')
                           AND split_part(prefix, '.', 1) IN (SELECT unnest(?::VARCHAR[]))))
               SELECT DISTINCT c.prefix_id FROM c, (SELECT unnest(?::INTEGER[]) AS len) l,
                    (SELECT unnest(?::UBIGINT[]) AS key) o
               WHERE c.plen >= l.len AND o.key = (c.ip >> (32 - l.len)) * 64 + l.len""",
            [own.heads_of(4), sorted(nets4), keys]).fetchall())
    if own.nets(6):
        rows = cur.execute(
            """SELECT prefix_id, prefix FROM prefixes WHERE contains(prefix, ':')
               AND split_part(prefix, ':', 1) IN (SELECT unnest(?::VARCHAR[]))""",
            [own.heads_of(6)]).fetchall()
        out.extend(xid for xid, prefix in rows if own.covers(prefix))
    return out


def _target_rows(
    store: Store, target: Target, until: float | None, max_intervals: int, own: OwnSpace | None = None
) -> list[tuple[Any, ...]]:
    cur = store.cursor()
    prefixes = _selected_prefixes(cur, target)
    if own is not None:
        prefixes = sorted(set(prefixes) | set(_covered_prefixes(cur, own)))
    limit = float("inf") if until is None else until
    # Every interval of every route key (peer, prefix, ADD-PATH id) that was the target's at
    # some time: the intervals around them say when and how the target's routes ended.
    query = """
        WITH sel_paths AS (SELECT aspath_id FROM aspaths WHERE list_has_any(asns, ?::BIGINT[])),
        keys AS (
            SELECT DISTINCT peer_id, prefix_id, path_id FROM routes
            WHERE t_start <= ? AND (aspath_id IN (SELECT aspath_id FROM sel_paths)
                                    OR prefix_id IN (SELECT unnest(?::UBIGINT[]))))
        SELECT p.collector, p.peer_ip, p.peer_asn, x.prefix, r.path_id, a.as_path,
               r.t_start, CAST(r.start_cause AS VARCHAR), fs.path, r.start_offset, r.last_seen,
               r.t_end, CAST(r.end_cause AS VARCHAR), fe.path, r.end_offset
        FROM routes r
        JOIN keys k ON r.peer_id = k.peer_id AND r.prefix_id = k.prefix_id
                   AND r.path_id IS NOT DISTINCT FROM k.path_id
        JOIN peers p ON p.peer_id = r.peer_id
        JOIN prefixes x ON x.prefix_id = r.prefix_id
        JOIN aspaths a ON a.aspath_id = r.aspath_id
        LEFT JOIN files fs ON fs.file_id = r.start_file
        LEFT JOIN files fe ON fe.file_id = r.end_file
        WHERE r.t_start <= ?
        ORDER BY p.collector, p.peer_ip, x.prefix, r.path_id, r.t_start
        LIMIT ?
    """
    rows = cur.execute(query, [sorted(target.asns), limit, prefixes, limit, max_intervals + 1]).fetchall()
    if len(rows) > max_intervals:
        raise TargetTooBroad(
            f"{target}: more than {max_intervals:,} route intervals; ask about a smaller target "
            "(an AS near the edge, a prefix) or raise the limit")
    return rows


def _sessions(store: Store, until: float | None) -> list[SessionChange]:
    limit = float("inf") if until is None else until
    rows = store.cursor().execute(
        """SELECT p.collector, p.peer_ip, p.peer_asn, s.time, s.up FROM sessions s
           JOIN peers p ON p.peer_id = s.peer_id WHERE s.time <= ?
           ORDER BY s.time, p.collector, p.peer_ip""", [limit]).fetchall()
    return [SessionChange(PeerKey(c, ip, int(asn)), t, bool(up), None) for c, ip, asn, t, up in rows]


def target_view(
    store: Store,
    target: Target | str | int,
    *,
    until: float | None = None,
    max_intervals: int = DEFAULT_MAX_INTERVALS,
) -> TargetView:
    """The target's :class:`TargetView` from the stored intervals, as a replay of the ingested
    files up to ``until`` (default: all) would build it.

    Differences from a replay: ``last_seen`` of a span still open at ``until`` is the latest
    confirmation stored, capped at ``until``; peers' session events are all kept (a replay that
    selects the target only tracks the sessions of peers whose table it touched).
    """
    tgt = Target.of(target)
    own = own_space_of(store, tgt)
    rows = _target_rows(store, tgt, until, max_intervals, own)
    builder = ViewBuilder(tgt)
    changes: list[RouteChange] = []
    prev_key: tuple[Any, ...] | None = None
    prev_path: str | None = None
    for (coll, ip, asn, prefix, path_id, path, start, start_cause, start_src, start_off, last_seen,
         end, end_cause, end_src, end_off) in rows:
        peer = PeerKey(coll, ip, int(asn))
        key: RouteKey = prefix if path_id is None else (prefix, int(path_id))
        route = (peer, key)
        old = prev_path if route == prev_key else None
        # Routes inside an AS target's own address space from other origins are kept as in a
        # replay (the view holds them apart, in view.foreign).
        selected = tgt.selects(prefix, path) or (own is not None and own.covers(prefix))
        changes.append(RouteChange(peer, key, prefix, old, path, selected, start, start_cause,
                                   _evidence_obs(peer, start, prefix, path, start_src, start_off)))
        if until is not None and last_seen > until:
            last_seen = until
        if last_seen > start:
            changes.append(RouteChange(peer, key, prefix, path, path, selected, last_seen, "announce", None))
        prev_key, prev_path = route, path
        if end is None or (until is not None and end > until):
            continue
        if end_cause in ("announce", "rib"):
            continue  # replaced: the next interval of the same route starts at `end`
        changes.append(RouteChange(peer, key, prefix, path, None, False, end, end_cause or "withdraw",
                                   _evidence_obs(peer, end, prefix, None, end_src, end_off)))
        prev_path = None
    # One route's changes are in time order; ViewBuilder keeps routes apart.
    for change in changes:
        builder.route(change)
    for session in _sessions(store, until):
        builder.session(session)
    first, last = data_range(store)
    end_time = last if until is None or last is None else min(until, last)
    coverage = stored_coverage(store)
    return TargetView(
        target=tgt,
        spans=sorted(builder.spans, key=lambda s: (s.start, s.peer, s.prefix, s.path_id or -1)),
        sessions=sorted(builder.sessions, key=lambda e: (e.time, e.peer)),
        start=first, end=end_time, notices=[],
        coverage=coverage,
        foreign=sorted(builder.foreign, key=lambda s: (s.start, s.peer, s.prefix, s.path_id or -1)),
    )


def _evidence_obs(peer: PeerKey, time: float, prefix: str, path: str | None, source: str | None,
                  offset: int | None) -> Observation:
    # The view reads only .source and .offset of a change's observation.
    return Observation(time=time, kind="announce" if path is not None else "withdraw", peer_ip=peer.ip,
                       peer_asn=peer.asn, prefix=prefix, as_path=path, collector=peer.collector,
                       source=source or "", offset=offset or 0)


def upstreams_at(store: Store, target: Target | str | int, at: float | None = None) -> Any:
    """The target's :class:`~transitwatch.metrics.upstreams.UpstreamReport` at ``at`` (default:
    the end of the stored history)."""
    from transitwatch.metrics.upstreams import upstream_report

    view = target_view(store, target, until=at)
    return upstream_report(view, at if at is not None else view.end)


def upstream_changes_of(
    store: Store, target: Target | str | int, *, min_peers: int = 2, min_duration: float = 300.0,
    baseline: float = 0.0,
) -> Any:
    """The target's :class:`~transitwatch.detect.upstream_change.UpstreamChanges` over the whole
    stored history (filter by time afterwards: the baseline is the start of the history)."""
    from transitwatch.detect.upstream_change import upstream_changes

    view = target_view(store, target)
    return upstream_changes(view, min_peers=min_peers, min_duration=min_duration, baseline=baseline)


def timeline_of(
    store: Store, target: Target | str | int, *, start: float | None = None, end: float | None = None,
    buckets: int = 96,
) -> Any:
    """The target's :class:`~transitwatch.metrics.upstreams.UpstreamTimeline` between ``start``
    and ``end`` (default: the target's first route .. the end of the history)."""
    from transitwatch.metrics.upstreams import upstream_timeline

    view = target_view(store, target, until=end)
    return upstream_timeline(view, buckets, start, end)


def state_at(store: Store, at: float | None = None, *, collector: str | None = None) -> RoutingState:
    """Every peer's routing table at ``at`` (default: the end), rebuilt from the intervals that
    hold then. ``state.time`` is ``at``; callbacks are not attached."""
    first, last = data_range(store)
    when = last if at is None else at
    state = RoutingState()
    if when is None:
        return state
    cur = store.cursor()
    peer_filter = "" if collector is None else " AND p.collector = ?"
    params: list[Any] = [when, when] + ([] if collector is None else [collector])
    rows = cur.execute(
        f"""SELECT p.collector, p.peer_ip, p.peer_asn, x.prefix, r.path_id, a.as_path
            FROM routes r JOIN peers p ON p.peer_id = r.peer_id
            JOIN prefixes x ON x.prefix_id = r.prefix_id JOIN aspaths a ON a.aspath_id = r.aspath_id
            WHERE r.t_start <= ? AND (r.t_end IS NULL OR r.t_end > ?){peer_filter}""",
        params).fetchall()
    tables: dict[tuple[str, str], PeerTable] = {}
    for coll, ip, asn, prefix, path_id, path in rows:
        table = tables.get((coll, ip))
        if table is None:
            state.apply(Observation(time=when, kind="state", peer_ip=ip, peer_asn=int(asn), collector=coll,
                                    old_state=5, new_state=6))
            created = state.table((coll, ip))
            assert created is not None
            table = tables[(coll, ip)] = created
        table.routes[prefix if path_id is None else (prefix, int(path_id))] = path
    state.start = first
    state.time = when
    return state


def countries_at(store: Store, registry: Any, at: float | None = None) -> list[Any]:
    """:func:`~transitwatch.metrics.country.countries_ranking` of the tables at ``at``."""
    return countries_report_at(store, registry, at).rows


def countries_report_at(store: Store, registry: Any, at: float | None = None) -> Any:
    """:func:`~transitwatch.metrics.country.countries_report` of the tables at ``at`` (rows and
    the registry snapshot that placed them)."""
    from transitwatch.metrics.country import countries_report

    return countries_report(state_at(store, at), registry)


def country_upstreams_at(store: Store, country: str, registry: Any, at: float | None = None) -> Any:
    """:func:`~transitwatch.metrics.country.country_upstreams` of the tables known at ``at``."""
    return known_country_upstreams_at(store, country, registry, at)[0]


def known_country_upstreams_at(store: Store, country: str, registry: Any,
                               at: float | None = None) -> tuple[Any, dict[str, Any]]:
    """:func:`~transitwatch.metrics.country.country_upstreams` of the tables at ``at`` whose
    collector's data covers ``at`` (:func:`~transitwatch.state.known.known_tables`), and the
    ``coverage`` block."""
    from transitwatch.metrics.country import country_upstreams
    from transitwatch.state.known import known_tables
    from transitwatch.store.coverage import stored_coverage

    state = state_at(store, at)
    state, block = known_tables(state, stored_coverage(store), at if at is not None else state.time)
    return country_upstreams(state, country, registry), block


# -- stored events ---------------------------------------------------------------------------------


@dataclass
class StoredEvents:
    """A page of stored events (newest last), with the total that matched."""

    events: list[dict[str, Any]]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "total": self.total, "limit": self.limit, "offset": self.offset}


def stored_events(
    store: Store,
    *,
    target: str | None = None,
    start: float | None = None,
    end: float | None = None,
    limit: int = 100,
    offset: int = 0,
    tz: str | None = None,
    types: Iterable[str] | None = None,
) -> StoredEvents:
    """Events of the watched targets (see :func:`transitwatch.store.ingestion.watch`) with onset in
    [start, end], of every detector or of ``types`` (``new_upstream``, ``outage``,
    ``more_specific``...), in the JSON shape of ``transitwatch events --json``; ``tz`` adds
    local times."""
    where = ["onset >= ?", "onset <= ?"]
    params: list[Any] = [start if start is not None else float("-inf"),
                         end if end is not None else float("inf")]
    if types is not None:
        where.append("type IN (SELECT unnest(?::VARCHAR[]))")
        params.append(sorted(set(types)))
    if target is not None:
        where.append("target = ?")
        params.append(Target.parse(target).label)
    cond = " AND ".join(where)
    cur = store.cursor()
    row = cur.execute(f"SELECT count(*) FROM events WHERE {cond}", params).fetchone()
    total = int(row[0]) if row else 0
    rows = cur.execute(
        f"SELECT data FROM events WHERE {cond} ORDER BY onset, target, type, subject LIMIT ? OFFSET ?",
        params + [limit, offset]).fetchall()
    events = [with_local_times(json.loads(r[0]), tz) for r in rows]
    return StoredEvents(events, total, limit, offset)


_LOCAL_FIELDS = {"onset": "onset_local", "confirmed": "confirmed_local", "time": "time_local",
                 "end": "end_local"}


def with_local_times(event: dict[str, Any], tz: str | None) -> dict[str, Any]:
    """Add ``*_local`` beside each UTC time of an event dict (and of its evidence) for ``tz``."""
    if not tz:
        return event
    out: dict[str, Any] = {}
    for key, value in event.items():
        out[key] = value
        if key in _LOCAL_FIELDS and isinstance(value, str):
            out[_LOCAL_FIELDS[key]] = iso_local(parse_time(value), tz)
        elif key == "evidence" and isinstance(value, list):
            out[key] = [with_local_times(e, tz) for e in value]
    return out


def originated_prefixes(store: Store, asn: int, limit: int = 10_000) -> list[str]:
    """Prefixes that ``asn`` originated at some time in the stored history."""
    rows = store.cursor().execute(
        """SELECT DISTINCT x.prefix FROM aspaths a JOIN routes r ON r.aspath_id = a.aspath_id
           JOIN prefixes x ON x.prefix_id = r.prefix_id WHERE a.origin = ? ORDER BY 1 LIMIT ?""",
        [asn, limit]).fetchall()
    return [r[0] for r in rows]


def search_targets(store: Store, text: str, limit: int = 10) -> list[dict[str, Any]]:
    """Suggestions for a search box: watched targets, origin ASes and prefixes starting with ``text``."""
    cur = store.cursor()
    needle = text.strip().upper().removeprefix("AS")
    out: list[dict[str, Any]] = []
    for (label,) in cur.execute(
            "SELECT target FROM watch WHERE starts_with(upper(target), ?) ORDER BY 1 LIMIT ?",
            [text.strip().upper(), limit]).fetchall():
        out.append({"target": label, "kind": "watched"})
    if needle.isdigit():
        for (asn,) in cur.execute(
                "SELECT DISTINCT origin FROM aspaths WHERE CAST(origin AS VARCHAR) LIKE ? || '%' "
                "ORDER BY origin LIMIT ?", [needle, limit]).fetchall():
            out.append({"target": f"AS{asn}", "kind": "origin"})
    elif any(ch in text for ch in ".:"):
        for (prefix,) in cur.execute("SELECT prefix FROM prefixes WHERE starts_with(prefix, ?) "
                                     "ORDER BY prefix LIMIT ?", [text.strip(), limit]).fetchall():
            out.append({"target": prefix, "kind": "prefix"})
    seen: set[str] = set()
    unique = []
    for item in out:
        if item["target"] not in seen:
            seen.add(item["target"])
            unique.append(item)
    return unique[:limit]


def _iso(t: float | None) -> str | None:
    return iso_utc(t) if t is not None else None


# -- a country over time ---------------------------------------------------------------------------


def _feed_origins(store: Store, registry: Any, until: float | None) -> None:
    # The registry derives AS countries from what each AS originates (as country_view does).
    limit = float("inf") if until is None else until
    pairs = store.cursor().execute(
        """SELECT DISTINCT a.origin, x.prefix FROM routes r JOIN aspaths a ON a.aspath_id = r.aspath_id
           JOIN prefixes x ON x.prefix_id = r.prefix_id WHERE a.origin IS NOT NULL AND r.t_start <= ?""",
        [limit]).fetchall()
    registry.add_origins((int(origin), prefix) for origin, prefix in pairs)


def country_view(
    store: Store, country: str, registry: Any, *, until: float | None = None,
    max_intervals: int = DEFAULT_MAX_INTERVALS,
) -> TargetView:
    """The country's routes over time from the store, as
    :func:`transitwatch.metrics.country.country_view` builds them from files: spans of the
    domestic prefixes (placed by ``registry``) whose ``upstream`` is the country's international
    upstream, so the AS-level metrics and detectors apply. Raises UnknownCountryError."""
    import ipaddress

    from transitwatch.metrics.country import country_upstream_of_path
    from transitwatch.registry import normalise_country
    from transitwatch.state.view import RouteSpan

    cc = normalise_country(country)
    first, last = data_range(store)
    view_end = last if until is None or last is None else min(until, last)
    dated = hasattr(registry, "use_time")
    # The registry data of the data's time, as from files (metrics.country.country_view): the
    # snapshot nearest the start places the prefixes, the one nearest the end names the rest and
    # is the answer's `registry` (it was None here: no snapshot chosen, the newest data used).
    if dated:
        registry.use_time(first)
    cur = store.cursor()
    domestic = [(xid, prefix) for xid, prefix in cur.execute("SELECT prefix_id, prefix FROM prefixes")
                .fetchall() if registry.country_of_prefix(prefix)[0] == cc]
    if dated:
        registry.use_time(view_end)
    _feed_origins(store, registry, until)
    limit = float("inf") if until is None else until
    rows = cur.execute(
        """SELECT p.collector, p.peer_ip, p.peer_asn, x.prefix, r.path_id, a.as_path,
                  r.t_start, CAST(r.start_cause AS VARCHAR), fs.path, r.start_offset, r.last_seen,
                  r.t_end, CAST(r.end_cause AS VARCHAR), fe.path, r.end_offset
           FROM routes r JOIN peers p ON p.peer_id = r.peer_id JOIN prefixes x ON x.prefix_id = r.prefix_id
           JOIN aspaths a ON a.aspath_id = r.aspath_id
           LEFT JOIN files fs ON fs.file_id = r.start_file LEFT JOIN files fe ON fe.file_id = r.end_file
           WHERE list_contains(?::UBIGINT[], r.prefix_id) AND r.t_start <= ?
           ORDER BY p.collector, p.peer_ip, x.prefix, r.path_id, r.t_start LIMIT ?""",
        [[xid for xid, _ in domestic], limit, max_intervals + 1]).fetchall()
    if len(rows) > max_intervals:
        raise TargetTooBroad(f"{cc}: more than {max_intervals:,} route intervals")
    spans: list[RouteSpan] = []
    open_span: RouteSpan | None = None
    open_key: tuple[Any, ...] | None = None
    for (coll, ip, asn, prefix, path_id, path, start, start_cause, start_src, start_off, last_seen,
         end, end_cause, end_src, end_off) in rows:
        peer = PeerKey(coll, ip, int(asn))
        key = (peer, prefix, path_id)
        upstream = country_upstream_of_path(path, cc, registry)
        if until is not None and last_seen > until:
            last_seen = until
        continuing = open_span is not None and open_key == key and open_span.end is None
        if continuing and open_span is not None and upstream == open_span.upstream:
            open_span.last_seen = max(start, last_seen)  # same upstream: the span goes on
        else:
            if continuing and open_span is not None:
                open_span.end, open_span.end_cause, open_span.end_path = start, start_cause, path
                open_span.end_source, open_span.end_offset = start_src or "", start_off
            open_span = RouteSpan(peer=peer, prefix=prefix, upstream=upstream, start=start,
                                  start_cause=start_cause, path=path, source=start_src or "",
                                  offset=start_off or 0, last_seen=last_seen,
                                  path_id=None if path_id is None else int(path_id))
            open_key = key
            spans.append(open_span)
        if end is not None and (until is None or end <= until) and end_cause not in ("announce", "rib"):
            open_span.end, open_span.end_cause, open_span.end_path = end, end_cause, None
            open_span.end_source, open_span.end_offset = end_src or "", end_off
    networks = tuple(ipaddress.ip_network(p, strict=False) for _, p in sorted(domestic, key=lambda d: d[1]))
    target = Target(asns=frozenset(), networks=networks, label=cc) if networks else Target(
        asns=frozenset({0}), label=cc)  # a Target needs something; AS0 never appears in a path
    builder_sessions = ViewBuilder(target)
    for session in _sessions(store, until):
        builder_sessions.session(session)
    return TargetView(
        target=target,
        spans=sorted(spans, key=lambda s: (s.start, s.peer, s.prefix, s.path_id or -1)),
        sessions=sorted(builder_sessions.sessions, key=lambda e: (e.time, e.peer)),
        start=first, end=view_end, notices=[],
        coverage=stored_coverage(store),  # what the stored files cover, as a target's view has
    )
