"""Manifest -> optimizer input, as tables: replicas and sites, resources and overrides, the
limits from spec.optimizer, per-placement spot and instanceType, local regions sharing this
machine, and the per-service maxHourlyPrice."""

from __future__ import annotations

import textwrap

import pytest

from crosscloud import errors
from crosscloud.domain import catalog, manifest, quantity
from crosscloud.planning import from_manifest, placement

GI = 2**30
T4 = quantity.Accelerator("T4", 1)


def load(spec: str) -> manifest.Manifest:
    head = "apiVersion: crosscloud.dev/v1\nkind: CloudDeployment\nmetadata: {name: demo}\nspec:\n"
    return manifest.load_manifest(head + textwrap.indent(textwrap.dedent(spec), "  "), "m.yaml")


def row(
    where: str,
    name: str,
    *,
    price: float,
    vcpus: float = 4,
    memory: float = 16,
    gpu: str | None = None,
    spot: float | None = None,
) -> catalog.CatalogRow:
    provider, region = where.split("/")
    return catalog.CatalogRow(
        provider, region, name, gpu, 1 if gpu else 0, vcpus, memory, price, spot
    )


CATALOG = [
    row("aws/us-west-2", "g4dn.xlarge", price=0.526, gpu="T4", spot=0.18),
    row("aws/us-west-2", "g4dn.2xlarge", price=0.752, vcpus=8, memory=32, gpu="T4", spot=0.2),
    row("aws/us-west-2", "m7i.large", price=0.1008, vcpus=2, memory=8, spot=0.04),
    row("azure/eastus", "NC4as_T4_v3", price=0.526, memory=28, gpu="T4", spot=0.06),
    row("azure/eastus", "E4_v5", price=0.252, memory=32, spot=0.03),
    row("gcp/us-central1", "n1-standard-4", price=0.54, memory=15, gpu="T4", spot=0.23),
    row("gcp/us-central1", "n2d-highcpu-8", price=0.2495, vcpus=8, memory=8, spot=0.05),
]

TWO_CLOUDS = """
services:
  - {name: model, image: ghcr.io/me/model:1, scaling: {minReplicas: 3, maxReplicas: 6}}
placements:
  - {provider: aws, region: us-west-2, context: eks, services: [{name: model, replicas: 2}]}
  - {provider: azure, region: eastus, context: aks}
"""
AUTO = """
services:
  - {name: model, image: ghcr.io/me/model:1, scaling: {minReplicas: 0, maxReplicas: 4}}
placements: auto
"""


@pytest.mark.parametrize(
    ("spec", "replicas", "sites"),
    [
        # fixed where given, free elsewhere; minReplicas is the total to reach
        (
            TWO_CLOUDS,
            3,
            (placement.Site("aws", "us-west-2", 2), placement.Site("azure", "eastus", None)),
        ),
        # placements: auto keeps at least one replica so the service can be reached
        (AUTO, 1, ()),
        # a provider without a region: the optimizer picks the region
        (
            "services: [{name: model, image: m:1}]\nplacements: [{provider: gcp, context: gke}]\n",
            1,
            (placement.Site("gcp", None, None),),
        ),
    ],
)
def test_demand_replicas_and_sites(
    spec: str, replicas: int, sites: tuple[placement.Site, ...]
) -> None:
    (found,) = from_manifest.demands(load(spec), {"model": from_manifest.ServiceResources()})
    assert (found.replicas, found.sites) == (replicas, sites)


@pytest.mark.parametrize(
    ("overrides", "declared", "expected"),
    [
        # no class (image) and no overrides: the SDK's defaults
        ("", None, from_manifest.ServiceResources(1.0, 2 * GI, ())),
        # the class's own resources when the manifest says nothing
        ("", from_manifest.ServiceResources(2.0, 4 * GI, (T4,)), (2.0, 4 * GI, (T4,))),
        # each override replaces only its own field
        (
            "resources: {memory: 8Gi}",
            from_manifest.ServiceResources(2.0, 4 * GI, (T4,)),
            (2.0, 8 * GI, (T4,)),
        ),
        # accelerators: [] takes the class's GPU away
        (
            "resources: {cpu: 500m, accelerators: []}",
            from_manifest.ServiceResources(2.0, 4 * GI, (T4,)),
            (0.5, 4 * GI, ()),
        ),
    ],
)
def test_effective_resources(
    overrides: str,
    declared: from_manifest.ServiceResources | None,
    expected: from_manifest.ServiceResources | tuple[object, ...],
) -> None:
    doc = load(f"services: [{{name: model, image: m:1, {overrides}}}]\n".replace(", }", "}"))
    found = from_manifest.effective_resources(doc.spec.services[0], declared)
    want = (
        expected
        if isinstance(expected, from_manifest.ServiceResources)
        else from_manifest.ServiceResources(*expected)  # type: ignore[arg-type]
    )
    assert found == want


def test_two_accelerator_kinds_are_refused() -> None:
    doc = load("services: [{name: model, image: m:1, resources: {accelerators: [T4, L4]}}]\n")
    needs = from_manifest.effective_resources(doc.spec.services[0])
    with pytest.raises(errors.UserError, match="asks for T4:1, L4:1; a replica runs on one kind"):
        from_manifest.demands(doc, {"model": needs})


@pytest.mark.parametrize(
    ("optimizer", "expected"),
    [
        # nothing said: anything goes, on demand, one cloud
        ("", placement.Constraints(None, None, False, None, 1)),
        # declared placements are always allowed next to the optimizer's providers
        (
            "optimizer: {providers: [GCP, aws], spread: {minClouds: 2}}",
            placement.Constraints(frozenset({"gcp", "aws", "azure"}), None, False, None, 2),
        ),
        # provider/region and bare regions name the same region; declared ones are added
        (
            "optimizer: {regions: [gcp/us-central1, westus2], spot: true}",
            placement.Constraints(
                None, frozenset({"us-central1", "westus2", "us-west-2", "eastus"}), True, None, 1
            ),
        ),
    ],
)
def test_constraints(optimizer: str, expected: placement.Constraints) -> None:
    assert from_manifest.constraints(load(TWO_CLOUDS + optimizer)) == expected


def test_spot_on_one_placement_only_bills_that_placement_at_spot() -> None:
    doc = load(TWO_CLOUDS.replace("context: aks", "context: aks, spot: true"))
    assert from_manifest.constraints(doc).spot
    rows = {r.key: r for r in from_manifest.placement_rows(doc, CATALOG)}
    assert rows[("aws", "us-west-2", "g4dn.xlarge")].spot_price_hour is None
    assert rows[("azure", "eastus", "NC4as_T4_v3")].spot_price_hour == 0.06
    result = from_manifest.plan_manifest(
        doc, resources={"model": from_manifest.ServiceResources(2, 4 * GI, (T4,))}, rows=CATALOG
    )
    billed = {(a.placement, a.spot) for a in result.require().assignments}
    assert billed == {("aws/us-west-2", False), ("azure/eastus", True)}


def test_instance_type_on_a_placement_keeps_only_that_row() -> None:
    doc = load(TWO_CLOUDS.replace("context: eks,", "context: eks, instanceType: g4dn.2xlarge,"))
    result = from_manifest.plan_manifest(
        doc, resources={"model": from_manifest.ServiceResources(2, 4 * GI, (T4,))}, rows=CATALOG
    )
    types = {(a.placement, a.instance_type) for a in result.require().assignments}
    assert types == {("aws/us-west-2", "g4dn.2xlarge"), ("azure/eastus", "NC4as_T4_v3")}


def test_unknown_instance_type_names_the_placement_and_the_nearest() -> None:
    doc = load(TWO_CLOUDS.replace("context: eks,", "context: eks, instanceType: g4dn.xlarg,"))
    with pytest.raises(errors.UserError) as caught:
        from_manifest.placement_rows(doc, CATALOG)
    assert str(caught.value) == (
        "spec.placements[0].instanceType: 'g4dn.xlarg' is not in the price catalog for"
        " aws/us-west-2; did you mean 'g4dn.xlarge'? (types there: g4dn.2xlarge, g4dn.xlarge,"
        " m7i.large; add it with --catalog)"
    )


LOCAL_TWO = """
services: [{name: web, image: w:1}]
placements:
  - {provider: local, region: region-a}
  - {provider: local, region: region-b}
"""


@pytest.mark.parametrize(
    ("spec", "regions"),
    [
        (LOCAL_TWO, ("region-a", "region-b")),
        (TWO_CLOUDS, ()),
        # auto uses this machine only when local is an allowed provider
        (AUTO, ()),
        (AUTO + "optimizer: {providers: [local, aws]}", ("local",)),
        (AUTO + "optimizer: {providers: [local], regions: [local/r1, local/r2]}", ("r1", "r2")),
    ],
)
def test_local_regions(spec: str, regions: tuple[str, ...]) -> None:
    assert from_manifest.local_regions(load(spec)) == regions


def test_each_local_region_offers_this_machine_for_free() -> None:
    rows = from_manifest.local_offers(("region-a", "region-b"), cpus=4, memory_bytes=8 * GI)
    assert [(r.region, r.vcpus, r.memory_gib, r.price_hour, r.max_instances) for r in rows] == [
        ("region-a", 4.0, 8.0, 0.0, 1),
        ("region-b", 4.0, 8.0, 0.0, 1),
    ]


@pytest.mark.parametrize(
    ("cpu", "note"),
    [
        # 2 regions x 1 replica x 2 CPU = this machine's 4 CPUs: nothing to say
        (2.0, None),
        # 2 x 3 CPU: each region fits one machine, together they ask for more than this one
        (
            3.0,
            "local/region-a, local/region-b together ask for 6 CPU and 2Gi; this machine has"
            " 4 CPUs and 8Gi, so their replicas share it (fine for a rehearsal, slower under"
            " load)",
        ),
    ],
)
def test_local_regions_sharing_this_machine_is_reported(cpu: float, note: str | None) -> None:
    doc = load(LOCAL_TWO)
    rows = from_manifest.local_offers(from_manifest.local_regions(doc), cpus=4, memory_bytes=8 * GI)
    needs = {"web": from_manifest.ServiceResources(cpu=cpu, memory_bytes=1 * GI)}
    result = from_manifest.plan_manifest(doc, resources=needs, rows=rows).require()
    assert [(a.placement, a.replicas) for a in result.assignments] == [
        ("local/region-a", 1),
        ("local/region-b", 1),
    ]
    assert from_manifest.local_sharing(result, needs, cpus=4, memory_bytes=8 * GI) == note


def test_a_local_region_cannot_hold_more_than_this_machine() -> None:
    doc = load(LOCAL_TWO)
    rows = from_manifest.local_offers(from_manifest.local_regions(doc), cpus=4, memory_bytes=8 * GI)
    needs = {"web": from_manifest.ServiceResources(cpu=5, memory_bytes=1 * GI)}
    result = from_manifest.plan_manifest(doc, resources=needs, rows=rows)
    assert not result.feasible
    assert any(
        "local/region-a holds one replica" in p and "largest: 4 vCPU" in p
        for p in result.all_problems()
    )


@pytest.mark.parametrize(
    ("cap", "problems"),
    [
        (None, []),
        # the cap is per service: the model's cheapest placement costs 1.578 $/h
        (0.9, ["model: its cheapest placement costs $1.5780/h, over maxHourlyPrice $0.9000/h"]),
        (2.0, []),
    ],
)
def test_max_hourly_price_is_per_service(cap: float | None, problems: list[str]) -> None:
    optimizer = f"optimizer: {{maxHourlyPrice: {cap}}}" if cap else ""
    doc = load(TWO_CLOUDS + optimizer)
    result = from_manifest.plan_manifest(
        doc, resources={"model": from_manifest.ServiceResources(2, 4 * GI, (T4,))}, rows=CATALOG
    )
    found = [p.split(" (the cap")[0] for p in result.all_problems()]
    assert found == problems
    assert result.hourly == pytest.approx(1.578)


def test_zero_cpu_is_a_user_error() -> None:
    doc = load("services: [{name: model, image: m:1}]\n")
    with pytest.raises(errors.UserError, match="needs cpu and memory above 0"):
        from_manifest.effective_resources(
            doc.spec.services[0], from_manifest.ServiceResources(cpu=0)
        )
