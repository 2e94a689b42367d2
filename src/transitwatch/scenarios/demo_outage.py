"""``make demo``, chapter 2: a reconstruction of the December 2014 outage of North Korea.

Writes the bundled scenario ``kp-2014-12-outage`` (all four /24s of AS131279 withdrawn everywhere
at 16:15 UTC on 2014-12-22, back about 9.5 hours later) as RIS-style MRT files with the project's
writer, then runs the real pipeline on them: collector liveness while reading, the target's view,
the visibility series, and every detector (upstream changes, outages, origin changes); and the
same for the country KP (prefixes placed by the registry). Prints UTC and Pyongyang times, the
duration and the evidence, and checks the result against the scenario's expectations.

>>> chapter = run_outage_chapter("demo-out/2014")               # doctest: +SKIP
>>> [(e.type, e.duration) for e in chapter.outages]            # doctest: +SKIP
[('outage', 34217.0)]
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from transitwatch.cli.render_events import event_line, visibility_chart
from transitwatch.detect.events import DetectedEvents, detect_events
from transitwatch.detect.outage import OUTAGE, OutageEvent, OutageReport, outage_changes
from transitwatch.metrics.visibility import VisibilitySeries, visibility
from transitwatch.scenarios.scenario import Scenario, load_scenario
from transitwatch.sources.files import read_files
from transitwatch.state.liveness import LivenessTracker
from transitwatch.state.view import TargetView, target_view
from transitwatch.times import iso_local, iso_utc

__all__ = ["CHAPTER_SCENARIO", "ChapterCheck", "OutageChapter", "print_outage_chapter", "run_outage_chapter"]

CHAPTER_SCENARIO = "kp-2014-12-outage"
#: How far the detected recovery may lie after the scenario's return time (announcements reach
#: the peers over a minute; the outage ends when most of them have the routes back).
RECOVERY_SLACK = 120.0


@dataclass
class ChapterCheck:
    what: str
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "ok": self.ok}


@dataclass
class OutageChapter:
    """Everything chapter 2 computed: files, views, detector results, checks."""

    scenario: Scenario
    paths: list[Path]
    view: TargetView
    found: DetectedEvents
    series: VisibilitySeries
    country: OutageReport | None
    checks: list[ChapterCheck] = field(default_factory=list)
    seconds: float = 0.0
    #: (time, ASes) the single points of failure a minute before the outage (observed model), and
    #: the upstreams then: with one upstream, it is the single point of failure that failed.
    spof: tuple[float, list[int], list[int]] | None = None

    @property
    def outages(self) -> list[OutageEvent]:
        return [e for e in self.found.events if isinstance(e, OutageEvent)]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        tz = self.scenario.timezone
        return {
            "scenario": self.scenario.name,
            "label": self.scenario.label,
            "files": [str(p) for p in self.paths],
            "events": self.found.to_dict(tz),
            "country": self.country.to_dict(tz) if self.country else None,
            "checks": [c.to_dict() for c in self.checks],
        }


def run_outage_chapter(outdir: str | os.PathLike[str], *, scenario: str = CHAPTER_SCENARIO,
                       seed: int | None = None) -> OutageChapter:
    """Write the scenario's files under ``outdir`` and run the pipeline on them."""
    began = time.perf_counter()
    sc = load_scenario(scenario)
    paths = sc.write_mrt(outdir, seed=seed)
    tracker = LivenessTracker()
    view = target_view(sc.target, tracker.watch(read_files(paths)))
    found = detect_events(view, tracker.liveness())
    series = visibility(view, 900.0)
    country = None
    try:
        from transitwatch.metrics.country import country_view
        from transitwatch.registry import Registry

        country_tracker = LivenessTracker()
        kp = country_view("KP", country_tracker.watch(read_files(paths)), Registry())
        country = outage_changes(kp, country_tracker.liveness())
    except (ImportError, ValueError):
        country = None
    chapter = OutageChapter(sc, paths, view, found, series, country, seconds=0.0)
    outages = [e for e in chapter.outages if e.type == OUTAGE]
    if outages:
        from transitwatch.metrics.hegemony import target_routes_at
        from transitwatch.metrics.resilience import spof_asns
        from transitwatch.metrics.upstreams import upstream_report

        when = outages[0].onset - 60.0
        chapter.spof = (when, spof_asns(target_routes_at(view, when), view.target.asns),
                        sorted(upstream_report(view, when).asns))
    chapter.checks = check_outage_chapter(chapter)
    chapter.seconds = time.perf_counter() - began
    return chapter


def check_outage_chapter(chapter: OutageChapter) -> list[ChapterCheck]:
    """The pipeline's result against the scenario's ``[[expect.events]]`` of kind outage."""
    sc = chapter.scenario
    checks: list[ChapterCheck] = []
    outages = [e for e in chapter.outages if e.type == OUTAGE]
    for exp in (x for x in sc.expectations if x.kind == OUTAGE):
        match = [e for e in outages if exp.onset is None or e.onset == exp.onset]
        checks.append(ChapterCheck(
            f"one outage of {exp.target} with onset {iso_utc(exp.onset) if exp.onset else '?'}",
            len(match) == 1 and len(outages) == 1))
        if not match:
            continue
        event = match[0]
        if exp.onset_local:
            checks.append(ChapterCheck(f"onset in Pyongyang {exp.onset_local}",
                                       iso_local(event.onset, sc.timezone) == exp.onset_local))
        checks.append(ChapterCheck(f"seen by at least {exp.min_peers} peers", event.peers >= exp.min_peers))
        back = exp.extra.get("recovered_after")
        if back is not None:
            back_at = back.timestamp() if hasattr(back, "timestamp") else float(back)
            checks.append(ChapterCheck(
                f"recovery within {RECOVERY_SLACK:g}s after {iso_utc(back_at)}",
                event.end is not None and 0 <= event.end - back_at <= RECOVERY_SLACK))
        about = exp.extra.get("duration_about")
        if about is not None:
            want = _hm(str(about))
            checks.append(ChapterCheck(
                f"duration about {about}",
                event.duration is not None and abs(event.duration - want) <= RECOVERY_SLACK))
        checks.append(ChapterCheck("all four /24s lost", len(event.prefixes_lost) == 4))
    checks.append(ChapterCheck("the three-minute blip is a transient, not an outage",
                               any(t.type == OUTAGE for t in chapter.found.transients)))
    checks.append(ChapterCheck("the session reset is a lost vantage point, not an outage",
                               any(v.reason == "session down" for v in chapter.found.vantage_lost)
                               and not [e for e in chapter.outages if e.type != OUTAGE]))
    checks.append(ChapterCheck("no origin change (the routes came back from AS131279)",
                               not chapter.found.origins))
    if chapter.spof is not None:
        _, spof, ups = chapter.spof
        checks.append(ChapterCheck(
            f"before the outage the one upstream ({', '.join(f'AS{a}' for a in ups)}) was a single point of "
            "failure", len(ups) == 1 and ups[0] in spof))
    if chapter.country is not None and outages:
        checks.append(ChapterCheck("the country KP has the same outage",
                                   [e.onset for e in chapter.country.events] == [outages[0].onset]))
    return checks


def _hm(text: str) -> float:
    # "9h30m" -> seconds (scenario durations use h/m/s parts).
    total, number = 0.0, ""
    for ch in text.strip().lower():
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in "hms" and number:
            total += float(number) * {"h": 3600, "m": 60, "s": 1}[ch]
            number = ""
    return total


def print_outage_chapter(chapter: OutageChapter, console: Console) -> None:
    """The chapter on the console: story, chart, the event with evidence, checks."""
    sc = chapter.scenario
    tz = sc.timezone
    console.print()
    console.rule(Text("Chapter 2 - December 2014: North Korea goes dark", style="bold"))
    console.print(Text(f"{sc.title}", style="bold"))
    console.print(Text(f"{sc.label}.", style="bold yellow"))
    console.print(sc.summary)
    for source in sc.sources:
        console.print(Text(f"  source: {source.title} - {source.url}", style="dim"))
    first, last = chapter.paths[0], chapter.paths[-1]
    console.print(Text(f"{len(chapter.paths)} MRT files written: {first} .. {last.name}", style="dim"))

    console.print(Text("\nVisibility of AS131279 (every 15 minutes, UTC)", style="bold"))
    for line in visibility_chart(chapter.series, width=min(96, max(40, console.width - 10))):
        console.print(Text(line))

    if chapter.spof is not None:
        when, spof, ups = chapter.spof
        console.print(Text(f"\nA minute before ({iso_utc(when)}): upstreams "
                           f"{', '.join(f'AS{a}' for a in ups) or 'none'}; single points of failure "
                           f"(transitwatch resilience --spof): {', '.join(f'AS{a}' for a in spof) or 'none'}",
                           style="bold"))
        console.print(Text("With one upstream there was no other way in: this is the day the single point "
                           "of failure failed (the 2017 link through AS20485 removed it).", style="dim"))
    for event in chapter.outages:
        console.print(Text(f"\n{event.type.upper()} of {event.target}", style="bold red"))
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_row("onset", f"{iso_utc(event.onset)}   {iso_local(event.onset, tz)} in Pyongyang")
        end = (f"{iso_utc(event.end)}   {iso_local(event.end, tz)} in Pyongyang"
               if event.end is not None else "not recovered in the input")
        table.add_row("recovered", end)
        if event.duration is not None:
            h, rest = divmod(int(event.duration), 3600)
            table.add_row("duration", f"{h}h{rest // 60:02d}m{rest % 60:02d}s")
        table.add_row("visible space", f"{event.baseline:g} {event.unit} before, {event.minimum:g} at the "
                                       f"worst ({iso_utc(event.minimum_at)})")
        table.add_row("prefixes lost", ", ".join(event.prefixes_lost))
        table.add_row("seen by", f"{event.peers} of {event.vantage_points} vantage points")
        console.print(table)
        console.print(Text("(Pyongyang was UTC+9 in 2014; UTC+8:30 from August 2015 to May 2018)",
                           style="dim"))
        evidence = Table("peer", "withdrew", "evidence: file @ byte offset", "back", header_style="bold cyan")
        for view in sorted(event.evidence, key=lambda v: v.first_loss.time if v.first_loss else 0.0):
            loss = view.first_loss
            evidence.add_row(
                str(view.peer),
                iso_utc(loss.time) if loss else "-",
                f"{Path(loss.source).name} @{loss.offset}" if loss else "-",
                iso_utc(view.recovered) if view.recovered is not None else "-",
            )
        console.print(evidence)
    others = [e for e in chapter.found.events if not isinstance(e, OutageEvent)]
    if others:
        console.print(Text("Other events in the same files (upstream detector):", style="bold"))
        for e in others:
            head, _ = event_line(e, None)
            console.print(Text("  " + head.rstrip(), style="dim"))
    if chapter.found.vantage_lost:
        console.print(Text("Lost vantage points (not outages of the target):", style="bold"))
    for v in chapter.found.vantage_lost:
        head, _ = event_line(v, tz)
        console.print(Text("  " + head, style="dim"))
    for t in chapter.found.transients:
        if isinstance(t, OutageEvent):
            console.print(Text(f"  transient {t.type}: {iso_utc(t.onset)} .. "
                               f"{iso_utc(t.end) if t.end else '?'} (shorter than 5 minutes)", style="dim"))
    if chapter.country is not None:
        onsets = ", ".join(f"{e.type} {iso_utc(e.onset)}" for e in chapter.country.events) or "none"
        console.print(Text(f"  country KP (registry-placed prefixes): {onsets}", style="dim"))
    console.print(Text("\nChecked against the public reports (the scenario's expectations)", style="bold"))
    for check in chapter.checks:
        console.print(Text(f"  {'ok  ' if check.ok else 'FAIL'} {check.what}",
                           style="green" if check.ok else "bold red"))
    console.print(Text(f"chapter 2 took {chapter.seconds:.1f}s", style="dim"))
