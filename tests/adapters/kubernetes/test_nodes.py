"""Reading spot nodes and preemption notices from Node objects, per cloud, as tables."""

from __future__ import annotations

from typing import Any

import pytest

from crosscloud.adapters.kubernetes import clouds, nodes


def node(labels: dict[str, str] | None = None, *taints: str, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "n1", "labels": labels or {}}
    if spec.pop("deleting", False):
        meta["deletionTimestamp"] = "2026-12-06T21:00:00Z"
    taint_list = [{"key": key, "effect": "NoSchedule"} for key in taints]
    return {"metadata": meta, "spec": {"taints": taint_list, **spec}}


GKE_SPOT = {"cloud.google.com/gke-spot": "true"}
EKS_SPOT = {"eks.amazonaws.com/capacityType": "SPOT"}
AKS_SPOT = {"kubernetes.azure.com/scalesetpriority": "spot"}


@pytest.mark.parametrize(
    ("cluster", "obj", "capacity", "going"),
    [
        ("GKE", node(GKE_SPOT, "cloud.google.com/gke-spot"), "spot", False),  # its pool's taint
        ("GKE", node(GKE_SPOT, "cloud.google.com/impending-node-termination"), "spot", True),
        ("GKE", node({}), "on-demand", False),
        ("EKS", node(EKS_SPOT), "spot", False),
        ("EKS", node({"eks.amazonaws.com/capacityType": "ON_DEMAND"}), "on-demand", False),
        ("EKS", node(EKS_SPOT, "aws-node-termination-handler/spot-itn"), "spot", True),
        ("EKS", node(EKS_SPOT, "karpenter.sh/disrupted"), "spot", True),
        ("AKS", node(AKS_SPOT, "kubernetes.azure.com/scalesetpriority"), "spot", False),
        ("AKS", node(AKS_SPOT, "ToBeDeletedByClusterAutoscaler"), "spot", True),
        ("AKS", node(AKS_SPOT, unschedulable=True), "spot", True),  # cordoned
        ("AKS", node(AKS_SPOT, deleting=True), "spot", True),
        ("GKE", None, "on-demand", True),  # the node is gone
    ],
)
def test_node_capacity_and_notice(
    cluster: str, obj: dict[str, Any] | None, capacity: str, going: bool
) -> None:
    kube = clouds.kubernetes(cluster)
    assert nodes.capacity(obj, kube) == capacity
    assert nodes.going_away(obj, kube) is going


def test_a_pod_not_scheduled_or_with_unreadable_nodes_is_on_demand_and_not_noticed() -> None:
    kube = clouds.kubernetes("GKE")
    spot_node = {"n1": node(GKE_SPOT, "cloud.google.com/impending-node-termination")}
    on_n1 = {"spec": {"nodeName": "n1"}}
    assert nodes.of_pod(on_n1, spot_node, kube) == ("spot", True)
    assert nodes.of_pod(on_n1, {}, kube) == ("on-demand", True)  # gone under the pod
    assert nodes.of_pod(on_n1, None, kube) == ("on-demand", False)  # RBAC: no node list
    assert nodes.of_pod({"spec": {}}, spot_node, kube) == ("on-demand", False)  # pending
