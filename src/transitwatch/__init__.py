"""transitwatch: watch who connects a network or a country to the Internet, from BGP data.

The Python API (the CLI, the HTTP API and ``watch`` call the same functions)::

    import transitwatch
    src = tw.files(paths)              # or tw.archive(collectors, start, end), tw.store(db), tw.live(targets)
    tw.routes(src, origin_asn=131279)            # filtered observations; .to_pandas()
    tw.upstreams("AS131279", src, at="2017-10-01T09:30Z")
    tw.events("AS131279", src, tz="Asia/Pyongyang")
    tw.visibility("KP", src), tw.countries(src), tw.country_upstreams("KP", src)
    tw.relationships(src)                        # AS-Rank inference; tw.load_as_rel(caida_file)
    tw.hegemony("AS131279", src, every="1h")     # dependence on each AS over time
    tw.resilience("AS131279", src, fail=[4837])  # what survives a failure; spof=True
    tw.ingest("history.duckdb", paths)           # keep history; tw.store("history.duckdb") asks it
    tw.coverage(src)                             # what the data covers per collector; its gaps
    tw.export("history.duckdb", "history/")      # Hive-partitioned Parquet; tw.store("history/") too
    tw.watch("AS131279", src, on_event=print)    # events as confirmed; live=True follows RIS Live
    tw.registry_update(at="2017-10-01")          # dated RIR + as2org snapshot; tw.registry_show()

Every answer is a :class:`~transitwatch.results.Result` (``to_dict()``, ``records()``,
``to_arrow()``, ``to_pandas()``); bad input raises :class:`~transitwatch.errors.TransitwatchError`.
Names are loaded on first use, so ``import transitwatch`` stays fast.
"""

from __future__ import annotations

import functools
import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

from transitwatch.errors import TransitwatchError
from transitwatch.observation import ANNOUNCE, RIB, STATE, WITHDRAW, Observation

__version__ = "0.1.0"

# name -> module that defines it (imported on first access: module __getattr__, PEP 562)
_LAZY = {
    "files": "transitwatch.engine.sources",
    "archive": "transitwatch.engine.sources",
    "Source": "transitwatch.engine.sources",
    "routes": "transitwatch.engine.queries",
    "upstreams": "transitwatch.engine.queries",
    "events": "transitwatch.engine.queries",
    "visibility": "transitwatch.engine.queries",
    "countries": "transitwatch.engine.queries",
    "country_upstreams": "transitwatch.engine.queries",
    "country_events": "transitwatch.engine.queries",
    "registry_of": "transitwatch.engine.queries",
    "registry_update": "transitwatch.engine.registry",
    "registry_show": "transitwatch.engine.registry",
    "watch": "transitwatch.engine.watch",
    "fetch": "transitwatch.engine.archives",
    "relationships": "transitwatch.engine.dependence",
    "hegemony": "transitwatch.engine.dependence",
    "resilience": "transitwatch.engine.dependence",
    "load_as_rel": "transitwatch.registry.relationships",
    "ingest": "transitwatch.engine.history",
    "export": "transitwatch.engine.history",
    "coverage": "transitwatch.engine.coverage",
    "Result": "transitwatch.results",
    "parse_time": "transitwatch.times",
    "parse_duration": "transitwatch.times",
}

__all__ = [
    "Observation", "ANNOUNCE", "WITHDRAW", "RIB", "STATE", "TransitwatchError", "__version__",
    # sources
    "files", "archive", "store", "live", "Source",
    # questions
    "routes", "upstreams", "events", "visibility", "countries", "country_upstreams", "country_events",
    # dependence: AS relationships, hegemony, what-if resilience
    "relationships", "hegemony", "resilience", "load_as_rel",
    # history: MRT files into a store, a store out to Parquet for other engines
    "ingest", "export",
    # what the data covers: windows per collector, gaps (a missing file, a feed that was down)
    "coverage",
    # archives: a window's files into the cache
    "fetch",
    # helpers
    "Result", "registry_of", "parse_time", "parse_duration",
    # registry data: names, countries, relationships
    "registry_update", "registry_show",
    # events as they are confirmed: replayed files, RIS Live, alert channels
    "watch",
]

if TYPE_CHECKING:
    from transitwatch.engine.archives import fetch
    from transitwatch.engine.coverage import coverage
    from transitwatch.engine.dependence import hegemony, relationships, resilience
    from transitwatch.engine.history import export, ingest
    from transitwatch.engine.queries import (
        countries,
        country_events,
        country_upstreams,
        events,
        registry_of,
        routes,
        upstreams,
        visibility,
    )
    from transitwatch.engine.registry import registry_show, registry_update
    from transitwatch.engine.sources import Source, archive, files
    from transitwatch.engine.watch import watch
    from transitwatch.registry.relationships import load_as_rel
    from transitwatch.results import Result
    from transitwatch.times import parse_duration, parse_time


class _SourceFactory:
    """``tw.store`` / ``tw.live``: the source constructor of that name, which also stands for the
    subpackage of the same name (``transitwatch.store``, ``transitwatch.live``): calling it makes a
    source, any other attribute is the subpackage's (``tw.store.Store``)."""

    def __init__(self, func: Any, package: str) -> None:
        functools.update_wrapper(self, func)
        self._package = package

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(import_module(self._package), name)

    def __repr__(self) -> str:
        return f"<transitwatch.{self.__name__}: source constructor and package {self._package}>"


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing transitwatch.store / transitwatch.live would replace the constructors with the
        # subpackages; the constructors forward to them instead.
        if isinstance(value, types.ModuleType) and isinstance(self.__dict__.get(name), _SourceFactory):
            return
        super().__setattr__(name, value)


def _factories() -> None:
    from transitwatch.engine import sources  # light: nothing heavy at its top level

    globals()["store"] = _SourceFactory(sources.store, "transitwatch.store")
    globals()["live"] = _SourceFactory(sources.live, "transitwatch.live")


_factories()
sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:
    from transitwatch.engine.sources import live, store


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'transitwatch' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
