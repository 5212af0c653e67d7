"""Why a service cannot be placed, per candidate placement, in words a user can act on
("no A100 in azure/eastus", "over maxHourlyPrice"). Only runs when planning failed. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from crosscloud.domain import catalog
from crosscloud.planning import packing
from crosscloud.planning.placement_model import Constraints, ServiceDemand, ServicePlan, Site

_Location = tuple[str, str]
_MOST_LISTED = 12


def over_cap(services: Sequence[ServicePlan], *, hourly: float, cap: float) -> str:
    parts = ", ".join(f"{s.service} ${s.hourly:.4f}/h" for s in services)
    return f"the cheapest plan costs ${hourly:.4f}/h, over maxHourlyPrice ${cap:.4f}/h ({parts})"


def explain(
    demand: ServiceDemand,
    rows: Sequence[catalog.CatalogRow],
    limits: Constraints,
    *,
    total: int,
    need: int,
    curves: dict[_Location, packing.Curve],
) -> tuple[str, ...]:
    """Reasons: declared sites and spread first, then each placement that cannot host a
    replica (at most a dozen listed); never empty."""
    reasons = _site_reasons(demand, rows, limits)
    reasons += _spread_reasons(demand, total=total, need=need, curves=curves, limits=limits)
    per_location = _location_reasons(demand, rows, limits, curves)
    if len(per_location) > _MOST_LISTED:
        hidden = len(per_location) - _MOST_LISTED
        per_location = [*per_location[:_MOST_LISTED], f"... and {hidden} more placements"]
    reasons += per_location
    if not reasons:
        reasons.append(
            f"no way to place {total} replica(s) on at least {need} cloud(s)" + _cap_text(limits)
        )
    return tuple(reasons)


def _allowed(row: catalog.CatalogRow, limits: Constraints) -> bool:
    if limits.providers is not None and row.provider not in limits.providers:
        return False
    return limits.regions is None or row.region in limits.regions


def _matches(site: Site, location: _Location) -> bool:
    return site.provider in (None, location[0]) and site.region in (None, location[1])


def _site_reasons(
    demand: ServiceDemand, rows: Sequence[catalog.CatalogRow], limits: Constraints
) -> list[str]:
    reasons = []
    known = {(r.provider, r.region) for r in rows}
    for site in demand.sites:
        if not any(_matches(site, loc) for loc in known):
            reasons.append(f"placement {site} is not in the price catalog")
        elif not any(_matches(site, (r.provider, r.region)) for r in rows if _allowed(r, limits)):
            reasons.append(f"placement {site} is excluded by the allowed providers/regions")
        cap = limits.max_replicas_per_placement
        if site.replicas is not None and cap is not None and site.replicas > cap:
            reasons.append(
                f"placement {site} asks for {site.replicas} replicas,"
                f" over maxReplicasPerPlacement {cap}"
            )
    if not demand.sites and not any(_allowed(r, limits) for r in rows):
        reasons.append("no placement in the catalog matches the allowed providers/regions")
    return reasons


def _location_reasons(
    demand: ServiceDemand,
    rows: Sequence[catalog.CatalogRow],
    limits: Constraints,
    curves: dict[_Location, packing.Curve],
) -> list[str]:
    by_location: dict[_Location, list[catalog.CatalogRow]] = defaultdict(list)
    for row in rows:
        if _allowed(row, limits):
            by_location[(row.provider, row.region)].append(row)
    reasons = []
    for location in sorted(by_location):
        if demand.sites and not any(_matches(s, location) for s in demand.sites):
            continue
        if location not in curves:
            reasons.append(_no_fit(demand, location, by_location[location], limits))
    return reasons


def _no_fit(
    demand: ServiceDemand,
    location: _Location,
    rows: list[catalog.CatalogRow],
    limits: Constraints,
) -> str:
    where = f"{location[0]}/{location[1]}"
    kinds = packing.accelerator_kinds(demand.accelerator)
    same = [r for r in rows if r.accelerator in kinds]
    label = demand.accelerator.name if demand.accelerator else "CPU-only"
    if not same:
        return (
            f"no {label} in {where}"
            if demand.accelerator
            else f"no CPU-only instance type in {where}"
        )
    big = max(same, key=lambda r: (r.accelerator_count, r.vcpus, r.memory_gib))
    asked = f"{_gib(demand.memory_bytes)} memory, {demand.cpu:g} CPU"
    if demand.accelerator is not None:
        asked = f"{demand.accelerator.count} x {label}, " + asked
    if limits.reserved_cpu or limits.reserved_memory_bytes:
        asked += (
            f" plus {limits.reserved_cpu:g} CPU and {_gib(limits.reserved_memory_bytes)} reserved"
        )
    largest = f"{big.vcpus:g} vCPU, {big.memory_gib:g}Gi"
    if big.accelerator is not None:
        largest = f"{big.accelerator_count} x {big.accelerator}, " + largest
    return f"no {label} instance type in {where} holds one replica ({asked}); largest: {largest}"


def _spread_reasons(
    demand: ServiceDemand,
    *,
    total: int,
    need: int,
    curves: dict[_Location, packing.Curve],
    limits: Constraints,
) -> list[str]:
    reasons = []
    hosts = sorted({p for p, _ in curves})
    if need > total:
        reasons.append(f"minClouds {need} needs at least {need} replicas; it has {total}")
    elif curves and len(hosts) < need:
        reasons.append(f"minClouds {need}, but only {', '.join(hosts)} can host it")
    room = sum(_room(curve) for curve in curves.values())
    if curves and room < total:
        reasons.append(
            f"the allowed placements hold at most {room} replica(s), it needs {total}"
            + _cap_text(limits)
        )
    return reasons


def _room(curve: packing.Curve) -> int:
    return max(n for n, cost in enumerate(curve.cost) if cost is not None)


def _cap_text(limits: Constraints) -> str:
    cap = limits.max_replicas_per_placement
    return f" with maxReplicasPerPlacement {cap}" if cap is not None else ""


def _gib(size: int) -> str:
    return f"{size / 2**30:g}Gi"
