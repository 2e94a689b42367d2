"""``transitwatch dump``: MRT files as bgpdump -m lines or JSON, with route filters."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def _safi_arg(text: str) -> int:
    names = {"unicast": 1, "multicast": 2, "1": 1, "2": 2}
    if text.lower() not in names:
        raise argparse.ArgumentTypeError(f"{text!r} is not a SAFI this tool decodes: "
                                         "unicast (1) or multicast (2)")
    return names[text.lower()]


def _cmd_dump(args: argparse.Namespace) -> int:
    import json

    from transitwatch.sources.mrt import MrtError, MrtReader, format_bgpdump

    out = sys.stdout.buffer
    failed = damaged = 0
    for path in args.files:
        # By default -m prints the routes bgpdump -m prints (multicast BGP4MP routes too) and --json
        # every route, each with its "safi"; --safi selects one.
        reader = MrtReader(path, collector=args.collector, strict=args.strict,
                           safi=args.safi if args.safi is not None or args.json else "bgpdump")
        try:
            for batch in reader.batches():
                if args.json:
                    out.write("".join(json.dumps(o.to_dict()) + "\n" for o in batch).encode())
                else:
                    out.write(format_bgpdump(batch))
        except MrtError as exc:
            failed += 1
            out.flush()
            print(f"transitwatch: error: {exc}", file=sys.stderr)
            continue
        finally:
            out.flush()
        st = reader.stats
        if st.damaged:
            damaged += 1
            for d in st.damage[:5]:
                print(f"transitwatch: warning: {path}: {d}", file=sys.stderr)
            if len(st.damage) > 5:
                print(f"transitwatch: warning: {path}: ... {len(st.damage) - 5} more", file=sys.stderr)
        if not args.quiet:
            print(st.summary(), file=sys.stderr)
    if failed:
        return 1
    return 1 if (args.strict and damaged) else 0


def add_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    p = add("dump", _cmd_dump, "Decode MRT files (plain, gzip, bzip2) into bgpdump -m lines or JSON.",
            "examples:\n  transitwatch dump -m updates.20171001.0900.gz\n"
            "  transitwatch dump --json rib.20171001.0800.bz2 | head\n\n"
            "Damaged records are skipped, counted and reported on stderr with their byte offset;\n"
            "everything before and after the damage is kept. Exit status: 0 when the files could\n"
            "be read, 1 when a file could not be read at all (or any damage with --strict).")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="MRT files: plain, .gz, .bz2 or .xz (detected by content)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("-m", dest="json", action="store_false", default=False,
                     help="one line per route, as bgpdump -m prints (the default)")
    fmt.add_argument("--json", action="store_true", help="one JSON object per observation and line")
    p.add_argument("--collector", help="collector name to record in --json output")
    p.add_argument("--strict", action="store_true", help="treat any damaged record as an error (exit 1)")
    p.add_argument("--safi", type=_safi_arg, default=None, metavar="SAFI",
                   help="only routes of this subsequent address family: unicast (1) or multicast (2); "
                        "default: with -m the routes bgpdump -m prints, with --json every route")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")
