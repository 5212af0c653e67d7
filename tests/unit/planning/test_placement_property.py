"""The optimizer against an independent brute force on small random catalogs: same
feasibility, same least cost, and every plan it returns obeys the rules."""

from __future__ import annotations

import itertools
import math
from functools import cache

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from crosscloud.domain import catalog, quantity
from crosscloud.planning import placement

GI = 2**30
LOCATIONS = [("aws", "r1"), ("aws", "r2"), ("azure", "r1"), ("gcp", "r1"), ("gcp", "r2")]


@st.composite
def catalogs(draw: st.DrawFn) -> list[catalog.CatalogRow]:
    rows = []
    for provider, region in draw(st.lists(st.sampled_from(LOCATIONS), min_size=1, unique=True)):
        for i in range(draw(st.integers(1, 3))):
            gpu = draw(st.sampled_from([None, None, "T4", "A100", "A100-80GB"]))
            price = draw(st.integers(0, 400)) / 100
            spot = draw(st.one_of(st.none(), st.integers(0, 400).map(lambda c: c / 100)))
            rows.append(
                catalog.CatalogRow(
                    provider=provider,
                    region=region,
                    instance_type=f"t{i}",
                    accelerator=gpu,
                    accelerator_count=draw(st.integers(1, 4)) if gpu else 0,
                    vcpus=draw(st.sampled_from([1, 2, 4, 8])),
                    memory_gib=draw(st.sampled_from([1, 2, 4, 16])),
                    price_hour=price,
                    spot_price_hour=spot,
                    max_instances=draw(st.sampled_from([None, None, 1, 2])),
                )
            )
    return rows


@st.composite
def demands(draw: st.DrawFn) -> placement.ServiceDemand:
    gpu = draw(st.sampled_from([None, None, "T4", "A100"]))
    sites: tuple[placement.Site, ...] = ()
    if draw(st.booleans()):
        sites = tuple(
            placement.Site(
                draw(st.sampled_from([None, "aws", "azure", "gcp"])),
                draw(st.sampled_from([None, "r1", "r2"])),
                draw(st.sampled_from([None, 1, 2])),
            )
            for _ in range(draw(st.integers(1, 3)))
        )
    return placement.ServiceDemand(
        name="svc",
        cpu=draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])),
        memory_bytes=draw(st.sampled_from([1, 2, 4])) * GI,
        accelerator=quantity.Accelerator(gpu, draw(st.integers(1, 2))) if gpu else None,
        replicas=draw(st.integers(0, 4)),
        sites=sites,
    )


constraint_sets = st.builds(
    placement.Constraints,
    providers=st.one_of(
        st.none(), st.sets(st.sampled_from(["aws", "azure", "gcp"])).map(frozenset)
    ),
    spot=st.booleans(),
    min_clouds=st.sampled_from([1, 1, 2, 3]),
    max_replicas_per_placement=st.sampled_from([None, 1, 2, 3]),
    reserved_cpu=st.sampled_from([0.0, 0.5]),
)


# --- the brute force: written for clarity, not speed ------------------------------------


def holds(row: catalog.CatalogRow, d: placement.ServiceDemand, c: placement.Constraints) -> int:
    if d.accelerator is None:
        if row.accelerator is not None:
            return 0
        gpus = math.inf
    else:
        ok = {"A100": {"A100", "A100-80GB"}}.get(d.accelerator.name, {d.accelerator.name})
        if row.accelerator not in ok:
            return 0
        gpus = row.accelerator_count // d.accelerator.count
    cpus = math.floor((row.vcpus - c.reserved_cpu) / d.cpu + 1e-9)
    memory = int(row.memory_gib * GI) // d.memory_bytes
    return int(max(0, min(gpus, cpus, memory)))


def price(row: catalog.CatalogRow, c: placement.Constraints) -> int:
    options = [round(row.price_hour * 1e6)]
    if c.spot and row.spot_price_hour is not None:
        options.append(round(row.spot_price_hour * 1e6))
    return min(options)


def brute_force(
    rows: list[catalog.CatalogRow], d: placement.ServiceDemand, c: placement.Constraints
) -> int | None:
    """Least micro-USD/h over every way to place the replicas, or None."""
    allowed = sorted(
        {(r.provider, r.region) for r in rows if c.providers is None or r.provider in c.providers}
    )
    cap = c.max_replicas_per_placement

    @cache
    def at(location: tuple[str, str], m: int) -> int | None:
        if m == 0:
            return 0
        if cap is not None and m > cap:
            return None
        types = [r for r in rows if (r.provider, r.region) == location and holds(r, d, c) > 0]
        best = None
        ranges = [range(min(m, r.max_instances or m) + 1) for r in types]
        for counts in itertools.product(*ranges):
            if sum(n * holds(r, d, c) for n, r in zip(counts, types, strict=True)) >= m:
                cost = sum(n * price(r, c) for n, r in zip(counts, types, strict=True))
                best = cost if best is None else min(best, cost)
        return best

    if d.sites:
        fixed = sum(s.replicas for s in d.sites if s.replicas is not None)
        free = sum(1 for s in d.sites if s.replicas is None)
        total = max(d.replicas, fixed + free) if free else fixed
        options = []
        for s in d.sites:
            counts = [s.replicas] if s.replicas is not None else range(1, total + 1)
            places = [p for p in allowed if s.provider in (None, p[0]) and s.region in (None, p[1])]
            options.append([(p, m) for p in places for m in counts])
        choices = itertools.product(*options)
    else:
        total = d.replicas
        choices = (
            tuple(zip(allowed, counts, strict=True))
            for counts in itertools.product(range(total + 1), repeat=len(allowed))
        )
    if total == 0:
        return 0
    best = None
    for choice in choices:
        if sum(m for _, m in choice) != total:
            continue
        if len({p[0] for p, m in choice if m}) < max(1, c.min_clouds):
            continue
        costs = [at(p, m) for p, m in choice]
        if any(x is None for x in costs):
            continue
        cost = sum(x for x in costs if x is not None)
        best = cost if best is None else min(best, cost)
    return best


# --- the properties ----------------------------------------------------------------------


def check_rules(
    plan: placement.Plan,
    rows: list[catalog.CatalogRow],
    d: placement.ServiceDemand,
    c: placement.Constraints,
) -> None:
    by_key = {r.key: r for r in rows}
    per_placement: dict[str, int] = {}
    for a in plan.assignments:
        r = by_key[(a.provider, a.region, a.instance_type)]
        assert a.replicas <= a.instances * holds(r, d, c)
        assert r.max_instances is None or a.instances <= r.max_instances or d.sites
        assert round(a.hourly * 1e6) == a.instances * price(r, c)
        per_placement[a.placement] = per_placement.get(a.placement, 0) + a.replicas
    if c.max_replicas_per_placement is not None and not d.sites:
        assert max(per_placement.values(), default=0) <= c.max_replicas_per_placement
    if plan.assignments:
        assert len({a.provider for a in plan.assignments}) >= c.min_clouds


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogs(), demands(), constraint_sets)
def test_matches_brute_force(
    rows: list[catalog.CatalogRow], d: placement.ServiceDemand, c: placement.Constraints
) -> None:
    expected = brute_force(rows, d, c)
    plan = placement.plan([d], rows, c)
    event("feasible" if expected is not None else "infeasible")
    event("with sites" if d.sites else "anywhere")
    if expected is None:
        assert not plan.feasible
        assert plan.all_problems()
        return
    assert plan.feasible, plan.all_problems()
    assert round(plan.hourly * 1e6) == expected
    placed = sum(a.replicas for a in plan.assignments)
    assert placed == plan.services[0].replicas
    check_rules(plan, rows, d, c)
