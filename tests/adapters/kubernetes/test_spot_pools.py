"""Spot node pools per cloud: a spot placement's pods select the cloud's spot label and
tolerate its spot taint, on top of the GPU scheduling, and the objects stay valid for the
upstream Kubernetes schemas (`kubernetes-validate --strict`)."""

from __future__ import annotations

from typing import Any

import pytest

from crosscloud.adapters.kubernetes import clouds, model, render
from tests.adapters.kubernetes.conftest import Validate

NVIDIA = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _taint(key: str, value: str) -> dict[str, str]:
    return {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("cluster", "label", "tolerations"),
    [
        ("EKS", {"eks.amazonaws.com/capacityType": "SPOT"}, [NVIDIA]),
        (
            "GKE",
            {"cloud.google.com/gke-spot": "true"},
            [_taint("cloud.google.com/gke-spot", "true"), NVIDIA],
        ),
        (
            "AKS",
            {"kubernetes.azure.com/scalesetpriority": "spot"},
            [
                _taint("kubernetes.azure.com/scalesetpriority", "spot"),
                NVIDIA,
                _taint("sku", "gpu"),
            ],
        ),
    ],
)
def test_spot_pods_go_to_the_spot_pool(
    cluster: str, label: dict[str, str], tolerations: list[dict[str, Any]]
) -> None:
    spot = clouds.scheduling(cluster, accelerator="T4", instance_type=None, spot=True)
    plain = clouds.scheduling(cluster, accelerator="T4", instance_type=None)
    assert dict(spot.node_selector) == {**plain.node_selector, **label}
    assert [dict(t) for t in spot.tolerations] == tolerations
    assert not set(label) & set(plain.node_selector)  # on-demand pods never ask for it


@pytest.mark.parametrize(
    ("provider", "cluster"), [("aws", "EKS"), ("gcp", "GKE"), ("azure", "AKS")]
)
def test_rendered_spot_deployments_are_schema_valid(
    provider: str, cluster: str, validate: Validate
) -> None:
    placement = model.RenderPlacement(
        provider=provider, region="r1", type=cluster, context="c", namespace="ml"
    )
    services = [
        model.RenderService(
            name="gen", image="gen:1", accelerator="T4", accelerator_count=1, spot=True
        ),
        model.RenderService(name="web", image="web:1", spot=True),
    ]
    objects = render.render_placement(
        deployment="d", placement=placement, services=services, traffic=model.RenderTraffic()
    )
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert len(deployments) == 2
    spot_label = clouds.kubernetes(cluster).spot_label
    for obj in objects:
        assert validate(obj) == [], f"{obj['kind']}/{obj['metadata']['name']}"
    for obj in deployments:
        pod = obj["spec"]["template"]["spec"]
        assert pod["nodeSelector"][spot_label[0]] == spot_label[1]
