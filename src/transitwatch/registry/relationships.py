"""AS relationships (provider-customer, peer-peer, sibling), dated, with the source that said so.

>>> rels = load_as_rel("20151001.as-rel.txt.bz2")                          # doctest: +SKIP
>>> rels.relationship(131279, 4837), rels.source, rels.date                # doctest: +SKIP
('provider', '20151001.as-rel.txt.bz2', '2015-10-01')

Files are CAIDA's AS relationship formats, the ones every tool of the field reads (plain, .gz or
.bz2, detected by content):

* serial-1: ``# comments``, then ``<provider>|<customer>|-1`` and ``<peer>|<peer>|0``;
* serial-2: the same with a fourth field, the source of the inference (``|bgp``, ``|mlp``...).

A relationship of ``1`` or ``2`` (sibling, written by some older tools) is read as sibling.
Anything else on a non-comment line is an error naming the file, the line and its byte offset.
:func:`save_as_rel` writes serial-1 (``confidence`` and the inference step, when known, go in
the JSON output of ``transitwatch relationships``, not in the file).
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from transitwatch.errors import TransitwatchError

__all__ = [
    "P2C", "P2P", "SIBLING", "RELATIONSHIP_NAMES", "ArrayRelationships", "Relationships", "load_as_rel",
    "save_as_rel",
    "parse_as_rel",
]

P2C = -1
P2P = 0
SIBLING = 1
#: The words used in every output for what a neighbour is to an AS.
RELATIONSHIP_NAMES = ("provider", "customer", "peer", "sibling", "unknown")

_DATE_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")


@dataclass
class Relationships:
    """A set of AS links with their type, and where they came from.

    ``source`` names the file or the inference that produced them (every output says it);
    ``date`` the day they describe (ISO ``YYYY-MM-DD``) when known. ``confidence`` and ``step``
    (per link, keyed by the sorted ASN pair) are filled by inference, empty for loaded files.
    ``clique`` is the inferred (or declared) top clique of transit-free ASes, when known.
    """

    source: str
    date: str | None = None
    providers: dict[int, set[int]] = field(default_factory=dict)
    customers: dict[int, set[int]] = field(default_factory=dict)
    peers: dict[int, set[int]] = field(default_factory=dict)
    siblings: dict[int, set[int]] = field(default_factory=dict)
    confidence: dict[tuple[int, int], float] = field(default_factory=dict)
    step: dict[tuple[int, int], str] = field(default_factory=dict)
    clique: list[int] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    #: where sibling links came from when they were added by organisation (:meth:`with_siblings`)
    siblings_from: str | None = None

    # -- building ------------------------------------------------------------------------------
    def add(self, a: int, b: int, rel: int) -> None:
        """Record a link: ``rel`` -1 (``a`` provider of ``b``), 0 (peers) or 1 (siblings)."""
        if a == b:
            return
        self.discard(a, b)
        if rel == P2C:
            self.customers.setdefault(a, set()).add(b)
            self.providers.setdefault(b, set()).add(a)
        elif rel == P2P:
            self.peers.setdefault(a, set()).add(b)
            self.peers.setdefault(b, set()).add(a)
        else:
            self.siblings.setdefault(a, set()).add(b)
            self.siblings.setdefault(b, set()).add(a)

    def discard(self, a: int, b: int) -> None:
        """Forget any link between ``a`` and ``b``."""
        for table in (self.customers, self.providers, self.peers, self.siblings):
            table.get(a, set()).discard(b)
            table.get(b, set()).discard(a)

    # -- questions -----------------------------------------------------------------------------
    def relationship(self, asn: int, neighbour: int) -> str:
        """What ``neighbour`` is to ``asn``: ``provider``, ``customer``, ``peer``, ``sibling`` or
        ``unknown`` (no link known)."""
        if neighbour in self.providers.get(asn, ()):
            return "provider"
        if neighbour in self.customers.get(asn, ()):
            return "customer"
        if neighbour in self.peers.get(asn, ()):
            return "peer"
        if neighbour in self.siblings.get(asn, ()):
            return "sibling"
        return "unknown"

    def knows(self, asn: int) -> bool:
        """Whether ``asn`` has any link here."""
        return any(asn in t and t[asn] for t in (self.providers, self.customers, self.peers, self.siblings))

    def customer_cone(self, asn: int) -> set[int]:
        """``asn`` and every AS reachable from it by provider-to-customer (and sibling) links."""
        cone = {asn}
        todo = [asn]
        while todo:
            a = todo.pop()
            for b in (*self.customers.get(a, ()), *self.siblings.get(a, ())):
                if b not in cone:
                    cone.add(b)
                    todo.append(b)
        return cone

    def links(self) -> Iterator[tuple[int, int, int]]:
        """Every link once: ``(provider, customer, -1)``, ``(low, high, 0)`` peers, ``(low, high, 1)``
        siblings; sorted."""
        out: list[tuple[int, int, int]] = []
        for a, cs in self.customers.items():
            out.extend((a, c, P2C) for c in cs)
        for a, ps in self.peers.items():
            out.extend((a, p, P2P) for p in ps if a < p)
        for a, ss in self.siblings.items():
            out.extend((a, s, SIBLING) for s in ss if a < s)
        return iter(sorted(out))

    def counts(self) -> dict[str, int]:
        """How many links of each kind, and how many ASes."""
        p2c = sum(len(v) for v in self.customers.values())
        p2p = sum(len(v) for v in self.peers.values()) // 2
        s2s = sum(len(v) for v in self.siblings.values()) // 2
        tables = (self.providers, self.customers, self.peers, self.siblings)
        ases = {a for t in tables for a, v in t.items() if v}
        return {"ases": len(ases), "links": p2c + p2p + s2s, "p2c": p2c, "p2p": p2p, "s2s": s2s}

    def with_siblings(self, org_of: Mapping[int, str], label: str) -> Relationships:
        """A copy in which every link between two ASes of one organisation (``org_of``: ASN ->
        organisation id, e.g. CAIDA's as2org of the data's date) is a sibling link, whatever the
        paths or the file said. Path-based inference cannot tell siblings (an organisation's ASes
        pass routes to each other in every direction); CAIDA takes them from as2org the same way.
        ``label`` names that source; links stay as they were when no organisation is shared."""
        out = Relationships(source=self.source, date=self.date, confidence=self.confidence, step=self.step,
                            clique=list(self.clique), comments=list(self.comments))
        for name in ("providers", "customers", "peers", "siblings"):
            setattr(out, name, {a: set(v) for a, v in getattr(self, name).items()})
        changed = 0
        for a, b, _ in list(self.links()):
            org = org_of.get(a)
            if org is not None and org == org_of.get(b) and b not in out.siblings.get(a, ()):
                out.add(a, b, SIBLING)
                changed += 1
        out.siblings_from = f"{label} ({changed} link(s) between ASes of one organisation)"
        return out

    def describe(self) -> dict[str, Any]:
        """Where the answers come from, for every output that uses them."""
        out = {"source": self.source, "date": self.date, **self.counts()}
        if self.siblings_from is not None:
            out["siblings"] = self.siblings_from
        return out

    def __len__(self) -> int:
        return self.counts()["links"]

    def __repr__(self) -> str:
        c = self.counts()
        return (f"<Relationships from {self.source}{' (' + self.date + ')' if self.date else ''}: "
                f"{c['p2c']} p2c, {c['p2p']} p2p, {c['s2s']} s2s links>")


class ArrayRelationships(Relationships):
    """:class:`Relationships` held as the inference's link arrays: ``providers``, ``customers``,
    ``peers`` and ``step`` are built on first use (in the order the inference decided the links:
    the same dicts and sets as a direct build). :meth:`relationship` and :meth:`counts` answer
    from the arrays until then: a country question asks a few links of ~72k, and building the
    per-AS sets of all of them costs ~0.1 s and ~30 MB."""

    _LAZY = frozenset({"providers", "customers", "peers", "step"})

    def __init__(self, *, source: str, date: str | None, links: tuple[Any, ...], clique: list[int],
                 confidence: dict[tuple[int, int], float] | None = None) -> None:
        import numpy as np

        lo_b, hi_b, kind_b, step_b, step_names = links
        self.source, self.date = source, date
        self.siblings = {}
        self.confidence = confidence if confidence is not None else {}
        self.clique, self.comments, self.siblings_from = clique, [], None
        lo = np.frombuffer(lo_b, np.uint32).astype(np.int64)
        hi = np.frombuffer(hi_b, np.uint32).astype(np.int64)
        key = (lo << 32) | hi
        order = np.argsort(key, kind="stable")
        self._links = (lo, hi, np.frombuffer(kind_b, np.int8), np.frombuffer(step_b, np.int8), step_names,
                       key[order], order)

    def __getattr__(self, name: str) -> Any:
        # only reached when the attribute is not set: the lazy tables, built once
        if name in ArrayRelationships._LAZY and "_links" in self.__dict__:
            self._build()
            return self.__dict__[name]
        raise AttributeError(name)

    def _built(self) -> bool:
        return "providers" in self.__dict__

    def _build(self) -> None:
        lo, hi, kind, step, names = self._links[:5]
        providers: dict[int, set[int]] = {}
        customers: dict[int, set[int]] = {}
        peers: dict[int, set[int]] = {}
        steps: dict[tuple[int, int], str] = {}
        for a, b, k, s in zip(lo.tolist(), hi.tolist(), kind.tolist(), step.tolist(), strict=True):
            steps[(a, b)] = names[s]
            if k == 0:
                peers.setdefault(a, set()).add(b)
                peers.setdefault(b, set()).add(a)
            else:
                prov, cust = (a, b) if k < 0 else (b, a)
                customers.setdefault(prov, set()).add(cust)
                providers.setdefault(cust, set()).add(prov)
        self.__dict__.update(providers=providers, customers=customers, peers=peers, step=steps)

    def relationship(self, asn: int, neighbour: int) -> str:
        if self._built():
            return super().relationship(asn, neighbour)
        a, b = (asn, neighbour) if asn < neighbour else (neighbour, asn)
        if a == b or a < 0 or b >= 1 << 32:
            return "unknown"
        keys, order = self._links[5], self._links[6]
        at = int(keys.searchsorted((a << 32) | b))
        if at >= keys.size or int(keys[at]) != (a << 32) | b:
            return "unknown"
        k = int(self._links[2][order[at]])
        if k == 0:
            return "peer"
        # k < 0: the lower ASN is the provider
        return "provider" if (k < 0) == (neighbour == a) else "customer"

    def counts(self) -> dict[str, int]:
        if self._built():
            return super().counts()
        import numpy as np

        lo, hi, kind = self._links[:3]
        p2p = int((kind == 0).sum())
        ases = int(np.unique(np.concatenate([lo, hi])).size)
        return {"ases": ases, "links": int(kind.size), "p2c": int(kind.size) - p2p, "p2p": p2p, "s2s": 0}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Relationships):
            return NotImplemented
        names = ("source", "date", "providers", "customers", "peers", "siblings", "confidence", "step",
                 "clique", "comments", "siblings_from")
        return all(getattr(self, n) == getattr(other, n) for n in names)

    __hash__ = None  # type: ignore[assignment]


# -- files -----------------------------------------------------------------------------------------
def _open_text(path: str) -> IO[str]:
    with open(path, "rb") as fh:
        magic = fh.read(3)
    if magic[:2] == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="strict", newline="")
    if magic == b"BZh":
        return io.TextIOWrapper(bz2.open(path, "rb"), encoding="utf-8", errors="strict", newline="")
    return open(path, encoding="utf-8", errors="strict", newline="")


def date_from_name(path: str | os.PathLike[str]) -> str | None:
    """``20151001.as-rel.txt.bz2`` -> ``2015-10-01`` (None when the name has no date)."""
    match = _DATE_IN_NAME.search(os.path.basename(os.fspath(path)))
    return f"{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else None


def parse_as_rel(lines: Iterable[str], source: str, *, date: str | None = None) -> Relationships:
    """Read serial-1 or serial-2 lines (with line ends) into :class:`Relationships`.

    Raises :class:`TransitwatchError` naming ``source``, the line number and its byte offset at
    the first line that is neither a comment nor a link; an input without any link is an error too.
    """
    rels = Relationships(source=source, date=date)
    offset = 0
    count = 0
    for number, line in enumerate(lines, 1):
        here = offset
        offset += len(line.encode("utf-8", "surrogateescape"))
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            if len(rels.comments) < 50:
                rels.comments.append(text)
            continue
        parts = text.split("|")
        try:
            if len(parts) not in (3, 4):
                raise ValueError
            a, b, rel = int(parts[0]), int(parts[1]), int(parts[2])
            if not (0 < a <= 4294967295 and 0 < b <= 4294967295) or rel not in (-1, 0, 1, 2) or a == b:
                raise ValueError
        except ValueError:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise TransitwatchError(
                f"{source}: line {number} (byte {here}): not an AS relationship "
                f"(want provider|customer|-1 or peer|peer|0): {shown!r}") from None
        rels.add(a, b, SIBLING if rel > 0 else rel)
        count += 1
    if count == 0:
        raise TransitwatchError(f"{source}: no AS relationships in the file (empty or only comments)")
    return rels


def load_as_rel(path: str | os.PathLike[str]) -> Relationships:
    """Load a CAIDA serial-1 or serial-2 file (plain, .gz or .bz2). Errors are one line naming
    the file (:class:`TransitwatchError`)."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise TransitwatchError(f"{name}: no such file")
    if os.path.isdir(name):
        raise TransitwatchError(f"{name}: is a directory, not an AS relationship file")
    try:
        with _open_text(name) as fh:
            rels = parse_as_rel(fh, name, date=date_from_name(name))
    except UnicodeDecodeError as exc:
        raise TransitwatchError(f"{name}: not a text AS relationship file (byte {exc.start} of a line "
                                "is not UTF-8)") from None
    except (OSError, EOFError) as exc:
        raise TransitwatchError(f"{name}: cannot read: {exc}") from None
    for comment in rels.comments:
        # serial-2 headers carry the inference date in a comment, e.g. "# inferred ... 20151001".
        if rels.date is None:
            found = _DATE_IN_NAME.search(comment)
            if found:
                rels.date = f"{found.group(1)}-{found.group(2)}-{found.group(3)}"
    return rels


def save_as_rel(rels: Relationships, out: IO[str], *, header: Iterable[str] = ()) -> int:
    """Write ``rels`` as CAIDA serial-1 (``# comments``, ``provider|customer|-1``,
    ``peer|peer|0``; siblings as ``a|b|1``). Returns the number of links written."""
    header = list(header)
    out.write(f"# source: {rels.source}\n")
    if rels.date:
        out.write(f"# date: {rels.date}\n")
    for line in header:
        out.write(f"# {line}\n")
    # A caller's header may already name the clique with where it came from (given or inferred).
    if rels.clique and not any(line.startswith("clique") for line in header):
        out.write("# inferred clique: " + " ".join(str(a) for a in rels.clique) + "\n")
    out.write("# <provider-as>|<customer-as>|-1\n# <peer-as>|<peer-as>|0\n")
    n = 0
    for a, b, rel in rels.links():
        out.write(f"{a}|{b}|{rel}\n")
        n += 1
    return n


# -- CAIDA's monthly files: fetched into the registry folder, the one nearest the data answers ------
#: CAIDA's serial-1 AS relationships, one file per month ({M}: YYYYMM01).
CAIDA_AS_REL_URL = "https://publicdata.caida.org/datasets/as-relationships/serial-1/{M}.as-rel.txt.bz2"
AS_REL_DIR = "as-rel"
#: a relationship file further than this from the data's time is not used (nor guessed at)
AS_REL_MAX_DAYS = 366
MAX_AS_REL_SIZE = 64 << 20
_AS_REL_NAME = re.compile(r"^(\d{8})\.as-rel2?\.txt(\.gz|\.bz2)?$")


def nearest_month(day: date) -> date:
    """The first day of the month nearest ``day`` (CAIDA dates its files YYYYMM01)."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return following if (following - day) < (day - first) else first


def as_rel_url(day: date, mirror: str | None = None) -> str:
    """CAIDA's serial-1 URL for the month nearest ``day`` (``mirror``: the same path elsewhere)."""
    url = CAIDA_AS_REL_URL.format(M=f"{nearest_month(day):%Y%m%d}")
    if mirror:
        url = mirror.rstrip("/") + urlsplit(url).path
    return url


def verify_as_rel(path: str | os.PathLike[str], *, partial: bool = False) -> None:
    """ValueError unless ``path`` is (the start of) an AS relationship file: a download that is an
    HTML error page or anything else never reaches the registry folder."""
    name = os.fspath(path)
    try:
        with _open_text(name) as fh:
            lines = [fh.readline() for _ in range(200)]
    except (OSError, EOFError, UnicodeDecodeError, ValueError):
        if partial:
            return   # a compressed stream cut short: judged when complete
        raise ValueError("not a readable AS relationship file") from None
    body = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    if not body:
        if partial:
            return
        raise ValueError("no AS relationship lines")
    if not all(re.fullmatch(r"\d+\|\d+\|-?[0-2](\|\S*)?", ln) for ln in body[:-1] if ln):
        raise ValueError("not an AS relationship file (want provider|customer|-1, peer|peer|0)")


def update_as_rel(registry_dir: Path, day: date, *, mirror: str | None = None, url: str | None = None,
                  progress: bool = False) -> Path:
    """Download CAIDA's AS relationships of the month nearest ``day`` into
    ``<registry_dir>/as-rel/`` (verified; resumable); returns the file. OSError/ValueError with
    one line when it cannot."""
    from transitwatch.sources.download import download_file

    chosen = url or as_rel_url(day, mirror)
    name = chosen.rstrip("/").rsplit("/", 1)[-1]
    if not _AS_REL_NAME.match(name):
        name = f"{nearest_month(day):%Y%m%d}.as-rel.txt" + (".bz2" if chosen.endswith(".bz2") else
                                                             ".gz" if chosen.endswith(".gz") else "")
    folder = registry_dir / AS_REL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return download_file(chosen, folder / name, progress=progress, max_size=MAX_AS_REL_SIZE,
                         verify=verify_as_rel, quarantine=folder / "quarantine")


def find_as_rel(registry_dir: Path, when: float | None) -> tuple[Path, float] | None:
    """The fetched relationship file nearest ``when`` (epoch seconds) and its distance in days,
    or None when there is none within :data:`AS_REL_MAX_DAYS`."""
    folder = registry_dir / AS_REL_DIR
    if when is None or not folder.is_dir():
        return None
    best: tuple[Path, float] | None = None
    for child in folder.iterdir():
        match = _AS_REL_NAME.match(child.name)
        if not match or not child.is_file():
            continue
        try:
            day = datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            continue
        days = (when - day.timestamp()) / 86400.0
        if abs(days) <= AS_REL_MAX_DAYS and (best is None or abs(days) < abs(best[1])):
            best = (child, days)
    return best
