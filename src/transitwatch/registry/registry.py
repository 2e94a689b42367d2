"""The registry facade: one object that answers "which country, which name, which time zone",
with the registry data valid at the data's time.

Sources, best first, and how each answer says where it came from:

* prefix -> country: the geolocation data shipped with geoip2fast (``"geolite2"``), else the RIR
  allocation that holds the prefix (``"rir:apnic"``...) when RIR files are loaded. With
  ``prefix_source="rir"`` the order is reversed. ``place_prefixes`` does a whole table at once.
* AS -> country: the RIR registration (``"rir:apnic"``), else RIPE's ``asn.txt``
  (``"asnames"``), else CAIDA's as2org (``"as2org"``), else the country most of the AS's
  originated address space maps to (``"origins"``, needs the routes: feed them with
  ``add_origins``; IPv4 space decides when the AS originates any, else IPv6).
* AS -> name: AS-level sources only: ``asn.txt`` (``"asnames"``), else as2org (``"as2org"``).
  Who holds an AS's addresses in today's geolocation data is no name for it: when nothing else
  is known it is given as ``name_hint`` with ``name_source`` ``"geolocation-2024"`` (the data's
  year), and ``name`` stays None.
* country -> time zone: tzdata's zone tables.

Dates: ``Registry.load`` sees the "latest" files and every dated snapshot
(``registry update --at``); ``use_time(t)`` switches to the one nearest ``t`` and returns a
:class:`~transitwatch.registry.snapshots.SnapshotChoice` saying which (date, source, distance;
flagged beyond a year), also kept as ``Registry.snapshot``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from transitwatch.registry import geo, timezones
from transitwatch.registry.rir import (
    RegistryFileError,
    RirData,
    default_registry_dir,
    load_registry_dir,
)
from transitwatch.registry.snapshots import (
    FLAG_AFTER_DAYS,
    SnapshotChoice,
    choose,
    days_between,
    list_snapshots,
)

__all__ = ["AsInfo", "Registry", "UnknownCountryError", "normalise_country"]

GEO_SOURCE = "geolite2"
#: prefixes' countries as codes: (labels, names), names[labels[i]] (-1: none), names alphabetical
CountryCodes = tuple[np.ndarray, list[str]]


class UnknownCountryError(ValueError):
    """A country code that is not ISO 3166 alpha-2 (one line, suggests how to find codes)."""


def normalise_country(cc: str) -> str:
    """``"kp"`` -> ``"KP"``; raises :class:`UnknownCountryError` for codes tzdata does not know."""
    code = cc.strip().upper()
    if code not in timezones.known_countries():
        raise UnknownCountryError(
            f"unknown country code {cc!r}: use an ISO 3166 alpha-2 code such as KP, CN or RU")
    return code


@dataclass(frozen=True, slots=True)
class AsInfo:
    """Everything the registry knows about one AS, with the source of each answer.

    ``name`` comes from an AS-level source only; ``name_hint`` (with ``name_source``
    ``"geolocation-YYYY"``) is who holds most of the AS's originated addresses in the bundled
    geolocation data, a clue and not a name."""

    asn: int
    name: str | None
    name_source: str | None
    country: str | None
    country_source: str | None
    name_hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"asn": self.asn, "name": self.name, "name_source": self.name_source,
                "name_hint": self.name_hint, "country": self.country,
                "country_source": self.country_source}


_U32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)


def _pair_range(asn: int) -> np.ndarray:
    """The lowest and highest (asn << 32 | prefix id) key one AS can have."""
    low = np.uint64(asn) << _U32
    return np.array([low, low | _LOW32], dtype=np.uint64)


def _pair_bounds(pairs: np.ndarray, asn: int) -> tuple[int, int]:
    """Where one AS's pairs are in the sorted ``pairs``: ``pairs[lo:hi]``."""
    low, high = _pair_range(asn)
    return int(np.searchsorted(pairs, low)), int(np.searchsorted(pairs, high, side="right"))


class Registry:
    """Countries, names and time zones for prefixes and ASes (see the module docstring).

    ``Registry()`` works offline with the bundled geolocation data only;
    ``Registry.load()`` also reads RIR files from the cache directory if there are any, and
    knows the dated snapshots there (loaded when ``use_time`` picks one).
    """

    def __init__(self, rir: RirData | None = None, *, use_geo: bool = True,
                 prefix_source: str = "geo") -> None:
        if prefix_source not in ("geo", "rir"):
            raise ValueError("prefix_source must be 'geo' or 'rir'")
        self.rir = rir if rir is not None else RirData()
        self.use_geo = use_geo
        self.prefix_source = prefix_source
        self.registry_dir: Path | None = None
        self.snapshot: SnapshotChoice | None = None
        self._latest = self.rir
        self._dated: list[tuple[date, Path]] = []
        self._loaded: dict[Path, RirData] = {}
        self._lock = threading.RLock()
        # Origins as arrays: one global prefix index, (asn, prefix id) pairs in chunks, and each
        # prefix's parse and placement computed once (a full table is ~1M pairs).
        self._prefix_ids: dict[str, int] = {}
        self._prefix_list: Sequence[str] = []
        self._fed_from: Sequence[str] | None = None
        self._pair_chunks: list[np.ndarray] = []
        # asn << 32 | prefix id, unique; unsigned: a 32-bit ASN (4200000000, private) << 32 is
        # past int64 and wrapped to another AS's range
        self._pairs: np.ndarray = np.zeros(0, dtype=np.uint64)
        self._parsed: geo.PrefixArrays | None = None
        self._placed_cc: list[str | None] = []
        #: _placed_cc as geolocation label codes (offline placement: see place_prefixes_coded)
        self._placed_codes: CountryCodes | None = None
        self._some_placed: dict[int, str | None] = {}  # pid -> country, before all are placed
        self._origin_countries: dict[int, str] | None = None
        self._origin_hints: dict[int, str] | None = None  # asn -> hint ("" for none), lazily
        self._as_cache: dict[int, AsInfo] = {}
        self._country_cache: dict[int, tuple[str | None, str | None]] = {}
        self._asked = 0  # origin countries derived one by one since the origins last changed
        self._prefix_cache: dict[str, tuple[str | None, str | None]] = {}

    @classmethod
    def load(cls, registry_dir: Path | None = None, *, use_geo: bool = True,
             prefix_source: str = "geo") -> Registry:
        """Read the RIR files in ``registry_dir`` (default: the XDG cache directory) and list
        its dated snapshots.

        An explicitly given directory that does not exist is an error; the default one may be
        missing (nothing downloaded yet). Unusable files become ``warnings``.
        """
        if registry_dir is not None and not Path(registry_dir).is_dir():
            raise RegistryFileError(f"{registry_dir}: registry directory not found")
        directory = Path(registry_dir) if registry_dir is not None else default_registry_dir()
        registry = cls(load_registry_dir(directory), use_geo=use_geo, prefix_source=prefix_source)
        registry.registry_dir = directory
        registry._dated = list_snapshots(directory)
        return registry

    @property
    def warnings(self) -> list[str]:
        """One-line warnings about stale or partly unreadable registry files."""
        return list(self.rir.warnings)

    # -- dates ----------------------------------------------------------------------------------
    def use_time(self, data_time: float | None) -> SnapshotChoice:
        """Switch to the registry data nearest ``data_time`` (a Unix time; None: the newest) and
        say which it is. Cheap when nothing changes; a dated snapshot is read on first use."""
        with self._lock:
            candidates: list[tuple[date, Any]] = [(d, path) for d, path in self._dated]
            latest_day = _newest_date(self._latest)
            if latest_day is not None:
                candidates.append((latest_day, None))
            picked = choose(candidates, data_time)
            if picked is None:
                data, day, path = self._latest, None, None
            elif picked[1] is None:
                data, day, path = self._latest, picked[0], self.registry_dir
            else:
                day, path = picked
                cached = self._loaded.get(path)
                if cached is None:
                    cached = self._loaded[path] = load_registry_dir(path, dated=True)
                data = cached
            if data is not self.rir:
                self.rir = data
                self._forget()
            days = days_between(data_time, day)
            geo_day = self._geo_date()
            geo_days = days_between(data_time, geo_day)
            self.snapshot = SnapshotChoice(
                date=day, source=_describe_source(data), path=str(path) if path else None,
                data_time=data_time, days_from_data=days,
                flagged=day is None or (days is not None and abs(days) > FLAG_AFTER_DAYS),
                geolocation_date=geo_day, geolocation_days=geo_days,
                geolocation_flagged=geo_days is not None and abs(geo_days) > FLAG_AFTER_DAYS,
            )
            return self.snapshot

    @contextmanager
    def pinned(self, data_time: float | None) -> Iterator[SnapshotChoice]:
        """``use_time(data_time)`` held for the duration of a computation: another thread asking
        for another date waits instead of switching the data under it (a served API answers
        several dates; this registry is shared)."""
        with self._lock:
            yield self.use_time(data_time)

    def snapshot_info(self) -> SnapshotChoice:
        """The current choice (``use_time(None)`` when no time was given yet)."""
        return self.snapshot if self.snapshot is not None else self.use_time(None)

    def _geo_date(self) -> date | None:
        if not self.use_geo:
            return None
        try:
            text = geo.geo_info()["date"]
        except geo.GeoError:
            return None
        return date.fromisoformat(text) if text else None

    def _forget(self) -> None:
        self._as_cache.clear()
        self._country_cache.clear()
        self._prefix_cache.clear()
        self._origin_countries = None
        self._placed_cc = []  # placements may use the RIR data that just changed
        self._placed_codes = None
        self._some_placed = {}
        self._parsed = None

    # -- prefixes ---------------------------------------------------------------------------
    def country_of_prefix(self, prefix: str) -> tuple[str | None, str | None]:
        """``(country, source)`` of a prefix: ``("KP", "geolite2")``, ``("CN", "rir:apnic")``,
        or ``(None, None)`` when no loaded source knows it (cached; the per-prefix path)."""
        known = self._prefix_cache.get(prefix)
        if known is not None:
            return known
        answer: tuple[str | None, str | None] = (None, None)
        order = ("geo", "rir") if self.prefix_source == "geo" else ("rir", "geo")
        for source in order:
            if source == "geo" and self.use_geo:
                found = geo.lookup_prefix(prefix)
                if found.country:
                    answer = (found.country, GEO_SOURCE)
                    break
            elif source == "rir" and self.rir:
                hit = self.rir.country_of_prefix(prefix)
                if hit:
                    answer = (hit[0], f"rir:{hit[1]}")
                    break
        self._prefix_cache[prefix] = answer
        return answer

    def place_prefixes(self, prefixes: Sequence[str],
                       parsed: geo.PrefixArrays | None = None) -> tuple[list[str | None], list[str | None]]:
        """Bulk :meth:`country_of_prefix`: (countries, sources), one vectorised pass over the
        range tables for the whole list (same answers, tested against the per-prefix path).
        ``parsed``: the prefixes already parsed (``prefixes`` is then not read)."""
        countries, sources, _ = self.place_prefixes_coded(prefixes, parsed)
        return countries, sources

    def place_prefixes_coded(self, prefixes: Sequence[str], parsed: geo.PrefixArrays | None = None
                             ) -> tuple[list[str | None], list[str | None], CountryCodes | None]:
        """:meth:`place_prefixes`, and when geolocation alone placed them (offline) the same
        countries as codes: ``(labels, names)``, ``names[labels[i]]`` the country of prefix ``i``
        (-1: none), ``names`` alphabetical. Bulk steps over a whole table then need no Python
        step per prefix to code the texts again."""
        arrays = parsed if parsed is not None else geo.parse_prefixes(prefixes)
        n = len(arrays)
        countries: list[str | None] = [None] * n
        sources: list[str | None] = [None] * n
        geo_cc: list[str | None] = [None] * n
        if self.use_geo:
            tables = geo.load_tables()
            codes = tables.countries
            labels = geo.place(arrays, "country", tables).label
            # label -> code through an object array (one C pass, not a Python step per prefix)
            by_label = np.array([*codes, None], dtype=object)
            geo_cc = by_label[np.where(labels >= 0, labels, len(codes))].tolist()
            if not self.rir:  # offline: the geolocation answer is the answer
                source_of = np.array([None, GEO_SOURCE], dtype=object)
                return geo_cc, source_of[(labels >= 0).astype(np.int8)].tolist(), (labels, codes)
        if not self.rir:
            return geo_cc, [GEO_SOURCE if c is not None else None for c in geo_cc], None
        rir_hits = self.rir.place(arrays.version, arrays.first)
        geo_first = self.prefix_source == "geo"
        for i in range(n):
            g, r = geo_cc[i], rir_hits[i]
            if g is not None and (geo_first or r is None):
                countries[i], sources[i] = g, GEO_SOURCE
            elif r is not None:
                countries[i], sources[i] = r[0], f"rir:{r[1]}"
        return countries, sources, None

    # -- ASes -------------------------------------------------------------------------------
    def add_origins(self, pairs: Iterable[tuple[int, str]]) -> None:
        """Feed ``(origin AS, prefix)`` pairs seen in routes; AS countries that no registry file
        gives are derived from them (majority by address space), and name hints."""
        ids = self._ids()
        own = self._own_prefix_list()
        asns: list[int] = []
        pids: list[int] = []
        for asn, prefix in pairs:
            pid = ids.get(prefix)
            if pid is None:
                pid = ids[prefix] = len(ids)
                own.append(prefix)
            asns.append(asn)
            pids.append(pid)
        if asns:
            self._add_pairs(np.array(asns, dtype=np.int64), np.array(pids, dtype=np.int64))

    def add_origin_ids(self, asns: np.ndarray, pids: np.ndarray, prefixes: Sequence[str],
                       prefix_ids: dict[str, int] | None = None, parsed: geo.PrefixArrays | None = None,
                       countries: list[str | None] | None = None,
                       codes: CountryCodes | None = None) -> None:
        """Bulk :meth:`add_origins`: ``asns[i]`` originates ``prefixes[pids[i]]``
        (``prefix_ids`` maps each prefix to its position; None: built when a later feed needs
        it). The first feed adopts the caller's index as is (and ``parsed``/``countries``, the
        caller's ``place_prefixes`` of them); later ones are translated."""
        if not self._prefix_list:
            self._prefix_ids, self._prefix_list = prefix_ids or {}, prefixes
            self._fed_from = prefixes  # (the list may be copied to extend it: positions stay)
            if parsed is not None and len(parsed) == len(prefixes):
                self._parsed = parsed
                if countries is not None and len(countries) == len(prefixes):
                    self._placed_cc = list(countries)
                    if codes is not None and len(codes[0]) == len(prefixes):
                        self._placed_codes = codes
        elif prefixes is not self._prefix_list and prefixes is not self._fed_from:
            ids = self._ids()
            own = self._own_prefix_list()
            mapping = np.empty(len(prefixes), dtype=np.int64)
            for i, prefix in enumerate(prefixes):
                pid = ids.get(prefix)
                if pid is None:
                    pid = ids[prefix] = len(ids)
                    own.append(prefix)
                mapping[i] = pid
            pids = mapping[pids]
        self._add_pairs(np.asarray(asns, dtype=np.int64), np.asarray(pids, dtype=np.int64))

    def _own_prefix_list(self) -> list[str]:
        """The fed prefixes as a list of the registry's own, to extend (the first feed's may be
        the caller's, or a snapshot's texts formatted on demand)."""
        if self._prefix_list.__class__ is not list:
            self._prefix_list = list(self._prefix_list)
        return self._prefix_list  # type: ignore[return-value]

    def _ids(self) -> dict[str, int]:
        """prefix -> position in ``_prefix_list`` (built once when the first feed gave none)."""
        if len(self._prefix_ids) < len(self._prefix_list):
            self._prefix_ids = dict(zip(self._prefix_list, range(len(self._prefix_list)), strict=True))
        return self._prefix_ids

    def _add_pairs(self, asns: np.ndarray, pids: np.ndarray) -> None:
        with self._lock:
            self._pair_chunks.append((asns.astype(np.uint64) << _U32) | pids.astype(np.uint64))
            self._as_cache.clear()
            self._country_cache.clear()
            self._asked = 0
            self._origin_countries = None
            self._origin_hints = None

    def _origin_pairs(self) -> np.ndarray:
        if self._pair_chunks:
            merged = np.sort(np.concatenate([self._pairs, *self._pair_chunks]))
            keep = np.ones(merged.size, dtype=bool)
            keep[1:] = merged[1:] != merged[:-1]
            self._pairs = merged[keep]
            self._pair_chunks = []
        return self._pairs

    def _parsed_all(self) -> geo.PrefixArrays:
        """Every fed prefix parsed (only the new ones are computed)."""
        total = len(self._prefix_list)
        have = len(self._parsed) if self._parsed is not None else 0
        if self._parsed is None or have < total:
            parsed = geo.parse_prefixes(self._prefix_list[have:total])
            self._parsed = (parsed if self._parsed is None or have == 0
                            else geo.concat_arrays(self._parsed, parsed))
        return self._parsed

    def _origin_prefixes(self) -> tuple[geo.PrefixArrays, list[str | None]]:
        """Every fed prefix parsed and placed (only the new ones are computed)."""
        parsed = self._parsed_all()
        done = len(self._placed_cc)
        total = len(self._prefix_list)
        if done < total:
            countries, _ = self.place_prefixes((), _rows(parsed, slice(done, total)))
            self._placed_cc.extend(countries)
        return parsed, self._placed_cc

    def _countries_of(self, pids: np.ndarray) -> list[str | None]:
        """The placed country of some fed prefixes: from the full placement when it is done,
        else these alone (one AS's prefixes: a country view asks a few ASes, and placing the
        whole table for them is most of its cost)."""
        if len(self._placed_cc) >= len(self._prefix_list):
            placed = self._placed_cc
            return [placed[i] for i in pids.tolist()]
        cache = self._some_placed
        missing = sorted({p for p in pids.tolist() if p not in cache})
        if missing:
            rows = np.array(missing, dtype=np.int64)
            # the parsed rows are what is placed: no texts needed (a snapshot formats them on read)
            countries, _ = self.place_prefixes((), _rows(self._parsed_all(), rows))
            cache.update(zip(missing, countries, strict=True))
        return [cache[p] for p in pids.tolist()]

    def has_origins(self, asn: int) -> bool:
        pairs = self._origin_pairs()
        lo = np.searchsorted(pairs, _pair_range(asn)[0])
        return bool(lo < len(pairs) and (int(pairs[lo]) >> 32) == asn)

    def prefixes_of(self, asn: int) -> frozenset[str]:
        """The prefixes fed with ``add_origins`` for this AS."""
        pairs = self._origin_pairs()
        lo, hi = _pair_bounds(pairs, asn)
        return frozenset(self._prefix_list[int(p) & 0xFFFFFFFF] for p in pairs[lo:hi].tolist())

    def as_info(self, asn: int) -> AsInfo:
        """Name and country of an AS, each with its source (cached)."""
        cached = self._as_cache.get(asn)
        if cached is not None:
            return cached
        name = name_source = hint = None
        country, country_source = self._country_of_asn(asn)
        listed = self.rir.as_names.get(asn)
        if listed:
            name, name_source = listed[0], "asnames"
        org = self.rir.as_orgs.get(asn)
        if org and name is None:
            name, name_source = org[0], "as2org"
        if name is None and self.use_geo:
            hint = self._hint_for(asn)
            if hint:
                name_source = self._hint_source()
        info = AsInfo(asn, name, name_source, country, country_source, hint)
        self._as_cache[asn] = info
        return info

    def as_name(self, asn: int) -> str | None:
        return self.as_info(asn).name

    def as_country(self, asn: int) -> str | None:
        """The AS's country (the cheap part of :meth:`as_info`: every AS on every path asks)."""
        cached = self._as_cache.get(asn)
        if cached is not None:
            return cached.country
        known = self._country_cache.get(asn)
        if known is None:
            known = self._country_cache[asn] = self._country_of_asn(asn)
        return known[0]

    def as_countries(self, asns: Iterable[int]) -> list[str | None]:
        """:meth:`as_country` of each (the ranking asks for every AS of the table): the ones
        derived from origins in one bulk pass."""
        out: list[str | None] = []
        derived: dict[int, str] | None = None
        rir = self.rir
        registered = rir.country_of_asn if rir else None
        names, orgs = rir.as_names, rir.as_orgs
        as_cache, country_cache = self._as_cache, self._country_cache
        if registered is None and not names and not orgs and not as_cache:
            # offline (no registry file): the country derived from origins is the answer (and
            # as_country finds it there too: nothing to cache per AS)
            derived = self._derived_countries()
            return list(map(derived.get, asns))
        for asn in asns:
            cached = as_cache.get(asn)
            if cached is not None:
                out.append(cached.country)
                continue
            known = country_cache.get(asn)
            if known is None:
                # _country_of_asn inlined (every AS of a full table comes here once)
                found = registered(asn) if registered is not None else None
                listed = org = None
                if found:
                    known = found[0], f"rir:{found[1]}"
                elif listed := names.get(asn):
                    known = listed[1], "asnames"
                elif (org := orgs.get(asn)) and org[1]:
                    known = org[1], "as2org"
                else:
                    if derived is None:
                        derived = self._derived_countries()
                    d = derived.get(asn)
                    known = (d, "origins") if d else (None, None)
                country_cache[asn] = known
            out.append(known[0])
        return out

    def _country_of_asn(self, asn: int) -> tuple[str | None, str | None]:
        registered = self.rir.country_of_asn(asn) if self.rir else None
        if registered:
            return registered[0], f"rir:{registered[1]}"
        listed = self.rir.as_names.get(asn)
        if listed:
            return listed[1], "asnames"
        org = self.rir.as_orgs.get(asn)
        if org and org[1]:
            return org[1], "as2org"
        derived = self._derived_country(asn)
        return (derived, "origins") if derived else (None, None)

    #: ASes whose origin country is derived one by one before the bulk pass pays off (a country
    #: view asks for the few ASes on its paths; the ranking for every AS of the table)
    _ONE_BY_ONE = 64

    def _derived_country(self, asn: int) -> str | None:
        with self._lock:
            if self._origin_countries is None and self._asked < self._ONE_BY_ONE:
                self._asked += 1
                pairs = self._origin_pairs()
                lo, hi = _pair_bounds(pairs, asn)
                if hi <= lo:
                    return None
                mine = pairs[lo:hi]
                pids = (mine & _LOW32).astype(np.int64)
                own = _rows(self._parsed_all(), pids)
                owner = (mine >> _U32).astype(np.int64)
                return _majority_by_asn(owner, np.arange(pids.size, dtype=np.int64), own,
                                        self._countries_of(pids)).get(asn)
            return self._derived_countries().get(asn)

    def _hint_source(self) -> str:
        day = self._geo_date()
        return f"geolocation-{day.year}" if day else "geolocation"

    def _derived_countries(self) -> dict[int, str]:
        """Every fed AS's majority country by originated address space, in one bulk pass
        (IPv4 space decides when the AS has any placed IPv4 prefix; ties: alphabetical)."""
        with self._lock:
            if self._origin_countries is None:
                pairs = self._origin_pairs()
                parsed, ccs = self._origin_prefixes()
                coded = self._placed_codes
                if coded is not None and len(coded[0]) != len(ccs):
                    coded = None  # prefixes were fed since: their texts answer
                owners = (pairs >> _U32).astype(np.int64)
                self._origin_countries = _majority_by_asn(owners, (pairs & _LOW32).astype(np.int64), parsed,
                                                          ccs, coded)
            return self._origin_countries

    def prefetch_hints(self, asns: Iterable[int]) -> None:
        """The name hints of many ASes in one bulk pass (what :meth:`as_info` would find one by
        one: each AS's own originated prefixes, placed in the geolocation names table)."""
        if not self.use_geo:
            return
        with self._lock:
            if self._origin_hints is None:
                self._origin_hints = {}
            known = self._origin_hints
            todo = sorted({a for a in asns if a not in known and a not in self._as_cache})
            if not todo:
                return
            pairs = self._origin_pairs()
            wanted = np.array(todo, dtype=np.int64)
            lo = np.searchsorted(pairs, wanted.astype(np.uint64) << _U32)
            counts = np.searchsorted(pairs, (wanted.astype(np.uint64) << _U32) | _LOW32, side="right") - lo
            hints: dict[int, str] = {}
            total = int(counts.sum())
            if total:
                owner = np.repeat(wanted, counts)
                first = np.repeat(lo - (np.cumsum(counts) - counts), counts)
                pids = (pairs[first + np.arange(total)] & _LOW32).astype(np.int64)
                parsed = self._parsed_all()
                mine = geo.PrefixArrays(parsed.version[pids], parsed.length[pids], parsed.first[pids],
                                        parsed.last[pids])
                tables = geo.load_tables()
                labels = geo.place(mine, "name", tables).label
                names = np.array([*tables.names, None], dtype=object)[
                    np.where(labels >= 0, labels, len(tables.names))].tolist()
                hints = _majority_by_asn(owner, np.arange(total, dtype=np.int64), mine, names)
            for asn in todo:
                known[asn] = hints.get(asn) or ""

    def _hint_for(self, asn: int) -> str | None:
        """The AS's majority geolocation organisation name (the hint), from its own originated
        prefixes only (hints are asked for the few ASes shown, not for every AS)."""
        with self._lock:
            if self._origin_hints is None:
                self._origin_hints = {}
            if asn in self._origin_hints:
                return self._origin_hints[asn] or None
            pairs = self._origin_pairs()
            lo, hi = _pair_bounds(pairs, asn)
            hint: str | None = None
            if hi > lo:
                parsed = self._parsed_all()
                pids = (pairs[lo:hi] & _LOW32).astype(np.int64)
                mine = geo.PrefixArrays(parsed.version[pids], parsed.length[pids], parsed.first[pids],
                                        parsed.last[pids])
                tables = geo.load_tables()
                labels = geo.place(mine, "name", tables).label.tolist()
                names = [tables.names[i] if i >= 0 else None for i in labels]
                hint = _majority_by_asn(np.full(len(names), asn, dtype=np.int64),
                                        np.arange(len(names), dtype=np.int64), mine, names).get(asn)
            self._origin_hints[asn] = hint or ""
            return hint

    # -- countries --------------------------------------------------------------------------
    @staticmethod
    def timezone_of(cc: str) -> ZoneInfo | None:
        """The country's main IANA zone (``KP`` -> ``Asia/Pyongyang``)."""
        return timezones.timezone_of(cc)

    @staticmethod
    def country_name(cc: str) -> str | None:
        return timezones.country_name(cc)

    def describe(self) -> dict[str, Any]:
        """What is loaded, for ``transitwatch registry show``: sources, dates, ages, warnings,
        and the dated snapshots available."""
        info: dict[str, Any] = {
            "registry_dir": str(self.registry_dir) if self.registry_dir else None,
            "prefix_source": self.prefix_source,
            "geolocation": None,
            "rir_files": [f.to_dict() for f in self._latest.files],
            "rir_counts": self._latest.counts(),
            "snapshots": [{"date": d.isoformat(), "path": str(p)} for d, p in self._dated],
            "warnings": list(self._latest.warnings),
        }
        if self.use_geo:
            try:
                info["geolocation"] = geo.geo_info()
            except geo.GeoError as exc:
                info["warnings"].append(str(exc))
        return info


def _newest_date(data: RirData) -> date | None:
    days = [f.data_date for f in data.files if f.data_date is not None]
    return max(days) if days else None


def _describe_source(data: RirData) -> str:
    kinds = {f.kind for f in data.files}
    parts = [label for kind, label in (("delegated", "rir"), ("asnames", "asnames"), ("as2org", "as2org"))
             if kind in kinds]
    return "+".join(parts) if parts else "none"


def _rows(arrays: geo.PrefixArrays, rows: np.ndarray | slice) -> geo.PrefixArrays:
    return geo.PrefixArrays(arrays.version[rows], arrays.length[rows], arrays.first[rows], arrays.last[rows])


def _majority_by_asn(asn: np.ndarray, pos: np.ndarray, parsed: geo.PrefixArrays,
                     labels: list[str | None], coded: CountryCodes | None = None
                     ) -> dict[int, str]:
    """Per AS, the label whose prefixes cover most of its originated space: IPv4 addresses when
    it has any labelled IPv4 prefix, else IPv6 /64s; ties go to the alphabetically first.
    ``coded``: the same labels as codes into an alphabetical list of distinct names."""
    if not asn.size:
        return {}
    if coded is not None:
        values = coded[1]
        lab = coded[0].astype(np.int64)[pos]
    elif pos.size * 4 < len(labels):
        sub = [labels[i] for i in pos.tolist()]  # only the pairs asked about (one AS)
        values = sorted({x for x in sub if x is not None})
        code: dict[str | None, int] = {v: i for i, v in enumerate(values)}
        code[None] = -1
        lab = np.fromiter(map(code.__getitem__, sub), np.int64, len(sub))
    else:  # every AS: code each label once, pick by position (same codes order: alphabetical)
        values = sorted(x for x in set(labels) if x is not None)
        code = {v: i for i, v in enumerate(values)}
        code[None] = -1
        lab = np.fromiter(map(code.__getitem__, labels), np.int64, len(labels))[pos]
    keep = lab >= 0
    a, lab, p = asn[keep], lab[keep], pos[keep]
    if not a.size:
        return {}
    fam = (parsed.version[p] != 4).astype(np.int64)  # 0: IPv4 first
    w = (parsed.last[p] - parsed.first[p] + np.uint64(1)).astype(np.float64)
    if a.min() >= 0 and a.max() < 1 << 32 and len(values) < 1 << 20:
        # one stable sort on one packed key (AS, family, label): the lexsort's order, cheaper
        packed = (a << 21) | (fam << 20) | lab
        order = np.argsort(packed, kind="stable")
        packed = packed[order]
        new = np.ones(a.size, dtype=bool)
        new[1:] = packed[1:] != packed[:-1]
    else:
        order = np.lexsort((lab, fam, a))
        new = np.ones(a.size, dtype=bool)
        new[1:] = ((a[order][1:] != a[order][:-1]) | (fam[order][1:] != fam[order][:-1])
                   | (lab[order][1:] != lab[order][:-1]))
    a, fam, lab, w = a[order], fam[order], lab[order], w[order]
    starts = np.nonzero(new)[0]
    ga, gf, gl, gw = a[starts], fam[starts], lab[starts], np.add.reduceat(w, starts)
    pick = _best_groups(ga, gf, gw)
    return {int(x): values[y] for x, y in zip(ga[pick].tolist(), gl[pick].tolist(), strict=True)}


def _best_groups(ga: np.ndarray, gf: np.ndarray, gw: np.ndarray) -> np.ndarray:
    """Per AS, the position of its chosen group among groups sorted by (AS, family, label): the
    lowest family, then the largest weight, then the lowest label; what the head of
    ``np.lexsort((gl, -gw, gf, ga))`` per AS is, with no sort (the groups are in order)."""
    if not ga.size:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(ga.size, dtype=bool)
    new[1:] = ga[1:] != ga[:-1]
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, ga.size))
    eligible = gf == np.repeat(gf[starts], counts)  # the AS's lowest family
    score = np.where(eligible, gw, -np.inf)
    best = np.repeat(np.maximum.reduceat(score, starts), counts)
    hits = np.flatnonzero(eligible & (score == best))  # ties: the first is the lowest label
    first = np.ones(hits.size, dtype=bool)
    first[1:] = ga[hits[1:]] != ga[hits[:-1]]
    return hits[first]
