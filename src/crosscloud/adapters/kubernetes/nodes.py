"""Spot nodes and the signals that one is being taken back, read from Node objects with
the cloud's labels and taints (`domain/providers`): what a pod runs on (spot or
on-demand), and whether its node is going away (a preemption notice).

A node is going away when it carries one of its cloud's notice taints (the AWS Node
Termination Handler's spot interruption taint, GKE's impending-node-termination), is
cordoned or marked for deletion by the cluster autoscaler, is being deleted, or is gone
while a pod still names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crosscloud.domain import cost, providers

#: Taints any cloud's node gets before it is drained or removed.
GOING_AWAY = ("node.kubernetes.io/unschedulable", "ToBeDeletedByClusterAutoscaler")

Node = Mapping[str, Any]


def by_name(listed: Mapping[str, Any] | None) -> dict[str, Node] | None:
    """Nodes by name from a NodeList; None when they could not be read (RBAC)."""
    if listed is None:
        return None
    return {str(n["metadata"]["name"]): n for n in listed.get("items", [])}


def capacity(node: Node | None, kube: providers.Kubernetes) -> str:
    """`spot` on a node of the cloud's spot pool, else `on-demand`."""
    if node is None or not kube.spot_label[0]:
        return cost.ON_DEMAND
    labels = node.get("metadata", {}).get("labels", {}) or {}
    return cost.SPOT if labels.get(kube.spot_label[0]) == kube.spot_label[1] else cost.ON_DEMAND


def going_away(node: Node | None, kube: providers.Kubernetes) -> bool:
    """Whether the node is being taken back (None: it no longer exists)."""
    if node is None:
        return True
    spec, meta = node.get("spec", {}) or {}, node.get("metadata", {}) or {}
    if spec.get("unschedulable") or meta.get("deletionTimestamp"):
        return True
    keys = {str(t.get("key", "")) for t in spec.get("taints", []) or []}
    return bool(keys & {*GOING_AWAY, *kube.spot_notice_taints})


def of_pod(
    pod: Mapping[str, Any], nodes: Mapping[str, Node] | None, kube: providers.Kubernetes
) -> tuple[str, bool]:
    """(capacity, noticed) for a pod: where it runs and whether its node is going away.
    Unknown (not scheduled yet, or nodes unreadable): on-demand, not noticed."""
    name = (pod.get("spec", {}) or {}).get("nodeName")
    if not name or nodes is None:
        return cost.ON_DEMAND, False
    node = nodes.get(str(name))
    return capacity(node, kube), going_away(node, kube)
