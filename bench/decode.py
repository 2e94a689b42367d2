"""Decoder benchmark (a benchmark, not a test): transitwatch beside bgpdump and the Python decoders.

For each MRT file, every contender decodes the whole file in a fresh process, ``--repeat`` times;
the best wall time and the highest peak RSS are kept. Each decoder also reports how many routes
(A/B/W elements) it produced, in a separate untimed run for the command-line tools, so that a fast
but lossy decoder shows up as such.

    make bench                                   # installs the bench extra, then runs this
    .venv/bin/python bench/decode.py             # the two default files, best of 3
    .venv/bin/python bench/decode.py --markdown  # the tables for docs/performance.md
    .venv/bin/python bench/decode.py --json --repeat 5 FILE...

Goals (from the issue): ``transitwatch dump -m`` at least as fast as ``bgpdump -m`` (ratio <= 1.0),
the observation stream at least as fast, and peak RSS under 200 MB whatever the file size (the
memory check decodes the 2015 file concatenated ``--scale`` times as one multi-member gzip).
"""

from __future__ import annotations

import argparse
import bz2
import datetime as dt
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "_runner.py"
CORPUS = ROOT.parent / "shared" / "data" / "mrt" / "bgpdump-corpus" / "input"
DEFAULT_FILES = ("updates.et-header.2015.gz", "bview.20020722.2337.gz")
BIN = Path(sys.executable).parent
RSS_GOAL_MB = 200.0
ROUTE_KINDS = (b"A", b"B", b"W")


@dataclass(frozen=True)
class Contender:
    name: str
    kind: str  # "library": timed in-process by the runner; "command": an external program
    target: str  # runner library name, or program (argv[0])
    args: tuple[str, ...] = ()  # for commands, before FILE
    counts_routes: bool = True
    note: str = ""


CONTENDERS = (
    Contender("gunzip -c", "command", "gunzip", ("-c",), counts_routes=False,
              note="physical floor: decompression only"),
    Contender("python gzip", "library", "python-gzip", counts_routes=False,
              note="floor for a Python reader: gzip.open().read()"),
    Contender("bgpdump -m", "command", "bgpdump", ("-m",), note="C, Debian package"),
    Contender("transitwatch dump -m", "command", str(BIN / "transitwatch"), ("dump", "-m"),
              note="the CLI, bgpdump -m lines"),
    Contender("transitwatch stream", "library", "transitwatch-stream",
              note="read_mrt(): Observation objects"),
    Contender("pybgpkit-parser", "library", "pybgpkit", note="Rust, Python wheel"),
    Contender("mrtparse", "library", "mrtparse", note="pure Python"),
)
MEMORY_CONTENDERS = ("bgpdump -m", "transitwatch dump -m", "transitwatch stream")


@dataclass
class Result:
    file: str
    tool: str
    ok: bool
    error: str = ""
    routes: int | None = None
    seconds: float | None = None  # best wall time
    cpu_seconds: float | None = None  # best user+system CPU time: steadier when the machine is busy
    runs: list[float] = field(default_factory=list)
    peak_rss_mb: float | None = None
    raw_bytes: int = 0
    ratio_vs_bgpdump: float | None = None
    routes_match_bgpdump: bool | None = None
    flagged: int = 0  # records the decoder itself marked as undecodable (mrtparse's entry.err)

    @property
    def routes_per_s(self) -> float | None:
        return self.routes / self.seconds if self.routes is not None and self.seconds else None

    @property
    def raw_mb_per_s(self) -> float | None:
        return self.raw_bytes / 1e6 / self.seconds if self.seconds else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "routes_per_s": self.routes_per_s, "raw_mb_per_s": self.raw_mb_per_s}


def versions(contenders: list[Contender]) -> str:
    """What was measured, for the table header: tool versions and the transitwatch commit."""
    found = [f"Python {platform.python_version()}"]
    targets = {c.target for c in contenders}
    if "bgpdump" in targets and shutil.which("bgpdump"):
        done = subprocess.run(["bgpdump", "-H"], capture_output=True, text=True, check=False)
        for line in (done.stdout + done.stderr).splitlines():
            if line.startswith("bgpdump version"):
                found.append(f"bgpdump {line.split()[-1]}")
    for dist, target in (("pybgpkit-parser", "pybgpkit"), ("mrtparse", "mrtparse")):
        if target in targets:
            try:
                found.append(f"{dist} {metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                pass
    if any(c.name.startswith("transitwatch") for c in contenders):
        done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=False)
        commit = f" (commit {done.stdout.strip()}" if done.returncode == 0 else ""
        if commit:
            # The shared tree may hold uncommitted decoder work; say so rather than misattribute.
            dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                    "src/transitwatch/sources/_mrt.c", "src/transitwatch/sources/mrt.py"],
                                   capture_output=True, text=True, check=False).stdout.strip()
            commit += " + uncommitted decoder changes)" if dirty else ")"
        found.append(f"transitwatch {metadata.version('transitwatch')}{commit}")
    return ", ".join(found)


def available(contender: Contender) -> str:
    """'' when the contender can run, else why not (one line)."""
    if contender.kind == "command":
        if not (shutil.which(contender.target) or os.access(contender.target, os.X_OK)):
            return f"{contender.target} not installed"
    return ""


def measure_once(contender: Contender, path: Path) -> dict[str, Any]:
    if contender.kind == "library":
        argv = [sys.executable, str(RUNNER), contender.target, str(path)]
    else:
        argv = [sys.executable, str(RUNNER), "cmd", "--", contender.target, *contender.args, str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        err = (done.stderr.strip().splitlines() or ["runner produced no result"])[-1]
        return {"ok": False, "error": f"runner failed: {err}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def count_command_routes(contender: Contender, path: Path) -> tuple[int | None, str]:
    """Untimed run with stdout piped: count A/B/W lines (field 3 of bgpdump -m output)."""
    argv = [contender.target, *contender.args, str(path)]
    routes = 0
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            parts = line.split(b"|", 3)
            if len(parts) > 2 and parts[2] in ROUTE_KINDS:
                routes += 1
    if proc.returncode != 0:
        return None, f"exit {proc.returncode} while counting"
    return routes, ""


def raw_size(path: Path) -> int:
    """Decompressed size: the MRT bytes every decoder has to get through."""
    with path.open("rb") as f:
        magic = f.read(3)
    opener: Any = gzip.open if magic[:2] == b"\x1f\x8b" else bz2.open if magic == b"BZh" else open
    total = 0
    with opener(path, "rb") as f:
        while chunk := f.read(1 << 20):
            total += len(chunk)
    return total


def bench_file(path: Path, contenders: list[Contender], repeat: int, progress: Any) -> list[Result]:
    raw = raw_size(path)
    results: list[Result] = []
    for contender in contenders:
        result = Result(file=path.name, tool=contender.name, ok=False, raw_bytes=raw)
        results.append(result)
        reason = available(contender)
        if reason:
            result.error = reason
            progress(f"{path.name}: {contender.name}: skipped ({reason})")
            continue
        peak_kb = 0
        cpu_runs: list[float] = []
        for i in range(repeat):
            progress(f"{path.name}: {contender.name} run {i + 1}/{repeat}")
            run = measure_once(contender, path)
            if not run.get("ok"):
                result.error = str(run.get("error", "failed"))
                break
            result.runs.append(float(run["seconds"]))
            cpu_runs.append(float(run["cpu_seconds"]))
            peak_kb = max(peak_kb, int(run["peak_rss_kb"]))
            if run.get("routes") is not None:
                result.routes = int(run["routes"])
            result.flagged = int(run.get("flagged", 0))
        else:
            result.ok = True
            result.seconds = min(result.runs)
            result.cpu_seconds = min(cpu_runs)
            result.peak_rss_mb = peak_kb / 1024
            if contender.kind == "command" and contender.counts_routes:
                progress(f"{path.name}: {contender.name}: counting routes")
                result.routes, err = count_command_routes(contender, path)
                if err:
                    result.ok, result.error = False, err
    baseline = next((r for r in results if r.tool == "bgpdump -m" and r.ok), None)
    for r in results:
        if baseline and baseline.seconds and r.seconds:
            r.ratio_vs_bgpdump = r.seconds / baseline.seconds
        if baseline and baseline.routes is not None and r.routes is not None:
            r.routes_match_bgpdump = r.routes == baseline.routes
    return results


def concatenated(path: Path, times: int, tmpdir: Path) -> Path:
    """``times`` copies of a file back to back: for gzip (RFC 1952 2.2) and bzip2 one valid
    multi-stream file, for plain MRT simply more records. bgpdump picks its reader by suffix."""
    suffix = path.suffix if path.suffix in (".gz", ".bz2") else ""
    out = tmpdir / f"{path.name.removesuffix(suffix)}.x{times}{suffix}"
    data = path.read_bytes()
    with out.open("wb") as f:
        for _ in range(times):
            f.write(data)
    return out


# ---------------------------------------------------------------------------------------- output


def _fmt(value: float | int | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table_rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for r in results:
        if not r.ok:
            rows.append([r.tool, "—", "—", "—", "—", "—", "—", "n/a"])
            continue
        routes = _fmt(r.routes, ",d")
        if r.routes_match_bgpdump is False:
            routes += " ≠"
        rows.append([r.tool, routes, _fmt(r.seconds, ".3f"), _fmt(r.cpu_seconds, ".3f"),
                     _fmt(r.routes_per_s, ",.0f"),
                     _fmt(r.raw_mb_per_s, ",.1f"), _fmt(r.peak_rss_mb, ".1f"),
                     _fmt(r.ratio_vs_bgpdump, ".2f")])
    return rows


HEADERS = ["tool", "routes", "seconds", "cpu s", "routes/s", "raw MB/s", "peak RSS MB", "× bgpdump"]


def goal_lines(results: list[Result]) -> list[str]:
    """The issue's goals, checked against this run, one line each."""
    by_tool = {r.tool: r for r in results if r.ok}
    lines = [f"{r.tool}: not available ({r.error})" for r in results if not r.ok]
    bgpdump, dump, stream = (by_tool.get(t) for t in ("bgpdump -m", "transitwatch dump -m",
                                                       "transitwatch stream"))
    for label, r in (("transitwatch dump -m", dump), ("transitwatch stream", stream)):
        if r is None or bgpdump is None or r.ratio_vs_bgpdump is None:
            if r is not None:
                lines.append(f"{label} vs bgpdump -m: not measured (bgpdump -m did not run)")
            continue
        verdict = "met" if r.ratio_vs_bgpdump <= 1.0 else "NOT met"
        cpu = ""
        if r.cpu_seconds and bgpdump.cpu_seconds:  # wall time is the goal; CPU shows whether load skewed it
            cpu = f"; in CPU time {r.cpu_seconds / bgpdump.cpu_seconds:.2f}"
        lines.append(f"{label} / bgpdump -m = {r.ratio_vs_bgpdump:.2f} (goal <= 1.0): {verdict}{cpu}")
    if stream and dump and stream.seconds and dump.seconds:
        lines.append(f"transitwatch stream / transitwatch dump -m = {stream.seconds / dump.seconds:.2f}")
    for r in results:
        if r.ok and r.routes_match_bgpdump is False and bgpdump and bgpdump.routes is not None:
            lines.append(f"route count differs: {r.tool} {r.routes:,} vs bgpdump -m {bgpdump.routes:,}")
    for r in results:
        if r.ok and r.flagged:
            lines.append(f"{r.tool} marked {r.flagged:,} record(s) undecodable without raising")
    return lines


def memory_lines(results: list[Result]) -> list[str]:
    lines = []
    for r in results:
        if r.ok and r.tool.startswith("transitwatch") and r.peak_rss_mb is not None:
            verdict = "met" if r.peak_rss_mb < RSS_GOAL_MB else "NOT met"
            lines.append(f"{r.tool} on {r.file} ({r.raw_bytes / 1e6:.1f} MB raw): "
                         f"peak RSS {r.peak_rss_mb:.1f} MB (goal < {RSS_GOAL_MB:.0f} MB): {verdict}")
    return lines


def markdown(sections: list[tuple[str, list[Result]]], header: str) -> str:
    out = [header, ""]
    for title, results in sections:
        out += [f"### {title}", "", "| " + " | ".join(HEADERS) + " |",
                "|" + "|".join(["---"] + ["---:"] * (len(HEADERS) - 1)) + "|"]
        for row in table_rows(results):
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        out.append("")
        extra = goal_lines(results) + memory_lines(results)
        out += [f"- {line}" for line in extra]
        out.append("")
    return "\n".join(out)


def print_rich(sections: list[tuple[str, list[Result]]], header: str) -> None:
    from rich.console import Console
    from rich.table import Table

    # In a pipe rich assumes 80 columns, which wraps every cell; the table needs about 100.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    console.print(header, highlight=False)
    for title, results in sections:
        table = Table(title=title, title_justify="left")
        for i, name in enumerate(HEADERS):
            table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
        for row in table_rows(results):
            table.add_row(*row)
        console.print(table)
        for line in goal_lines(results) + memory_lines(results):
            console.print(f"  {line}", highlight=False)
        console.print()


# ------------------------------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/decode.py",
        description="Decoder benchmark: routes/s, raw MB/s and peak RSS of transitwatch beside "
                    "gunzip, bgpdump -m, pybgpkit-parser and mrtparse, each in a fresh process.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  .venv/bin/python bench/decode.py\n"
               "  .venv/bin/python bench/decode.py --markdown > /tmp/table.md\n"
               "  .venv/bin/python bench/decode.py --repeat 5 --only 'bgpdump -m' "
               "--only 'transitwatch dump -m' FILE\n"
               "  .venv/bin/python bench/decode.py --json --no-memory | jq '.sections[].results[]'",
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE",
                        help=f"MRT files (default: {', '.join(DEFAULT_FILES)} from {CORPUS})")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender; the best is kept "
                        "(default 3)")
    parser.add_argument("--only", action="append", metavar="TOOL",
                        help="run only these contenders (repeatable): "
                        + ", ".join(c.name for c in CONTENDERS))
    parser.add_argument("--scale", type=int, default=4, help="memory check: decode the first file "
                        "concatenated this many times (default 4; 0 skips the check)")
    parser.add_argument("--no-memory", action="store_const", const=0, dest="scale",
                        help="skip the memory check (same as --scale 0)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    out.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeat < 1:
        print("bench/decode.py: error: --repeat must be at least 1", file=sys.stderr)
        return 2
    files = args.files or [CORPUS / name for name in DEFAULT_FILES]
    for path in files:
        if not path.is_file():
            print(f"bench/decode.py: error: {path}: no such file (the corpus lives in {CORPUS})",
                  file=sys.stderr)
            return 2
    contenders = list(CONTENDERS)
    if args.only:
        unknown = set(args.only) - {c.name for c in CONTENDERS}
        if unknown:
            print(f"bench/decode.py: error: unknown contender(s): {', '.join(sorted(unknown))}",
                  file=sys.stderr)
            return 2
        contenders = [c for c in CONTENDERS if c.name in args.only]

    quiet = args.json or args.markdown or not sys.stderr.isatty()
    status = None
    if not quiet:
        from rich.console import Console

        status = Console(stderr=True).status("starting")
        status.start()

    def progress(message: str) -> None:
        if status is not None:
            status.update(message)

    sections: list[tuple[str, list[Result]]] = []
    try:
        for path in files:
            results = bench_file(path, contenders, args.repeat, progress)
            raw_mb = results[0].raw_bytes / 1e6 if results else 0.0
            sections.append((f"{path.name} ({path.stat().st_size / 1e6:.1f} MB on disk, "
                             f"{raw_mb:.1f} MB raw MRT), best of {args.repeat}", results))
        if args.scale > 0:
            memory = [c for c in contenders if c.name in MEMORY_CONTENDERS]
            with tempfile.TemporaryDirectory(prefix="bench-decode-") as tmp:
                big = concatenated(files[0], args.scale, Path(tmp))
                results = bench_file(big, memory, args.repeat, progress)
                raw_mb = results[0].raw_bytes / 1e6 if results else 0.0
                sections.append((f"memory check: {files[0].name} × {args.scale}, concatenated "
                                 f"({raw_mb:.1f} MB raw), best of {args.repeat}", results))
    finally:
        if status is not None:
            status.stop()

    header = (f"Measured {dt.date.today().isoformat()} on {platform.machine()} with "
              f"{os.cpu_count()} cores; {versions(contenders)}.")
    if args.json:
        print(json.dumps({"header": header, "sections": [
            {"title": title, "results": [r.to_dict() for r in results]} for title, results in sections
        ]}, indent=2))
    elif args.markdown:
        print(markdown(sections, header))
    else:
        print_rich(sections, header)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `bench/decode.py | head`
        sys.stderr.close()
        sys.exit(0)
