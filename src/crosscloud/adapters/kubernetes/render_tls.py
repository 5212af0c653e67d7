"""Mutual TLS on a cluster: the workload's certificate as a `kubernetes.io/tls` Secret
(with the trust bundle as `ca.crt`), mounted read-only into the pod, and the flags and
exec probes that use it. Without the material (`plan --render`) the Secret's values are
a masked placeholder: key material is only ever sent to the API server, never shown."""

from __future__ import annotations

import base64
from typing import Any

from crosscloud.adapters.kubernetes import meta, model

MOUNT = "/etc/crosscloud/tls"
VOLUME = "tls"
MASKED = b"masked: issued by the deployment's CA when `crosscloud up` applies this"
#: Readable by the pod's group (its fsGroup is the replica's user), by no one else.
MODE = 0o440


def secret_name(service: model.RenderService) -> str:
    return f"{service.name}-tls"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def secret_object(
    deployment: str, placement: model.RenderPlacement, service: model.RenderService
) -> dict[str, Any]:
    """The Secret holding `service`'s certificate, key and trusted roots."""
    found = service.tls_material
    cert, key, ca = (
        (MASKED, MASKED, MASKED) if found is None else (found.cert_pem, found.key_pem, found.ca_pem)
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": meta.metadata(
            name=secret_name(service),
            namespace=placement.namespace,
            labels=meta.labels(deployment, service.name, placement),
        ),
        "data": {"tls.crt": _b64(cert), "tls.key": _b64(key), "ca.crt": _b64(ca)},
    }


def args(service: model.RenderService) -> list[str]:
    """`crosscloud serve` flags: TLS only, client certificates of the CA required."""
    return [
        "--tls-cert",
        f"{MOUNT}/tls.crt",
        "--tls-key",
        f"{MOUNT}/tls.key",
        "--tls-ca",
        f"{MOUNT}/ca.crt",
    ]


def probe(service: model.RenderService, path: str, *, period: int, failures: int) -> dict[str, Any]:
    """An exec probe over mutual TLS (the kubelet's HTTPS probe has no client certificate)."""
    command = ["python", "-m", "crosscloud.runtime.probe", path]
    command += ["--port", str(service.port), "--tls-dir", MOUNT]
    return {
        "exec": {"command": command},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def volume(service: model.RenderService) -> dict[str, Any]:
    return {"name": VOLUME, "secret": {"secretName": secret_name(service), "defaultMode": MODE}}


def mount() -> dict[str, Any]:
    # A whole-folder mount (no subPath): the kubelet swaps renewed files in atomically and
    # the replica reloads them (adapters/security/tls.py).
    return {"name": VOLUME, "mountPath": MOUNT, "readOnly": True}
