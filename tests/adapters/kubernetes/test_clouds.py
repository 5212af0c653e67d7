"""Per-cloud GPU placement as tables: node selectors, tolerations and the device resource."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from crosscloud import errors
from crosscloud.adapters.kubernetes import clouds, model, render

LINUX = {"kubernetes.io/os": "linux"}
NVIDIA = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
SKU_GPU = {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("cluster", "accelerator", "instance_type", "selector", "tolerations", "resource"),
    [
        (
            "EKS",
            "A10G",
            "g5.xlarge",
            {"node.kubernetes.io/instance-type": "g5.xlarge"},
            [NVIDIA],
            "nvidia.com/gpu",
        ),
        (
            "EKS",
            "L4",
            None,
            {"karpenter.k8s.aws/instance-gpu-name": "l4"},
            [NVIDIA],
            "nvidia.com/gpu",
        ),
        (
            "EKS",
            "H100-80GB",
            None,
            {"karpenter.k8s.aws/instance-gpu-name": "h100"},
            [NVIDIA],
            "nvidia.com/gpu",
        ),
        (
            "GKE",
            "L4",
            None,
            {"cloud.google.com/gke-accelerator": "nvidia-l4"},
            [NVIDIA],
            "nvidia.com/gpu",
        ),
        (
            "GKE",
            "T4",
            None,
            {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"},
            [NVIDIA],
            "nvidia.com/gpu",
        ),
        (
            "GKE",
            "A100",
            None,
            {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"},
            [NVIDIA],
            "nvidia.com/gpu",
        ),
        (
            "GKE",
            "A100-80GB",
            None,
            {"cloud.google.com/gke-accelerator": "nvidia-a100-80gb"},
            [NVIDIA],
            "nvidia.com/gpu",
        ),
        (
            "GKE",
            "H100",
            "a3-highgpu-1g",
            {
                "cloud.google.com/gke-accelerator": "nvidia-h100-80gb",
                "node.kubernetes.io/instance-type": "a3-highgpu-1g",
            },
            [NVIDIA],
            "nvidia.com/gpu",
        ),
        (
            "AKS",
            "T4",
            "Standard_NC4as_T4_v3",
            {
                "kubernetes.azure.com/accelerator": "nvidia",
                "node.kubernetes.io/instance-type": "Standard_NC4as_T4_v3",
            },
            [NVIDIA, SKU_GPU],
            "nvidia.com/gpu",
        ),
        (
            "AKS",
            "MI300X",
            "Standard_ND96isr_MI300X_v5",
            {"node.kubernetes.io/instance-type": "Standard_ND96isr_MI300X_v5"},
            [{**NVIDIA, "key": "amd.com/gpu"}, SKU_GPU],
            "amd.com/gpu",
        ),
        ("EKS", None, "m6i.xlarge", {"node.kubernetes.io/instance-type": "m6i.xlarge"}, [], None),
        ("GKE", None, None, {}, [], None),
    ],
)
def test_gpu_scheduling_per_cloud(
    cluster: str,
    accelerator: str | None,
    instance_type: str | None,
    selector: dict[str, str],
    tolerations: list[dict[str, Any]],
    resource: str | None,
) -> None:
    where = clouds.scheduling(cluster, accelerator=accelerator, instance_type=instance_type)
    assert dict(where.node_selector) == {**LINUX, **selector}
    assert [dict(t) for t in where.tolerations] == tolerations
    assert where.resource == resource


@pytest.mark.parametrize(
    ("cluster", "accelerator"),
    [
        ("GKE", "A10G"),
        ("GKE", "L40S"),
        ("AKS", "A10G"),
        ("AKS", "L4"),
        ("EKS", "A10"),
        ("EKS", "MI300X"),
        ("GKE", "TPU-V5E"),
    ],
)
def test_an_accelerator_the_cloud_does_not_sell_is_refused(cluster: str, accelerator: str) -> None:
    with pytest.raises(
        errors.UserError, match=f"'{accelerator}' is not offered on {cluster}; {cluster} offers"
    ):
        clouds.scheduling(cluster, accelerator=accelerator, instance_type=None)


def test_the_service_instance_type_overrides_the_placement() -> None:
    placement = model.RenderPlacement(
        provider="aws",
        region="us-east-1",
        type="EKS",
        context="c",
        namespace="ml",
        instance_type="m6i.large",
    )
    gpu = model.RenderService(
        name="gen",
        image="gen:1",
        accelerator="H100",
        accelerator_count=8,
        instance_type="p5.48xlarge",
    )
    cpu = model.RenderService(name="web", image="web:1")
    objects = render.render_placement(
        deployment="d", placement=placement, services=[gpu, cpu], traffic=model.RenderTraffic()
    )
    selectors = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["nodeSelector"][
            "node.kubernetes.io/instance-type"
        ]
        for o in objects
        if o["kind"] == "Deployment"
    }
    assert selectors == {"gen": "p5.48xlarge", "web": "m6i.large"}
    limits = next(
        o for o in objects if o["metadata"]["name"] == "gen" and o["kind"] == "Deployment"
    )
    assert (
        limits["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
        == "8"
    )


def test_accelerator_and_count_go_together() -> None:
    base = model.RenderService(name="x", image="x:1")
    with pytest.raises(errors.UserError, match="accelerator name and a count"):
        dataclasses.replace(base, accelerator="T4")
    with pytest.raises(errors.UserError, match="accelerator name and a count"):
        dataclasses.replace(base, accelerator_count=1)
