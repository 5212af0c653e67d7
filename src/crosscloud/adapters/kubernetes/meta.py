"""Labels and metadata every rendered object carries, so `down` can find exactly its own."""

from __future__ import annotations

from typing import Any

from crosscloud.adapters.kubernetes import model

MANAGED_BY = "app.kubernetes.io/managed-by"
NAME = "app.kubernetes.io/name"
DEPLOYMENT = "crosscloud.dev/deployment"
PLACEMENT = "crosscloud.dev/placement"
MANAGER = "crosscloud"


def selector(deployment: str, name: str) -> dict[str, str]:
    """The labels that pick one service's pods (stable for the Deployment's lifetime)."""
    return {NAME: name, DEPLOYMENT: deployment}


def labels(deployment: str, name: str, placement: model.RenderPlacement) -> dict[str, str]:
    """Selector labels plus who manages the object and which placement it belongs to."""
    return {
        **selector(deployment, name),
        MANAGED_BY: MANAGER,
        PLACEMENT: f"{placement.provider}.{placement.region}",
    }


def metadata(
    *,
    name: str,
    labels: dict[str, str],
    namespace: str | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An ObjectMeta with only the fields that are set."""
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    return meta
