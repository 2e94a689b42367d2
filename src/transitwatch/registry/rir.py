"""RIR delegated-extended statistics: ASN and address block -> registration country.

The five Regional Internet Registries publish, daily, one pipe-separated file each
(format: https://www.nro.net/wp-content/uploads/nro-extended-stats-readme5.txt)::

    2|apnic|20240618|61524|19830613|20240617|+1000          version line
    apnic|*|asn|*|12345|summary                              summary lines
    apnic|KP|ipv4|175.45.176.0|1024|20091016|allocated|A91...  records:
    registry|cc|type|start|value|date|status[|opaque-id]

For ``asn`` records ``value`` is a count of consecutive AS numbers; for ``ipv4`` a count of
addresses (not always a power of two); for ``ipv6`` a prefix length. ``available`` and
``reserved`` records carry no country and are skipped.

``update_registry`` downloads the files (resumably, via ``sources.download``) into a cache
directory, plus RIPE NCC's ``asn.txt`` (AS number -> name, country). ``load_registry_dir`` reads
whatever is there; bad lines are counted and skipped (partial data is still used), a file with
no valid record is reported, and files older than ``STALE_AFTER_DAYS`` get a warning.
"""

from __future__ import annotations

import bisect
import bz2
import gzip
import ipaddress
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from transitwatch.dirs import cache_dir
from transitwatch.sources.verify import verify_registry

__all__ = [
    "AS2ORG_MARK",
    "ASNAMES_FILE",
    "DEFAULT_URLS",
    "STALE_AFTER_DAYS",
    "LoadedFile",
    "RegistryFileError",
    "RirData",
    "UpdateResult",
    "date_in_name",
    "default_registry_dir",
    "load_registry_dir",
    "parse_as2org",
    "parse_asnames",
    "parse_delegated",
    "read_lines",
    "update_registry",
]

#: The five RIRs' "latest" delegated-extended files, and RIPE NCC's AS names list.
DEFAULT_URLS: dict[str, str] = {
    "afrinic": "https://ftp.afrinic.net/pub/stats/afrinic/delegated-afrinic-extended-latest",
    "apnic": "https://ftp.apnic.net/stats/apnic/delegated-apnic-extended-latest",
    "arin": "https://ftp.arin.net/pub/stats/arin/delegated-arin-extended-latest",
    "lacnic": "https://ftp.lacnic.net/pub/stats/lacnic/delegated-lacnic-extended-latest",
    "ripencc": "https://ftp.ripe.net/pub/stats/ripencc/delegated-ripencc-extended-latest",
    "asnames": "https://ftp.ripe.net/ripe/asnames/asn.txt",
}
ASNAMES_FILE = "asn.txt"
#: The largest registry file (RIPE's delegated file) is ~15 MB: far below this.
MAX_REGISTRY_SIZE = 512 << 20
#: CAIDA's AS-to-organisation files are named ``YYYYMMDD.as-org2info.txt.gz``
AS2ORG_MARK = "as-org2info"
#: The RIRs publish daily; data older than this is flagged as stale.
STALE_AFTER_DAYS = 30
_CC = re.compile(r"[A-Z]{2}")
_ASNAME_LINE = re.compile(r"(\d+)\s+(.*?),\s*([A-Z]{2})\s*$")


class RegistryFileError(Exception):
    """A registry file that cannot be used at all (one line naming the file)."""


def open_text(path: Path) -> IO[str]:
    """A registry file as text, transparently gunzipped or bunzipped (the RIRs' archives are
    ``.gz`` or ``.bz2``); undecodable bytes are replaced, never fatal."""
    name = path.name
    if name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    if name.endswith(".bz2"):
        return bz2.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_lines(path: Path) -> list[str]:
    try:
        with open_text(path) as handle:
            return handle.read().splitlines()
    except (OSError, EOFError, ValueError) as exc:  # gzip/bz2 raise OSError/EOFError on damage
        raise RegistryFileError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None


def default_registry_dir() -> Path:
    """``$XDG_CACHE_HOME/transitwatch/registry`` (``~/.cache/transitwatch/registry``)."""
    return cache_dir("registry")


def file_name_for(key: str, url: str) -> str:
    """Where ``update_registry`` stores a source: the URL's last path element."""
    return url.rstrip("/").rsplit("/", 1)[-1] or key


@dataclass
class LoadedFile:
    """One registry file that was read: what it is, how old, how clean."""

    path: str
    kind: str  # "delegated", "asnames" or "as2org"
    registry: str | None
    data_date: date | None  # from the file's header (delegated) or its mtime
    records: int
    bad_lines: int
    first_bad_line: int | None

    def age_days(self, now: float | None = None) -> float | None:
        if self.data_date is None:
            return None
        when = datetime(self.data_date.year, self.data_date.month, self.data_date.day, tzinfo=UTC)
        return ((now if now is not None else time.time()) - when.timestamp()) / 86400

    def is_stale(self, now: float | None = None) -> bool:
        age = self.age_days(now)
        return age is not None and age > STALE_AFTER_DAYS

    def to_dict(self) -> dict[str, Any]:
        age = self.age_days()
        return {
            "path": self.path, "kind": self.kind, "registry": self.registry,
            "date": self.data_date.isoformat() if self.data_date else None,
            "age_days": round(age, 1) if age is not None else None, "stale": self.is_stale(),
            "records": self.records, "bad_lines": self.bad_lines, "first_bad_line": self.first_bad_line,
        }


class _Ranges:
    """Integer ranges -> (country, registry), looked up by bisect on the start."""

    def __init__(self) -> None:
        self._rows: list[tuple[int, int, str, str]] = []
        self._starts: list[int] = []

    def add(self, start: int, end: int, cc: str, registry: str) -> None:
        self._rows.append((start, end, cc, registry))
        self._starts = []

    def freeze(self) -> None:
        self._rows.sort()
        self._starts = [row[0] for row in self._rows]

    def find(self, start: int) -> tuple[str, str] | None:
        """The range that contains ``start``, if any."""
        if len(self._starts) != len(self._rows):
            self.freeze()
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0 and self._rows[i][1] >= start:
            return self._rows[i][2], self._rows[i][3]
        return None

    def __len__(self) -> int:
        return len(self._rows)

    def arrays(self, shift: int = 0) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
        """(starts, ends, labels) for bulk look-ups: values shifted right by ``shift`` bits (64
        for IPv6, the geolocation tables' unit), labels ``(cc, registry)`` per row."""
        if len(self._starts) != len(self._rows):
            self.freeze()
        starts = np.array([r[0] >> shift for r in self._rows], dtype=np.uint64)
        ends = np.array([r[1] >> shift for r in self._rows], dtype=np.uint64)
        return starts, ends, [(r[2], r[3]) for r in self._rows]


class RirData:
    """Registration countries from delegated files, and AS names from ``asn.txt``."""

    def __init__(self) -> None:
        self._asns = _Ranges()
        self._v4 = _Ranges()
        self._v6 = _Ranges()
        self.as_names: dict[int, tuple[str, str]] = {}  # asn -> (name, cc), from asn.txt
        self.as_orgs: dict[int, tuple[str, str | None]] = {}  # asn -> (name, cc), from as2org
        self._bulk: dict[int, tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]] = {}
        self.files: list[LoadedFile] = []
        self.warnings: list[str] = []
        #: an archived snapshot (its age is the point, not a fault)
        self.dated = False

    # -- loading ----------------------------------------------------------------------------
    def add_delegated(self, path: Path) -> LoadedFile:
        """Read one delegated(-extended) file; bad lines are skipped and counted."""
        records = bad = 0
        first_bad: int | None = None
        registry: str | None = None
        data_date: date | None = None
        for number, raw in enumerate(read_lines(path), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split("|")
            if registry is None and len(parts) >= 6 and parts[0].replace(".", "").isdigit():
                registry = parts[1]  # version line: version|registry|serial|records|start|end
                data_date = _parse_date(parts[5]) or _parse_date(parts[2])
                continue
            if len(parts) >= 6 and parts[1] == "*" and parts[-1] == "summary":
                continue
            try:
                if self._add_record(parts):
                    records += 1
            except ValueError:
                bad += 1
                first_bad = first_bad or number
        if data_date is None:
            data_date = date.fromtimestamp(path.stat().st_mtime)
        loaded = LoadedFile(str(path), "delegated", registry, data_date, records, bad, first_bad)
        if records == 0:
            raise RegistryFileError(
                f"{path}: no valid delegated-stats record"
                + (f" (first bad line {first_bad})" if first_bad else "")
            )
        self._note(loaded)
        return loaded

    def _add_record(self, parts: list[str]) -> bool:
        if len(parts) < 7:
            raise ValueError("too few fields")
        registry, cc, kind, start, value, status = parts[0], parts[1], parts[2], parts[3], parts[4], parts[6]
        if status not in ("allocated", "assigned"):
            if status in ("available", "reserved"):
                return False
            raise ValueError(f"unknown status {status!r}")
        cc = cc.upper()
        if not _CC.fullmatch(cc):
            raise ValueError(f"bad country {cc!r}")
        if kind == "asn":
            first = int(start)
            self._asns.add(first, first + int(value) - 1, cc, registry)
        elif kind == "ipv4":
            first = int(ipaddress.IPv4Address(start))
            count = int(value)
            if count <= 0:
                raise ValueError("empty range")
            self._v4.add(first, first + count - 1, cc, registry)
        elif kind == "ipv6":
            net = ipaddress.IPv6Network(f"{start}/{int(value)}")
            self._v6.add(int(net.network_address), int(net.broadcast_address), cc, registry)
        else:
            raise ValueError(f"unknown type {kind!r}")
        return True

    def add_asnames(self, path: Path) -> LoadedFile:
        """Read an ``asn.txt`` (``4837 CHINA169-BACKBONE CHINA UNICOM China169 Backbone, CN``)."""
        names, bad, first_bad = parse_asnames(read_lines(path))
        if not names:
            raise RegistryFileError(f"{path}: no valid 'ASN NAME, CC' line")
        self.as_names.update(names)
        loaded = LoadedFile(str(path), "asnames", None, date.fromtimestamp(path.stat().st_mtime),
                            len(names), bad, first_bad)
        self._note(loaded)
        return loaded

    def add_as2org(self, path: Path, data_date: date | None = None) -> LoadedFile:
        """Read a CAIDA AS-to-organisation file (``20171001.as-org2info.txt[.gz]``)."""
        orgs, bad, first_bad = parse_as2org(read_lines(path))
        if not orgs:
            raise RegistryFileError(f"{path}: no valid as2org 'aut|changed|aut_name|org_id|...' line")
        self.as_orgs.update(orgs)
        when = data_date or date_in_name(path.name) or date.fromtimestamp(path.stat().st_mtime)
        loaded = LoadedFile(str(path), "as2org", None, when, len(orgs), bad, first_bad)
        self._note(loaded)
        return loaded

    def _note(self, loaded: LoadedFile) -> None:
        self.files.append(loaded)
        if loaded.bad_lines:
            self.warnings.append(f"{loaded.path}: skipped {loaded.bad_lines} unreadable lines "
                                 f"(first at line {loaded.first_bad_line})")
        if loaded.is_stale() and not self.dated:
            self.warnings.append(f"{loaded.path}: data from {loaded.data_date} is "
                                 f"{loaded.age_days():.0f} days old; run 'transitwatch registry update'")

    def freeze(self) -> None:
        for ranges in (self._asns, self._v4, self._v6):
            ranges.freeze()
        self._bulk.clear()

    def place(self, version: np.ndarray, first: np.ndarray) -> list[tuple[str, str] | None]:
        """Bulk :meth:`country_of_prefix`: the allocation holding each first address (``first``
        in the geolocation tables' units: IPv4 addresses, IPv6 /64s; ``version`` 0 = none)."""
        out: list[tuple[str, str] | None] = [None] * len(version)
        for v, ranges, shift in ((4, self._v4, 0), (6, self._v6, 64)):
            rows = np.nonzero(version == v)[0]
            if not rows.size or not len(ranges):
                continue
            if v not in self._bulk:
                self._bulk[v] = ranges.arrays(shift)
            starts, ends, labels = self._bulk[v]
            i = np.searchsorted(starts, first[rows], side="right") - 1
            ok = (i >= 0) & (ends[np.maximum(i, 0)] >= first[rows])
            for row, j in zip(rows[ok].tolist(), i[ok].tolist(), strict=True):
                out[row] = labels[j]
        return out

    # -- queries ----------------------------------------------------------------------------
    def country_of_asn(self, asn: int) -> tuple[str, str] | None:
        """``(cc, registry)`` the AS is registered in, or None."""
        return self._asns.find(asn)

    def country_of_prefix(self, prefix: str) -> tuple[str, str] | None:
        """``(cc, registry)`` of the allocation that holds the prefix's first address, or None."""
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            return None
        ranges = self._v4 if net.version == 4 else self._v6
        return ranges.find(int(net.network_address))

    def counts(self) -> dict[str, int]:
        return {"asn_ranges": len(self._asns), "ipv4_ranges": len(self._v4),
                "ipv6_ranges": len(self._v6), "as_names": len(self.as_names),
                "as_orgs": len(self.as_orgs)}

    def __bool__(self) -> bool:
        return bool(self.files)


def parse_delegated(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Records of a delegated file as dicts (for notebooks and tests): header and summary lines
    are dropped; ipv4 records get ``prefixes`` (the CIDR blocks their count covers)."""
    rows: list[dict[str, Any]] = []
    seen_version = False
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("|")
        if not seen_version and parts[0].replace(".", "").isdigit():
            seen_version = True
            continue
        if len(parts) < 7 or parts[1] == "*":
            continue
        row: dict[str, Any] = dict(zip(("registry", "cc", "type", "start", "value", "date", "status"),
                                       parts[:7], strict=True))
        row["opaque_id"] = parts[7] if len(parts) > 7 else None
        row["value"] = int(row["value"])
        if row["type"] == "ipv4":
            first = ipaddress.IPv4Address(row["start"])
            last = ipaddress.IPv4Address(int(first) + row["value"] - 1)
            row["prefixes"] = [str(n) for n in ipaddress.summarize_address_range(first, last)]
        elif row["type"] == "ipv6":
            row["prefixes"] = [f"{row['start']}/{row['value']}"]
        rows.append(row)
    return rows


def parse_asnames(lines: Iterable[str]) -> tuple[dict[int, tuple[str, str]], int, int | None]:
    """``asn.txt`` lines -> ({asn: (name, cc)}, bad line count, first bad line number)."""
    names: dict[int, tuple[str, str]] = {}
    bad = 0
    first_bad: int | None = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        match = _ASNAME_LINE.match(line.strip())
        if match is None:
            bad += 1
            first_bad = first_bad or number
            continue
        names[int(match.group(1))] = (match.group(2).strip(), match.group(3))
    return names, bad, first_bad


def parse_as2org(lines: Iterable[str], org_ids: dict[int, str] | None = None,
                 ) -> tuple[dict[int, tuple[str, str | None]], int, int | None]:
    """CAIDA as2org lines -> ({asn: (name, org country)}, bad line count, first bad line); each
    AS's ``org_id`` goes into ``org_ids`` when given (ASes of one organisation are siblings).

    The file has two sections, each announced by a ``# format:`` comment::

        # format:org_id|changed|org_name|country|source
        LVLT-ARIN|20120130|Level 3 Communications, Inc.|US|ARIN
        # format:aut|changed|aut_name|org_id|opaque_id|source
        3356|20120224|LEVEL3|LVLT-ARIN|e5e3b9c13678dfc483fb1f819d70883c_ARIN|ARIN

    The name is ``aut_name`` followed by the organisation's name (as RIPE's ``asn.txt`` writes
    them: ``LEVEL3 Level 3 Communications, Inc.``); the country is the organisation's.
    """
    orgs: dict[str, tuple[str, str | None]] = {}
    auts: list[tuple[int, str, str]] = []
    section: str | None = None
    bad = 0
    first_bad: int | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("# format:"):
                fields = line[len("# format:"):].split("|")
                section = "org" if fields[0] == "org_id" else "aut" if fields[0] == "aut" else None
            continue
        parts = line.split("|")
        try:
            if section == "org" and len(parts) >= 5:
                cc = parts[3].strip().upper()
                orgs[parts[0]] = (parts[2].strip(), cc if _CC.fullmatch(cc) else None)
                continue
            if section == "aut" and len(parts) >= 6:
                auts.append((int(parts[0]), parts[2].strip(), parts[3]))
                continue
        except ValueError:
            pass
        bad += 1
        first_bad = first_bad or number
    out: dict[int, tuple[str, str | None]] = {}
    for asn, aut_name, org_id in auts:
        if org_ids is not None and org_id.strip():
            org_ids[asn] = org_id.strip()
        org_name, org_cc = orgs.get(org_id, ("", None))
        # "CHINA169-BACKBONE" + "China Unicom": the handle alone rarely says who it is.
        both = aut_name and org_name and org_name != aut_name
        name = f"{aut_name} {org_name}" if both else aut_name or org_name
        if name:
            out[asn] = (name, org_cc)
    return out, bad, first_bad


def date_in_name(name: str) -> date | None:
    match = re.search(r"(\d{8})", name)
    return _parse_date(match.group(1)) if match else None


def _parse_date(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def _looks_delegated(path: Path) -> bool:
    """A file whose first non-comment line is a delegated-stats version line (``2|apnic|...``)."""
    try:
        with open_text(path) as handle:
            for line in handle:
                if line.strip() and not line.startswith("#"):
                    return re.match(r"\d+(\.\d+)?\|[a-z]+\|", line) is not None
    except (OSError, EOFError):
        return False
    return False


def load_registry_dir(directory: Path, *, dated: bool = False) -> RirData:
    """Read every delegated file, ``asn.txt`` and CAIDA as2org file found in ``directory``
    (``dated``: an archived snapshot, whose files are old on purpose and not flagged stale).

    A file that cannot be used becomes a warning (``RirData.warnings``), never an exception: what
    could be read is still used. A missing directory gives an empty ``RirData``.
    """
    data = RirData()
    data.dated = dated
    if not directory.is_dir():
        return data
    for path in sorted(directory.iterdir()):
        if path.name.endswith(".part") or not path.is_file():
            continue
        try:
            if path.name == ASNAMES_FILE:
                data.add_asnames(path)
            elif AS2ORG_MARK in path.name:
                data.add_as2org(path)
            elif path.name.startswith("delegated") or _looks_delegated(path):
                data.add_delegated(path)
        except RegistryFileError as exc:
            data.warnings.append(str(exc))
    data.freeze()
    return data


@dataclass
class UpdateResult:
    """One source of an update: where it went, or why it failed."""

    key: str
    url: str
    path: str | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.key, "url": self.url, "path": self.path, "error": self.error}


def update_registry(
    directory: Path,
    urls: Mapping[str, str] | None = None,
    *,
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool = False,
    deadline: float = 900.0,
) -> list[UpdateResult]:
    """Download each source into ``directory`` (resuming interrupted downloads).

    Failures do not stop the others: each result says where its file went or why it failed, so a
    caller can report partial success. Files whose download failed keep their previous version.
    Each file has ``deadline`` seconds and at most MAX_REGISTRY_SIZE bytes, and must look like a
    delegated file or an AS names list (else it goes to ``directory/quarantine``).
    """
    # (imported here: HTTP and TLS cost every registry user ~15 ms of start-up, most never download)
    from transitwatch.sources.download import DownloadError, download_file

    directory.mkdir(parents=True, exist_ok=True)
    results: list[UpdateResult] = []
    for key, url in (urls if urls is not None else DEFAULT_URLS).items():
        dest = directory / file_name_for(key, url)
        try:
            # Checked before it replaces the previous version: an error page is never loaded.
            download_file(url, dest, timeout=timeout, retries=retries, progress=progress,
                          max_size=MAX_REGISTRY_SIZE, deadline=deadline, verify=verify_registry,
                          quarantine=directory / "quarantine")
        except DownloadError as exc:
            results.append(UpdateResult(key, url, None, str(exc)))
            continue
        results.append(UpdateResult(key, url, str(dest), None))
    return results
