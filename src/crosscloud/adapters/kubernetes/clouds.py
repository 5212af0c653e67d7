"""What differs between managed Kubernetes clouds, read from the provider registry
(`domain/providers`): the node selector, tolerations and device resource of a GPU pod, and
the annotations of an internet-facing load balancer. Nothing here names a cloud.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crosscloud import errors
from crosscloud.domain import providers

INSTANCE_TYPE = "node.kubernetes.io/instance-type"


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


def kubernetes(cluster: str) -> providers.Kubernetes:
    """The specifics of cluster type `cluster` (EKS, AKS, GKE, ...); UserError if none."""
    found = providers.of_cluster_type(cluster)
    if found is None or found.kubernetes is None:
        known = ", ".join(p.cluster_type for p in providers.CLUSTERS)
        raise errors.UserError(f"cluster type {cluster!r} is not one of: {known}")
    return found.kubernetes


def _gpu(cluster: str, accelerator: str) -> providers.Gpu:
    offered = kubernetes(cluster).gpus
    if accelerator not in offered:
        raise errors.UserError(
            f"accelerator {accelerator!r} is not offered on {cluster}; {cluster} offers"
            f" {', '.join(sorted(offered))}"
        )
    return offered[accelerator]


def scheduling(
    cluster: str, *, accelerator: str | None, instance_type: str | None, spot: bool = False
) -> Scheduling:
    """Node selector and tolerations for a pod on `cluster` (EKS, AKS, GKE, ...); on the
    cloud's spot node pool when `spot`."""
    selector = {"kubernetes.io/os": "linux"}
    if instance_type:
        selector[INSTANCE_TYPE] = instance_type
    tolerations: list[dict[str, Any]] = []
    if spot:
        spec = kubernetes(cluster)
        selector[spec.spot_label[0]] = spec.spot_label[1]
        if spec.spot_taint is not None:
            tolerations.append(_toleration(*spec.spot_taint))
    if accelerator is None:
        return Scheduling(selector, tuple(tolerations))
    spec, gpu = kubernetes(cluster), _gpu(cluster, accelerator)
    if gpu.label is not None and (spec.gpu_label_with_instance_type or not instance_type):
        selector[spec.gpu_label] = gpu.label
    tolerations.append(_toleration(gpu.resource))
    tolerations += [_toleration(key, value) for key, value in spec.gpu_tolerations]
    return Scheduling(selector, tuple(tolerations), gpu.resource)


def load_balancer_annotations(cluster: str, *, health_path: str) -> dict[str, str]:
    """Service annotations for an internet-facing L4 load balancer that probes `health_path`."""
    return {
        key: value.replace("{health_path}", health_path)
        for key, value in kubernetes(cluster).load_balancer.items()
    }
