"""What we watch: an AS, a prefix (with its more-specifics), or a set of them (a country).

>>> t = Target.parse("AS131279")
>>> t.selects_path("2914 1239 4837 131279"), t.upstream("2914 1239 4837 131279", "175.45.176.0/24")
(True, 4837)
>>> p = Target.parse("175.45.176.0/22")
>>> p.selects_prefix("175.45.178.0/24"), p.selects_prefix("175.45.180.0/24")
(True, False)

A route belongs to the target when its prefix lies inside one of the target's networks, or its AS
path goes through one of the target's ASNs. Its *upstream* is the AS just before the target's run
of ASNs: for a route picked by its prefix, the run ends at the origin (so the upstream is the
origin's upstream, or the hop before the target ASNs next to the origin); for a route picked by
its path, the run starts at the first target ASN in the path.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from transitwatch.sources.mrt import RouteFilter
from transitwatch.state.aspath import ASPathError, Hop, parse_as_path, parse_asn

__all__ = ["MIN_PREFIX_LENGTH", "Target", "TargetError", "PrefixTooBroad", "Network", "refuse_too_broad"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetError(ValueError):
    """A target the user wrote that is neither an AS nor a prefix."""


class PrefixTooBroad(TargetError):
    """A target prefix shorter than :data:`MIN_PREFIX_LENGTH`: most of the routing table."""


#: Shortest prefix a target may name, per IP version (a /7 is 1/128 of IPv4: most of a table).
#: The one rule for the HTTP API, the command line, the Python API and watch targets.
MIN_PREFIX_LENGTH = {4: 8, 6: 16}


def refuse_too_broad(target: Target) -> Target:
    """``target``, or :class:`PrefixTooBroad` (one line) when one of its prefixes is shorter than
    :data:`MIN_PREFIX_LENGTH`: checked before any work, as every route would be the target's."""
    for net in target.networks:
        shortest = MIN_PREFIX_LENGTH[net.version]
        if net.prefixlen < shortest:
            raise PrefixTooBroad(f"target {net} is too broad: prefixes of at least /{shortest} "
                                 f"(IPv{net.version}); ask about an AS or a smaller block")
    return target


def _text_hint(net: Network) -> str:
    """The longest string every prefix inside ``net`` starts with, in canonical text form.

    Used to skip ipaddress parsing for almost every route: '175.45.176.0/22' -> '175.45.17'.
    """
    first, last = str(net.network_address), str(net.broadcast_address)
    if net.version == 6:
        # Compressed IPv6 text may fold zero groups ('2001:0:0:5::1' prints '2001::5:0:0:0:1'):
        # keep the fixed groups before the first zero group only.
        parts: list[str] = []
        for group in net.network_address.exploded.split(":")[: net.prefixlen // 16]:
            if int(group, 16) == 0:
                break
            parts.append(format(int(group, 16), "x"))
        return ":".join(parts) + (":" if parts else "")
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


@dataclass(frozen=True)
class Target:
    """A set of ASNs and networks watched together. Build with :meth:`parse` or directly.

    ``label`` is how it prints (``"AS131279"``, ``"175.45.176.0/22"``).
    """

    asns: frozenset[int] = frozenset()
    networks: tuple[Network, ...] = ()
    label: str = ""
    _hints: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    _upstreams: dict[tuple[str, bool], Hop | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self.asns and not self.networks:
            raise TargetError("a target needs at least one AS or prefix")
        object.__setattr__(self, "_hints", tuple(sorted({_text_hint(n) for n in self.networks})))
        if not self.label:
            parts = [f"AS{a}" for a in sorted(self.asns)] + [str(n) for n in self.networks]
            object.__setattr__(self, "label", ",".join(parts))

    @classmethod
    def parse(cls, text: str) -> Target:
        """``"AS131279"``, ``"131279"``, ``"175.45.176.0/22"``, ``"2001:db8::/32"`` or several
        joined by commas. Raises :class:`TargetError` (one line) otherwise."""
        asns: set[int] = set()
        networks: list[Network] = []
        labels: list[str] = []
        parts = [p.strip() for p in str(text).split(",")]
        if not text or not all(parts):
            raise TargetError(f"empty target in {text!r}")
        for part in parts:
            if "/" in part or ":" in part or part.count(".") == 3:
                try:
                    networks.append(ipaddress.ip_network(part, strict=False))
                except ValueError:
                    raise TargetError(f"not a prefix: {part!r} (use e.g. 175.45.176.0/22)") from None
                labels.append(str(networks[-1]))
                continue
            try:
                asns.add(parse_asn(part))
                labels.append(f"AS{parse_asn(part)}")
            except ASPathError:
                raise TargetError(
                    f"unknown target {part!r}: use an AS (AS131279 or 131279) or a prefix (175.45.176.0/22)"
                ) from None
        return cls(asns=frozenset(asns), networks=tuple(networks), label=",".join(labels))

    @classmethod
    def of(cls, value: Target | str | int | Iterable[Any]) -> Target:
        """Coerce: a Target, ``"AS131279"``, ``131279``, or an iterable of such parts."""
        if isinstance(value, Target):
            return value
        if isinstance(value, int):
            return cls(asns=frozenset({value}), label=f"AS{value}")
        if isinstance(value, str | os.PathLike):
            return cls.parse(str(value))
        return cls.parse(",".join(str(v) for v in value))

    def __str__(self) -> str:
        return self.label

    # -- route selection (the state layer calls these through caches) -------------------------

    def route_filter(self) -> RouteFilter:
        """A decoder-level filter keeping the announcements this target can be in (its ASNs on
        the path, prefixes inside its networks, or inside the prefixes its ASNs originate); see
        :class:`~transitwatch.sources.mrt.RouteFilter`."""
        return RouteFilter(asns=self.asns, prefixes=tuple(str(n) for n in self.networks),
                           own_space=bool(self.asns))

    @property
    def path_needles(self) -> tuple[str, ...]:
        """The target's ASNs as decimal text: a path without any of them as a substring is not
        the target's (checked before any parsing; most paths of a full feed stop here)."""
        return tuple(sorted(str(a) for a in self.asns))

    @property
    def prefix_hints(self) -> tuple[str, ...]:
        """Strings that every selected prefix starts with (empty: select by path only)."""
        return self._hints

    def selects_path(self, as_path: str | None) -> bool:
        """Whether a path goes through one of the target's ASNs."""
        if not self.asns or not as_path:
            return False
        if not any(needle in as_path for needle in self.path_needles):
            return False
        try:
            return not self.asns.isdisjoint(parse_as_path(as_path).asns)
        except ASPathError:
            return False

    def selects_prefix(self, prefix: str | None) -> bool:
        """Whether a prefix is one of the target's networks or more specific."""
        if not self.networks or not prefix or not prefix.startswith(self._hints):
            return False
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            return False
        return any(net.version == n.version and net.subnet_of(n) for n in self.networks)  # type: ignore[arg-type]

    def selects(self, prefix: str | None, as_path: str | None) -> bool:
        """Whether a route (prefix, path) belongs to the target."""
        return self.selects_prefix(prefix) or self.selects_path(as_path)

    def upstream(self, as_path: str | None, prefix: str | None = None) -> Hop | None:
        """The upstream of a target route: the hop just before the target's run of ASNs.

        None when the path has none (empty path, or the peer itself is the target).
        """
        if not as_path:
            return None
        by_prefix = self.selects_prefix(prefix) if self.networks else False
        key = (as_path, by_prefix)
        try:
            return self._upstreams[key]
        except KeyError:
            pass
        try:
            path = parse_as_path(as_path)
        except ASPathError:
            up: Hop | None = None
        else:
            up = path.upstream_of(self.asns, origin_run=by_prefix)
        if len(self._upstreams) < 1 << 16:
            self._upstreams[key] = up
        return up
