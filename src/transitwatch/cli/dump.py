"""``transitwatch dump``: MRT files as bgpdump -m lines or JSON, with route filters."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from transitwatch.cli.common import UserError


def _safi_arg(text: str) -> int:
    names = {"unicast": 1, "multicast": 2, "1": 1, "2": 2}
    if text.lower() not in names:
        raise argparse.ArgumentTypeError(f"{text!r} is not a SAFI this tool decodes: "
                                         "unicast (1) or multicast (2)")
    return names[text.lower()]


def _cmd_dump(args: argparse.Namespace) -> int:
    import json

    import transitwatch as tw
    from transitwatch.errors import TransitwatchError
    from transitwatch.sources.mrt import format_bgpdump

    filters = {"peer_asn": args.peer_asn, "origin_asn": args.origin_asn, "prefix": args.prefix,
               "prefix_super": args.prefix_super, "prefix_sub": args.prefix_sub,
               "as_path_regex": args.as_path, "type": args.type, "start": args.start, "end": args.end}
    from transitwatch.engine.routes import RouteQuery

    try:
        RouteQuery.of(**filters)  # bad filters: one error line before any file is read
    except TransitwatchError as exc:
        # the API names its parameters; say the options the user typed
        text = str(exc)
        for name, option in (("as_path_regex", "--as-path"), ("peer_asn", "--peer-asn"),
                             ("origin_asn", "--origin-asn"), ("prefix_super", "--prefix-super"),
                             ("prefix_sub", "--prefix-sub"), ("prefix", "--prefix"), ("type", "--type")):
            if text.startswith(name + " "):
                text = option + text[len(name):]
                break
        raise UserError(text) from None
    out = sys.stdout.buffer
    failed = damaged = 0
    for path in args.files:
        # By default -m prints the routes bgpdump -m prints (multicast BGP4MP routes too) and --json
        # every route, each with its "safi"; --safi selects one.
        safi = args.safi if args.safi is not None else (None if args.json else "bgpdump")
        try:
            routes = tw.routes(tw.files([path], collector=args.collector, strict=args.strict, merge=False),
                               safi=safi, **filters)
            for batch in routes.batches():
                if args.json:
                    out.write("".join(json.dumps(o.to_dict()) + "\n" for o in batch).encode())
                else:
                    out.write(format_bgpdump(batch))
        except TransitwatchError as exc:
            failed += 1
            out.flush()
            print(f"transitwatch: error: {exc}", file=sys.stderr)
            continue
        finally:
            out.flush()
        st = routes.stats[0]
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
    p = add("dump", _cmd_dump, "Decode MRT files (plain, gzip, bzip2, xz) into bgpdump -m lines or JSON.",
            "examples:\n  transitwatch dump -m updates.20171001.0900.gz\n"
            "  transitwatch dump --json rib.20171001.0800.bz2 | head\n"
            "  transitwatch dump --prefix-sub 175.45.176.0/22 updates.20171001.*.gz\n"
            "  transitwatch dump --origin-asn 131279 --type A --start 2017-10-01T09:00Z rib.bz2\n\n"
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
    f = p.add_argument_group("filters (all optional; a route must pass every one given; applied in the "
                             "decoder, before any object is built, so a filtered dump is faster)")
    f.add_argument("--peer-asn", action="append", metavar="ASN",
                   help="routes seen by this peer AS (repeatable)")
    f.add_argument("--origin-asn", action="append", metavar="ASN",
                   help="routes originated by this AS: the last AS of the path (repeatable)")
    f.add_argument("--prefix", action="append", metavar="PREFIX", help="exactly this prefix (repeatable)")
    f.add_argument("--prefix-super", action="append", metavar="PREFIX",
                   help="this prefix or a less-specific one covering it (repeatable)")
    f.add_argument("--prefix-sub", action="append", metavar="PREFIX",
                   help="this prefix or a more-specific one inside it (repeatable)")
    f.add_argument("--as-path", metavar="REGEX",
                   help="AS path matches this regular expression, as printed: '^3356 ', ' 4837 131279$'")
    f.add_argument("--type", choices=["A", "W", "a", "w"], metavar="A|W",
                   help="A: announcements and RIB entries; W: withdrawals (session state changes are left "
                        "out by every route filter)")
    f.add_argument("--start", metavar="TIME", help="records at or after TIME (ISO 8601, epoch, now-1h)")
    f.add_argument("--end", metavar="TIME", help="records before TIME")
