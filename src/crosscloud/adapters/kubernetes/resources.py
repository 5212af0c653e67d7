"""REST paths of the kinds crosscloud renders: `/api/v1/...` and `/apis/<group>/<version>/...`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from crosscloud import errors


@dataclass(frozen=True)
class Kind:
    """One API kind: its apiVersion, plural resource name and whether it lives in a namespace."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def prefix(self) -> str:
        """`/api/v1` for the core group, `/apis/<group>/<version>` for the others."""
        return f"/apis/{self.api_version}" if "/" in self.api_version else "/api/v1"

    def collection(self, namespace: str | None) -> str:
        if self.namespaced:
            if not namespace:
                raise errors.UserError(f"{self.kind} needs a namespace")
            return f"{self.prefix}/namespaces/{quote(namespace)}/{self.plural}"
        return f"{self.prefix}/{self.plural}"

    def path(self, name: str, namespace: str | None) -> str:
        return f"{self.collection(namespace)}/{quote(name)}"


NAMESPACE = Kind("v1", "Namespace", "namespaces", namespaced=False)
SERVICE = Kind("v1", "Service", "services")
POD = Kind("v1", "Pod", "pods")
NODE = Kind("v1", "Node", "nodes", namespaced=False)
SECRET = Kind("v1", "Secret", "secrets")  # a workload's certificate (mutual TLS)
DEPLOYMENT = Kind("apps/v1", "Deployment", "deployments")
AUTOSCALER = Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
DISRUPTION_BUDGET = Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
VIRTUAL_SERVICE = Kind("networking.istio.io/v1", "VirtualService", "virtualservices")
DESTINATION_RULE = Kind("networking.istio.io/v1", "DestinationRule", "destinationrules")
PEER_AUTHENTICATION = Kind("security.istio.io/v1", "PeerAuthentication", "peerauthentications")
ISTIO_GROUP = "networking.istio.io"
ISTIO_GROUPS = (ISTIO_GROUP, "security.istio.io")

#: Namespaced kinds crosscloud applies, in the order `down` deletes them (mesh first).
OWNED: tuple[Kind, ...] = (
    PEER_AUTHENTICATION,
    DESTINATION_RULE,
    VIRTUAL_SERVICE,
    DISRUPTION_BUDGET,
    AUTOSCALER,
    SERVICE,
    DEPLOYMENT,
    SECRET,  # after the Deployment whose pods mount it
)
_BY_KIND: Mapping[tuple[str, str], Kind] = {
    (k.api_version, k.kind): k for k in (NAMESPACE, POD, *OWNED)
}


def kind_of(obj: Mapping[str, Any]) -> Kind:
    """The Kind of a rendered object; an unknown apiVersion/kind is a UserError."""
    key = (str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    found = _BY_KIND.get(key)
    if found is None:
        known = ", ".join(f"{k.kind} {k.api_version}" for k in _BY_KIND.values())
        raise errors.UserError(f"cannot apply {key[1]} {key[0]}: crosscloud applies {known}")
    return found


def object_path(obj: Mapping[str, Any]) -> str:
    """The REST path of one object (for apply, get and delete)."""
    metadata = obj.get("metadata", {})
    return kind_of(obj).path(str(metadata.get("name", "")), metadata.get("namespace"))


def describe(obj: Mapping[str, Any]) -> str:
    """`Deployment ns/name`, for messages."""
    metadata = obj.get("metadata", {})
    where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{obj.get('kind')} {where}{metadata.get('name')}"
