"""The Python API of "who really carries whom": relationships, hegemony, resilience.

>>> import transitwatch as tw
>>> rels = tw.relationships(["rib.20151023.gz"])                  # doctest: +SKIP
>>> rels.to_pandas().head()                                      # doctest: +SKIP
>>> tw.hegemony("AS131279", files, every="1h").to_pandas()        # doctest: +SKIP
>>> tw.resilience("AS131279", files, fail=[4837]).reachable_share  # doctest: +SKIP

Inputs are MRT file paths (or any iterable of :class:`~transitwatch.observation.Observation`);
relationships come from ``as_rel`` (a CAIDA file, or a :class:`Relationships` already loaded)
or, when not given, are inferred from the same input; every answer names its source. Bad input
raises :class:`~transitwatch.errors.TransitwatchError` with one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from transitwatch.engine.queries import _country_code, _country_view, _user_errors, registry_of
from transitwatch.engine.queries import target_view as queries_target_view
from transitwatch.engine.sources import Source, StoreSource, as_source, parse_target
from transitwatch.errors import TransitwatchError
from transitwatch.metrics.asrank import InferenceStats, PathSet, PathTally, infer_relationships
from transitwatch.metrics.hegemony import HegemonyScore, hegemony_at, target_routes_at
from transitwatch.metrics.resilience import (
    MODELS,
    Outcome,
    asns_on,
    observed_outcome,
    valley_free_outcome,
)
from transitwatch.observation import Observation
from transitwatch.registry.relationships import Relationships, date_from_name, load_as_rel
from transitwatch.results import Result, utc_datetime
from transitwatch.state.aspath import ASPathError, parse_asn
from transitwatch.state.target import Target
from transitwatch.state.view import TargetView
from transitwatch.times import iso_utc, parse_time, positive_duration

__all__ = [
    "HegemonyResult", "RelationshipsResult", "ResilienceResult", "hegemony", "relationships",
    "resilience", "relationships_for", "target_view_of",
]

Inputs = Any   # a Source (tw.files, tw.archive, tw.store), a path or a list of paths
NameOf = Callable[[int], str | None]


# -- inputs ----------------------------------------------------------------------------------------
def _source(src: Inputs) -> Source:
    if isinstance(src, list | tuple) and not src:
        raise TransitwatchError("no input files given")
    return as_source(src)


def _file_names(source: Source) -> list[str]:
    try:
        return source.paths()
    except TransitwatchError:
        return []


def _time(value: str | float | None) -> float | None:
    return None if value is None or value == "" else parse_time(value)


def target_view_of(
    target: Target | str | int | None, src: Inputs, *, at: float | None = None, country: str | None = None,
    registry: Any = None, progress: Any = None,
) -> TargetView:
    """The target's (or the country's) routes over time, up to ``at``."""
    source = _source(src)
    if country and isinstance(source, StoreSource):
        return _country_view(_country_code(country), source, registry_of(registry))  # as events --country
    if country:
        from transitwatch.metrics.country import country_view

        cc = _country_code(country)
        reg = registry_of(registry)
        notices: list[str] = []
        with _user_errors():
            stream = source.observations(notices=notices, progress=progress)
            view = country_view(cc, stream, reg, until=at, notices=notices)
        if view.coverage is None:
            # what the files cover, as a target's view has: "no data covers T" is then said from
            # the files, not from the country's own first and last route
            cov = getattr(stream, "coverage", None)
            view.coverage = cov.settle(at) if cov is not None and at is not None else cov
        return view
    # With the decoder's route filter, a file's "no observations" means no route of the target;
    # the notices keep one per file (the command line prints them as one line).
    return queries_target_view(parse_target(target), source, until=at, filtered=True, progress=progress)


def relationships_for(as_rel: Relationships | str | os.PathLike[str] | None, source: Inputs | None,
                      **infer: Any) -> tuple[Relationships, InferenceStats | None]:
    """``as_rel`` loaded (a CAIDA file) or given, else inferred from ``source`` (``until=T``: from
    the observations up to T only, so that a later link does not answer for an earlier moment)."""
    if isinstance(as_rel, Relationships):
        return as_rel, None
    if as_rel is not None:
        return load_as_rel(as_rel), None
    if source is None:
        raise TransitwatchError("no AS relationships: give --as-rel FILE or route files to infer them from")
    return _infer(source, **infer)


_CACHE: dict[tuple[Any, ...], tuple[Relationships, InferenceStats]] = {}


def relationship_context(
    as_rel: Relationships | str | os.PathLike[str] | None, src: Inputs, until: float | None = None,
    focus: Iterable[int] | None = None, observed: PathTally | None = None, notices: list[str] | None = None,
) -> tuple[Relationships | None, dict[str, Any]]:
    """The relationships that answer for ``src`` at ``until`` (``as_rel``, else inferred from the
    input up to ``until``, cached per files and moment) and a description of their source for
    the output. A source without MRT files (a database) gives ``(None, {"source": None, ...})``.
    ``focus``: the ASNs whose links are asked about (inference walks only their paths after
    ranking every AS; see :func:`~transitwatch.metrics.asrank.infer_relationships`).
    ``observed``: the paths already counted while the caller read the same input up to ``until``
    (:meth:`PathSet.tally`), with that read's ``notices``: the inference then reads nothing again."""
    if as_rel is not None:
        rels, _ = relationships_for(as_rel, None)
        try:
            named = _file_names(_source(src))
        except TransitwatchError:
            named = []
        return _with_organisations(rels, rels.describe(), _data_time(named, until))
    source = _source(src)
    paths = _file_names(source)
    when = _data_time(paths, until)   # read once: the fetched CAIDA file and as2org both ask
    fetched = _fetched_as_rel(when)
    if fetched is not None:
        return _with_organisations(*fetched, when)
    if not paths:
        return None, {"source": None,
                      "note": "no relationships: none are inferred from a database (give --as-rel FILE)"}
    try:
        key: tuple[Any, ...] = (tuple(paths), tuple(os.path.getmtime(p) for p in paths), until,
                                tuple(sorted(focus)) if focus is not None else None)
    except OSError:
        key = ()
    if key and key in _CACHE:
        rels = _CACHE[key][0]
    else:
        try:
            given = observed.pathset() if observed is not None and observed.complete else None
            rels, stats = _infer(source, until=until, confidence=False, focus=focus, pathset=given,
                                 read_notices=notices)
        except TransitwatchError as exc:
            return None, {"source": None, "note": str(exc)}
        if key:
            _remember(_CACHE, key, (rels, stats))
    return _with_organisations(rels, rels.describe(), when)


def _data_time(paths: list[str], until: float | None) -> float | None:
    """The moment registry data is chosen for: ``until``, else the first record of the input."""
    if until is not None or not paths:
        return until
    from transitwatch.sources.mrt import first_record_time

    try:
        return first_record_time(paths[0])
    except (OSError, ValueError):
        return None


_SIBLINGS: dict[tuple[int, str], tuple[Relationships, Relationships]] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any, size: int = 4) -> None:
    """``cache[key] = value``, dropping the oldest entry first when ``size`` are held."""
    if len(cache) >= size:
        cache.pop(next(iter(cache)))
    cache[key] = value


def _with_organisations(rels: Relationships, info: dict[str, Any],
                        when: float | None) -> tuple[Relationships, dict[str, Any]]:
    """``rels`` with the links between ASes of one organisation as siblings, from the as2org file
    of the registry nearest the data's time ``when`` (:func:`_data_time`), when there is one
    within a year; unchanged otherwise. ``info`` then says where siblings came from."""
    from transitwatch.registry import default_registry_dir
    from transitwatch.registry.organisations import organisations_at

    try:
        orgs = organisations_at(default_registry_dir(), when)
    except OSError:
        orgs = None
    if orgs is None:
        return rels, info
    key = (id(rels), orgs.path)
    cached = _SIBLINGS.get(key)
    if cached is not None and cached[0] is rels:   # (the original is held: its id is not reused)
        out = cached[1]
    else:
        out = rels.with_siblings(orgs.org_of, orgs.label)
        _remember(_SIBLINGS, key, (rels, out))
    return out, {**info, "siblings": out.siblings_from}


def fetched_relationships(when: float | None) -> tuple[Relationships | None, dict[str, Any]]:
    """The CAIDA file fetched by ``registry update --as-rel`` nearest ``when``, for answers that
    have no route files to infer from (the HTTP API over a database)."""
    found = _fetched_as_rel(when)
    if found is None:
        return None, {"source": None, "note": "no relationships: run 'transitwatch registry update "
                                              "--as-rel --at DAY'"}
    return _with_organisations(*found, when)


def _fetched_as_rel(when: float | None) -> tuple[Relationships, dict[str, Any]] | None:
    """CAIDA's file fetched by ``registry update --as-rel`` nearest the data's time ``when``
    (:func:`_data_time`), when there is one within a year: published inferences from hundreds of
    vantage points beat what one input shows."""
    from transitwatch.registry import default_registry_dir
    from transitwatch.registry.relationships import find_as_rel

    try:
        found = find_as_rel(default_registry_dir(), when)
    except OSError:
        return None
    if found is None:
        return None
    path, days = found
    key: tuple[Any, ...] = ("fetched", str(path), os.path.getmtime(path))
    if key not in _CACHE:
        _remember(_CACHE, key, (load_as_rel(path), InferenceStats()))
    rels = _CACHE[key][0]
    return rels, {**rels.describe(), "days_from_data": round(days, 1)}


def _infer(src: Inputs, *, clique: Iterable[int] | None = None, route_servers: Iterable[int] | None = None,
           until: float | None = None, confidence: bool = True,
           progress: Any = None, focus: Iterable[int] | None = None, pathset: PathSet | None = None,
           read_notices: list[str] | None = None) -> tuple[Relationships, InferenceStats]:
    notices: list[str] = list(read_notices or ())
    source = _source(src)
    paths = _file_names(source)
    if pathset is None:
        with _user_errors():
            stream: Iterable[Observation] = source.observations(notices=notices, progress=progress)
            pathset = PathSet.of_observations(stream, until)   # cut at until in C, batch by batch
    if pathset.routes == 0:
        shown = ", ".join(paths) if paths else "the input"
        raise TransitwatchError(f"{shown}: no AS paths to infer relationships from (empty input)")
    names = [os.path.basename(p) for p in paths] if paths else ["observations"]
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    label = "inferred (AS-Rank) from " + ", ".join(names[:3]) + more
    # Dated by the data itself (its first observation), else by the file names.
    date = iso_utc(pathset.first_time)[:10] if pathset.first_time is not None else next(
        (d for p in (paths or []) if (d := date_from_name(p))), None)
    kwargs: dict[str, Any] = {"source": label, "date": date, "clique": clique, "confidence": confidence,
                              "focus": focus}
    if route_servers is not None:
        kwargs["route_servers"] = route_servers
    rels, stats = infer_relationships(pathset, **kwargs)
    rels.comments = notices
    if until is not None:
        rels.source += f" up to {iso_utc(until)}"
    return rels, stats


# -- relationships -----------------------------------------------------------------------------------
@dataclass(repr=False)
class RelationshipsResult(Result):
    """Inferred (or loaded) AS relationships: ``rels`` the graph, ``stats`` what inference saw."""

    rels: Relationships
    stats: InferenceStats | None = None
    columns = ("as1", "as2", "relationship", "type", "confidence", "step")

    def records(self) -> list[dict[str, Any]]:
        rows = []
        for a, b, rel in self.rels.links():
            key = (a, b) if a < b else (b, a)
            rows.append({"as1": a, "as2": b, "relationship": rel,
                         "type": {-1: "p2c", 0: "p2p"}.get(rel, "s2s"),
                         "confidence": (round(self.rels.confidence[key], 4)
                                        if key in self.rels.confidence else None),
                         "step": self.rels.step.get(key)})
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.rels.source,
            "date": self.rels.date,
            "clique": self.rels.clique,
            "counts": self.rels.counts(),
            "inference": self.stats.to_dict() if self.stats else None,
            "links": self.records(),
        }

    def _summary(self) -> str:
        c = self.rels.counts()
        return f"{c['p2c']} p2c, {c['p2p']} p2p links over {c['ases']} ASes, {self.rels.source}"


def relationships(
    source: Inputs, *, as_rel: str | os.PathLike[str] | None = None, clique: Iterable[int] | None = None,
    route_servers: Iterable[int] | None = None, confidence: bool = True, progress: Any = None,
) -> RelationshipsResult:
    """Infer AS relationships from every AS path in ``source`` (or load ``as_rel`` instead).
    ``confidence=False`` skips the per-link confidence (faster; serial-1 output does not show it)."""
    rels, stats = relationships_for(as_rel, source, clique=clique, route_servers=route_servers,
                                    confidence=confidence, progress=progress)
    return RelationshipsResult(rels, stats)


# -- hegemony ----------------------------------------------------------------------------------------
@dataclass(repr=False)
class HegemonyResult(Result):
    """AS hegemony of the target at one moment (``steps`` has one entry) or at every step."""

    target: str
    steps: list[tuple[float, list[HegemonyScore], int]]
    every: float | None = None
    names: dict[int, str | None] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    columns = ("at", "asn", "name", "score", "peers")

    @property
    def at(self) -> float | None:
        return self.steps[-1][0] if self.steps else None

    @property
    def scores(self) -> list[HegemonyScore]:
        """The scores at the last step."""
        return self.steps[-1][1] if self.steps else []

    def score(self, asn: int, step: int = -1) -> float:
        """The hegemony of ``asn`` at a step (0.0 when it is not on the target's routes)."""
        if not self.steps:
            return 0.0
        return next((s.score for s in self.steps[step][1] if s.asn == asn), 0.0)

    def _rows(self, scores: list[HegemonyScore]) -> list[dict[str, Any]]:
        return [{"asn": s.asn, "score": round(s.score, 4), "name": self.names.get(s.asn), "peers": s.peers}
                for s in scores]

    def to_dict(self) -> dict[str, Any]:
        if self.every is None:
            at, scores, peers = self.steps[-1] if self.steps else (None, [], 0)
            return {"target": self.target, "at": iso_utc(at) if at is not None else None,
                    "hegemony": self._rows(scores), "peers": peers, "notices": self.notices}
        return {
            "target": self.target, "every": self.every,
            "series": [{"at": iso_utc(t), "hegemony": self._rows(s), "peers": n} for t, s, n in self.steps],
            "notices": self.notices,
        }

    def records(self) -> list[dict[str, Any]]:
        return [{"at": utc_datetime(t), **row} for t, scores, _ in self.steps for row in self._rows(scores)]

    def _summary(self) -> str:
        top = ", ".join(f"AS{s.asn} {s.score:.2f}" for s in self.scores[:3])
        return f"{self.target}, {len(self.steps)} step(s); last: {top or 'no routes'}"


def hegemony(
    target: Target | str | int | None, source: Inputs, *, at: str | float | None = None,
    every: str | float | None = None, country: str | None = None, registry: Any = None,
    names: NameOf | None = None, progress: Any = None,
) -> HegemonyResult:
    """AS hegemony of every AS on the target's routes at ``at`` (default: the end of the input),
    or every ``every`` (e.g. ``"1h"``) from the first target route to ``at``/the end."""
    when = _time(at)
    step = None
    if every is not None:
        step = positive_duration(every, "--every")
    view = target_view_of(target, source, at=when, country=country, registry=registry, progress=progress)
    end = when if when is not None else view.end
    label = view.target.label if country else str(view.target)
    if end is None:
        raise TransitwatchError(f"no observations in the input for {label}")
    times = [end]
    if step is not None:
        first = min((s.start for s in view.spans), default=end)
        times = []
        t = first
        while t < end and len(times) < 10000:
            times.append(t)
            t += step
        times.append(end)
    uncovered = _uncovered(view, when)
    # at a moment no data covers, the routes are unknown: no scores (as upstreams), not stale ones
    steps = [(t, [], 0) if _uncovered_at(view, t) or (uncovered and t == end) else (t, *hegemony_at(view, t))
             for t in times]
    result = HegemonyResult(label, steps, step, notices=list(view.notices) + uncovered)
    lookup = names or _registry_names(registry)
    if lookup is not None:
        result.names = {s.asn: lookup(s.asn) for _, scores, _ in steps for s in scores}
    return result


def _uncovered(view: TargetView, when: float | None) -> list[str]:
    """The note of ``upstreams`` when no data covers ``when`` (an empty answer then means
    "unknown", not "no route"), else nothing."""
    if when is None:
        return []
    from transitwatch.metrics.upstreams import coverage_at
    note = coverage_at(view, when).get("note")
    return [note] if note else []


def _uncovered_at(view: TargetView, when: float) -> bool:
    """No collector's data covers ``when`` (the rule of :func:`coverage_at`'s note, without the
    per-peer count): routes held before are unknown then, not present."""
    cov = view.coverage
    if cov is None or not cov.windows:
        return view.start is not None and view.end is not None and not view.start <= when <= view.end
    return not cov.covering(when)


def _registry_names(registry: Any) -> NameOf | None:
    if registry is None:
        return None

    def name(asn: int) -> str | None:
        try:
            return registry.as_name(asn)  # type: ignore[no-any-return]
        except Exception:   # a name is a nicety: never fail the answer for it
            return None
    return name


# -- resilience --------------------------------------------------------------------------------------
@dataclass(repr=False)
class ResilienceResult(Result):
    """What survives the failure of ``failed`` under ``model``; ``spof`` the single points of
    failure (when asked), each with the share that would stay reachable."""

    target: str
    at: float | None
    failed: list[int]
    model: str
    outcome: Outcome
    relationships: dict[str, Any] | None = None
    spof: list[dict[str, Any]] | None = None
    notices: list[str] = field(default_factory=list)
    columns = ("prefix", "reachable", "via", "peers", "peers_before", "origin")

    @property
    def reachable_share(self) -> float:
        return self.outcome.reachable_share

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target,
            "at": iso_utc(self.at) if self.at is not None else None,
            "failed": self.failed,
            "model": self.model,
            "reachable_share": round(self.outcome.reachable_share, 4),
        }
        if len(self.outcome.share) > 1:
            out["reachable_share_by_family"] = {k: round(v, 4) for k, v in self.outcome.share.items()}
        out["prefixes"] = [f.to_dict() for f in self.outcome.prefixes]
        if self.spof is not None:
            out["spof"] = self.spof
        out["relationships"] = self.relationships
        out["notices"] = self.notices
        return out

    def records(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.outcome.prefixes]

    def _summary(self) -> str:
        kept = sum(f.reachable for f in self.outcome.prefixes)
        failed = ", ".join(f"AS{a}" for a in self.failed) or "nothing"
        text = (f"{self.target} without {failed} ({self.model}): {kept}/{len(self.outcome.prefixes)} "
                f"prefixes, {self.outcome.reachable_share:.0%} of addresses")
        if self.spof is not None:   # what spof=True asked ("without nothing" alone did not say)
            text += "; single points of failure: " + (", ".join(
                f"AS{s['asn']} ({s['reachable_share']:.0%} left)" for s in self.spof) or "none")
        return text


def parse_fail_list(values: Iterable[str | int]) -> list[int]:
    """``["AS4837,AS20485", 9929]`` -> ``[4837, 20485, 9929]``; one-line error otherwise."""
    out: list[int] = []
    for value in values:
        parts = [value] if isinstance(value, int) else [p for p in str(value).split(",")]
        for part in parts:
            if isinstance(part, int):
                out.append(part)
                continue
            if not part.strip():
                raise TransitwatchError(f"--fail: empty AS in {value!r}")
            try:
                out.append(parse_asn(part))
            except ASPathError:
                raise TransitwatchError(
                    f"--fail: {part.strip()!r} is not an AS number (use e.g. AS4837)") from None
    return sorted(set(out), key=out.index)


def resilience(
    target: Target | str | int | None, source: Inputs, *, fail: Iterable[str | int] = (),
    model: str = "observed", at: str | float | None = None, country: str | None = None,
    spof: bool = False, as_rel: Relationships | str | os.PathLike[str] | None = None, registry: Any = None,
    progress: Any = None,
) -> ResilienceResult:
    """Which of the target's prefixes stay reachable at ``at`` when the ``fail`` ASes fail."""
    if model not in MODELS:
        raise TransitwatchError(f"unknown model {model!r}: use {' or '.join(MODELS)}")
    failed = parse_fail_list(fail)
    if not failed and not spof:
        raise TransitwatchError("nothing to fail: give --fail AS[,AS...] or --spof")
    when = _time(at)
    view = target_view_of(target, source, at=when, country=country, registry=registry, progress=progress)
    label = view.target.label if country else str(view.target)
    end = when if when is not None else view.end
    if end is None:
        raise TransitwatchError(f"no observations in the input for {label}")
    # A moment the data does not cover has no answer: routes held before it are unknown then
    # (not reachable, not cut off), and "no route" would be untrue too.
    uncovered = _uncovered(view, when)
    if uncovered:
        raise TransitwatchError(uncovered[0])
    routes = target_routes_at(view, end)
    if not routes:
        raise TransitwatchError(f"no route to {label} in the input at {iso_utc(end)}")
    rels: Relationships | None = None
    rel_info: dict[str, Any] | None = None
    if model == "valley-free":
        rels, rel_info = relationship_context(as_rel, source, end)
        if rels is None:
            raise TransitwatchError(f"valley-free model: {rel_info.get('note') or 'no AS relationships'}")
    on_paths = asns_on(view.spans)
    for asn in failed:
        if asn not in on_paths and (rels is None or not rels.knows(asn)):
            raise TransitwatchError(
                f"--fail: AS{asn} is on no route to {label} in the input (nothing to fail)")
    targets = view.target.asns

    announced: dict[str, set[int]] = {}
    for span in view.spans:
        if span.start <= end and isinstance(span.upstream, int):
            announced.setdefault(span.prefix, set()).add(span.upstream)

    def outcome(down: frozenset[int]) -> Outcome:
        if rels is not None:
            return valley_free_outcome(routes, down, rels, targets, announced)
        return observed_outcome(routes, down)

    result = ResilienceResult(label, end, failed, model, outcome(frozenset(failed)), rel_info,
                              notices=list(view.notices))
    if spof:
        result.spof = single_points_of_failure(routes, targets, outcome)
    return result


def single_points_of_failure(routes: list[Any], targets: frozenset[int],
                             outcome: Callable[[frozenset[int]], Outcome]) -> list[dict[str, Any]]:
    """Every AS on the target's routes whose failure alone leaves at most half of the target's
    address space reachable (the target's own ASes excluded), worst first."""
    out = []
    for asn in sorted(asns_on(routes) - targets):
        o = outcome(frozenset({asn}))
        if o.reachable_share < 0.5:
            out.append({"asn": asn, "reachable_share": round(o.reachable_share, 4),
                        "cut_share": round(1 - o.reachable_share, 4)})
    out.sort(key=lambda r: (r["reachable_share"], r["asn"]))
    return out
