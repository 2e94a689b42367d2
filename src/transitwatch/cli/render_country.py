"""Terminal and plain-text rendering of the country view and the countries ranking (CLI only).

Rich tables on a terminal; aligned plain text in pipes. Times are shown in UTC and in the
country's own zone (with the offset in force then).
"""

from __future__ import annotations

from typing import IO, Any

from transitwatch.metrics.country import CountryConcentration, CountryUpstreams
from transitwatch.times import iso_local, iso_utc

__all__ = ["print_countries", "print_country_upstreams"]


def _plain_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [header, *rows]]


def _table(header: list[str], rows: list[list[str]], *, rich: bool, file: IO[str], title: str) -> None:
    if rich:
        # imported here: in a pipe (scripts, the bench) rich is never used, and it costs ~35 ms
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

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


def _name(name: str | None, hint: str | None) -> str:
    """A registry name as is; a geolocation hint marked with "~" (it is not the AS's name)."""
    if name:
        return name
    return f"~{hint}" if hint else "?"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_registry_line(registry: dict[str, Any] | None, file: IO[str]) -> None:
    """Which registry data answered: snapshot date and source, distance from the data, flags."""
    if not registry:
        return
    from transitwatch.registry.snapshots import FLAG_AFTER_DAYS

    def distance(days: float | None, flagged: bool) -> str:
        if days is None:
            return ""
        text = f" ({abs(days):.0f} days {'before' if days > 0 else 'after'} the data"
        return text + (f"; FLAGGED: more than {FLAG_AFTER_DAYS} days away)" if flagged else ")")

    if registry.get("date"):
        line = (f"registry: {registry['source']} snapshot of {registry['date']}"
                + distance(registry.get("days_from_data"), bool(registry.get("flagged"))))
    else:
        line = "registry: no RIR or AS-name data (run 'transitwatch registry update --at DATE')"
    geo = registry.get("geolocation") or {}
    if geo.get("date"):
        line += (f"; prefixes placed by geolocation of {geo['date']}"
                 + distance(geo.get("days_from_data"), bool(geo.get("flagged"))))
    print(line, file=file)


def _prefix_summary(prefixes: list[str], limit: int = 4) -> str:
    shown = ", ".join(prefixes[:limit])
    return shown + (f", … {len(prefixes) - limit} more" if len(prefixes) > limit else "")


def print_country_upstreams(report: CountryUpstreams, *, tz: str | None, rich: bool, file: IO[str],
                            notices: list[str] | None = None) -> None:
    """The country view: international upstreams, domestic networks, domestic prefixes (with the
    source that placed each in the country)."""
    when = "(no observations)"
    if report.time is not None:
        when = iso_utc(report.time) + (f" ({iso_local(report.time, tz)})" if tz else "")
    title = (f"{report.country} ({report.name or '?'}) at {when}: {len(report.upstreams)} international "
             f"upstream(s) for {len(report.prefixes)} domestic prefix(es), "
             + (f"{report.addresses:,} {report.address_family} addresses" if report.addresses
                else "no address space seen"))
    rows = [[f"AS{u.asn}", u.relationship, _name(u.name, u.name_hint), u.country or "?", f"{u.share:.0%}",
             _share(u.share_ipv4), _share(u.share_ipv6), f"{u.addresses:,}",
             str(len(u.prefixes)), str(u.peers), _prefix_summary(u.prefixes)]
            for u in report.upstreams]
    _table(["upstream", "relationship", "name", "country", "share", "ipv4", "ipv6", "addresses", "prefixes",
            "peers", "carries"], rows, rich=rich, file=file, title=title)
    print_registry_line(report.registry, file)
    rel = report.relationships
    if rel is not None and report.upstreams:
        siblings = f"; siblings: {rel['siblings']}" if rel.get("siblings") else ""
        print(f"relationships: {rel.get('source') or rel.get('note') or 'none'}{siblings}", file=file)
    if any(not u.name and u.name_hint for u in report.upstreams):
        print("~name: a hint (who holds the AS's addresses in the bundled geolocation data), not "
              "the AS's registered name", file=file)
    if report.networks:
        nets = [[f"AS{n.asn}", _name(n.name, None), str(len(n.prefixes)), n.country_source or "?"]
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
    uncovered = [n for n in notices or [] if n.startswith("no data covers")]
    if not report.prefixes:
        # at a moment no data covers, the routes are unknown: "no route" would be untrue
        print(uncovered[0] if uncovered else f"no route to a prefix in {report.country} in the input",
              file=file)
    if report.unattributed:
        print(f"{report.unattributed} route(s) have no single international upstream "
              "(the peer is in the country, or a foreign AS_SET)", file=file)


def print_countries(rows: list[CountryConcentration], *, rich: bool, file: IO[str],
                    limit: int | None, registry: dict[str, Any] | None = None) -> None:
    """The ranking: most dependent on one foreign network first."""
    shown = rows if limit is None else rows[:limit]
    title = (f"{len(rows)} countries, most dependent on a single foreign network first"
             + (f" (top {len(shown)})" if len(shown) < len(rows) else ""))
    table = [[str(i), r.country, r.name or "?", str(r.upstreams),
              f"AS{r.top_upstream}" if r.top_upstream is not None else "-",
              _name(r.top_name, r.top_name_hint), f"{r.top_share:.0%}", _share(r.top_share_ipv4),
              _share(r.top_share_ipv6), f"{r.hhi:.2f}", str(r.prefixes)]
             for i, r in enumerate(shown, 1)]
    _table(["#", "cc", "country", "upstreams", "top upstream", "name", "top share", "ipv4", "ipv6",
            "HHI", "prefixes"], table, rich=rich, file=file, title=title)
    print_registry_line(registry, file)
