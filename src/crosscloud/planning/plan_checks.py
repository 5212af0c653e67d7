"""Pure: what `crosscloud plan` adds beside the cheapest assignments: warnings when the
placements ask for a replica count the service's scaling bounds will not keep, and for
spot services the steady spot/on-demand mix (`planning.spot` once every spot replica is
ready) with its expected $/h beside all on-demand."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from crosscloud.domain import manifest, targets
from crosscloud.planning import autoscale, placement, spot
from crosscloud.planning import desired as desired_mod


def replica_bounds(doc: manifest.Manifest) -> list[str]:
    """One warning per service whose placements ask for more replicas than
    `maxReplicas` or fewer than `minReplicas`."""
    wanted = desired_mod.desired_services(doc, version=0)
    out = []
    for service in doc.spec.services:
        mine = [d for d in wanted if d.service == service.name]
        asked = sum(d.replicas for d in mine)
        scaling = service.scaling
        settings = autoscale.settings_of(scaling, placements=len(mine))
        if not mine or not settings.autoscaled:
            continue
        spread = settings.min_domains
        if asked > scaling.max_replicas:
            out.append(
                f"{service.name}: the placements ask for {asked} replicas, more than"
                f" scaling.maxReplicas {scaling.max_replicas}; the autoscaler brings it down to"
                f" at most {scaling.max_replicas} (kept in {spread} placement(s):"
                " scaling.minFailureDomains)"
            )
        elif asked < scaling.min_replicas:
            out.append(
                f"{service.name}: the placements ask for {asked} replicas, fewer than"
                f" scaling.minReplicas {scaling.min_replicas}; the autoscaler raises it to"
                f" {scaling.min_replicas}"
            )
    return out


@dataclass(frozen=True)
class SpotMix:
    """A spot service's steady replicas per placement and what they cost per hour."""

    service: str
    spot: dict[str, int]
    on_demand: dict[str, int]
    hourly: float
    all_on_demand: float


def spot_mix(
    doc: manifest.Manifest,
    result: placement.Plan,
    *,
    spot_prices: Mapping[tuple[str, str, str], float | None],
) -> list[SpotMix]:
    """The mix of each spot service once its spot replicas are ready (no fallback);
    `spot_prices` by (provider, region, instance type) from the catalog."""
    out = []
    for service in doc.spec.services:
        if service.spot is None:
            continue
        mine = [a for a in result.assignments if a.service == service.name and a.replicas]
        if not mine:
            continue
        locations = [_location(a, service.spot, spot_prices) for a in mine]
        settings = spot.Settings(
            base_on_demand=service.spot.base_on_demand,
            dynamic_fallback=service.spot.dynamic_fallback,
            overprovision=service.spot.overprovision,
        )
        total = sum(a.replicas for a in mine)
        first = spot.plan(
            total, settings=settings, locations=locations, seen={}, preempted={}, now=0.0
        )
        ready = {k: spot.Seen(n, n, first.on_demand.get(k, 0)) for k, n in first.spot.items()}
        steady = spot.plan(
            total, settings=settings, locations=locations, seen=ready, preempted={}, now=0.0
        )
        by_id = {loc.id: loc for loc in locations}
        hourly = sum(n * by_id[k].spot_price for k, n in steady.spot.items())
        hourly += sum(n * by_id[k].on_demand_price for k, n in steady.on_demand.items())
        out.append(
            SpotMix(
                service=service.name,
                spot={k: n for k, n in steady.spot.items() if n},
                on_demand={k: n for k, n in steady.on_demand.items() if n},
                hourly=hourly,
                all_on_demand=sum(a.on_demand_hour * a.instances for a in mine),
            )
        )
    return out


def _location(
    item: placement.Assignment,
    settings: manifest.SpotSpec,
    spot_prices: Mapping[tuple[str, str, str], float | None],
) -> spot.Location:
    """Per-replica prices of an assignment. No spot offering there: no spot replica, except
    on this machine (local placements), where spot is rehearsed at the on-demand price."""
    share = item.instances / item.replicas
    local = targets.target_of(item.placement) is targets.Target.LOCAL
    listed = spot_prices.get((item.provider, item.region, item.instance_type), item.spot_hour)
    spot_hour = listed if listed is not None else math.inf
    if listed is None and local:
        spot_hour = item.on_demand_hour
    return spot.Location(
        item.placement,
        manifest.domain_of(item.placement, settings.spread_over),
        spot_price=spot_hour * share,
        on_demand_price=item.on_demand_hour * share,
    )
