"""One measurement in a fresh process: decode FILE with one contender, print one JSON line.

Run by ``bench/decode.py``; each call is a new interpreter so that ``ru_maxrss`` (a high-water mark
that never goes down) belongs to this one measurement alone.

    python bench/_runner.py CONTENDER FILE        # a Python library, timed in-process
    python bench/_runner.py cmd -- PROGRAM ARGS   # an external program, stdout to /dev/null

Output: ``{"ok": true, "seconds": .., "cpu_seconds": .., "peak_rss_kb": .., "routes": .., "other": ..}``
or ``{"ok": false, "error": "one line"}``. ``routes`` counts A/B/W elements (announcements, RIB
entries, withdrawals) so that silent loss shows; ``None`` where a contender does not decode routes.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

CHUNK = 1 << 20
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

# mrtparse numeric codes (RFC 6396 / RFC 4271 / RFC 4760).
_TABLE_DUMP, _TABLE_DUMP_V2, _BGP4MP, _BGP4MP_ET = 12, 13, 16, 17
_BGP_UPDATE, _MP_REACH_NLRI, _MP_UNREACH_NLRI = 2, 14, 15
_TD_V2_PEER_INDEX_TABLE = 1


def _code(value: Any) -> Any:
    """mrtparse stores enumerations as ``{code: name}``; return the code."""
    return next(iter(value)) if isinstance(value, dict) else value


def count_python_gzip(path: str) -> dict[str, Any]:
    """The floor for any Python decoder: decompress the file and touch every byte, nothing more."""
    import gzip

    raw = 0
    with gzip.open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            raw += len(chunk)
    return {"routes": None, "raw_bytes": raw}


def count_pybgpkit(path: str) -> dict[str, Any]:
    import pybgpkit_parser

    routes = other = 0
    for elem in pybgpkit_parser.Parser(url=path):
        if elem.elem_type in ("A", "W"):
            routes += 1
        else:
            other += 1
    return {"routes": routes, "other": other}


def count_mrtparse(path: str) -> dict[str, Any]:
    """Count what bgpdump -m would print as A/B/W lines: one per prefix (or RIB entry)."""
    import mrtparse

    routes = other = flagged = 0
    for entry in mrtparse.Reader(path):
        if entry.err:  # mrtparse marks a record it could not decode and carries on
            flagged += 1
        data = entry.data
        mrt_type = _code(data.get("type"))
        if mrt_type == _TABLE_DUMP:
            routes += 1
        elif mrt_type == _TABLE_DUMP_V2:
            if _code(data.get("subtype")) != _TD_V2_PEER_INDEX_TABLE:
                routes += len(data.get("rib_entries", ()))
        elif mrt_type in (_BGP4MP, _BGP4MP_ET):
            message = data.get("bgp_message")
            if message is None:  # state change
                other += 1
                continue
            if _code(message.get("type")) != _BGP_UPDATE:
                continue
            routes += len(message.get("withdrawn_routes", ())) + len(message.get("nlri", ()))
            for attr in message.get("path_attributes", ()):
                attr_type = _code(attr.get("type"))
                value = attr.get("value")
                if attr_type == _MP_REACH_NLRI and isinstance(value, dict):
                    routes += len(value.get("nlri", ()))
                elif attr_type == _MP_UNREACH_NLRI and isinstance(value, dict):
                    routes += len(value.get("withdrawn_routes", ()))
        else:
            other += 1
    return {"routes": routes, "other": other, "flagged": flagged}


def count_transitwatch_stream(path: str) -> dict[str, Any]:
    """The observation stream the rest of transitwatch consumes."""
    try:
        from transitwatch.sources.mrt import read_mrt
    except ImportError as exc:
        raise NotAvailable(f"transitwatch.sources.mrt.read_mrt not importable ({exc})") from exc

    routes = other = 0
    for obs in read_mrt(path):
        if obs.kind == "state":
            other += 1
        else:
            routes += 1
    return {"routes": routes, "other": other}


LIBRARIES: dict[str, Callable[[str], dict[str, Any]]] = {
    "python-gzip": count_python_gzip,
    "pybgpkit": count_pybgpkit,
    "mrtparse": count_mrtparse,
    "transitwatch-stream": count_transitwatch_stream,
}


class NotAvailable(Exception):
    """The contender is not installed or not written yet."""


def own_peak_rss_kb() -> tuple[int, str]:
    """This process's peak RSS in KiB, and where the number came from.

    ``ru_maxrss`` is no good here: Linux starts it at the parent's peak (recorded at exec), so a
    runner started by a 20 MB benchmark process would never read below 20 MB. ``VmHWM`` belongs to
    this address space alone.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]), "vmhwm"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "rusage-self"


def run_library(name: str, path: str) -> dict[str, Any]:
    start, cpu_start = time.perf_counter(), time.process_time()
    counts = LIBRARIES[name](path)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak_kb, rss_source = own_peak_rss_kb()
    return {"ok": True, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_kb": peak_kb,
            "rss_source": rss_source, **counts}


def run_command(argv: list[str]) -> dict[str, Any]:
    """Run PROGRAM with stdout to /dev/null; wall time here, peak RSS from GNU time when present.

    A child forked from this interpreter inherits its high-water mark (Linux records the old
    address space's peak at exec), so RUSAGE_CHILDREN would never read below ~12 MB. GNU time
    is a small C program, so the child it forks starts near 1 MB and ``%M`` is the program's own.
    """
    with tempfile.NamedTemporaryFile("r", prefix="bench-rss-", suffix=".txt") as rss_file:
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *argv] if GNU_TIME else argv
        start = time.perf_counter()
        done = subprocess.run(wrapped, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        seconds = time.perf_counter() - start
        rss_text = rss_file.read()
    if done.returncode != 0:
        lines = [line for line in done.stderr.decode(errors="replace").strip().splitlines()
                 if not line.startswith("Command exited with non-zero status")]
        return {"ok": False, "error": f"exit {done.returncode}: {lines[-1] if lines else 'no message'}"}
    # Exact: this interpreter has waited for one program (and GNU time, which uses next to nothing).
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = children.ru_utime + children.ru_stime
    if GNU_TIME:
        peak_kb = int(rss_text.strip().splitlines()[-1])
        rss_source = "gnu-time"
    else:
        # Upper bound: includes this interpreter's pages inherited at fork.
        peak_kb = children.ru_maxrss
        rss_source = "rusage-children"
    return {"ok": True, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_kb": peak_kb,
            "routes": None, "rss_source": rss_source}


def main(argv: list[str]) -> int:
    try:
        if len(argv) >= 2 and argv[0] == "cmd" and argv[1] == "--":
            result = run_command(argv[2:])
        elif len(argv) == 2 and argv[0] in LIBRARIES:
            result = run_library(argv[0], argv[1])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (NotAvailable, ImportError, FileNotFoundError) as exc:
        result = {"ok": False, "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    except Exception as exc:  # noqa: BLE001 - a contender crashing is a result to report, not a bench bug
        first = str(exc).splitlines()[0] if str(exc) else ""
        result = {"ok": False, "error": f"{type(exc).__name__}: {first}"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
