"""Response schemas for the OpenAPI document (``/openapi.json``, ``/docs``): the documented keys of
each answer. Answers are built as dicts (the ``--json`` shapes); these models describe them and
allow the extra keys some answers carry."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CountriesAnswer", "EventsAnswer", "SummaryAnswer", "TimelineAnswer", "UpstreamsAnswer"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Upstream(_Open):
    asn: int
    peers: int = Field(description="vantage points that see the target through this upstream")
    share: float = Field(description="their share of the peers that see the target")
    prefixes: list[str] = Field(default_factory=list)


class UpstreamsAnswer(_Open):
    target: str
    time: str | None = Field(None, description="the moment answered about (UTC)")
    upstreams: list[Upstream] = Field(default_factory=list)
    names: dict[str, Any] = Field(default_factory=dict, description="AS number -> name and country")
    timezone_used: str | None = None


class TimelineAnswer(_Open):
    target: str
    buckets: list[Any] = Field(default_factory=list, description="bucket start times (UTC)")
    rows: dict[str, list[int]] = Field(default_factory=dict,
                                       description="upstream AS -> peers seeing the target through it, "
                                                   "per bucket")
    names: dict[str, Any] = Field(default_factory=dict)
    timezone_used: str | None = None


class Event(_Open):
    type: str = Field(description="new_upstream, lost_upstream, outage, partial_outage, origin_change, "
                                  "more_specific, vantage_point_lost")
    onset: str
    end: str | None = None


class EventsAnswer(_Open):
    target: str | None = None
    events: list[Event] = Field(default_factory=list)
    total: int
    limit: int
    offset: int
    timezone_used: str | None = None


class SummaryAnswer(_Open):
    files: int
    observations: int
    first_time: float | None = Field(None, description="epoch seconds")
    last_time: float | None = Field(None, description="epoch seconds")
    collectors: list[str] = Field(default_factory=list)
    peers: int
    route_intervals: int
    watched: list[str] = Field(default_factory=list)
    events: int


class CountryRow(_Open):
    country: str
    name: str | None = None
    upstreams: int
    top_upstream: int | None = None
    top_share: float
    hhi: float = Field(description="Herfindahl index of the upstreams' shares (1: one upstream)")


class CountriesAnswer(_Open):
    countries: list[CountryRow] = Field(default_factory=list)
    total: int
    limit: int
    offset: int
