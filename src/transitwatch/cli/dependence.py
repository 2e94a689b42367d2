"""The ``relationships``, ``hegemony`` and ``resilience`` commands: argument parsing and rendering
only (the work is :mod:`transitwatch.engine.dependence`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from transitwatch.cli.common import progress_for
from transitwatch.errors import TransitwatchError
from transitwatch.times import iso_utc

__all__ = ["add_commands"]

Add = Callable[..., argparse.ArgumentParser]


def _target_and_files(args: argparse.Namespace) -> tuple[str | None, Any]:
    """(target, the source: FILES, or the --db store)."""
    items = list(args.items)
    db = getattr(args, "db", None)
    if db is not None:
        import transitwatch as tw
        from transitwatch.engine.queries import _is_country

        if items and not args.country and _is_country(items[0]) and not os.path.exists(items[0]):
            args.country, items = items[0], items[1:]
        if args.country:
            if items:
                raise TransitwatchError("give MRT FILES or --db, not both")
            return None, tw.store(db)
        if len(items) > 1:
            raise TransitwatchError("give MRT FILES or --db, not both")
        if not items:
            raise TransitwatchError("give a TARGET (AS131279 or a prefix)")
        return items[0], tw.store(db)
    if args.country:
        if not items:
            raise TransitwatchError("give the MRT files to read after --country CC")
        return None, items
    if not items:
        raise TransitwatchError("give a TARGET (AS131279 or a prefix) or --country CC, then MRT files")
    if len(items) < 2:
        raise TransitwatchError(f"no MRT files given after TARGET {items[0]!r}")
    from transitwatch.engine.queries import _is_country

    if _is_country(items[0]) and not os.path.exists(items[0]):
        # a country code as TARGET is --country CC, as for upstreams, events and visibility
        args.country = items[0]
        return None, items[1:]
    return items[0], items[1:]


def _clique(text: str | None) -> list[int] | None:
    if not text:
        return None
    from transitwatch.engine.dependence import parse_fail_list

    try:
        return parse_fail_list([text])
    except TransitwatchError as exc:
        raise TransitwatchError(str(exc).replace("--fail", "--clique")) from None


# -- relationships ------------------------------------------------------------------------------------
def _dump_links_json(doc: dict[str, Any], fh: IO[str]) -> None:
    """``doc`` as JSON with one link per line: json's C encoder does the ~70k links of a full table
    (indented output goes through its pure-Python encoder: 1.5 s of a 2 s command)."""
    links = doc.get("links", [])
    head = json.dumps({**doc, "links": []}, indent=1)
    opening = head.rindex('"links": []')
    fh.write(head[:opening] + '"links": [')
    encode = json.JSONEncoder().encode
    for i, link in enumerate(links):
        fh.write(("\n  " if i == 0 else ",\n  ") + encode(link))
    fh.write(("\n ]" if links else "]") + head[opening + len('"links": []'):] + "\n")


def _cmd_relationships(args: argparse.Namespace) -> int:
    import transitwatch as tw
    from transitwatch.registry.relationships import save_as_rel

    with progress_for(args) as progress:
        result = tw.relationships(args.files, as_rel=args.as_rel, clique=_clique(args.clique),
                                  confidence=args.json, progress=progress)
    if args.json:
        _write(args.out, lambda fh: _dump_links_json(result.to_dict(), fh))
    else:
        stats = result.stats
        header = []
        if stats is not None:
            header = [f"routes {stats.routes}, distinct paths {stats.distinct_paths}, "
                      f"used {stats.used_paths} (loops, reserved ASNs and poisoned paths discarded)",
                      f"clique ({stats.clique_source}): " + " ".join(map(str, result.rels.clique))]
        _write(args.out, lambda fh: save_as_rel(result.rels, fh, header=header))
    c = result.rels.counts()
    if args.out or not sys.stdout.isatty():
        print(f"transitwatch: {c['p2c']} provider-customer and {c['p2p']} peer links over {c['ases']} ASes "
              f"({result.rels.source})", file=sys.stderr)
    return 0


def _write(out: str | None, body: Callable[[IO[str]], Any]) -> None:
    if not out:
        body(sys.stdout)
        return
    try:
        with open(out, "w", encoding="utf-8") as fh:
            body(fh)
    except OSError as exc:
        raise TransitwatchError(f"{out}: cannot write: {exc.strerror or exc}") from None


# -- hegemony -----------------------------------------------------------------------------------------
def _cmd_hegemony(args: argparse.Namespace) -> int:
    import transitwatch as tw

    target, files = _target_and_files(args)
    registry = tw.registry_of() if args.country else None
    with progress_for(args) as progress:
        result = tw.hegemony(target, files, at=args.at, every=args.every, country=args.country,
                             registry=registry, progress=progress)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    _notes(result.notices, None if args.country else result.target)
    if (not result.steps or not any(scores for _, scores, _ in result.steps)) \
            and not any(n.startswith("no data covers") for n in result.notices):
        print(f"transitwatch: note: no route to {result.target} in the input", file=sys.stderr)
    if result.every is None:
        at, scores, peers = result.steps[-1]
        print(f"AS hegemony for {result.target} at {iso_utc(at)} ({peers} vantage points; "
              "10% trimmed mean, Fontugne et al.)")
        for s in scores:
            name = result.names.get(s.asn)
            print(f"  AS{s.asn:<10} {s.score:6.3f}  {name or ''}".rstrip())
        return 0
    top = sorted({s.asn for _, scores, _ in result.steps for s in scores[:5]})
    print(f"AS hegemony for {result.target} every {int(result.every)} s")
    print("time                  " + " ".join(f"{'AS' + str(a):>9}" for a in top))
    for at, scores, _ in result.steps:
        by = {s.asn: s.score for s in scores}
        print(f"{iso_utc(at):<21} " + " ".join(f"{by.get(a, 0.0):9.3f}" for a in top))
    return 0


# -- resilience ---------------------------------------------------------------------------------------
def _cmd_resilience(args: argparse.Namespace) -> int:
    import transitwatch as tw

    target, files = _target_and_files(args)
    registry = tw.registry_of() if args.country else None
    with progress_for(args) as progress:
        result = tw.resilience(target, files, fail=args.fail or [], model=args.model, at=args.at,
                               country=args.country, spof=args.spof, as_rel=args.as_rel, registry=registry,
                               progress=progress)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    when = iso_utc(result.at) if result.at is not None else "the end of the input"
    if result.failed:
        failed = ", ".join(f"AS{a}" for a in result.failed)
        kept = sum(f.reachable for f in result.outcome.prefixes)
        shares = ", ".join(f"{k} {v:.0%}" for k, v in result.outcome.share.items())
        print(f"{result.target} at {when} if {failed} failed ({result.model} model): "
              f"{kept} of {len(result.outcome.prefixes)} prefixes stay reachable ({shares} of the addresses)")
        for f in result.outcome.prefixes:
            via = ", ".join(f"AS{a}" for a in f.via) if f.via else "-"
            state = "reachable" if f.reachable else "CUT OFF"
            print(f"  {f.prefix:<20} {state:<10} via {via:<20} {f.peers}/{f.peers_before} vantage points")
    if result.spof is not None:
        if result.spof:
            print(f"single points of failure of {result.target} at {when} ({result.model} model): "
                  "each alone cuts more than half of its address space")
            for row in result.spof:
                print(f"  AS{row['asn']:<10} leaves {row['reachable_share']:.0%} reachable")
        else:
            print(f"no single point of failure of {result.target} at {when} ({result.model} model)")
    if result.relationships:
        siblings = result.relationships.get("siblings")
        more = f"; siblings: {siblings}" if siblings else ""
        print(f"relationships: {result.relationships['source']}{more}", file=sys.stderr)
    _notes(result.notices, None if args.country else result.target)
    return 0


def _notes(lines: list[str], target: str | None = None) -> None:
    from transitwatch.cli.common import _print_notes

    _print_notes(lines, target)


def add_commands(add: Add) -> None:
    """Register the three commands on the main parser (``add`` as in :func:`build_parser`)."""
    p = add("relationships", _cmd_relationships,
            "Infer AS relationships (provider-customer, peer) from every AS path in the input.",
            "examples:\n  transitwatch relationships rib.20151001.0000.bz2 --out 20151001.as-rel.txt\n"
            "  transitwatch relationships --json updates.*.gz | jq .clique\n\n"
            "The algorithm is CAIDA's AS-Rank (Luckie et al., IMC 2013): paths are sanitised (prepending,\n"
            "AS_SETs, loops, private/reserved ASNs, IXP route servers), ASes ranked by transit degree,\n"
            "the clique found with Bron-Kerbosch, then provider-customer links inferred top-down and by\n"
            "valley-free ordering; see docs/relationships.md. Output: CAIDA serial-1 (`# comments`,\n"
            "provider|customer|-1, peer|peer|0); --json adds a confidence and the deciding step per link.")
    p.add_argument("files", nargs="+", metavar="FILE", help="MRT files (every peer, RIB dumps and updates)")
    p.add_argument("--out", metavar="FILE", help="write there instead of standard output")
    p.add_argument("--json", action="store_true", help="JSON with a confidence per link")
    p.add_argument("--clique", metavar="ASN,...",
                   help="use this transit-free clique instead of inferring it (e.g. CAIDA's of the month)")
    p.add_argument("--as-rel", metavar="FILE", help=argparse.SUPPRESS)

    p = add("hegemony", _cmd_hegemony,
            "How much a target depends on each AS its routes cross: AS hegemony (Fontugne et al.).",
            "examples:\n  transitwatch hegemony AS131279 rib.20171001.0800.gz updates.20171001.*.gz\n"
            "  transitwatch hegemony AS131279 FILES... --every 1h --json\n"
            "  transitwatch hegemony --country KP FILES... --at 2017-10-01T09:00Z\n\n"
            "Per vantage point, the share of the target's routes (by addresses for a country) that\n"
            "cross each AS; then the mean over vantage points, 10% trimmed at each end (as the Internet\n"
            "Health Report publishes it). 1.0: every vantage point reaches the target only through it.")
    p.add_argument("items", nargs="*", metavar="TARGET|FILE",
                   help="the target (AS131279, a prefix), then MRT files; with --country only files")
    p.add_argument("--country", metavar="CC", help="a country's address space instead of one target")
    p.add_argument("--at", metavar="TIME", help="the moment to answer for (default: the end of the input)")
    p.add_argument("--every", metavar="DURATION", help="one row per step (e.g. 1h) up to --at or the end")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--db", type=Path, metavar="PATH",
                   help="answer from a database made by 'transitwatch ingest' (or an 'export "
                        "--partitioned' folder) instead of FILES")

    p = add("resilience", _cmd_resilience,
            "What if ASes fail: which of the target's prefixes stay reachable, and via whom.",
            "examples:\n  transitwatch resilience AS131279 FILES... --fail AS4837\n"
            "  transitwatch resilience AS131279 FILES... --fail AS4837 --at 2017-10-01T09:00Z\n"
            "  transitwatch resilience AS131279 FILES... --spof\n"
            "  transitwatch resilience --country KP FILES... --fail AS4837 --model valley-free\n\n"
            "Models: observed (a prefix survives if some vantage point holds a route to it at that\n"
            "moment that avoids every failed AS) and valley-free (a policy-compliant path exists over\n"
            "the AS relationships, from --as-rel or inferred from the input up to that moment).\n"
            "--spof names every AS whose failure alone cuts more than half of the address space.")
    p.add_argument("items", nargs="*", metavar="TARGET|FILE",
                   help="the target (AS131279, a prefix), then MRT files; with --country only files")
    p.add_argument("--country", metavar="CC", help="a country's address space instead of one target")
    p.add_argument("--fail", action="append", metavar="AS[,AS...]", help="the ASes that fail (repeatable)")
    p.add_argument("--spof", action="store_true", help="list the single points of failure")
    p.add_argument("--model", choices=("observed", "valley-free"), default="observed",
                   help="observed (default) or valley-free")
    p.add_argument("--as-rel", metavar="FILE",
                   help="CAIDA serial-1/serial-2 AS relationships (plain, .gz, .bz2) for valley-free, "
                        "instead of inferring them from the input")
    p.add_argument("--at", metavar="TIME", help="the moment to answer for (default: the end of the input)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--db", type=Path, metavar="PATH",
                   help="answer from a database made by 'transitwatch ingest' (or an 'export "
                        "--partitioned' folder) instead of FILES")
