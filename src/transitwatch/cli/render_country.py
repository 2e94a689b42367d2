"""Terminal and plain-text rendering of the country view and the countries ranking (CLI only).

Rich tables on a terminal; aligned plain text in pipes. Times are shown in UTC and in the
country's own zone (with the offset in force then).
"""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from transitwatch.metrics.country import CountryConcentration, CountryUpstreams
from transitwatch.times import iso_local, iso_utc

__all__ = ["print_countries", "print_country_upstreams"]


def _plain_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [header, *rows]]


def _table(header: list[str], rows: list[list[str]], *, rich: bool, file: IO[str], title: str) -> None:
    if rich:
        console = Console(file=file)
        console.print(Text(title, style="bold"))
        if rows:
            table = Table(*header, header_style="bold cyan")
            for row in rows:
                table.add_row(*row)
            console.print(table)
    else:
        print(title, file=file)
        if rows:
            for line in _plain_table(header, rows):
                print(line, file=file)


def _prefix_summary(prefixes: list[str], limit: int = 4) -> str:
    shown = ", ".join(prefixes[:limit])
    return shown + (f", … {len(prefixes) - limit} more" if len(prefixes) > limit else "")


def print_country_upstreams(report: CountryUpstreams, *, tz: str | None, rich: bool, file: IO[str]) -> None:
    """The country view: international upstreams, domestic networks, domestic prefixes (with the
    source that placed each in the country)."""
    when = "(no observations)"
    if report.time is not None:
        when = iso_utc(report.time) + (f" ({iso_local(report.time, tz)})" if tz else "")
    title = (f"{report.country} ({report.name or '?'}) at {when}: {len(report.upstreams)} international "
             f"upstream(s) for {len(report.prefixes)} domestic prefix(es), "
             f"{report.addresses:,} {report.address_family} addresses")
    rows = [[f"AS{u.asn}", u.name or "?", u.country or "?", f"{u.share:.0%}", f"{u.addresses:,}",
             str(len(u.prefixes)), str(u.peers), _prefix_summary(u.prefixes)]
            for u in report.upstreams]
    _table(["upstream", "name", "country", "share", "addresses", "prefixes", "peers", "carries"],
           rows, rich=rich, file=file, title=title)
    if report.networks:
        nets = [[f"AS{n.asn}", n.name or "?", str(len(n.prefixes)), n.country_source or "?"]
                for n in report.networks]
        print(file=file)
        _table(["network", "name", "prefixes", "country from"], nets, rich=rich, file=file,
               title=f"{report.country}'s networks")
    if report.prefixes:
        print(file=file)
        prefix_rows = [[p.prefix, p.source, " ".join(f"AS{a}" for a in p.origins) or "?",
                        " ".join(f"AS{a}" for a in p.upstreams) or "-"] for p in report.prefixes]
        _table(["prefix", "placed by", "origin", "upstreams"], prefix_rows, rich=rich, file=file,
               title="domestic prefixes (placed by: geolite2 = bundled geolocation, "
                     "rir:* = RIR registration)")
    if not report.prefixes:
        print(f"no route to a prefix in {report.country} in the input", file=file)
    if report.unattributed:
        print(f"{report.unattributed} route(s) have no single international upstream "
              "(the peer is in the country, or a foreign AS_SET)", file=file)


def print_countries(rows: list[CountryConcentration], *, rich: bool, file: IO[str],
                    limit: int | None) -> None:
    """The ranking: most dependent on one foreign network first."""
    shown = rows if limit is None else rows[:limit]
    title = (f"{len(rows)} countries, most dependent on a single foreign network first"
             + (f" (top {len(shown)})" if len(shown) < len(rows) else ""))
    table = [[str(i), r.country, r.name or "?", str(r.upstreams),
              f"AS{r.top_upstream}" if r.top_upstream is not None else "-", r.top_name or "?",
              f"{r.top_share:.0%}", f"{r.hhi:.2f}", str(r.prefixes)]
             for i, r in enumerate(shown, 1)]
    _table(["#", "cc", "country", "upstreams", "top upstream", "name", "top share", "HHI", "prefixes"],
           table, rich=rich, file=file, title=title)
