"""The placement optimizer: for each service, the instance types and placements that meet its
resources under the constraints at the least total hourly cost, exactly. Pure.

Usage: `plan(demands, catalog_rows, constraints) -> Plan`; `Plan.feasible` says whether it
worked, `Plan.all_problems()` says why not (per candidate, e.g. "no A100 in azure/eastus").
Semantics of replicas, sites, spread and spot are in `placement_model`.

How it is exact: per placement, a covering knapsack gives the least cost of every replica
count (`packing`); per provider, a min-plus convolution splits replicas over its regions;
a dynamic program over (replicas, providers used) enforces the spread (`spread`). Services
do not share instances, so the plan's least total is the sum of per-service least costs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from crosscloud.domain import catalog, quantity
from crosscloud.planning import packing, placement_reasons, spread
from crosscloud.planning.placement_model import (
    Assignment,
    Constraints,
    Plan,
    ServiceDemand,
    ServicePlan,
    Site,
)

__all__ = ["Assignment", "Constraints", "Plan", "ServiceDemand", "ServicePlan", "Site", "plan"]

_Location = tuple[str, str]
_Index = dict[str | None, dict[_Location, list[packing.Priced]]]


def plan(
    demands: Sequence[ServiceDemand],
    rows: Iterable[catalog.CatalogRow],
    constraints: Constraints | None = None,
) -> Plan:
    """The cheapest plan for every service (see the module docstring)."""
    limits = constraints or Constraints()
    _check(demands)
    all_rows = list(rows)
    index = _index(all_rows, limits)
    services = tuple(_plan_service(d, index, limits, all_rows) for d in demands)
    hourly = packing.usd(sum(packing.micros(s.hourly) for s in services))
    problems: tuple[str, ...] = ()
    cap = limits.max_hourly_price
    if all(s.feasible for s in services) and cap is not None and hourly > cap + 1e-9:
        problems = (placement_reasons.over_cap(services, hourly=hourly, cap=cap),)
    return Plan(services, hourly, problems)


def _check(demands: Sequence[ServiceDemand]) -> None:
    names = [d.name for d in demands]
    if len(set(names)) != len(names):
        raise ValueError(f"service names must be unique: {names}")
    for d in demands:
        if d.cpu <= 0 or d.memory_bytes <= 0 or d.replicas < 0:
            raise ValueError(f"{d.name}: cpu and memory must be > 0 and replicas >= 0")


def _index(rows: list[catalog.CatalogRow], limits: Constraints) -> _Index:
    """Allowed rows by accelerator name, then by placement, priced and cheapest first."""
    grouped: dict[str | None, dict[_Location, list[catalog.CatalogRow]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in rows:
        if limits.providers is not None and row.provider not in limits.providers:
            continue
        if limits.regions is not None and row.region not in limits.regions:
            continue
        grouped[row.accelerator][(row.provider, row.region)].append(row)
    return {
        kind: {loc: packing.priced(found, spot=limits.spot) for loc, found in places.items()}
        for kind, places in grouped.items()
    }


def _plan_service(
    demand: ServiceDemand, index: _Index, limits: Constraints, all_rows: list[catalog.CatalogRow]
) -> ServicePlan:
    total = _total_replicas(demand)
    if total == 0:
        return ServicePlan(demand.name, (), 0.0)
    curves = _curves(demand, index, limits, most=total)
    need = demand.min_clouds if demand.min_clouds is not None else limits.min_clouds
    if demand.sites:
        found = _solve_sites(demand, curves, total=total, need=need)
    else:
        found = _solve_anywhere(demand, curves, total=total, need=need)
    if found is None:
        why = placement_reasons.explain(
            demand, all_rows, limits, total=total, need=need, curves=curves
        )
        return ServicePlan(demand.name, (), 0.0, why)
    return ServicePlan(
        demand.name, found, packing.usd(sum(packing.micros(a.hourly) for a in found))
    )


def _total_replicas(demand: ServiceDemand) -> int:
    if not demand.sites:
        return demand.replicas
    fixed = sum(s.replicas for s in demand.sites if s.replicas is not None)
    free = sum(1 for s in demand.sites if s.replicas is None)
    return max(demand.replicas, fixed + free) if free else fixed


def _curves(
    demand: ServiceDemand, index: _Index, limits: Constraints, *, most: int
) -> dict[_Location, packing.Curve]:
    """Per allowed placement that fits a replica, the least cost of 0..most replicas there."""
    need = packing.Need(
        demand.cpu,
        demand.memory_bytes,
        demand.accelerator,
        limits.reserved_cpu,
        limits.reserved_memory_bytes,
    )
    cap = limits.max_replicas_per_placement
    most_here = min(most, cap) if cap is not None else most
    kinds = packing.accelerator_kinds(demand.accelerator)
    by_location: dict[_Location, list[packing.Priced]] = defaultdict(list)
    for kind in kinds:
        for location, rows in index.get(kind, {}).items():
            by_location[location].extend(rows)
    curves = {}
    for location in sorted(by_location):
        rows = by_location[location]
        if len(kinds) > 1:
            rows.sort(key=lambda p: (p.price, p.row.instance_type))
        found = packing.offers(rows, need, most=most_here)
        if found:
            curves[location] = packing.cover(found, most_here)
    return curves


def _solve_anywhere(
    demand: ServiceDemand, curves: dict[_Location, packing.Curve], *, total: int, need: int
) -> tuple[Assignment, ...] | None:
    """No declared sites: any allowed placements, one group per provider."""
    by_provider: dict[str, list[_Location]] = defaultdict(list)
    for location in curves:
        by_provider[location[0]].append(location)
    providers = sorted(by_provider)
    groups, takes = [], []
    for provider in providers:
        best, take = packing.split([curves[loc] for loc in by_provider[provider]], total)
        groups.append(spread.Group({provider: best}, 0, total))
        takes.append(take)
    found = spread.solve(groups, total=total, min_providers=need)
    if found is None:
        return None
    assignments: list[Assignment] = []
    for provider, take, choice in zip(providers, takes, found.choices, strict=True):
        if choice is None:
            continue
        left = choice[1]
        for location, taken in reversed(list(zip(by_provider[provider], take, strict=True))):
            m = taken[left]
            left -= m
            if m:
                assignments += _assign(demand, location, curves[location], m)
    return tuple(sorted(assignments, key=lambda a: (a.provider, a.region, a.instance_type)))


def _solve_sites(
    demand: ServiceDemand, curves: dict[_Location, packing.Curve], *, total: int, need: int
) -> tuple[Assignment, ...] | None:
    """Declared sites: one group per site, choosing a matching placement for each."""
    fixed = sum(s.replicas for s in demand.sites if s.replicas is not None)
    free = sum(1 for s in demand.sites if s.replicas is None)
    groups, argmins = [], []
    for site in demand.sites:
        low = high = site.replicas if site.replicas is not None else 0
        if site.replicas is None:
            low, high = 1, total - fixed - (free - 1)
        options, argmin = _site_options(site, curves, high)
        groups.append(spread.Group(options, low, high))
        argmins.append(argmin)
    found = spread.solve(groups, total=total, min_providers=need)
    if found is None:
        return None
    assignments: list[Assignment] = []
    for argmin, choice in zip(argmins, found.choices, strict=True):
        assert choice is not None
        location = argmin[choice]
        assignments += _assign(demand, location, curves[location], choice[1])
    return tuple(assignments)


def _site_options(
    site: Site, curves: dict[_Location, packing.Curve], high: int
) -> tuple[dict[str, list[int | None]], dict[tuple[str, int], _Location]]:
    """Per provider, the least cost of m replicas over the placements matching the site."""
    options: dict[str, list[int | None]] = {}
    argmin: dict[tuple[str, int], _Location] = {}
    for location, curve in curves.items():
        provider, region = location
        if site.provider not in (None, provider) or site.region not in (None, region):
            continue
        best = options.setdefault(provider, [None] * (high + 1))
        for m in range(min(high, len(curve.cost) - 1) + 1):
            cost, current = curve.cost[m], best[m]
            if cost is not None and (current is None or cost < current):
                best[m], argmin[(provider, m)] = cost, location
    return options, argmin


def _assign(
    demand: ServiceDemand, location: _Location, curve: packing.Curve, replicas: int
) -> list[Assignment]:
    """The assignments behind `curve.cost[replicas]`, replicas filled type by type."""
    out, left = [], replicas
    for offer, instances in curve.pick(replicas):
        held = min(left, offer.per_instance * instances)
        left -= held
        row = offer.row
        accelerator = None
        if row.accelerator is not None:
            accelerator = quantity.Accelerator(row.accelerator, row.accelerator_count)
        out.append(
            Assignment(
                service=demand.name,
                provider=location[0],
                region=location[1],
                instance_type=row.instance_type,
                accelerator=accelerator,
                instances=instances,
                replicas=held,
                on_demand_hour=row.price_hour,
                spot_hour=row.spot_price_hour,
                spot=offer.spot,
                hourly=packing.usd(offer.price * instances),
            )
        )
    return out
