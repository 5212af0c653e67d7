"""Pure: how many replicas of a spot service run on spot and on on-demand, and where
(after SkyServe's SpotHedge, arXiv 2411.01438).

- targets: `total - baseOnDemand` spot replicas plus `overprovision` extra ones; on-demand
  `baseOnDemand`, plus (with `dynamicFallback`) as many as ready spot replicas are short of
  `total - baseOnDemand`, so a preemption is covered while its replacement starts;
- spot goes to the cheapest *active* location not already used, then to the active one
  with the fewest; a location that was preempted is cooling for `cooldown` seconds and gets
  no new spot replica (the ones still there stay);
- changes are incremental: replicas stay where they are unless the target shrinks (the
  most expensive go first), so one pass after another moves nothing;
- while spot is on and there are two replicas or more, they cover at least two failure
  domains (regions or clouds).

Time and observed facts are arguments; the control plane and `bench/spot.py` both call it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

#: How long a preempted location gets no new spot replica (SpotHedge's zone blacklist).
COOLDOWN = 600.0

_Price = Callable[["Location"], tuple[float, int]]


@dataclass(frozen=True)
class Location:
    """A placement a spot service may run in: its failure domain and $/h per replica
    (an infinite spot price: no spot offering there)."""

    id: str
    domain: str
    spot_price: float = 0.0
    on_demand_price: float = 0.0


@dataclass(frozen=True)
class Seen:
    """One location's replicas of the service now: spot replicas alive and not given a
    preemption notice, how many of those are ready, and on-demand replicas alive."""

    spot: int = 0
    spot_ready: int = 0
    on_demand: int = 0


@dataclass(frozen=True)
class Settings:
    """The manifest's `spot:` and the policy's constants."""

    base_on_demand: int = 0
    dynamic_fallback: bool = True
    overprovision: int = 1
    cooldown: float = COOLDOWN


@dataclass(frozen=True)
class Plan:
    """Replicas per location id, on spot and on-demand, and the locations cooling."""

    spot: Mapping[str, int]
    on_demand: Mapping[str, int]
    cooling: frozenset[str] = field(default_factory=frozenset)

    def total(self) -> int:
        return sum(self.spot.values()) + sum(self.on_demand.values())


def targets(total: int, *, settings: Settings, ready_spot: int) -> tuple[int, int]:
    """(spot target, on-demand target) for `total` replicas wanted."""
    if total <= 0:
        return 0, 0
    base = min(total, settings.base_on_demand)
    on_spot = total - base
    fallback = max(0, on_spot - ready_spot) if settings.dynamic_fallback else 0
    return (on_spot + settings.overprovision if on_spot else 0), base + fallback


def cooling(preempted: Mapping[str, float], *, now: float, cooldown: float) -> frozenset[str]:
    """Locations preempted less than `cooldown` seconds before `now`."""
    return frozenset(loc for loc, at in preempted.items() if now - at < cooldown)


def plan(
    total: int,
    *,
    settings: Settings,
    locations: Sequence[Location],
    seen: Mapping[str, Seen],
    preempted: Mapping[str, float],
    now: float,
) -> Plan:
    """Where `total` replicas run: `locations` in preference order (ties on price go to
    the earlier), `seen` what runs now, `preempted` the last preemption per location."""
    ready = sum(s.spot_ready for s in seen.values())
    spot_target, od_target = targets(total, settings=settings, ready_spot=ready)
    cold = cooling(preempted, now=now, cooldown=settings.cooldown)
    rank = {loc.id: i for i, loc in enumerate(locations)}
    spot = _fill(
        {loc.id: seen.get(loc.id, Seen()).spot for loc in locations},
        spot_target,
        open_=[loc for loc in locations if loc.id not in cold and math.isfinite(loc.spot_price)],
        price=lambda loc: (loc.spot_price, rank[loc.id]),
        leave_first=cold,
    )
    on_demand = _fill(
        {loc.id: seen.get(loc.id, Seen()).on_demand for loc in locations},
        od_target,
        open_=list(locations),
        price=lambda loc: (loc.on_demand_price, rank[loc.id]),
        leave_first=frozenset(),
    )
    spot, on_demand = _two_domains(spot, on_demand, locations=locations, cold=cold)
    return Plan(spot=spot, on_demand=on_demand, cooling=cold)


def _fill(
    counts: dict[str, int],
    target: int,
    *,
    open_: Sequence[Location],
    price: _Price,
    leave_first: frozenset[str],
) -> dict[str, int]:
    """`counts` moved to sum to `target`: new replicas at the cheapest open location not
    used yet, then the open one with the fewest; leaving, cooling locations first, then
    the most expensive."""
    by_id = {loc.id: loc for loc in open_}
    while sum(counts.values()) < target and open_:
        pick = min(open_, key=lambda loc: (counts[loc.id] > 0, counts[loc.id], price(loc)))
        counts[pick.id] += 1
    while sum(counts.values()) > target:
        held = [loc for loc, n in counts.items() if n > 0]
        drop = max(held, key=lambda loc: _leaving(loc, by_id, price, leave_first))
        counts[drop] -= 1
    return counts


def _leaving(
    loc: str, by_id: Mapping[str, Location], price: _Price, leave_first: frozenset[str]
) -> tuple[bool, tuple[float, int]]:
    closed = loc in leave_first or loc not in by_id
    return closed, (0.0, 0) if loc not in by_id else price(by_id[loc])


def _two_domains(
    spot: dict[str, int],
    on_demand: dict[str, int],
    *,
    locations: Sequence[Location],
    cold: frozenset[str],
) -> tuple[dict[str, int], dict[str, int]]:
    """With two replicas or more in one failure domain, one (spot if any) moves to the
    cheapest location of another domain (an active one if any)."""
    domain = {loc.id: loc.domain for loc in locations}
    used = {domain[k] for k, n in [*spot.items(), *on_demand.items()] if n > 0}
    if len(used) != 1 or sum(spot.values()) + sum(on_demand.values()) < 2:
        return spot, on_demand
    others = [loc for loc in locations if loc.domain not in used]
    if not others:
        return spot, on_demand
    moving_spot = sum(spot.values()) > 0
    counts = spot if moving_spot else on_demand
    warm = [loc for loc in others if loc.id not in cold] if moving_spot else others
    price = {loc.id: loc.spot_price if moving_spot else loc.on_demand_price for loc in locations}
    # min() is stable: earlier locations win ties
    target = min(warm or others, key=lambda loc: price[loc.id])
    # from the fullest location, the most expensive of those
    source = max((k for k, n in counts.items() if n > 0), key=lambda k: (counts[k], price[k]))
    counts[source] -= 1
    counts[target.id] += 1
    return spot, on_demand
