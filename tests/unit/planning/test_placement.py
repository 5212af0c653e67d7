"""The placement optimizer on small hand-made catalogs: cheapest choice, packing, spread,
spot, sites, caps, and the reasons given when nothing fits."""

from __future__ import annotations

import pytest

from crosscloud import errors
from crosscloud.domain import catalog, quantity
from crosscloud.planning import placement

GI = 2**30


def row(
    where: str,
    name: str,
    *,
    price: float,
    vcpus: float = 4,
    memory: float = 16,
    gpu: str | None = None,
    gpus: int = 0,
    spot: float | None = None,
    limit: int | None = None,
) -> catalog.CatalogRow:
    provider, region = where.split("/")
    return catalog.CatalogRow(
        provider, region, name, gpu, gpus, vcpus, memory, price, spot, None, limit
    )


CATALOG = [
    row("aws/us-east-1", "g4dn.xlarge", price=0.526, gpu="T4", gpus=1, spot=0.18),
    row("aws/us-east-1", "m7i.xlarge", price=0.2016, spot=0.08),
    row(
        "aws/us-east-1",
        "p4de.24xlarge",
        price=27.44,
        vcpus=96,
        memory=1152,
        gpu="A100-80GB",
        gpus=8,
    ),
    row("aws/us-west-2", "g4dn.xlarge", price=0.526, gpu="T4", gpus=1, spot=0.17),
    row("gcp/us-central1", "n1-standard-4-t4", price=0.54, vcpus=4, memory=15, gpu="T4", gpus=1),
    row("gcp/us-central1", "a2-highgpu-1g", price=3.67, vcpus=12, memory=85, gpu="A100", gpus=1),
    row("gcp/us-central1", "e2-standard-4", price=0.134, memory=16),
    row("azure/eastus", "NC4as_T4_v3", price=0.526, memory=28, gpu="T4", gpus=1),
]
T4 = quantity.Accelerator("T4", 1)


def demand(name: str = "svc", **kw: object) -> placement.ServiceDemand:
    fields: dict[str, object] = {"cpu": 2.0, "memory_bytes": 4 * GI, "accelerator": T4}
    fields.update(kw)
    return placement.ServiceDemand(name, **fields)  # type: ignore[arg-type]


def summary(plan: placement.Plan) -> list[tuple[str, str, int, int]]:
    return [(a.placement, a.instance_type, a.instances, a.replicas) for a in plan.assignments]


@pytest.mark.parametrize(
    ("service", "constraints", "expected", "hourly"),
    [
        # cheapest T4 anywhere: a tie at 0.526 is broken by provider/region order
        (
            demand(replicas=1),
            placement.Constraints(),
            [("aws/us-east-1", "g4dn.xlarge", 1, 1)],
            0.526,
        ),
        # spot allowed: the cheapest spot price wins
        (
            demand(replicas=2),
            placement.Constraints(spot=True),
            [("aws/us-west-2", "g4dn.xlarge", 2, 2)],
            0.34,
        ),
        # at least two clouds: one replica moves to the next cheapest provider
        (
            demand(replicas=3),
            placement.Constraints(spot=True, min_clouds=2),
            [("aws/us-west-2", "g4dn.xlarge", 2, 2), ("azure/eastus", "NC4as_T4_v3", 1, 1)],
            0.866,
        ),
        # CPU-only replicas pack onto one instance and never land on GPU instances
        (
            demand(cpu=1.0, memory_bytes=2 * GI, accelerator=None, replicas=4),
            placement.Constraints(),
            [("gcp/us-central1", "e2-standard-4", 1, 4)],
            0.134,
        ),
        # an A100 request is met by the cheaper per-replica A100-80GB box (8 replicas)
        (
            demand(accelerator=quantity.Accelerator("A100", 1), replicas=8),
            placement.Constraints(),
            [("aws/us-east-1", "p4de.24xlarge", 1, 8)],
            27.44,
        ),
        # ...but one A100 replica is cheaper on the 1-GPU machine
        (
            demand(accelerator=quantity.Accelerator("A100", 1), replicas=1),
            placement.Constraints(),
            [("gcp/us-central1", "a2-highgpu-1g", 1, 1)],
            3.67,
        ),
        # allowed providers and regions narrow the choice
        (
            demand(replicas=1),
            placement.Constraints(
                providers=frozenset({"gcp", "azure"}), regions=frozenset({"eastus"})
            ),
            [("azure/eastus", "NC4as_T4_v3", 1, 1)],
            0.526,
        ),
        # no replicas: nothing to pay
        (demand(replicas=0), placement.Constraints(), [], 0.0),
    ],
)
def test_cheapest_assignment(
    service: placement.ServiceDemand,
    constraints: placement.Constraints,
    expected: list[tuple[str, str, int, int]],
    hourly: float,
) -> None:
    plan = placement.plan([service], CATALOG, constraints)
    assert plan.feasible, plan.all_problems()
    assert summary(plan) == expected
    assert plan.hourly == pytest.approx(hourly)


def test_replicas_per_placement_are_capped() -> None:
    capped = placement.Constraints(max_replicas_per_placement=2)
    plan = placement.plan([demand(replicas=5)], CATALOG, capped)
    per_placement: dict[str, int] = {}
    for a in plan.assignments:
        per_placement[a.placement] = per_placement.get(a.placement, 0) + a.replicas
    assert sorted(per_placement.values()) == [1, 2, 2]
    assert plan.hourly == pytest.approx(5 * 0.526)


def test_assignment_carries_prices_and_spot_flag() -> None:
    plan = placement.plan([demand(replicas=1)], CATALOG, placement.Constraints(spot=True))
    (a,) = plan.assignments
    assert (a.on_demand_hour, a.spot_hour, a.spot, a.hourly) == (0.526, 0.17, True, 0.17)
    assert a.accelerator == quantity.Accelerator("T4", 1)


@pytest.mark.parametrize(
    ("sites", "replicas", "expected"),
    [
        # fixed counts are honoured even where a cheaper placement exists
        (
            (placement.Site("azure", "eastus", 2), placement.Site("gcp", "us-central1", 1)),
            1,
            [("azure/eastus", "NC4as_T4_v3", 2, 2), ("gcp/us-central1", "n1-standard-4-t4", 1, 1)],
        ),
        # a site without a region takes the provider's cheapest region; extra replicas go to
        # the cheaper free site
        (
            (placement.Site("aws", None), placement.Site("gcp", "us-central1")),
            4,
            [("aws/us-east-1", "g4dn.xlarge", 3, 3), ("gcp/us-central1", "n1-standard-4-t4", 1, 1)],
        ),
    ],
)
def test_declared_sites(
    sites: tuple[placement.Site, ...], replicas: int, expected: list[tuple[str, str, int, int]]
) -> None:
    plan = placement.plan([demand(replicas=replicas, sites=sites)], CATALOG)
    assert plan.feasible, plan.all_problems()
    assert summary(plan) == expected


def test_reserved_resources_stop_an_exact_fit() -> None:
    exact = demand(cpu=4.0, memory_bytes=16 * GI, replicas=1)
    assert placement.plan([exact], CATALOG).feasible
    reserved = placement.Constraints(reserved_cpu=0.5)
    plan = placement.plan([exact], CATALOG, reserved)
    assert not plan.feasible
    assert "no T4 instance type in aws/us-east-1 holds one replica" in " ".join(plan.all_problems())


def test_local_machine_holds_only_what_fits() -> None:
    rows = catalog.local_rows(cpus=4, memory_bytes=8 * GI)
    small = demand(cpu=1.0, memory_bytes=2 * GI, accelerator=None, replicas=4)
    plan = placement.plan([small], rows)
    assert summary(plan) == [("local/local", "this-machine", 1, 4)]
    assert plan.hourly == 0.0
    too_many = placement.plan(
        [demand(cpu=1.0, memory_bytes=2 * GI, accelerator=None, replicas=5)], rows
    )
    assert too_many.all_problems() == [
        "svc: the allowed placements hold at most 4 replica(s), it needs 5"
    ]


@pytest.mark.parametrize(
    ("service", "constraints", "reasons"),
    [
        (
            demand(accelerator=quantity.Accelerator("H100", 1)),
            placement.Constraints(providers=frozenset({"azure"})),
            ["svc: no H100 in azure/eastus"],
        ),
        (
            demand(accelerator=quantity.Accelerator("A100", 2)),
            placement.Constraints(providers=frozenset({"gcp"})),
            [
                "svc: no A100 instance type in gcp/us-central1 holds one replica"
                " (2 x A100, 4Gi memory, 2 CPU); largest: 1 x A100, 12 vCPU, 85Gi"
            ],
        ),
        (
            demand(replicas=1),
            placement.Constraints(min_clouds=2),
            ["svc: minClouds 2 needs at least 2 replicas; it has 1"],
        ),
        (
            demand(accelerator=quantity.Accelerator("A100", 1), replicas=3),
            placement.Constraints(min_clouds=3),
            [
                "svc: minClouds 3, but only aws, gcp can host it",
                "svc: no A100 in aws/us-west-2",
                "svc: no A100 in azure/eastus",
            ],
        ),
        (
            demand(sites=(placement.Site("aws", "eu-west-9"),)),
            placement.Constraints(),
            ["svc: placement aws/eu-west-9 is not in the price catalog"],
        ),
        (
            demand(replicas=1),
            placement.Constraints(max_hourly_price=0.5),
            ["the cheapest plan costs $0.5260/h, over maxHourlyPrice $0.5000/h (svc $0.5260/h)"],
        ),
    ],
)
def test_infeasible_requests_say_why(
    service: placement.ServiceDemand, constraints: placement.Constraints, reasons: list[str]
) -> None:
    plan = placement.plan([service], CATALOG, constraints)
    assert not plan.feasible
    assert plan.all_problems() == reasons
    with pytest.raises(errors.UserError, match="no placement satisfies"):
        plan.require()


def test_plan_total_is_the_sum_over_services() -> None:
    services = [
        demand("a", replicas=1),
        demand("b", cpu=1.0, memory_bytes=GI, accelerator=None, replicas=2),
    ]
    plan = placement.plan(services, CATALOG, placement.Constraints(max_hourly_price=1.0))
    assert plan.feasible
    assert [s.service for s in plan.services] == ["a", "b"]
    assert plan.hourly == pytest.approx(0.526 + 0.134)
    assert plan.require() is plan


def test_duplicate_service_names_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unique"):
        placement.plan([demand("a"), demand("a")], CATALOG)
