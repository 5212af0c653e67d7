"""Istio VirtualService and DestinationRule (networking.istio.io/v1) carrying spec.traffic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crosscloud.adapters.kubernetes import meta, model, units
from crosscloud.domain import policies

API_VERSION = "networking.istio.io/v1"
SECURITY_API_VERSION = "security.istio.io/v1"
SERVICE_PORT = 80

#: crosscloud's policy names (every one: a test checks) -> Envoy's simple load balancers
#: as Istio spells them. Istio has no latency-aware (EWMA) balancer. LEAST_REQUEST is the
#: nearest: Envoy picks the less loaded of two random hosts, and a slow host keeps more
#: requests outstanding, so it is chosen less often -- latency feeds back through queue depth.
LB_POLICY: Mapping[policies.Policy, str] = {
    "round-robin": "ROUND_ROBIN",
    "least-request": "LEAST_REQUEST",
    "latency": "LEAST_REQUEST",
    # Inside one cluster the mesh balances by load; the prompt-prefix choice between
    # replicas is made by crosscloud's gateway, which reads the request body.
    "prefix-affinity": "LEAST_REQUEST",
}


def host(service: str, namespace: str) -> str:
    """The cluster-local name the mesh routes for a Service."""
    return f"{service}.{namespace}.svc.cluster.local"


def retries(traffic: model.RenderTraffic) -> dict[str, Any] | None:
    """The HTTPRetry block, or None to keep Istio's default (2 attempts)."""
    if traffic.retry_attempts is None:
        return None
    block: dict[str, Any] = {"attempts": traffic.retry_attempts}
    if traffic.retry_attempts > 0:
        if traffic.per_try_timeout_s is not None:
            block["perTryTimeout"] = units.duration(traffic.per_try_timeout_s)
        if traffic.retry_on:
            block["retryOn"] = traffic.retry_on
    return block


def outlier_detection(traffic: model.RenderTraffic) -> dict[str, Any]:
    """The OutlierDetection block with only the fields the manifest set."""
    block: dict[str, Any] = {}
    if traffic.consecutive_5xx is not None:
        block["consecutive5xxErrors"] = traffic.consecutive_5xx
    if traffic.interval_s is not None:
        block["interval"] = units.duration(traffic.interval_s)
    if traffic.base_ejection_s is not None:
        block["baseEjectionTime"] = units.duration(traffic.base_ejection_s)
    if traffic.max_ejection_percent is not None:
        block["maxEjectionPercent"] = traffic.max_ejection_percent
    return block


def virtual_service(
    deployment: str,
    placement: model.RenderPlacement,
    service: model.RenderService,
    traffic: model.RenderTraffic,
) -> dict[str, Any]:
    """Timeout and retries for calls to `service` from inside the mesh."""
    fqdn = host(service.name, placement.namespace)
    route: dict[str, Any] = {
        "name": "default",
        "route": [{"destination": {"host": fqdn, "port": {"number": SERVICE_PORT}}}],
    }
    if traffic.timeout_s is not None:
        route["timeout"] = units.duration(traffic.timeout_s)
    retry = retries(traffic)
    if retry is not None:
        route["retries"] = retry
    return {
        "apiVersion": API_VERSION,
        "kind": "VirtualService",
        "metadata": meta.metadata(
            name=service.name,
            namespace=placement.namespace,
            labels=meta.labels(deployment, service.name, placement),
        ),
        "spec": {"hosts": [fqdn], "http": [route]},
    }


def destination_rule(
    deployment: str,
    placement: model.RenderPlacement,
    service: model.RenderService,
    traffic: model.RenderTraffic,
) -> dict[str, Any]:
    """Load-balancer policy and outlier ejection for `service`'s endpoints."""
    policy: dict[str, Any] = {"loadBalancer": {"simple": LB_POLICY[traffic.policy]}}
    outliers = outlier_detection(traffic)
    if outliers:
        policy["outlierDetection"] = outliers
    if service.mtls:
        # Calls from inside the mesh: sidecar to sidecar with Istio's mutual TLS.
        policy["tls"] = {"mode": "ISTIO_MUTUAL"}
    return {
        "apiVersion": API_VERSION,
        "kind": "DestinationRule",
        "metadata": meta.metadata(
            name=service.name,
            namespace=placement.namespace,
            labels=meta.labels(deployment, service.name, placement),
            # The manifest's own word, since `latency` and `least-request` render alike.
            annotations={"crosscloud.dev/traffic-policy": traffic.policy},
        ),
        "spec": {"host": host(service.name, placement.namespace), "trafficPolicy": policy},
    }


def peer_authentication(
    deployment: str, placement: model.RenderPlacement, service: model.RenderService
) -> dict[str, Any]:
    """STRICT mutual TLS for `service`'s pods: their sidecars take only Istio mTLS. The
    serving port is PERMISSIVE at the sidecar because the gateway (outside the mesh)
    comes in through the load balancer with TLS of its own there, which the replica
    itself checks: it requires a client certificate of the deployment's CA."""
    return {
        "apiVersion": SECURITY_API_VERSION,
        "kind": "PeerAuthentication",
        "metadata": meta.metadata(
            name=service.name,
            namespace=placement.namespace,
            labels=meta.labels(deployment, service.name, placement),
        ),
        "spec": {
            "selector": {"matchLabels": meta.selector(deployment, service.name)},
            "mtls": {"mode": "STRICT"},
            "portLevelMtls": {str(service.port): {"mode": "PERMISSIVE"}},
        },
    }
