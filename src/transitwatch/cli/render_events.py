"""Terminal and plain-text rendering of outages, origin changes, lost vantage points and visibility
series (CLI only).

Rich on a terminal; plain aligned text in pipes. The visibility chart is a bar chart of the visible
address space per time bucket (its lowest value in the bucket, so short dips show), with the share
of peers seeing the target as a row of shaded cells under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

from rich.console import Console
from rich.text import Text

from transitwatch.detect.origin_change import OriginEvent
from transitwatch.detect.outage import OutageEvent, VantageLost
from transitwatch.metrics.visibility import VisibilitySeries
from transitwatch.times import iso_local, iso_utc

__all__ = ["event_line", "print_other_events", "print_visibility", "visibility_chart"]

_BARS = " ▁▂▃▄▅▆▇█"
_SHADES = " ░▒▓█"


def _when(seconds: float, tz: str | None) -> str:
    return iso_utc(seconds) + (f" ({iso_local(seconds, tz)})" if tz else "")


class _LinePrinter:
    """Prints one line at a time to ``file``: styled through rich with ``rich``, plain otherwise."""

    def __init__(self, file: IO[str], rich: bool) -> None:
        self._file = file
        self._console = Console(file=file, highlight=False, soft_wrap=True) if rich else None

    def __call__(self, text: str, style: str = "") -> None:
        if self._console is not None:
            self._console.print(Text(text, style=style))
        else:
            print(text, file=self._file)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "ongoing"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def event_line(event: Any, tz: str | None) -> tuple[str, list[str]]:
    """A one-line summary of an outage / origin / vantage event and its evidence lines."""
    head = f"{event.type:<19} {_when(event.onset, tz)}"
    lines: list[str] = []
    if isinstance(event, OutageEvent):
        end = _when(event.end, tz) if event.end is not None else "not recovered in the input"
        head += (f"  until {end}  ({_duration(event.duration)}):  {event.baseline:g} -> "
                 f"{event.minimum:g} {event.unit} visible, {len(event.prefixes_lost)} prefix(es) lost, "
                 f"seen by {event.peers}/{event.vantage_points} vantage points")
        if event.prefixes_lost:
            shown = ", ".join(event.prefixes_lost[:6])
            more = f", … {len(event.prefixes_lost) - 6} more" if len(event.prefixes_lost) > 6 else ""
            lines.append(f"lost: {shown}{more}")
        for view in event.evidence[:6]:
            first = view.first_loss
            where = (f"first withdrawal {iso_utc(first.time)} {first.prefix} ({first.cause}, "
                     f"{first.source} @{first.offset})") if first else "no withdrawal"
            back = f", back {iso_utc(view.recovered)}" if view.recovered is not None else ""
            verdict = "saw it" if view.saw_drop else "did not see it"
            lines.append(f"{view.peer}: {view.before:g} -> {view.minimum:g} {event.unit}, {verdict}; "
                         f"{where}{back}")
        if len(event.evidence) > 6:
            lines.append(f"… {len(event.evidence) - 6} more vantage points")
        lines.extend(event.notes)
    elif isinstance(event, OriginEvent):
        end = _when(event.end, tz) if event.end is not None else "still seen at the end"
        usual = ",".join(f"AS{a}" for a in event.usual) or "?"
        inside = f" inside {event.covering}" if event.covering != event.prefix else ""
        head += (f"  until {end}:  {event.prefix}{inside} from AS{event.origin} (usual {usual}), "
                 f"seen by {event.peers} peer(s)")
        for ev in event.evidence[:4]:
            lines.append(f"{ev.peer}: {iso_utc(ev.time)} {ev.as_path}  ({ev.source} @{ev.offset})")
    elif isinstance(event, VantageLost):
        end = _when(event.end, tz) if event.end is not None else "not back in the input"
        who = ", ".join(str(p) for p in event.peer_list[:4])
        more = f", … {event.peers - 4} more" if event.peers > 4 else ""
        head += (f"  until {end}:  {event.reason} ({who}{more}); {event.routes} target route(s) "
                 "out of view, not an outage")
    else:  # an upstream event or anything else with the shared shape
        d = event.to_dict(tz)
        head += f"  {d.get('upstream', '')}"
    return head, lines


def print_other_events(events: list[Any], transients: list[Any], *, tz: str | None, rich: bool,
                       file: IO[str], vantage_lost: Sequence[Any] = (),
                       title: str = "outages and origin changes") -> None:
    """One block per event (summary line, then indented evidence), then lost vantage points and
    transients."""
    out = _LinePrinter(file, rich)
    out(f"{title}: {len(events)} event(s)", "bold")
    for event in events:
        head, lines = event_line(event, tz)
        style = {"outage": "bold red", "vantage_point_lost": "dim"}.get(event.type, "yellow")
        out("  " + head, style)
        for line in lines:
            out("      " + line, "dim")
    if vantage_lost:
        out(f"vantage points lost (not outages of the target): {len(vantage_lost)}", "bold")
        for v in vantage_lost:
            head, _ = event_line(v, tz)
            out("  " + head, "dim")
    if transients:
        out(f"transients (did not last): {len(transients)}", "bold")
        for t in transients:
            head, _ = event_line(t, tz)
            out("  " + head, "dim")


def visibility_chart(series: VisibilitySeries, width: int = 72, height: int = 6) -> list[str]:
    """Text lines: a bar chart of the visible address space (lowest per bucket) and a row for the
    share of peers seeing the target. Buckets are merged to fit ``width`` columns."""
    points = series.points
    if not points:
        return ["(no data)"]
    v6 = series.family == 6
    unit = "/48" if v6 else "/24"
    values = [p.low_slash48 if v6 else p.low_slash24 for p in points]
    shares = [p.share for p in points]
    per = max(1, -(-len(points) // max(width, 1)))
    cols = [min(values[i:i + per]) for i in range(0, len(values), per)]
    share_cols = [min(shares[i:i + per]) for i in range(0, len(shares), per)]
    top = max(cols) if max(cols) > 0 else 1.0   # nothing visible: an axis of 1, not "1e-09"
    label_w = max(len(f"{top:g}"), 3)
    lines = []
    for row in range(height, 0, -1):
        cells = []
        for v in cols:
            level = v / top * height - (row - 1)
            cells.append(_BARS[max(0, min(8, int(round(level * 8))))] if level > 0 else " ")
        label = f"{top:g}" if row == height else ""
        lines.append(f"{label:>{label_w}} │{''.join(cells)}")
    lines.append(f"{'0':>{label_w}} └{'─' * len(cols)}")
    shade = "".join(_SHADES[max(0, min(4, int(round(s * 4))))] for s in share_cols)
    lines.append(f"{'peers':>{label_w}}  {shade}")
    start, end = iso_utc(points[0].time), iso_utc(points[-1].time)
    gap = max(1, len(cols) - len(start) - len(end))
    lines.append(f"{'':>{label_w}}  {start}{' ' * gap}{end}" if len(cols) >= len(start) + len(end) + 1
                 else f"{'':>{label_w}}  {start} .. {end}")
    lines.append(f"{'':>{label_w}}  bars: visible address space ({unit} equivalents, lowest in each "
                 f"{series.resolution:g}s bucket); peers: share seeing it (█ = all)")
    return lines


def print_visibility(series: VisibilitySeries, *, tz: str | None, rich: bool, file: IO[str],
                     width: int = 72, changes_only: bool = True) -> None:
    """Header, chart, then one row per point where something changed (all rows without
    ``changes_only``)."""
    out = _LinePrinter(file, rich)
    n = len(series.points)
    head = f"visibility of {series.target}: {n} point(s) every {series.resolution:g}s"
    if n:
        head += f", {_when(series.points[0].time, tz)} .. {_when(series.points[-1].time, tz)}"
    out(head, "bold")
    for line in visibility_chart(series, width=width):
        out(line)
    # Rows in a local zone drop the offset to stay narrow, so the header names the zone.
    header = (f"{'time (' + (tz or 'UTC') + ')':<21} {'prefixes':>8} {'/24':>9} {'/48':>9} {'peers':>9} "
              f"{'share':>6} {'low /24':>8}")
    out(header, "bold cyan")
    previous: tuple[Any, ...] | None = None
    for p in series.points:
        key = (p.prefixes, p.slash24, p.slash48, p.peers, p.peers_up, p.low_slash24)
        if changes_only and key == previous and p is not series.points[-1]:
            continue
        previous = key
        when = iso_utc(p.time) if not tz else iso_local(p.time, tz)[:19]
        out(f"{when:<21} {p.prefixes:>8} {p.slash24:>9g} {p.slash48:>9g} {p.peers:>4}/{p.peers_up:<4} "
            f"{p.share:>6.0%} {p.low_slash24:>8g}")
