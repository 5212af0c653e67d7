"""What differs between EKS, AKS and GKE: GPU node labels, tolerations and load balancers.

Label keys and values are the ones each cloud (or its provisioner) puts on nodes:
EKS and Karpenter `node.kubernetes.io/instance-type` and `karpenter.k8s.aws/instance-gpu-name`;
GKE `cloud.google.com/gke-accelerator`; AKS `kubernetes.azure.com/accelerator=nvidia`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crosscloud import errors

INSTANCE_TYPE = "node.kubernetes.io/instance-type"
KARPENTER_GPU_NAME = "karpenter.k8s.aws/instance-gpu-name"
GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"
AKS_ACCELERATOR = "kubernetes.azure.com/accelerator"
NVIDIA_GPU = "nvidia.com/gpu"
AMD_GPU = "amd.com/gpu"

#: Karpenter's lowercase GPU names for the accelerators sold on AWS.
EKS_GPU_NAMES: Mapping[str, str] = {
    "T4": "t4",
    "L4": "l4",
    "L40S": "l40s",
    "A10G": "a10g",
    "V100": "v100",
    "A100": "a100",
    "A100-80GB": "a100",
    "H100": "h100",
    "H100-80GB": "h100",
    "H200": "h200",
    "B200": "b200",
}

#: GKE's accelerator label values.
GKE_ACCELERATORS: Mapping[str, str] = {
    "T4": "nvidia-tesla-t4",
    "L4": "nvidia-l4",
    "V100": "nvidia-tesla-v100",
    "A100": "nvidia-tesla-a100",
    "A100-80GB": "nvidia-a100-80gb",
    "H100": "nvidia-h100-80gb",
    "H100-80GB": "nvidia-h100-80gb",
    "H200": "nvidia-h200-141gb",
    "B200": "nvidia-b200",
}

#: Accelerators on Azure GPU VM sizes, and the device plugin resource each one uses.
AKS_ACCELERATORS: Mapping[str, str] = {
    "T4": NVIDIA_GPU,
    "A10": NVIDIA_GPU,
    "V100": NVIDIA_GPU,
    "A100": NVIDIA_GPU,
    "A100-80GB": NVIDIA_GPU,
    "H100": NVIDIA_GPU,
    "H100-80GB": NVIDIA_GPU,
    "H200": NVIDIA_GPU,
    "MI300X": AMD_GPU,
}

_OFFERED: Mapping[str, Mapping[str, str]] = {
    "EKS": EKS_GPU_NAMES,
    "GKE": GKE_ACCELERATORS,
    "AKS": AKS_ACCELERATORS,
}


@dataclass(frozen=True)
class Scheduling:
    """Where a pod may run: node selector, tolerations and the device resource to ask for."""

    node_selector: Mapping[str, str]
    tolerations: tuple[Mapping[str, Any], ...] = ()
    resource: str | None = None


def _toleration(key: str, value: str | None = None) -> dict[str, Any]:
    if value is None:
        return {"key": key, "operator": "Exists", "effect": "NoSchedule"}
    return {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}


def _device_resource(cluster: str, accelerator: str) -> str:
    offered = _OFFERED[cluster]
    if accelerator not in offered:
        raise errors.UserError(
            f"accelerator {accelerator!r} is not offered on {cluster}; {cluster} offers"
            f" {', '.join(sorted(offered))}"
        )
    return AKS_ACCELERATORS[accelerator] if cluster == "AKS" else NVIDIA_GPU


def scheduling(cluster: str, *, accelerator: str | None, instance_type: str | None) -> Scheduling:
    """Node selector and tolerations for a pod on `cluster` (EKS, AKS or GKE)."""
    selector = {"kubernetes.io/os": "linux"}
    if instance_type:
        selector[INSTANCE_TYPE] = instance_type
    if accelerator is None:
        return Scheduling(selector)
    resource = _device_resource(cluster, accelerator)
    tolerations = [_toleration(resource)]
    if cluster == "EKS" and not instance_type:
        # Without a priced instance type, any Karpenter node with this GPU will do.
        selector[KARPENTER_GPU_NAME] = EKS_GPU_NAMES[accelerator]
    elif cluster == "GKE":
        selector[GKE_ACCELERATOR] = GKE_ACCELERATORS[accelerator]
    elif cluster == "AKS":
        if resource == NVIDIA_GPU:
            selector[AKS_ACCELERATOR] = "nvidia"
        # AKS GPU pools carry no taint by default; the documented convention is sku=gpu.
        tolerations.append(_toleration("sku", "gpu"))
    return Scheduling(selector, tuple(tolerations), resource)


def load_balancer_annotations(cluster: str, *, health_path: str) -> dict[str, str]:
    """Service annotations for an internet-facing L4 load balancer that probes `health_path`."""
    if cluster == "EKS":
        # Read by the AWS Load Balancer Controller: an NLB sending straight to pod IPs.
        prefix = "service.beta.kubernetes.io/aws-load-balancer-"
        return {
            f"{prefix}type": "external",
            f"{prefix}nlb-target-type": "ip",
            f"{prefix}scheme": "internet-facing",
            f"{prefix}healthcheck-protocol": "http",
            f"{prefix}healthcheck-path": health_path,
        }
    if cluster == "AKS":
        prefix = "service.beta.kubernetes.io/azure-load-balancer-health-probe-"
        return {f"{prefix}protocol": "http", f"{prefix}request-path": health_path}
    if cluster == "GKE":
        # A backend-service-based external passthrough Network Load Balancer.
        return {"cloud.google.com/l4-rbs": "enabled"}
    raise errors.UserError(f"cluster type {cluster!r} is not one of: EKS, AKS, GKE")
