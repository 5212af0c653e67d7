"""A manifest and its plan mapped onto the renderer: one cluster per Kubernetes placement
with the planned replicas, instance types, images and secrets; local placements left out;
what comes out of the multicloud example passes Kubernetes 1.30 and Istio's CRD schemas."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crosscloud.adapters.clouds import catalog as catalog_files
from crosscloud.adapters.kubernetes import from_plan, model, render
from crosscloud.domain import manifest, quantity
from crosscloud.planning import from_manifest, placement

GI = 2**30
Validate = Callable[[dict[str, Any]], list[str]]
T4 = quantity.Accelerator("T4", 1)
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "multicloud" / "crosscloud.yaml"


def load(spec: str) -> manifest.Manifest:
    head = "apiVersion: crosscloud.dev/v1\nkind: CloudDeployment\nmetadata: {name: demo}\nspec:\n"
    return manifest.load_manifest(head + textwrap.indent(textwrap.dedent(spec), "  "), "m.yaml")


def assignment(where: str, service: str, kind: str, replicas: int) -> placement.Assignment:
    provider, region = where.split("/")
    return placement.Assignment(
        service, provider, region, kind, T4, replicas, replicas, 0.5, None, False, 0.5 * replicas
    )


def planned(*items: placement.Assignment) -> placement.Plan:
    return placement.Plan((placement.ServicePlan("model", items, 1.0),), 1.0)


MODEL = """
services:
  - name: model
    source: ./service.py:Model
    scaling: {minReplicas: 1, maxReplicas: 3, targetConcurrency: 4}
    env: {LOG_LEVEL: info}
    secretEnv: {HF_TOKEN: {secret: hf, key: token}}
placements:
  - {provider: aws, region: us-west-2, context: eks, registry: 123456789012.dkr.ecr.us-west-2.amazonaws.com/cc, mesh: istio}
  - {provider: gcp, context: gke}
  - {provider: local, region: here}
"""
NEEDS = {"model": from_manifest.ServiceResources(2, 4 * GI, (T4,))}


def test_each_kubernetes_placement_gets_its_planned_services() -> None:
    result = planned(
        assignment("aws/us-west-2", "model", "g4dn.xlarge", 5),
        assignment("gcp/us-east1", "model", "n1-standard-4", 1),
        assignment("local/here", "model", "this-machine", 1),
    )
    found = from_plan.clusters(load(MODEL), result, resources=NEEDS, image_tag="cc-1234")
    assert [c.placement.key for c in found] == ["aws-us-west-2", "gcp-us-east1"]
    aws, gcp = found
    assert (aws.placement.type, aws.placement.mesh, aws.placement.namespace) == (
        "EKS",
        "istio",
        "demo",
    )
    (svc,) = aws.services
    assert (svc.image, svc.replicas, svc.instance_type) == ("model:cc-1234", 5, "g4dn.xlarge")
    # the autoscaler keeps the planned 5 although scaling.maxReplicas is 3
    assert (svc.min_replicas, svc.max_replicas, svc.target_concurrency) == (1, 5, 4)
    assert (svc.accelerator, svc.accelerator_count, svc.cpu, svc.memory_bytes) == (
        "T4",
        1,
        2,
        4 * GI,
    )
    assert svc.secret_env == {"HF_TOKEN": model.SecretRef("hf", "token")}
    # the region-less gcp placement renders where the optimizer put it
    assert (gcp.placement.region, gcp.placement.context, gcp.services[0].replicas) == (
        "us-east1",
        "gke",
        1,
    )


def test_two_instance_types_in_one_placement_select_none_and_say_so() -> None:
    result = planned(
        assignment("aws/us-west-2", "model", "g4dn.xlarge", 2),
        assignment("aws/us-west-2", "model", "g4dn.2xlarge", 1),
    )
    (aws,) = from_plan.clusters(load(MODEL), result, resources=NEEDS)
    assert aws.services[0].instance_type is None
    assert aws.services[0].image == f"model:{from_plan.PLACEHOLDER_TAG}"
    assert aws.notes == (
        "aws-us-west-2: model is planned on g4dn.2xlarge, g4dn.xlarge; the Deployment selects"
        " no instance type, so the cluster's autoscaler picks the nodes",
    )


def test_declared_placement_with_zero_replicas_is_rendered_scaled_down() -> None:
    doc = load(
        MODEL.replace("mesh: istio}", "mesh: istio, services: [{name: model, replicas: 0}]}")
    )
    (aws,) = from_plan.clusters(doc, planned(), resources=NEEDS)
    assert (aws.services[0].replicas, aws.services[0].min_replicas) == (0, 0)


def test_placements_auto_render_with_the_cloud_default_cluster_type() -> None:
    doc = load("services: [{name: model, image: ghcr.io/me/model:1}]\nplacements: auto\n")
    (azure,) = from_plan.clusters(
        doc, planned(assignment("azure/eastus", "model", "NC4as_T4_v3", 1)), resources=NEEDS
    )
    assert (azure.placement.type, azure.placement.namespace) == ("AKS", "demo")
    assert azure.services[0].image == "ghcr.io/me/model:1"


def test_traffic_carries_every_field() -> None:
    doc = load(
        MODEL + "traffic: {timeout: 20s, retries: {attempts: 3, perTryTimeout: 5s, retryOn: [5xx]},"
        " outlierDetection: {consecutive5xxErrors: 7, interval: 5s, baseEjectionTime: 1m,"
        " maxEjectionPercent: 50}}\n"
    )
    assert from_plan.traffic(doc.spec.traffic) == model.RenderTraffic(
        "least-request", 20.0, 3, 5.0, "5xx", 7, 5.0, 60.0, 50
    )


def test_the_multicloud_example_renders_valid_objects(validate: Validate) -> None:
    doc = manifest.load_manifest(EXAMPLE.read_text(), str(EXAMPLE))
    resources = {s.name: from_manifest.effective_resources(s) for s in doc.spec.services}
    rows = catalog_files.shipped() + from_manifest.local_offers(
        ("region-a",), cpus=2, memory_bytes=4 * GI
    )
    result = from_manifest.plan_manifest(doc, resources=resources, rows=rows).require()
    found = from_plan.clusters(doc, result, resources=resources)
    assert [c.placement.key for c in found] == ["aws-us-west-2", "azure-eastus", "gcp-us-central1"]
    kinds = set()
    for cluster in found:
        objects = render.render_placement(
            deployment="multicloud",
            placement=cluster.placement,
            services=cluster.services,
            traffic=from_plan.traffic(doc.spec.traffic),
        )
        for obj in objects:
            assert validate(obj) == [], (cluster.placement.key, obj["kind"])
            kinds.add(obj["kind"])
    assert {"Deployment", "VirtualService", "DestinationRule"} <= kinds
