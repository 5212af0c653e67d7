"""Mutual TLS on clusters: the workload certificate travels as a `kubernetes.io/tls`
Secret (masked in `plan --render`, real only in what `up` applies), the pod mounts it and
serves TLS only, probes go over mTLS, and with Istio a PeerAuthentication (STRICT) and the
DestinationRule's TLS settings are added; every object passes the upstream Kubernetes
schemas (`kubernetes-validate --strict`) and Istio's CRD schemas."""

from __future__ import annotations

import base64
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from crosscloud.adapters.kubernetes import model, render, render_tls
from crosscloud.adapters.security import ca as camod
from tests.adapters.kubernetes.test_render import CPU_SERVICE, PLACEMENTS, TRAFFIC, find


def _objects(*, mesh: str, material: model.TlsMaterial | None = None) -> list[dict[str, Any]]:
    service = dataclasses.replace(CPU_SERVICE, mtls=True, tls_material=material)
    return render.render_placement(
        deployment="my-deployment",
        placement=dataclasses.replace(PLACEMENTS["GKE"], mesh=mesh),
        services=[service],
        traffic=TRAFFIC,
    )


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> model.TlsMaterial:
    now = time.time()
    authority = camod.Authority.open(tmp_path_factory.mktemp("ca"), now=now)
    leaf = authority.issue("spiffe://crosscloud.local/my-deployment/tokenizer", now=now)
    return model.TlsMaterial(leaf.cert_pem, leaf.key_pem, authority.bundle_pem(now=now))


@pytest.mark.parametrize("mesh", ["none", "istio"])
def test_mtls_objects_pass_their_schemas(validate: Any, mesh: str, material: Any) -> None:
    objects = _objects(mesh=mesh, material=material)
    kinds = [o["kind"] for o in objects]
    expected = ["Namespace", "Secret", "Deployment", "Service", "PodDisruptionBudget"]
    if mesh == "istio":
        expected += ["VirtualService", "DestinationRule", "PeerAuthentication"]
    assert kinds == expected
    for obj in objects:
        assert validate(obj) == [], f"{obj['kind']}/{obj['metadata']['name']}"


def test_istio_strict_and_destination_rule_tls(validate: Any) -> None:
    objects = _objects(mesh="istio")
    peer = find(objects, "PeerAuthentication", "tokenizer")
    assert peer["spec"]["mtls"] == {"mode": "STRICT"}
    assert peer["spec"]["selector"]["matchLabels"]
    rule = find(objects, "DestinationRule", "tokenizer")
    assert rule["spec"]["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL"}
    broken = {**peer, "spec": {**peer["spec"], "mtls": {"mode": "STRICTLY"}}}
    assert validate(broken), "the Istio schema let an unknown mTLS mode through"


def test_pod_serves_tls_only_with_the_mounted_secret(material: Any) -> None:
    objects = _objects(mesh="none", material=material)
    pod = find(objects, "Deployment", "tokenizer")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    assert args[args.index("--tls-ca") + 1] == f"{render_tls.MOUNT}/ca.crt"
    assert args[args.index("--tls-cert") + 1] == f"{render_tls.MOUNT}/tls.crt"
    assert pod["volumes"] == [
        {"name": "tls", "secret": {"secretName": "tokenizer-tls", "defaultMode": 0o440}}
    ]
    assert container["volumeMounts"][0]["readOnly"] is True
    assert "subPath" not in container["volumeMounts"][0]  # renewals reach the pod
    for probe in ("readinessProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[:3] == ["python", "-m", "crosscloud.runtime.probe"]
    service = find(objects, "Service", "tokenizer")
    assert service["spec"]["ports"][0]["appProtocol"] == "https"
    secret = find(objects, "Secret", "tokenizer-tls")
    assert base64.b64decode(secret["data"]["tls.key"]) == material.key_pem
    assert base64.b64decode(secret["data"]["ca.crt"]) == material.ca_pem


def test_plan_output_masks_the_secret(material: Any) -> None:
    shown = render.to_yaml(_objects(mesh="istio"))
    assert "kubernetes.io/tls" in shown
    assert base64.b64encode(render_tls.MASKED).decode() in shown
    real = render.to_yaml(_objects(mesh="istio", material=material))
    key_b64 = base64.b64encode(material.key_pem).decode()
    assert key_b64 in real and key_b64 not in shown
    assert "PRIVATE KEY" not in shown and "PRIVATE KEY" not in real  # base64, never PEM text


def test_plain_services_render_as_before() -> None:
    objects = render.render_placement(
        deployment="my-deployment",
        placement=PLACEMENTS["GKE"],
        services=[CPU_SERVICE],
        traffic=TRAFFIC,
    )
    assert "Secret" not in [o["kind"] for o in objects]
    pod = find(objects, "Deployment", "tokenizer")["spec"]["template"]["spec"]
    assert "volumes" not in pod and "args" not in pod["containers"][0]


def test_probe_command_exits_by_the_answer(tmp_path: Path) -> None:
    from crosscloud.runtime import probe

    (tmp_path / "tls.crt").write_text("not a certificate")
    assert probe.main(["/readyz", "--port", "1", "--tls-dir", str(tmp_path)]) == 1
