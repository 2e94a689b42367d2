"""Prefix -> country and organisation name from the geolocation data shipped by ``geoip2fast``.

geoip2fast (MIT) bundles MaxMind GeoLite2 Country and GeoLite2 ASN tables as data files inside
its wheel; this module uses ``geoip2fast-asn-ipv6.dat.gz`` (IPv4 + IPv6, country + AS
*organisation name*). The ASN table holds organisation names per address range but **not AS
numbers**: a name found here says who holds the addresses in 2024, not what an AS was called, so
the registry only ever shows it as a *hint* (see ``Registry.as_info``).

How the data is read: geoip2fast keeps its tables in private module globals that change between
releases, so they are never touched. The data file is located the documented way (the package
directory, ``importlib.resources``), unpickled once (the file is ``(dat version, source info,
network count, tables)``; the version is checked, and the package version is pinned in
pyproject.toml), flattened into sorted numpy range tables and cached as ``.npy`` files in
``$XDG_CACHE_HOME/transitwatch/geo/<key>/``, keyed by package version, file size and mtime and
this module's table format. Later processes load the ``.npy`` files in milliseconds.

Look-ups: ``place`` puts a whole array of prefixes in one vectorised pass (``searchsorted`` over
the range tables; a prefix spanning several blocks gets the label covering most of its
addresses, ties going to the lowest address); ``lookup_prefix`` answers one prefix by walking
the blocks with ``bisect``, the per-prefix reference the bulk path is tested against. IPv6 is
placed at /64 granularity (the table's high 64 bits): blocks longer than /64 are dropped, as no
BGP route is that specific.
"""

from __future__ import annotations

import bisect
import functools
import gzip
import importlib.util
import json
import os
import pickle
import re
import socket
import tempfile
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transitwatch.dirs import cache_dir

__all__ = [
    "GEO_DATA_FILE", "GEOIP2FAST_VERSION", "GeoError", "GeoTables", "Placement", "PrefixArrays",
    "PrefixGeo", "RangeTable", "country_of_prefix", "geo_info", "load_tables", "lookup_prefix",
    "parse_prefixes", "place", "prefix_size",
]

GEO_DATA_FILE = "geoip2fast-asn-ipv6.dat.gz"
#: the geoip2fast release whose data file layout this loader is tested against (pyproject pins it)
GEOIP2FAST_VERSION = "1.2.2"
#: geoip2fast's data file format versions this loader reads (country + ASN layout)
_DAT_VERSIONS = (120,)
#: layout of the cached .npy tables; bump when it changes
_TABLE_FORMAT = 1
#: geoip2fast numbers private/reserved/IANA blocks (and "not found") before the countries
_PRIVATE_IDS = 16
_NOT_A_NAME = {"", "--", "-1", "-2", "-3", "-4", "<unknown>"}
_CC = re.compile(r"[A-Z]{2}")
_V6_SHIFT = 64
_lock = threading.Lock()
_tables: GeoTables | None = None


class GeoError(Exception):
    """The geolocation data could not be loaded (one line)."""


@dataclass(frozen=True, slots=True)
class PrefixGeo:
    """What the geolocation data says about a prefix: majority country and organisation name
    (by address space), and the share of the prefix's addresses that country covers."""

    country: str | None
    name: str | None
    country_share: float

    def to_dict(self) -> dict[str, Any]:
        return {"country": self.country, "name": self.name, "country_share": self.country_share}


@dataclass(frozen=True)
class RangeTable:
    """Sorted, non-overlapping blocks ``[first, last]`` (uint64: IPv4 addresses, or the high 64
    bits of IPv6 addresses) with a label index each (-1: private, reserved, unnamed)."""

    first: np.ndarray
    last: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.first)


@dataclass(frozen=True)
class GeoTables:
    """The bundled geolocation data as range tables: countries and organisation names, per IP
    version, and the labels they index."""

    country_v4: RangeTable
    country_v6: RangeTable
    name_v4: RangeTable
    name_v6: RangeTable
    countries: list[str]
    names: list[str]
    source: str
    data_file: str
    package_version: str

    def table(self, kind: str, version: int) -> RangeTable:
        if kind == "country":
            return self.country_v4 if version == 4 else self.country_v6
        return self.name_v4 if version == 4 else self.name_v6

    @functools.cached_property
    def lists(self) -> dict[tuple[str, int], tuple[list[int], list[int], list[int]]]:
        """Python-list copies for the per-prefix ``bisect`` path (built on first use)."""
        out: dict[tuple[str, int], tuple[list[int], list[int], list[int]]] = {}
        for kind in ("country", "name"):
            for version in (4, 6):
                t = self.table(kind, version)
                out[(kind, version)] = (t.first.tolist(), t.last.tolist(), t.label.tolist())
        return out


# -- loading ----------------------------------------------------------------------------------
def _package_dir() -> Path:
    # find_spec locates the package without running it: importing geoip2fast pulls in
    # urllib.request, http.client and socket (~45 ms), and only its data file is read here.
    try:
        spec = importlib.util.find_spec("geoip2fast")
    except (ImportError, ValueError) as exc:
        raise GeoError(f"geoip2fast is not installed ({exc})") from None
    if spec is None or not spec.submodule_search_locations:
        raise GeoError("geoip2fast is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _data_path() -> Path:
    path = _package_dir() / GEO_DATA_FILE
    if not path.is_file():
        raise GeoError(f"geoip2fast has no data file {GEO_DATA_FILE} (looked in {path.parent})")
    return path


@functools.cache
def _package_version() -> str:
    # The installed distribution's version, from its dist-info directory's name (no import of
    # the package, see _package_dir); other layouts ask the package itself.
    found = sorted(_package_dir().parent.glob("geoip2fast-*.dist-info"))
    if len(found) == 1:
        return found[0].name[len("geoip2fast-"):-len(".dist-info")]
    import geoip2fast

    return str(getattr(geoip2fast, "__version__", "?"))


def load_tables(*, use_cache: bool = True) -> GeoTables:
    """The range tables (loaded once per process; from the ``.npy`` cache when it is there)."""
    global _tables
    if _tables is None:
        with _lock:
            if _tables is None:
                _tables = _load(use_cache)
    return _tables


def _cache_key(path: Path) -> str:
    st = path.stat()
    return f"{GEO_DATA_FILE}-{_package_version()}-{st.st_size}-{st.st_mtime_ns}-f{_TABLE_FORMAT}"


_ARRAYS = [f"{kind}_v{v}_{part}" for kind in ("country", "name") for v in (4, 6)
           for part in ("first", "last", "label")]


def _load(use_cache: bool) -> GeoTables:
    path = _data_path()
    directory = cache_dir("geo", _cache_key(path))
    if use_cache:
        cached = _read_cache(directory, path)
        if cached is not None:
            return cached
    tables = _from_data_file(path)
    if use_cache:
        _write_cache(directory, tables)
    return tables


def _read_cache(directory: Path, path: Path) -> GeoTables | None:
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        # memory-mapped, read-only: a question about one country touches a few pages of the
        # 27 MB of tables, not all of them (and the page cache shares them between processes)
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                  for name in _ARRAYS}
    except (OSError, ValueError, KeyError):
        return None  # absent or damaged: rebuilt from the data file
    return _assemble(arrays, meta["countries"], meta["names"], meta["source"], str(path))


def _write_cache(directory: Path, tables: GeoTables) -> None:
    """Write the tables atomically (a directory renamed into place); a read-only or full cache
    only costs the next process the rebuild."""
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory.parent))
        for kind in ("country", "name"):
            for v in (4, 6):
                t = tables.table(kind, v)
                for part in ("first", "last", "label"):
                    np.save(tmp / f"{kind}_v{v}_{part}.npy", getattr(t, part), allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps({
            "countries": tables.countries, "names": tables.names, "source": tables.source,
            "package_version": tables.package_version}), encoding="utf-8")
        try:
            os.rename(tmp, directory)
        except OSError:  # another process won the race: keep its copy
            for child in tmp.iterdir():
                child.unlink()
            tmp.rmdir()
    except OSError:
        pass


def _assemble(arrays: dict[str, np.ndarray], countries: list[str], names: list[str], source: str,
              data_file: str) -> GeoTables:
    def table(kind: str, v: int) -> RangeTable:
        return RangeTable(*(arrays[f"{kind}_v{v}_{part}"] for part in ("first", "last", "label")))

    return GeoTables(table("country", 4), table("country", 6), table("name", 4), table("name", 6),
                     list(countries), list(names), source, data_file, _package_version())


def _from_data_file(path: Path) -> GeoTables:
    try:
        with gzip.open(path, "rb") as handle:
            # The wheel's own data file, found in the installed package directory (not user input).
            dat_version, source_info, _count, database = pickle.load(handle)  # noqa: S301
    except (OSError, EOFError, ValueError, pickle.UnpicklingError, TypeError) as exc:
        raise GeoError(f"cannot read geoip2fast data {path}: {exc}") from None
    if dat_version not in _DAT_VERSIONS or not isinstance(source_info, dict) \
            or not (source_info.get("country") and source_info.get("asn")) or len(database) != 10:
        raise GeoError(f"{path}: unsupported geoip2fast data layout (version {dat_version}); "
                       f"transitwatch reads the one of geoip2fast {GEOIP2FAST_VERSION}")
    (_index, _index_asn, country_labels, name_labels, first_ip, first_ip_asn,
     country_ids, name_ids, netlength, netlength_asn) = database
    country_codes = [str(item).split(":")[0] for item in country_labels]
    countries = sorted({c for i, c in enumerate(country_codes) if i >= _PRIVATE_IDS and _CC.fullmatch(c)})
    position = {c: i for i, c in enumerate(countries)}
    country_map = np.array([position.get(c, -1) if i >= _PRIVATE_IDS else -1
                            for i, c in enumerate(country_codes)], dtype=np.int32)
    names = [str(n) for n in name_labels]
    name_map = np.array([-1 if n.strip() in _NOT_A_NAME else i for i, n in enumerate(names)],
                        dtype=np.int32)
    arrays: dict[str, np.ndarray] = {}
    for kind, firsts, lengths, ids, labels in (("country", first_ip, netlength, country_ids, country_map),
                                               ("name", first_ip_asn, netlength_asn, name_ids, name_map)):
        flat_first = [v for chunk in firsts for v in chunk]
        flat_len = [v for chunk in lengths for v in chunk]
        flat_id = [v for chunk in ids for v in chunk]
        if not (len(flat_first) == len(flat_len) == len(flat_id)) or not flat_first:
            raise GeoError(f"{path}: geoip2fast tables have an unexpected layout")
        split = bisect.bisect_left(flat_first, 1 << 32)
        for v, sl in ((4, slice(0, split)), (6, slice(split, None))):
            t = _range_table(flat_first[sl], flat_len[sl], flat_id[sl], labels, v)
            arrays[f"{kind}_v{v}_first"], arrays[f"{kind}_v{v}_last"], arrays[f"{kind}_v{v}_label"] = t
    return _assemble(arrays, countries, names, str(source_info.get("info", "")), str(path))


def _range_table(firsts: list[int], lengths: list[int], ids: list[int], labels: np.ndarray,
                 version: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bits = 32 if version == 4 else 128
    shift = 0 if version == 4 else _V6_SHIFT
    keep = [i for i, n in enumerate(lengths) if version == 4 or n <= 64]
    first = np.array([firsts[i] >> shift for i in keep], dtype=np.uint64)
    last = np.array([(firsts[i] + (1 << (bits - lengths[i])) - 1) >> shift for i in keep], dtype=np.uint64)
    label = labels[np.array([ids[i] for i in keep], dtype=np.int64)] if keep else np.zeros(0, np.int32)
    order = np.argsort(first, kind="stable")
    first, last, label = first[order], last[order], label[order]
    if len(first) > 1:  # the data has (rarely) a block overlapping the next: clip it
        last[:-1] = np.minimum(last[:-1], first[1:] - np.uint64(1))
    return first, last, label.astype(np.int32)


def geo_info() -> dict[str, Any]:
    """What is loaded: package version, data file, MaxMind source and date (``2024-06-18``)."""
    tables = load_tables()
    source = tables.source  # e.g. "MAXMIND:GeoLite2-CountryASN-IPv4IPv6-en-20240618"
    date = source.rsplit("-", 1)[-1] if source[-8:].isdigit() else None
    return {
        "package": "geoip2fast",
        "version": tables.package_version,
        "pinned_version": GEOIP2FAST_VERSION,
        "data_file": tables.data_file,
        "source": source,
        "date": f"{date[:4]}-{date[4:6]}-{date[6:]}" if date else None,
        "ipv6": len(tables.country_v6) > 0,
        "asn_names": len(tables.name_v4) > 0,
    }


# -- prefixes as arrays -------------------------------------------------------------------------
@dataclass(frozen=True)
class PrefixArrays:
    """Prefixes parsed once: IP version (0 = unparsable), prefix length, and first/last value in
    the range tables' units (IPv4 addresses; IPv6 /64s)."""

    version: np.ndarray
    length: np.ndarray
    first: np.ndarray
    last: np.ndarray

    def __len__(self) -> int:
        return len(self.version)


def parse_prefixes(prefixes: Sequence[str]) -> PrefixArrays:
    """Parse CIDR strings in bulk (host bits cleared); malformed ones get version 0. One C pass
    (the snapshot's helper module, inet_pton as :func:`_parse_prefix`); texts it leaves (no
    ``/``, an odd length) go through :func:`_parse_prefix` itself."""
    from transitwatch.state import _table

    texts = prefixes if isinstance(prefixes, list) else list(prefixes)
    try:
        v, ln, f, la, odd = _table.parse_prefixes(texts)
    except TypeError:  # not all str
        return parse_prefixes_python(texts)
    version = np.frombuffer(v, np.int8).copy()
    length = np.frombuffer(ln, np.int16).copy()
    first = np.frombuffer(f, np.uint64).copy()
    last = np.frombuffer(la, np.uint64).copy()
    for i in odd:
        parsed = _parse_prefix(texts[i])
        if parsed is None:
            continue
        ver, value, bits = parsed
        version[i], length[i] = ver, bits
        if ver == 4:
            first[i], last[i] = value, value | ((1 << (32 - bits)) - 1)
        else:
            first[i] = value >> _V6_SHIFT
            last[i] = (value | ((1 << (128 - bits)) - 1)) >> _V6_SHIFT
    return PrefixArrays(version, length, first, last)


def ipv4_arrays(address: np.ndarray, length: np.ndarray) -> PrefixArrays:
    """:class:`PrefixArrays` of IPv4 prefixes given as numbers (address, length; host bits are
    cleared here), with no text to parse."""
    bits = length.astype(np.int64)
    host = (np.int64(1) << (32 - bits)) - 1
    net = address.astype(np.int64) & ~host
    return PrefixArrays(np.full(address.size, 4, np.int8), bits.astype(np.int16), net.astype(np.uint64),
                        (net | host).astype(np.uint64))


def overlapping(arrays: PrefixArrays, cc: str, tables: GeoTables | None = None) -> np.ndarray:
    """Positions of the prefixes that overlap a block of country ``cc``: a superset of those
    :func:`place` puts in ``cc`` (a prefix's majority label covers part of it), found with one
    search per prefix over that country's blocks."""
    tables = tables or load_tables()
    try:
        label = tables.countries.index(cc)
    except ValueError:
        return np.zeros(0, dtype=np.int64)
    found = []
    for version in (4, 6):
        rows = np.flatnonzero(arrays.version == version)
        table = tables.table("country", version)
        if not rows.size or not len(table):
            continue
        mine = table.label == label
        first, last = table.first[mine], table.last[mine]  # sorted, disjoint
        if not first.size:
            continue
        at = np.searchsorted(last, arrays.first[rows], side="left")  # first block ending >= start
        inside = at < first.size
        hit = np.zeros(rows.size, dtype=bool)
        hit[inside] = first[at[inside]] <= arrays.last[rows][inside]
        found.append(rows[hit])
    return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def concat_arrays(*parts: PrefixArrays) -> PrefixArrays:
    return PrefixArrays(*(np.concatenate([getattr(p, f) for p in parts])
                          for f in ("version", "length", "first", "last")))


def parse_prefixes_python(prefixes: Sequence[str]) -> PrefixArrays:
    """:func:`parse_prefixes` in Python and numpy (the reference the C pass is tested against)."""
    n = len(prefixes)
    version = np.zeros(n, dtype=np.int8)
    length = np.zeros(n, dtype=np.int16)
    first = np.zeros(n, dtype=np.uint64)
    last = np.zeros(n, dtype=np.uint64)
    texts = list(prefixes)
    joined = " ".join(texts)
    if ":" not in joined:  # the usual full IPv4 table: no index bookkeeping
        if texts:
            _parse_v4(texts, np.arange(n, dtype=np.int64), version, length, first, last, joined)
        return PrefixArrays(version, length, first, last)
    v6_index = [i for i, p in enumerate(texts) if ":" in p]
    v4_mask = np.ones(n, dtype=bool)
    v4_mask[v6_index] = False
    v4_index = np.nonzero(v4_mask)[0]
    if v4_index.size:
        _parse_v4([texts[i] for i in v4_index.tolist()], v4_index, version, length, first, last)
    for i in v6_index:
        parsed = _parse_prefix(texts[i])
        if parsed is None or parsed[0] != 6:
            continue
        _v, value, bits = parsed
        hi = value >> _V6_SHIFT
        version[i], length[i], first[i] = 6, bits, hi
        last[i] = (value | ((1 << (128 - bits)) - 1)) >> _V6_SHIFT
    return PrefixArrays(version, length, first, last)


def _parse_v4(texts: list[str], index: np.ndarray, version: np.ndarray, length: np.ndarray,
              first: np.ndarray, last: np.ndarray, joined: str | None = None) -> None:
    """Dotted quads in one C-level text parse; any oddity sends the batch to the exact parser."""
    joined = " ".join(texts) if joined is None else joined
    values: np.ndarray | None = None
    if joined.count("/") == len(texts) and joined.count(".") == 3 * len(texts):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                values = np.fromstring(joined.replace(".", " ").replace("/", " "), dtype=np.int64, sep=" ")
            except ValueError:
                values = None
    if values is None or values.size != 5 * len(texts):
        for j, text in enumerate(texts):
            parsed = _parse_prefix(text)
            if parsed is not None and parsed[0] == 4:
                i = index[j]
                version[i], length[i], first[i] = 4, parsed[2], parsed[1]
                last[i] = parsed[1] | ((1 << (32 - parsed[2])) - 1)
        return
    grid = values.reshape(-1, 5)
    ok = ((grid[:, :4] >= 0) & (grid[:, :4] <= 255)).all(axis=1) & (grid[:, 4] >= 0) & (grid[:, 4] <= 32)
    bits = np.where(ok, grid[:, 4], 32)
    address = (grid[:, 0] << 24) | (grid[:, 1] << 16) | (grid[:, 2] << 8) | grid[:, 3]
    host = (np.int64(1) << (32 - bits)) - 1
    net = address & ~host
    sel = index[ok]
    version[sel] = 4
    length[sel] = bits[ok]
    first[sel] = net[ok].astype(np.uint64)
    last[sel] = (net | host)[ok].astype(np.uint64)


# -- bulk placement -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Placement:
    """Per prefix: the majority label index (-1: none) and the share of the prefix it covers."""

    label: np.ndarray
    share: np.ndarray


def _placeable(arrays: PrefixArrays, version: int) -> np.ndarray:
    # A default route or /1-/7 covers the world: no country; nor does IPv6 under ::/96 (it
    # would alias IPv4 space).
    mask = (arrays.version == version) & (arrays.length >= 8)
    if version == 6:
        mask &= arrays.first > 0
    return np.nonzero(mask)[0]


def place(arrays: PrefixArrays, kind: str = "country", tables: GeoTables | None = None) -> Placement:
    """Majority country (``kind="country"``, labels index ``tables.countries``) or organisation
    name (``"name"``, ``tables.names``) of every prefix, in one vectorised pass per IP version."""
    tables = tables or load_tables()
    n = len(arrays)
    label = np.full(n, -1, dtype=np.int32)
    share = np.zeros(n, dtype=np.float64)
    for version in (4, 6):
        rows = _placeable(arrays, version)
        if rows.size:
            lab, weight = _majority(arrays.first[rows], arrays.last[rows], tables.table(kind, version))
            label[rows] = lab
            size = (arrays.last[rows] - arrays.first[rows] + np.uint64(1)).astype(np.float64)
            share[rows] = np.where(lab >= 0, weight / size, 0.0)
    return Placement(label, share)


def _majority(first: np.ndarray, last: np.ndarray, table: RangeTable) -> tuple[np.ndarray, np.ndarray]:
    """(label, covered units) of the label covering most of each ``[first, last]``; ties go to
    the label met first (lowest address), as the per-prefix walk does."""
    n = len(first)
    out_label = np.full(n, -1, dtype=np.int32)
    out_weight = np.zeros(n, dtype=np.float64)
    if not len(table):
        return out_label, out_weight
    # Sorted keys make searchsorted walk the table once instead of jumping around it.
    order = np.argsort(first, kind="stable")
    lo = np.empty(n, dtype=np.int64)
    hi = np.empty(n, dtype=np.int64)
    lo[order] = np.searchsorted(table.last, first[order], side="left")  # first block ending >= first
    hi[order] = np.searchsorted(table.first, last[order], side="right")  # blocks starting <= last
    count = np.maximum(hi - lo, 0)
    single = np.nonzero(count == 1)[0]
    if single.size:
        b = lo[single]
        w = np.minimum(table.last[b], last[single]) - np.maximum(table.first[b], first[single]) + np.uint64(1)
        lab = table.label[b]
        out_label[single] = lab
        out_weight[single] = np.where(lab >= 0, w.astype(np.float64), 0.0)
    multi = np.nonzero(count > 1)[0]
    if multi.size:
        counts = count[multi]
        owner = np.repeat(multi, counts)
        starts = np.cumsum(counts) - counts
        block = lo[owner] + (np.arange(counts.sum()) - np.repeat(starts, counts))
        lab = table.label[block]
        keep = lab >= 0
        owner, block, lab = owner[keep], block[keep], lab[keep]
        if owner.size:
            w = (np.minimum(table.last[block], last[owner]) - np.maximum(table.first[block], first[owner])
                 + np.uint64(1)).astype(np.float64)
            # by prefix, label, address: owner and block come in order, so one stable sort of
            # (owner, label) packed gives lexsort's permutation (~3x cheaper on a full table)
            width = max(int(lab.max()).bit_length(), 1)
            if int(owner.max()).bit_length() + width <= 62:
                order = np.argsort((owner.astype(np.int64) << width) | lab.astype(np.int64), kind="stable")
            else:
                order = np.lexsort((block, lab, owner))
            owner, block, lab, w = owner[order], block[order], lab[order], w[order]
            new = np.ones(owner.size, dtype=bool)
            new[1:] = (owner[1:] != owner[:-1]) | (lab[1:] != lab[:-1])
            starts_g = np.nonzero(new)[0]
            g_owner, g_lab, g_first = owner[starts_g], lab[starts_g], block[starts_g]
            g_weight = np.add.reduceat(w, starts_g)
            pick = np.lexsort((g_first, -g_weight, g_owner))  # heaviest, then lowest address
            g_owner, g_lab, g_weight = g_owner[pick], g_lab[pick], g_weight[pick]
            head = np.ones(g_owner.size, dtype=bool)
            head[1:] = g_owner[1:] != g_owner[:-1]
            out_label[g_owner[head]] = g_lab[head]
            out_weight[g_owner[head]] = g_weight[head]
    return out_label, out_weight


def countries_of(prefixes: Sequence[str]) -> list[str | None]:
    """Majority country of each prefix (bulk; None where the data has none)."""
    tables = load_tables()
    placed = place(parse_prefixes(prefixes), "country", tables)
    codes = tables.countries
    return [codes[i] if i >= 0 else None for i in placed.label.tolist()]


# -- one prefix (the reference path) ---------------------------------------------------------------
def prefix_size(prefix: str) -> int:
    """Number of addresses in a CIDR prefix (0 when malformed), without ipaddress objects."""
    parsed = _parse_prefix(prefix)
    if parsed is None:
        return 0
    return 1 << ((32 if parsed[0] == 4 else 128) - parsed[2])


def country_of_prefix(prefix: str) -> str | None:
    """Majority country of a prefix (cached; see :func:`lookup_prefix`)."""
    return lookup_prefix(prefix).country


@functools.lru_cache(maxsize=1 << 16)
def lookup_prefix(prefix: str) -> PrefixGeo:
    """Majority country and organisation name of one CIDR prefix, by walking the blocks it
    spans (cached). Unknown or unparsable prefixes give ``PrefixGeo(None, None, 0.0)``; private
    and reserved space has no country. :func:`place` gives the same answers in bulk."""
    parsed = _parse_prefix(prefix)
    if parsed is None:
        return PrefixGeo(None, None, 0.0)
    version, value, length = parsed
    bits = 32 if version == 4 else 128
    shift = 0 if version == 4 else _V6_SHIFT
    first = value >> shift
    last = (value | ((1 << (bits - length)) - 1)) >> shift
    if length < 8 or (version == 6 and first == 0):
        return PrefixGeo(None, None, 0.0)
    tables = load_tables()
    cc, cc_weight = _walk(tables.lists[("country", version)], first, last)
    name, _ = _walk(tables.lists[("name", version)], first, last)
    return PrefixGeo(tables.countries[cc] if cc >= 0 else None,
                     tables.names[name] if name >= 0 else None,
                     cc_weight / (last - first + 1) if cc >= 0 else 0.0)


def _walk(table: tuple[list[int], list[int], list[int]], first: int, last: int) -> tuple[int, int]:
    firsts, lasts, labels = table
    weights: dict[int, int] = {}  # insertion order = address order: the tie-break
    i = bisect.bisect_left(lasts, first)
    while i < len(firsts) and firsts[i] <= last:
        if labels[i] >= 0:
            w = min(lasts[i], last) - max(firsts[i], first) + 1
            weights[labels[i]] = weights.get(labels[i], 0) + w
        i += 1
    if not weights:
        return -1, 0
    best = max(weights.values())
    label = next(k for k, w in weights.items() if w == best)
    return label, best


def _parse_prefix(prefix: str) -> tuple[int, int, int] | None:
    """``"1.2.3.0/24"`` -> (4, network as int, 24), host bits cleared; None if malformed.
    (socket's parsers: ipaddress is several times slower.)"""
    address, slash, length_text = prefix.partition("/")
    try:
        if ":" in address:
            version, raw = 6, socket.inet_pton(socket.AF_INET6, address)
        else:
            version, raw = 4, socket.inet_pton(socket.AF_INET, address)
        bits = 32 if version == 4 else 128
        length = int(length_text) if slash else bits
    except (OSError, ValueError):
        return None
    if not 0 <= length <= bits:
        return None
    value = int.from_bytes(raw, "big") >> (bits - length) << (bits - length)
    return version, value, length
