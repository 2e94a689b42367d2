"""Terminal and plain-text rendering of upstream reports, events and timelines (CLI only).

Rich tables on a terminal; aligned plain text in pipes (no colour, no box drawing). The timeline
is one row per upstream with one character per time bucket, its height the share of peers that
saw the target through that upstream then: who carried the target when, at a glance.
"""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from transitwatch.detect.upstream_change import LOST_UPSTREAM, UpstreamChanges
from transitwatch.metrics.upstreams import UpstreamReport, UpstreamTimeline
from transitwatch.times import iso_local, iso_utc

__all__ = ["print_upstreams", "print_events", "timeline_buckets", "timeline_lines"]

_BARS = " ▁▂▃▄▅▆▇█"


def _when(seconds: float, tz: str | None) -> str:
    return iso_utc(seconds) + (f"  ({iso_local(seconds, tz)})" if tz else "")


def no_route_line(report: UpstreamReport) -> str:
    """"no route to T at TIME": at --at the input may hold none while it has routes to the target
    before or after (an update file says what changed, not what was there), so "in the input"
    alone was untrue."""
    when = f" at {iso_utc(report.at)}" if report.at is not None else ""
    return f"no route to {report.target} in the input{when}"


def _short(seconds: float) -> str:
    return iso_utc(seconds)[:19].replace("T", " ")


def _plain_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [header, *rows]]


def _prefix_summary(prefixes: list[str], limit: int = 6) -> str:
    shown = ", ".join(prefixes[:limit])
    return shown + (f", … {len(prefixes) - limit} more" if len(prefixes) > limit else "")


def print_upstreams(report: UpstreamReport, *, tz: str | None, rich: bool, file: IO[str]) -> None:
    """The upstream report: a header line, one row per upstream, then notices."""
    at = _when(report.at, tz) if report.at is not None else "(no observations)"
    head = (f"{report.target} at {at}: {len(report.upstreams)} upstream(s), "
            f"{len(report.peers)} peer(s) see it, {len(report.prefixes)} prefix(es)")
    header = ["upstream", "relationship", "prefixes", "peers", "share", "first seen", "last seen", "carries"]
    rows = [[f"AS{u.asn}", u.relationship, str(len(u.prefixes)), str(u.peers), f"{u.share:.0%}",
             iso_utc(u.first_seen), iso_utc(u.last_seen), _prefix_summary(u.prefixes)]
            for u in report.upstreams]
    if rich:
        console = Console(file=file)
        console.print(Text(head, style="bold"))
        if rows:
            # Compact columns (times to the second); prefixes and peers below, unwrapped.
            table = Table("upstream", "relationship", "pfx", "peers", "share", "first seen UTC",
                          "last seen UTC", header_style="bold cyan")
            for column in table.columns:
                column.no_wrap = True
            for u in report.upstreams:
                table.add_row(f"AS{u.asn}", u.relationship, str(len(u.prefixes)), str(u.peers),
                              f"{u.share:.0%}", _short(u.first_seen), _short(u.last_seen))
            console.print(table)
            for u in report.upstreams:
                peers = ", ".join(str(p) for p in u.peer_list[:8])
                more = f", … {u.peers - 8} more" if u.peers > 8 else ""
                console.print(Text(f"  AS{u.asn} carries {_prefix_summary(u.prefixes)}"), soft_wrap=True)
                console.print(Text(f"    seen by {peers}{more}; e.g. {u.example_path}", style="dim"),
                              soft_wrap=True)
    else:
        print(head, file=file)
        if rows:
            for line in _plain_table(header, rows):
                print(line, file=file)
    note = report.coverage.get("note")
    if note:
        print(note, file=file)
    elif report.empty:
        print(no_route_line(report), file=file)
    else:
        gaps = report.coverage.get("gaps") or []
        if gaps:
            print(f"answered from {report.coverage.get('peers', 0)} peer(s) of "
                  f"{', '.join(report.coverage.get('collectors', []))}; no data then from "
                  f"{', '.join(sorted({g['collector'] or '(unnamed)' for g in gaps}))}", file=file)
    if report.unattributed:
        # A path that starts with the target is not only a peer inside it: PCH's and route-server
        # peers do not put their own AS first (updates.et-header.2015.gz: AS15169's 336 routes).
        print(f"{report.unattributed} route(s) have no single upstream (AS_SET before the target, "
              "or the path starts with the target: the peer is in it, or does not put its own AS "
              "first)", file=file)
    if report.relationships is not None and report.upstreams:
        source = report.relationships.get("source") or report.relationships.get("note") or "none"
        scope = ("routes to its own address space (its prefixes and customer cone)" if report.scope == "own"
                 else "every route crossing it")
        siblings = report.relationships.get("siblings")
        print(f"relationships: {source}; counted: {scope}" + (f"; siblings: {siblings}" if siblings else ""),
              file=file)


def timeline_lines(timeline: UpstreamTimeline, changes: UpstreamChanges | None, tz: str | None) -> list[str]:
    """Rows of the timeline: time axis, one bar row per upstream, peers row, event markers."""
    if not timeline.edges:
        return []
    n = len(timeline.edges) - 1
    top = max(timeline.peers) if timeline.peers else 0
    labels = {asn: f"AS{asn}" for asn in timeline.rows}
    width = max([len(v) for v in labels.values()] + [len("events"), len("peers")])
    lines = [f"{'':{width}}  {iso_utc(timeline.edges[0])} … {iso_utc(timeline.edges[-1])}, "
             f"{n} buckets of {_span_text(timeline.edges[1] - timeline.edges[0])}"]
    if tz:
        local = f"{iso_local(timeline.edges[0], tz)} … {iso_local(timeline.edges[-1], tz)}"
        lines.append(f"{'':{width}}  {local}")
    for asn, counts in timeline.rows.items():
        bar = "".join(_BARS[0 if c == 0 else max(1, round(8 * c / top))] if top else " " for c in counts)
        lines.append(f"{labels[asn]:>{width}} |{bar}| {max(counts)}/{top} peers")
    lines.append(f"{'peers':>{width}} |" + "".join(_digit(c) for c in timeline.peers) + "|")
    if changes is not None and changes.events:
        marks = [" "] * n
        lo, step = timeline.edges[0], (timeline.edges[-1] - timeline.edges[0]) / n
        for e in changes.events:
            i = max(0, min(n - 1, int((e.onset - lo) / step))) if step else 0
            marks[i] = "▼" if e.type == LOST_UPSTREAM else "▲"
        lines.append(f"{'events':>{width}} |" + "".join(marks) + "| ▲ new ▼ lost")
    return lines


def _digit(count: int) -> str:
    return " " if count == 0 else (str(count) if count < 10 else "+")


def _span_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{seconds / 60:.1f}m"
    return f"{seconds:.1f}s"


def timeline_buckets(width: int, labels: int = 8) -> int:
    """How many buckets fit a terminal ``width`` beside the labels and the peer counts."""
    return max(8, min(96, width - labels - 16))


def print_events(
    changes: UpstreamChanges, timeline: UpstreamTimeline | None, *, tz: str | None, rich: bool, file: IO[str]
) -> None:
    """Events table (onset, confirmation, peers, an example), transients, then the timeline."""
    head = (f"{changes.target}: {len(changes.events)} event(s); baseline upstreams "
            + (", ".join(f"AS{a}" for a in changes.baseline) or "none")
            + (f" at {iso_utc(changes.baseline_time)}" if changes.baseline_time is not None else ""))
    header = ["event", "upstream", "relationship", "onset", "confirmed", "peers", "example"]
    if tz:
        header.insert(4, f"onset ({tz})")
    rows = []
    for e in changes.events:
        ex = e.evidence[0] if e.evidence else None
        example = ""
        if ex is not None:
            example = f"{ex.peer.ip} {ex.prefix} {ex.as_path}"
            if e.type == LOST_UPSTREAM:
                example += f" -> {ex.new_as_path or 'withdrawn'}"
        row = [e.type, f"AS{e.upstream}", e.relationship, iso_utc(e.onset),
               f"{iso_utc(e.confirmed)} ({e.confirmed_by})", str(e.peers), example]
        if tz:
            row.insert(4, iso_local(e.onset, tz))
        rows.append(row)
    lines = timeline_lines(timeline, changes, tz) if timeline is not None else []
    if rich:
        console = Console(file=file)
        console.print(Text(head, style="bold"))
        if rows:
            # Compact on a terminal: UTC date and time, local time of day; the example paths go
            # below as evidence lines (never wrapped, so they can be copied).
            table = Table("event", "upstream", "relationship", "onset (UTC)",
                          *([f"local ({tz})"] if tz else []),
                          "confirmed", "peers", header_style="bold cyan")
            for e in changes.events:
                local = [iso_local(e.onset, tz)[11:]] if tz else []
                table.add_row(e.type, f"AS{e.upstream}", e.relationship,
                              iso_utc(e.onset).replace("T", " "), *local,
                              f"{iso_utc(e.confirmed)[11:]} by {e.confirmed_by}", str(e.peers),
                              style="red" if e.type == LOST_UPSTREAM else "green")
            console.print(table)
        for e in changes.events:
            for ev in e.evidence:
                console.print(Text(f"  {e.type} AS{e.upstream}: {ev.peer} {iso_utc(ev.time)} {ev.prefix} "
                                   f"{ev.as_path} ({ev.cause}) {ev.source}@{ev.offset}", style="dim"),
                              soft_wrap=True)
        for line in lines:
            console.print(Text(line), soft_wrap=True)
    else:
        print(head, file=file)
        if rows:
            for line in _plain_table(header, rows):
                print(line, file=file)
        for line in lines:
            print(line, file=file)
    if changes.transients:
        print(f"{len(changes.transients)} transient(s) not counted as changes:", file=file)
        for t in changes.transients[:10]:
            print(f"  {t.type} AS{t.upstream} at {_when(t.onset, tz)}: {len(t.peer_list)} peer(s), "
                  f"{t.reason}", file=file)
