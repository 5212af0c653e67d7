"""The Deployment of one service in one placement: pod template, probes, security, GPUs."""

from __future__ import annotations

from typing import Any

from crosscloud.adapters.kubernetes import clouds, meta, model, registry, render_tls, units

#: The UID (and GID) replicas run as; images built by crosscloud create this user.
RUN_AS_USER = 10001
READY_PATH = "/readyz"
LIVE_PATH = "/healthz"
PORT_NAME = "http"


def _env(service: model.RenderService) -> list[dict[str, Any]]:
    plain = [{"name": name, "value": service.env[name]} for name in sorted(service.env)]
    secret = [
        {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}},
        }
        for name, ref in sorted(service.secret_env.items())
    ]
    return sorted(plain + secret, key=lambda item: str(item["name"]))


def _resources(service: model.RenderService, device: str | None) -> dict[str, Any]:
    memory = units.memory_quantity(service.memory_bytes)
    # No CPU limit: throttling a model server hurts latency more than sharing idle cores.
    requests: dict[str, Any] = {"cpu": units.cpu_quantity(service.cpu), "memory": memory}
    limits: dict[str, Any] = {"memory": memory}
    if device is not None:
        limits[device] = str(service.accelerator_count)
        requests[device] = str(service.accelerator_count)
    return {"requests": requests, "limits": limits}


def _probe(path: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _probes(service: model.RenderService) -> dict[str, Any]:
    """crosscloud's /readyz and /healthz; or a third-party server's one health path, with a
    start-up probe allowing 15 minutes (a large model loads before the server answers, and
    liveness must not restart it meanwhile)."""
    if service.health_path is None:
        return {
            "readinessProbe": _probe(READY_PATH, period=5, failures=3),
            "livenessProbe": _probe(LIVE_PATH, period=10, failures=6),
        }
    return {
        "startupProbe": _probe(service.health_path, period=10, failures=90),
        "readinessProbe": _probe(service.health_path, period=5, failures=3),
        "livenessProbe": _probe(service.health_path, period=10, failures=6),
    }


def _container(
    service: model.RenderService, placement: model.RenderPlacement, device: str | None
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": service.name,
        "image": registry.image_reference(placement.registry, service.image),
        "ports": [{"name": PORT_NAME, "containerPort": service.port, "protocol": "TCP"}],
        "resources": _resources(service, device),
        **_probes(service),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if service.mtls:
        container["readinessProbe"] = render_tls.probe(service, READY_PATH, period=5, failures=3)
        container["livenessProbe"] = render_tls.probe(service, LIVE_PATH, period=10, failures=6)
        container["volumeMounts"] = [render_tls.mount()]
    args = [*service.args, *(render_tls.args(service) if service.mtls else [])]
    if args:
        container["args"] = args
    env = _env(service)
    if env:
        container["env"] = env
    return container


def _spread(deployment: str, name: str) -> list[dict[str, Any]]:
    """Prefer replicas in different zones, then on different nodes; never block scheduling."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": meta.selector(deployment, name)},
            "matchLabelKeys": ["pod-template-hash"],
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def pod_spec(
    deployment: str, placement: model.RenderPlacement, service: model.RenderService
) -> dict[str, Any]:
    """The pod template's spec for `service` on `placement`'s cluster."""
    where = clouds.scheduling(
        placement.type,
        accelerator=service.accelerator,
        instance_type=service.instance_type or placement.instance_type,
        spot=service.spot,
    )
    spec: dict[str, Any] = {
        "containers": [_container(service, placement, where.resource)],
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "nodeSelector": dict(where.node_selector),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "topologySpreadConstraints": _spread(deployment, service.name),
    }
    if where.tolerations:
        spec["tolerations"] = [dict(item) for item in where.tolerations]
    if service.mtls:
        spec["volumes"] = [render_tls.volume(service)]
    return spec


def deployment_object(
    deployment: str, placement: model.RenderPlacement, service: model.RenderService
) -> dict[str, Any]:
    """The apps/v1 Deployment, at the replica count planned for this placement.

    Zero replicas is scale-to-zero: an autoscaler leaves a Deployment at 0 alone.
    """
    labels = meta.labels(deployment, service.name, placement)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.metadata(name=service.name, namespace=placement.namespace, labels=labels),
        "spec": {
            "replicas": service.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": meta.selector(deployment, service.name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": pod_spec(deployment, placement, service),
            },
        },
    }
