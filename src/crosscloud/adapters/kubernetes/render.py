"""Pure renderer: one placement's services -> Kubernetes (and Istio) objects, and YAML.

Per placement a Namespace, then per service a Deployment, a LoadBalancer Service, a
HorizontalPodAutoscaler (when it has room to scale), a PodDisruptionBudget and, with
`mesh: istio`, a VirtualService and DestinationRule. Same input, same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from crosscloud import errors
from crosscloud.adapters.kubernetes import (
    clouds,
    meta,
    model,
    render_istio,
    render_tls,
    workload,
)

#: The per-pod metric the autoscaler reads for targetConcurrency (a Prometheus gauge the
#: runtime exports; a metrics adapter must serve it through the custom metrics API).
CONCURRENCY_METRIC = "crosscloud_requests_in_flight"
DEFAULT_CPU_PERCENT = 80


def namespace_object(deployment: str, placement: model.RenderPlacement) -> dict[str, Any]:
    """The placement's Namespace; with Istio, labelled for sidecar injection."""
    labels = meta.labels(deployment, deployment, placement)
    if placement.mesh == "istio":
        labels["istio-injection"] = "enabled"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta.metadata(name=placement.namespace, labels=labels),
    }


def service_object(
    deployment: str, placement: model.RenderPlacement, service: model.RenderService
) -> dict[str, Any]:
    """A LoadBalancer Service with the cloud's annotations; the gateway's way in."""
    annotations = clouds.load_balancer_annotations(placement.type, health_path=workload.READY_PATH)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(
            name=service.name,
            namespace=placement.namespace,
            labels=meta.labels(deployment, service.name, placement),
            annotations=annotations,
        ),
        "spec": {
            "type": "LoadBalancer",
            "selector": meta.selector(deployment, service.name),
            "ports": [
                {
                    "name": workload.PORT_NAME,
                    "port": render_istio.SERVICE_PORT,
                    "targetPort": workload.PORT_NAME,
                    "protocol": "TCP",
                    "appProtocol": "https" if service.mtls else "http",
                }
            ],
        },
    }


def _metric(service: model.RenderService) -> dict[str, Any]:
    if service.target_concurrency is not None:
        return {
            "type": "Pods",
            "pods": {
                "metric": {"name": CONCURRENCY_METRIC},
                "target": {
                    "type": "AverageValue",
                    "averageValue": f"{round(service.target_concurrency * 1000)}m",
                },
            },
        }
    percent = service.target_cpu_percent or DEFAULT_CPU_PERCENT
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    }


def autoscaler_object(
    deployment: str, placement: model.RenderPlacement, service: model.RenderService
) -> dict[str, Any]:
    """An autoscaling/v2 HorizontalPodAutoscaler between min (at least 1) and max replicas."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta.metadata(
            name=service.name,
            namespace=placement.namespace,
            labels=meta.labels(deployment, service.name, placement),
        ),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service.name},
            "minReplicas": max(1, service.min_replicas),
            "maxReplicas": service.max_replicas,
            "metrics": [_metric(service)],
        },
    }


def disruption_budget_object(
    deployment: str, placement: model.RenderPlacement, service: model.RenderService
) -> dict[str, Any]:
    """A policy/v1 PodDisruptionBudget: drains take one replica at a time, never stall."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.metadata(
            name=service.name,
            namespace=placement.namespace,
            labels=meta.labels(deployment, service.name, placement),
        ),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": meta.selector(deployment, service.name)},
            # A pod that is not ready serves nothing; let drains evict it.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def service_objects(
    deployment: str,
    placement: model.RenderPlacement,
    service: model.RenderService,
    traffic: model.RenderTraffic,
) -> list[dict[str, Any]]:
    """Every object of one service in one placement, in apply order."""
    secret = [render_tls.secret_object(deployment, placement, service)] if service.mtls else []
    objects = [
        *secret,  # before the Deployment whose pods mount it
        workload.deployment_object(deployment, placement, service),
        service_object(deployment, placement, service),
    ]
    if service.autoscaled:
        objects.append(autoscaler_object(deployment, placement, service))
    objects.append(disruption_budget_object(deployment, placement, service))
    if placement.mesh == "istio":
        objects.append(render_istio.virtual_service(deployment, placement, service, traffic))
        objects.append(render_istio.destination_rule(deployment, placement, service, traffic))
        if service.mtls:
            objects.append(render_istio.peer_authentication(deployment, placement, service))
    return objects


def render_placement(
    *,
    deployment: str,
    placement: model.RenderPlacement,
    services: Sequence[model.RenderService],
    traffic: model.RenderTraffic,
) -> list[dict[str, Any]]:
    """All objects for one placement: its Namespace first, then each service by name."""
    model.check_name(deployment, what="deployment name")
    names = [service.name for service in services]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise errors.UserError(
            f"placement {placement.key}: service {', '.join(duplicates)} listed more than once"
        )
    objects = [namespace_object(deployment, placement)]
    for service in sorted(services, key=lambda item: item.name):
        objects.extend(service_objects(deployment, placement, service, traffic))
    return objects


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated values out in full: `&id001` anchors confuse people and some tools."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(objects: Sequence[dict[str, Any]]) -> str:
    """A multi-document YAML stream with sorted keys, in the objects' order."""
    return yaml.dump_all(
        list(objects),
        Dumper=_PlainDumper,
        sort_keys=True,
        default_flow_style=False,
        explicit_start=True,
        width=4096,
    )


def render_placement_yaml(
    *,
    deployment: str,
    placement: model.RenderPlacement,
    services: Sequence[model.RenderService],
    traffic: model.RenderTraffic,
) -> str:
    """`render_placement` as YAML text, ready for `kubectl apply -f -` or a file."""
    return to_yaml(
        render_placement(
            deployment=deployment, placement=placement, services=services, traffic=traffic
        )
    )
