"""``make demo``: a reconstruction of 2017-10-01, when North Korea gained a second upstream.

``python -m transitwatch.scenarios.demo`` writes a bundled scenario
(:mod:`transitwatch.scenarios.scenario`) as RIS-style MRT files with the project's own writer,
runs the real pipeline on those files (read_files ->
target_view -> upstreams_of / upstream_changes / upstream_timeline), prints the upstreams before
and after, the event with its evidence and the timeline, checks the result against what the public
reports say, and runs the equivalent command line on the same files. No network, a second or two.

>>> result = run_demo("demo-out")                            # doctest: +SKIP
>>> [(e.type, e.upstream) for e in result.changes.events]    # doctest: +SKIP
[('new_upstream', 20485)]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from transitwatch.cli.render_country import print_country_upstreams
from transitwatch.cli.render_upstreams import timeline_lines
from transitwatch.detect.upstream_change import UpstreamChanges, UpstreamEvent, upstream_changes
from transitwatch.metrics.country import CountryUpstreams
from transitwatch.metrics.hegemony import hegemony_at, target_routes_at
from transitwatch.metrics.resilience import Outcome, observed_outcome, spof_asns
from transitwatch.metrics.upstreams import UpstreamReport, UpstreamTimeline, upstream_timeline, upstreams_of
from transitwatch.scenarios.scenario import Scenario, ScenarioError, load_scenario
from transitwatch.sources.files import read_files
from transitwatch.state.table import PeerKey
from transitwatch.state.view import TargetView, target_view
from transitwatch.times import iso_local, iso_utc, zone

__all__ = ["DEFAULT_SCENARIO", "DemoResult", "run_demo", "print_demo", "main"]

DEFAULT_SCENARIO = "kp-2017-transtelecom"
#: The moments the demo shows the upstreams at: an hour after the RIB dump, and the end.
BEFORE_OFFSET = 3600.0


@dataclass
class Check:
    """One comparison of the pipeline's result with the scenario's expectations."""

    what: str
    ok: bool

    def to_dict(self) -> dict[str, object]:
        return {"what": self.what, "ok": self.ok}


@dataclass
class WhatIf:
    """The consequence the reports drew: the baseline upstreams fail, before and after the change.

    ``failed`` the baseline upstreams; ``before``/``after`` the observed-model outcomes at the
    report times; ``hegemony_before``/``hegemony_after`` the AS hegemony scores then; ``spof``
    the single points of failure before.
    """

    failed: list[int]
    before: Outcome
    after: Outcome
    hegemony_before: dict[int, float]
    hegemony_after: dict[int, float]
    spof_before: list[int]
    spof_after: list[int]


@dataclass
class DemoResult:
    """Everything the demo computed: the files written, the pipeline's outputs, the checks."""

    scenario: Scenario
    paths: list[Path]
    observations: int
    view: TargetView
    before: UpstreamReport
    after: UpstreamReport
    changes: UpstreamChanges
    timeline: UpstreamTimeline
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    country_before: CountryUpstreams | None = None
    country_after: CountryUpstreams | None = None
    whatif: WhatIf | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, object]:
        tz = self.scenario.timezone
        return {
            "scenario": self.scenario.name,
            "label": self.scenario.label,
            "files": [str(p) for p in self.paths],
            "observations": self.observations,
            "before": self.before.to_dict(tz),
            "after": self.after.to_dict(tz),
            "changes": self.changes.to_dict(tz),
            "checks": [c.to_dict() for c in self.checks],
        }


def run_demo(
    outdir: str | os.PathLike[str] = "demo-out", *, scenario: str | Scenario = DEFAULT_SCENARIO,
    seed: int | None = None,
) -> DemoResult:
    """Write ``scenario``'s MRT files under ``outdir`` and run the pipeline on them.

    Only the files are shared between the two halves: the pipeline reads them back with the MRT
    decoder like any archive files.
    """
    started = time.perf_counter()
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    paths = sc.write_mrt(outdir, seed=seed)
    notices: list[str] = []
    counted = 0

    def count(observations: int, done: int, total: int) -> None:
        nonlocal counted
        counted = observations

    view = target_view(sc.target, read_files(paths, notices=notices, progress=count), notices=notices)
    result = DemoResult(
        scenario=sc,
        paths=paths,
        observations=counted,
        view=view,
        before=upstreams_of(sc.target, view, sc.start + BEFORE_OFFSET),
        after=upstreams_of(sc.target, view, sc.end),
        changes=upstream_changes(view),
        timeline=upstream_timeline(view, buckets=48, start=sc.start, end=sc.end),
    )
    if sc.country:
        # The same files, seen as a country through the Python API (as a user would ask): which
        # foreign networks connect KP, and what each is to the domestic AS it hands routes to.
        import transitwatch as tw

        source = tw.files(paths)
        result.country_before = tw.country_upstreams(sc.country, source, at=sc.start + BEFORE_OFFSET).report
        result.country_after = tw.country_upstreams(sc.country, source, at=sc.end - 1).report
    result.whatif = what_if(view, sorted(result.changes.baseline), sc.start + BEFORE_OFFSET, sc.end)
    result.checks = check_expectations(result)
    result.seconds = time.perf_counter() - started
    return result


def what_if(view: TargetView, failed: list[int], before: float, after: float) -> WhatIf:
    """The what-if of the baseline upstreams failing, and the hegemony, at ``before`` and ``after``
    (pure functions of the view: the same as ``transitwatch resilience``/``hegemony``)."""
    down = frozenset(failed)
    routes_before, routes_after = target_routes_at(view, before), target_routes_at(view, after)
    return WhatIf(
        failed=failed,
        before=observed_outcome(routes_before, down),
        after=observed_outcome(routes_after, down),
        hegemony_before={h.asn: h.score for h in hegemony_at(view, before)[0]},
        hegemony_after={h.asn: h.score for h in hegemony_at(view, after)[0]},
        spof_before=spof_asns(routes_before, view.target.asns),
        spof_after=spof_asns(routes_after, view.target.asns),
    )


def check_expectations(result: DemoResult) -> list[Check]:
    """Compare the detected events with the scenario's ``[[expect.events]]``."""
    sc, events = result.scenario, result.changes.events
    checks = []
    for exp in sc.expectations:
        found = [e for e in events if e.type == exp.kind and str(e.target) == exp.target
                 and (exp.upstream is None or e.upstream == exp.upstream)]
        label = f"{exp.kind} AS{exp.upstream} for {exp.target}"
        checks.append(Check(f"one {label}", len(found) == 1))
        if len(found) != 1:
            continue
        event = found[0]
        if exp.onset is not None:
            checks.append(Check(f"onset {iso_utc(exp.onset)}", event.onset == exp.onset))
        if exp.onset_local is not None:
            checks.append(Check(f"onset {exp.onset_local} in {sc.timezone}",
                                iso_local(event.onset, sc.timezone) == exp.onset_local))
        checks.append(Check(f"seen by at least {exp.min_peers} peers", event.peers >= exp.min_peers))
    expected = {(x.kind, x.target, x.upstream) for x in sc.expectations}
    unexpected = [e for e in events if (e.type, str(e.target), e.upstream) not in expected
                  and (e.type, str(e.target), None) not in expected]
    checks.append(Check("no other event (the flap and the session reset are not changes): "
                        + (", ".join(f"{e.type} AS{e.upstream} at {iso_utc(e.onset)}" for e in unexpected)
                           or "none"), not unexpected))
    checks.extend(_what_if_checks(result))
    return checks


def _what_if_checks(result: DemoResult) -> list[Check]:
    """The consequence the reports drew, checked on the pipeline's own answer: before the new
    upstream, losing the baseline cuts the target off; after, the prefixes the new upstream
    carries stay reachable through it (and only those)."""
    w = result.whatif
    new = [e.upstream for e in result.changes.events if e.type == "new_upstream"]
    if w is None or not w.failed or not new:
        return []
    lost = ", ".join(f"AS{a}" for a in w.failed)
    carried = {p for u in result.after.upstreams if u.asn in new for p in u.prefixes}
    kept = [f.prefix for f in w.after.prefixes if f.reachable]
    via = {a for f in w.after.prefixes for a in f.via}
    checks = [
        Check(f"before: losing {lost} leaves 0% reachable", w.before.reachable_share == 0.0),
        Check(f"after: losing {lost} leaves {len(kept)} of {len(w.after.prefixes)} prefixes reachable, "
              f"those {', '.join(f'AS{a}' for a in new)} carries",
              bool(kept) and set(kept) == carried and via <= set(new)),
        Check(f"hegemony of {lost} falls from 1.0 to below 1; "
              f"{', '.join(f'AS{a}' for a in new)} rises from 0",
              all(w.hegemony_before.get(a) == 1.0 and w.hegemony_after.get(a, 0.0) < 1.0 for a in w.failed)
              and all(w.hegemony_before.get(a, 0.0) == 0.0 < w.hegemony_after.get(a, 0.0) for a in new)),
        Check(f"single point of failure before: {lost}; after: none", w.spof_before == w.failed
              and not w.spof_after),
    ]
    return checks


# ---------------------------------------------------------------------------------------------------
# Printing.


def _shown(path: str | os.PathLike[str]) -> str:
    """A path relative to the working directory when it is under it (as a user would type it)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def _clock(seconds: float, tz: str) -> tuple[str, str]:
    """('09:08:00', '17:38:00') for UTC and local wall-clock time."""
    local = datetime.fromtimestamp(seconds, tz=zone(tz))
    return iso_utc(seconds)[11:19], local.strftime("%H:%M:%S")


def _peer_label(sc: Scenario, peer: PeerKey) -> str:
    name = next((p.name for p in sc.peers.values() if p.ip == peer.ip), None)
    return f"{name} AS{peer.asn}" if name else f"AS{peer.asn} {peer.ip}"


def _upstream_table(result: DemoResult, report: UpstreamReport, title: str) -> Table:
    sc = result.scenario
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold cyan")
    for column in ("upstream", "prefixes", "peers", "first seen (UTC)", "example path"):
        table.add_column(column)
    total = len(report.peers)
    for up in report.upstreams:
        short = " ".join("." + p.split(".")[2] if p.startswith("175.45.") else p for p in up.prefixes)
        table.add_row(sc.as_label(up.asn), f"{len(up.prefixes)}: {short}", f"{up.peers} of {total}",
                      iso_utc(up.first_seen)[11:19], up.example_path)
    return table


def _timeline_rows(result: DemoResult) -> list[tuple[float, str]]:
    """What happened, read off the pipeline's view and events (not off the scenario file)."""
    sc, view, changes = result.scenario, result.view, result.changes
    rows: list[tuple[float, str]] = []
    first = min((s.start for s in view.spans), default=None)
    if first is not None:
        base = [s for s in view.spans if s.start == first]
        ups = sorted({s.upstream for s in base if isinstance(s.upstream, int)})
        rows.append((first, f"RIB dump: {len({s.peer for s in base})} peers reach {sc.target} "
                            f"({len({s.prefix for s in base})} prefixes) via "
                            + ", ".join(sc.as_label(u) for u in ups)))
    for event in changes.events:
        seen: set[PeerKey] = set()
        arrivals = sorted((s for s in view.spans if s.upstream == event.upstream and s.start >= event.onset),
                          key=lambda s: s.start)
        for span in arrivals:
            if span.peer in seen or span.start_cause != "announce":
                continue
            seen.add(span.peer)
            n = len(seen)
            mark = ""
            if span.start == event.onset:
                mark = f"  <- onset of {event.type} AS{event.upstream}"
            elif span.start == event.confirmed and event.confirmed_by == "peers":
                mark = f"  <- confirmed ({n} peers)"
            rows.append((span.start, f"{_peer_label(sc, span.peer)}: {span.prefix} via "
                                     f"AS{event.upstream}  {span.path}{mark}"))
    # Route losses that came back: flaps (withdrawn, re-announced) at one peer.
    for span in view.spans:
        if span.end_cause != "withdraw" or span.end is None:
            continue
        back = next((s for s in view.spans if s.peer == span.peer and s.prefix == span.prefix
                     and s.start >= span.end), None)
        again = (f"back {back.start - span.end:.0f} s later via AS{back.upstream}" if back is not None
                 else "not re-announced")
        rows.append((span.end, f"{_peer_label(sc, span.peer)}: {span.prefix} withdrawn, {again}"))
    for down in (e for e in view.sessions if not e.up):
        dropped = sum(1 for s in view.spans if s.peer == down.peer and s.end == down.time
                      and s.end_cause == "down")
        rows.append((down.time, f"{_peer_label(sc, down.peer)}: session down, {dropped} {sc.target} "
                                "routes dropped with it"))
        up = next((e for e in view.sessions if e.up and e.peer == down.peer and e.time > down.time), None)
        if up is None:
            continue
        resent = [s for s in view.spans if s.peer == down.peer and s.start >= up.time]
        text = f"{_peer_label(sc, down.peer)}: session Established again"
        if resent:
            last = iso_utc(max(s.start for s in resent))[11:19]
            text += (f"; {len(resent)} routes re-announced by {last} via "
                     + ", ".join(sorted({f"AS{s.upstream}" for s in resent})))
        rows.append((up.time, text))
    for t in changes.transients:
        rows.append((t.onset, f"transient {t.type} AS{t.upstream}: {t.reason}"))
    end = result.after
    if end.at is not None:
        rows.append((end.at, "end: " + "; ".join(
            f"{sc.as_label(u.asn)} seen by {u.peers} of {len(end.peers)} peers" for u in end.upstreams)))
    return sorted(rows, key=lambda r: r[0])


def print_demo(result: DemoResult, console: Console) -> None:
    """Print the demo's story from ``result`` (rich; plain text when not a terminal)."""
    sc = result.scenario
    tz = sc.timezone
    header = Text()
    header.append(sc.title + "\n", style="bold")
    header.append(sc.label, style="bold yellow")
    if sc.summary:
        header.append("\n\n" + sc.summary)
    if sc.sources:
        header.append("\n\nSources:")
        for s in sc.sources:
            header.append(f"\n  - {s.title}\n    {s.url}")
    console.print(Panel(header, title="transitwatch demo", title_align="left"))

    rib, updates = result.paths[0], result.paths[1:]
    size = sum(p.stat().st_size for p in result.paths)
    console.print(Text("1. The scenario, written as MRT files by transitwatch's own writer", style="bold"))
    console.print(f"   {_shown(rib.parent)}/{rib.name}  (TABLE_DUMP_V2 RIB dump)")
    console.print(f"   {_shown(rib.parent)}/{updates[0].name} .. {updates[-1].name}  "
                  f"({len(updates)} BGP4MP update files), {size / 1024:.0f} KiB in all")
    console.print(Text("2. The real pipeline on those files", style="bold"))
    console.print(f"   read_files -> target_view({sc.target!r}) -> upstreams_of, upstream_changes, "
                  "upstream_timeline")
    console.print(f"   {result.observations:,} observations decoded, {len(result.view.peers)} peers with "
                  f"{sc.target} routes, {result.seconds:.2f} s")
    for note in result.view.notices:
        console.print(f"   note: {note}")
    console.print()

    for number, title, report in ((3, "before", result.before), (4, "after", result.after)):
        assert report.at is not None
        utc, local = _clock(report.at, tz)
        console.print(_upstream_table(
            result, report, f"{number}. Upstreams of {sc.target} {title}: {utc} UTC ({local} in {tz})"))
        console.print()

    console.print(Text(f"5. Events: {len(result.changes.events)}", style="bold"))
    for event in result.changes.events:
        _print_event(result, event, console)
    if result.changes.transients:
        console.print(f"   {len(result.changes.transients)} transient(s), not counted as changes:")
        for t in result.changes.transients:
            console.print(f"     {t.type} AS{t.upstream} at {iso_utc(t.onset)}: {t.reason}")
    console.print()

    console.print(Text(f"6. Timeline (UTC, {tz})", style="bold"))
    for when, text in _timeline_rows(result):
        utc, local = _clock(when, tz)
        console.print(f"   {utc}  {local}  {text}", highlight=False, soft_wrap=True)
    console.print()
    for line in timeline_lines(result.timeline, result.changes, tz):
        console.print("   " + line, highlight=False, soft_wrap=True)
    console.print()

    if result.country_before is not None and result.country_after is not None:
        console.print(Text(f"7. Country view: who connects {sc.country} to the rest of the Internet "
                           "(countries from the bundled 2024 geolocation, names as hints; offline)",
                           style="bold"))
        for country_report in (result.country_before, result.country_after):
            print_country_upstreams(country_report, tz=tz, rich=console.is_terminal, file=console.file)
            console.print()

    if result.whatif is not None and result.whatif.failed:
        _print_what_if(result, console)

    console.print(Text("9. Checked against the public reports (the scenario's expectations)", style="bold"))
    for check in result.checks:
        mark, style = ("ok  ", "green") if check.ok else ("FAIL", "bold red")
        console.print(Text(f"   {mark} {check.what}", style=style))
    console.print()


def _print_what_if(result: DemoResult, console: Console) -> None:
    """Section 8: dependence (hegemony) and what losing the old upstream would do, before and after."""
    sc, w = result.scenario, result.whatif
    assert w is not None
    lost = ", ".join(sc.as_label(a) for a in w.failed)
    console.print(Text(f"8. The consequence: what if {lost} failed? (transitwatch resilience / hegemony)",
                       style="bold"))
    moments = (("before", result.before, w.before, w.hegemony_before, w.spof_before),
               ("after", result.after, w.after, w.hegemony_after, w.spof_after))
    for title, report, outcome, heg, spof in moments:
        assert report.at is not None
        utc, local = _clock(report.at, sc.timezone)
        kept = [f for f in outcome.prefixes if f.reachable]
        console.print(f"   {title} ({utc} UTC, {local}): {len(kept)} of {len(outcome.prefixes)} prefixes "
                      f"stay reachable ({outcome.reachable_share:.0%} of the addresses)")
        for f in outcome.prefixes:
            via = ", ".join(sc.as_label(a) for a in f.via) if f.via else "-"
            console.print(f"     {f.prefix:<18} {'reachable via ' + via if f.reachable else 'CUT OFF'}")
        ranked = sorted(heg.items(), key=lambda kv: -kv[1])[:3]
        top = ", ".join(f"{sc.as_label(a)} {v:.2f}" for a, v in ranked)
        console.print(f"     AS hegemony: {top}; single point of failure: "
                      f"{', '.join(sc.as_label(a) for a in spof) or 'none'}")
    new = [e for e in result.changes.events if e.type == "new_upstream"]
    if new:
        utc, local = _clock(new[0].onset, sc.timezone)
        console.print(f"   Until {utc} UTC ({local}) the target hung on {lost} alone; after, "
                      f"{', '.join(sc.as_label(e.upstream) for e in new)} would keep the prefixes it "
                      "carries reachable.")
    console.print()


def _print_event(result: DemoResult, event: UpstreamEvent, console: Console) -> None:
    sc, tz = result.scenario, result.scenario.timezone
    total = len(result.after.peers)
    target = sc.as_label(sc.target_asn) if sc.target_asn is not None else sc.target
    console.print(Text(f"   {event.type}: {sc.as_label(event.upstream)} for {target}", style="bold green"))
    console.print(f"   onset      {iso_utc(event.onset)}  =  {iso_local(event.onset, tz)} in {tz}")
    if event.confirmed_by == "peers":
        by = f"when the {_ordinal(result.changes.min_peers)} peer saw it"
    else:
        by = f"after staying {result.changes.min_duration:.0f} s"
    console.print(f"   confirmed  {iso_utc(event.confirmed)}  =  {iso_local(event.confirmed, tz)} ({by})")
    names = [_peer_label(sc, p) for p in event.peer_list]
    console.print(f"   seen by    {event.peers} of {total} peers: " + ", ".join(names[:3])
                  + ("," if len(names) > 3 else ""))
    for i in range(3, len(names), 4):
        console.print("              " + ", ".join(names[i:i + 4]) + ("," if i + 4 < len(names) else ""))
    console.print("   evidence (the first announcement of each peer, as decoded from the files):")
    rows = [["UTC", "peer", "collector", "prefix", "AS path", "file @ byte offset"]]
    for ev in event.evidence:
        rows.append([iso_utc(ev.time)[11:19], f"{ev.peer.ip} AS{ev.peer.asn}", ev.peer.collector,
                     ev.prefix, ev.as_path, f"{Path(ev.source).name} @ {ev.offset}"])
    for i, line in enumerate(_columns(rows)):
        console.print(Text("     " + line, style="bold cyan" if i == 0 else ""), soft_wrap=True)


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _ordinal(n: int) -> str:
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n if n < 20 else n % 10, 'th') }"


# ---------------------------------------------------------------------------------------------------
# The command line, on the same files.


def cli_commands(result: DemoResult) -> list[tuple[str, list[str]]]:
    """(what a user types, argv to run it here) for the equivalent transitwatch commands."""
    sc = result.scenario
    exe = Path(sys.executable).parent / "transitwatch"
    shown_exe = _shown(exe) if exe.exists() else "transitwatch"
    if shown_exe == exe.name:
        shown_exe = "./" + shown_exe
    folder = _shown(result.paths[0].parent)
    files = [str(p) for p in result.paths]
    glob = f"{shlex.quote(folder)}/*.gz"
    before = iso_utc(sc.start + BEFORE_OFFSET)
    base = [sys.executable, "-m", "transitwatch"]
    when = result.changes.events[0].onset if result.changes.events else sc.start
    dump_file = result.paths[0].parent / sc.file_at(when).path.name if when > sc.start else result.paths[0]
    return [
        (f"{shown_exe} events {sc.target} {glob} --tz {sc.timezone}",
         [*base, "events", sc.target, *files, "--tz", sc.timezone]),
        (f"{shown_exe} upstreams {sc.target} {glob} --at {before} --tz {sc.timezone}",
         [*base, "upstreams", sc.target, *files, "--at", before, "--tz", sc.timezone]),
        (f"{shown_exe} events {sc.target} {glob} --json",
         [*base, "events", sc.target, *files, "--json"]),
        (f"{shown_exe} dump -m {shlex.quote(_shown(dump_file))} | grep ' 20485 '",
         [*base, "dump", "-m", str(dump_file)]),
        *([(f"{shown_exe} resilience {sc.target} {glob} --fail {failed} --at {before}",
            [*base, "resilience", sc.target, *files, "--fail", failed, "--at", before]),
           (f"{shown_exe} resilience {sc.target} {glob} --fail {failed}",
            [*base, "resilience", sc.target, *files, "--fail", failed])]
          if (failed := ",".join(f"AS{a}" for a in (result.whatif.failed if result.whatif else []))) else []),
    ]


def run_cli(result: DemoResult, console: Console, *, run: bool = True) -> bool:
    """Print the equivalent commands and run the first one for real; False if it failed."""
    console.print(Text("10. The same with the command line", style="bold"))
    commands = cli_commands(result)
    for shown, _ in commands:
        console.print(f"   $ {shown}", highlight=False, soft_wrap=True)  # keep commands copyable
    if not run:
        console.print()
        return True
    shown, argv = commands[0]
    console.print()
    console.print(Text(f"   Running: {shown}", style="bold"), soft_wrap=True)
    done = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env={**os.environ, "COLUMNS": "150"})
    for line in done.stdout.rstrip().splitlines():
        console.print("   " + line, highlight=False, markup=False, soft_wrap=True)
    for line in done.stderr.rstrip().splitlines():
        console.print("   " + line, highlight=False, markup=False, style="dim", soft_wrap=True)
    ok = done.returncode == 0 and "new_upstream" in done.stdout
    if not ok:
        console.print(Text(f"   FAIL: the command exited {done.returncode}", style="bold red"))
    console.print()
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transitwatch.scenarios.demo",
        description="Reconstruct 2017-10-01 (North Korea gains TransTelecom AS20485 beside China Unicom "
                    "AS4837) as MRT files and run the real pipeline on them.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  make demo\n  python -m transitwatch.scenarios.demo --out /tmp/kp\n"
               "  python -m transitwatch.scenarios.demo --seed 7 --no-cli\n\n"
               "The scenario is a reconstruction from public reports, not recorded data; see\n"
               "src/transitwatch/scenarios/ and docs/data.md. Exit 1 if the pipeline's result does not\n"
               "match the scenario's expectations, 2 on a bad scenario file.",
    )
    parser.add_argument("--out", default="demo-out", metavar="DIR",
                        help="where to write the MRT files (default: ./demo-out)")
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, metavar="NAME|FILE",
                        help=f"a bundled scenario name or a TOML file (default: {DEFAULT_SCENARIO})")
    parser.add_argument("--seed", type=int, default=None, help="override the scenario's seed (noise, jitter)")
    parser.add_argument("--no-cli", action="store_true", help="print the CLI commands but do not run one")
    args = parser.parse_args(argv)

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(width=120, highlight=False)
    try:
        result = run_demo(args.out, scenario=args.scenario, seed=args.seed)
    except (ScenarioError, OSError) as exc:
        print(f"transitwatch demo: error: {exc}", file=sys.stderr)
        return 2
    print_demo(result, console)
    cli_ok = run_cli(result, console, run=not args.no_cli)
    # Chapter 2: the December 2014 outage (transitwatch.scenarios.demo_outage), in its own folder.
    from transitwatch.scenarios.demo_outage import print_outage_chapter, run_outage_chapter

    try:
        chapter = run_outage_chapter(Path(args.out) / "2014-12-outage")
    except (ScenarioError, OSError) as exc:
        print(f"transitwatch demo: error: {exc}", file=sys.stderr)
        return 2
    print_outage_chapter(chapter, console)
    if not result.ok or not cli_ok or not chapter.ok:
        console.print(Text("The pipeline's result does not match the scenario: see FAIL above.",
                           style="bold red"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
