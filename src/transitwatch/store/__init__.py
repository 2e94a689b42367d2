"""Persistence: route intervals, sessions, file provenance and events in one DuckDB file.

- :mod:`~transitwatch.store.db`: the schema and :class:`Store` (open/create a database).
- :mod:`~transitwatch.store.ingestion`: :func:`ingest` MRT files (incremental, idempotent, crash-safe).
- :mod:`~transitwatch.store.query`: the questions (upstreams, events, timeline, countries) answered
  from the database with the same result objects as from files.
- :mod:`~transitwatch.store.export`: :func:`export` the tables as Parquet or CSV.
"""

from transitwatch.store.db import Store, StoreError, StoreWriteError, default_db_path, write_failure
from transitwatch.store.ingestion import IngestReport, ingest, refresh_events, watch
from transitwatch.store.query import (
    TargetTooBroad,
    countries_at,
    country_upstreams_at,
    state_at,
    stored_events,
    target_view,
    timeline_of,
    upstream_changes_of,
    upstreams_at,
)

__all__ = [
    "IngestReport",
    "Store",
    "StoreError",
    "StoreWriteError",
    "TargetTooBroad",
    "countries_at",
    "country_upstreams_at",
    "default_db_path",
    "ingest",
    "refresh_events",
    "state_at",
    "stored_events",
    "target_view",
    "timeline_of",
    "upstream_changes_of",
    "upstreams_at",
    "watch",
    "write_failure",
]
