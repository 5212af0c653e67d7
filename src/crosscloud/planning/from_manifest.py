"""Pure: a CloudDeployment manifest -> the placement optimizer's input, and its answer checked
against the manifest's price cap. The caller loads the service classes and the catalog.

Decisions made here (each one a place where the manifest and the optimizer meet):

- Replicas: a service runs at every placement that lists it. A placement's `replicas` is
  fixed there; without one the optimizer decides (at least 1) and the service's
  `scaling.minReplicas` is the total to reach. With `placements: auto` the total is
  `max(1, minReplicas)` so the service can be reached at all.
- `spec.optimizer.providers` / `regions` limit what the optimizer may choose; a declared
  placement is always allowed (the user chose it).
- Spot: a placement's `spot` wins over `optimizer.spot`; where spot is not allowed the
  catalog's spot price is dropped, so that placement is billed on demand.
- `instanceType` on a placement keeps only that catalog row there.
- `maxHourlyPrice` is USD per hour *per service* (as the manifest documents it). Services
  never share instances, so a service's least cost does not depend on the others and the
  cap is checked exactly after planning.
- Local regions: each one stands for a machine like this one (free, one instance), so a
  replica that fits a region fits a real machine of this size. They all share this one
  machine, though, so `local_sharing` reports when their replicas together ask for more
  than it has. That is a note, not a refusal: an even split (1/n of the machine per
  region) made the README's quickstart (2+1+1 one-CPU replicas over three local regions)
  infeasible below 6 cores, while `crosscloud up` runs it fine on two (local replicas are
  processes that share cores; nothing reserves them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from crosscloud import errors
from crosscloud.domain import catalog, manifest, quantity, targets
from crosscloud.planning import placement

#: What a replica gets when neither its class nor the manifest says (matches sdk.Resources).
DEFAULT_CPU = 1.0
DEFAULT_MEMORY_BYTES = 2 * 2**30
LOCAL = targets.Target.LOCAL


@dataclass(frozen=True)
class ServiceResources:
    """CPU cores, memory bytes and accelerators one replica of a service needs."""

    cpu: float = DEFAULT_CPU
    memory_bytes: int = DEFAULT_MEMORY_BYTES
    accelerators: tuple[quantity.Accelerator, ...] = ()


def effective_resources(
    service: manifest.ServiceSpec, declared: ServiceResources | None = None
) -> ServiceResources:
    """The class's resources (or the defaults) with the manifest's `resources` on top."""
    base = declared or ServiceResources()
    over = service.resources
    if over is not None:
        base = ServiceResources(
            cpu=base.cpu if over.cpu is None else over.cpu,
            memory_bytes=base.memory_bytes if over.memory is None else over.memory,
            accelerators=base.accelerators if over.accelerators is None else over.accelerators,
        )
    if base.cpu <= 0 or base.memory_bytes <= 0:
        raise errors.UserError(
            f"service {service.name!r}: a replica needs cpu and memory above 0"
            f" (got cpu {base.cpu:g}, memory {base.memory_bytes} bytes)"
        )
    return base


def demands(
    doc: manifest.Manifest, resources: Mapping[str, ServiceResources]
) -> tuple[placement.ServiceDemand, ...]:
    """One ServiceDemand per service, in manifest order (see the module docstring)."""
    out = []
    for service in doc.spec.services:
        needs = resources[service.name]
        sites = tuple(
            placement.Site(where.provider, where.region, item.replicas)
            for where in doc.placements()
            for item in where.services
            if item.name == service.name
        )
        low = service.scaling.min_replicas
        out.append(
            placement.ServiceDemand(
                name=service.name,
                cpu=needs.cpu,
                memory_bytes=needs.memory_bytes,
                accelerator=_one_accelerator(service.name, needs.accelerators),
                replicas=low if sites else max(1, low),
                sites=sites,
            )
        )
    return tuple(out)


def _one_accelerator(
    service: str, accelerators: tuple[quantity.Accelerator, ...]
) -> quantity.Accelerator | None:
    if len(accelerators) > 1:
        shown = ", ".join(str(a) for a in accelerators)
        raise errors.UserError(
            f"service {service!r} asks for {shown}; a replica runs on one kind of"
            " accelerator: keep one (e.g. A100:2)"
        )
    return accelerators[0] if accelerators else None


def constraints(doc: manifest.Manifest) -> placement.Constraints:
    """The optimizer's limits from `spec.optimizer`, widened by the declared placements."""
    options = doc.spec.optimizer
    declared = doc.placements()
    providers = None
    if options.providers:
        providers = frozenset(options.providers) | {p.provider for p in declared}
    regions = None
    if options.regions:
        # "aws/us-west-2" and "us-west-2" both name the region us-west-2.
        named = {choice.rpartition("/")[2] for choice in options.regions}
        regions = frozenset(named) | {p.region for p in declared if p.region}
    return placement.Constraints(
        providers=providers,
        regions=regions,
        spot=options.spot or any(p.spot for p in declared),
        min_clouds=options.spread.min_clouds,
    )


def local_regions(doc: manifest.Manifest) -> tuple[str, ...]:
    """The local regions this plan may use: those declared, or with `placements: auto` and
    `local` among `optimizer.providers`, its local/NAME regions (default `local`)."""
    names = [p.region or "local" for p in doc.placements() if targets.target_of(p.id) is LOCAL]
    options = doc.spec.optimizer
    # the optimizer's options name providers and `provider/region`s: these are about the
    # `local` provider's name as written there, not about which target runs a placement
    if doc.is_auto and "local" in options.providers:
        chosen = [r.partition("/")[2] for r in options.regions if r.startswith("local/")]
        names += chosen or ["local"]
    return tuple(dict.fromkeys(names))


def local_offers(
    regions: Sequence[str], *, cpus: float, memory_bytes: int
) -> list[catalog.CatalogRow]:
    """Each of `regions` as this machine: free, one instance (see the module docstring)."""
    return catalog.local_rows(cpus=cpus, memory_bytes=memory_bytes, regions=regions)


def local_sharing(
    result: placement.Plan,
    resources: Mapping[str, ServiceResources],
    *,
    cpus: float,
    memory_bytes: int,
) -> str | None:
    """A note when the local regions' replicas together ask for more than this machine."""
    local = [a for a in result.assignments if targets.target_of(a.placement) is LOCAL]
    cpu = sum(a.replicas * resources[a.service].cpu for a in local)
    memory = sum(a.replicas * resources[a.service].memory_bytes for a in local)
    if cpu <= cpus + 1e-9 and memory <= memory_bytes:
        return None
    regions = ", ".join(sorted({a.placement for a in local}))
    return (
        f"{regions} together ask for {cpu:g} CPU and {memory / 2**30:.3g}Gi; this machine has"
        f" {cpus:g} CPUs and {memory_bytes / 2**30:.3g}Gi, so their replicas share it (fine"
        " for a rehearsal, slower under load)"
    )


def placement_rows(
    doc: manifest.Manifest, rows: Sequence[catalog.CatalogRow]
) -> list[catalog.CatalogRow]:
    """The catalog with each declared placement's `instanceType` and `spot` applied."""
    _check_instance_types(doc, rows)
    default_spot = doc.spec.optimizer.spot
    out = []
    for row in rows:
        where = _declared_at(doc, row.provider, row.region)
        if where is not None and where.instance_type and row.instance_type != where.instance_type:
            continue
        spot = where.spot if where is not None and where.spot is not None else default_spot
        if not spot and row.spot_price_hour is not None:
            row = dataclasses.replace(row, spot_price_hour=None)
        out.append(row)
    return out


def _declared_at(doc: manifest.Manifest, provider: str, region: str) -> manifest.Placement | None:
    """The placement declared exactly there, else the provider's region-less placement."""
    loose = None
    for where in doc.placements():
        if where.provider == provider and where.region == region:
            return where
        if where.provider == provider and where.region is None:
            loose = where
    return loose


def _check_instance_types(doc: manifest.Manifest, rows: Sequence[catalog.CatalogRow]) -> None:
    for i, where in enumerate(doc.placements()):
        if not where.instance_type:
            continue
        here = sorted(
            {
                r.instance_type
                for r in rows
                if r.provider == where.provider and where.region in (None, r.region)
            }
        )
        if where.instance_type not in here:
            near = quantity.did_you_mean(where.instance_type, here)
            hint = f"; did you mean {near!r}?" if near else ""
            listed = ", ".join(here) if here else "none"
            raise errors.UserError(
                f"spec.placements[{i}].instanceType: {where.instance_type!r} is not in the price"
                f" catalog for {where.id}{hint} (types there: {listed}; add it with --catalog)"
            )


def check_price_cap(result: placement.Plan, cap: float | None) -> placement.Plan:
    """`result`, infeasible when a service's cheapest placement costs more than `cap` $/h."""
    if cap is None or not result.feasible:
        return result
    over = tuple(
        f"{s.service}: its cheapest placement costs ${s.hourly:.4f}/h, over maxHourlyPrice"
        f" ${cap:.4f}/h (the cap is per service)"
        for s in result.services
        if s.hourly > cap + 1e-9
    )
    if not over:
        return result
    return placement.Plan(result.services, result.hourly, result.problems + over)


def plan_manifest(
    doc: manifest.Manifest,
    *,
    resources: Mapping[str, ServiceResources],
    rows: Sequence[catalog.CatalogRow],
) -> placement.Plan:
    """The cheapest plan for the manifest over `rows` (local rows included by the caller)."""
    result = placement.plan(demands(doc, resources), placement_rows(doc, rows), constraints(doc))
    return check_price_cap(result, doc.spec.optimizer.max_hourly_price)
