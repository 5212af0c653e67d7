"""Servers crosscloud did not build (vLLM, SGLang, TGI) on cluster placements: their image,
arguments, port and health path go into Deployments and Services that pass Kubernetes 1.30's
schemas (strict), with a start-up probe long enough for a model to load."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from crosscloud.adapters.clouds import catalog as catalog_files
from crosscloud.adapters.kubernetes import from_plan, render
from crosscloud.domain import manifest
from crosscloud.planning import from_manifest

Validate = Callable[[dict[str, Any]], list[str]]
SERVERS = """
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: llms}
spec:
  services:
    - name: vllm
      image: vllm/vllm-openai:v0.11.0
      args: [--model, Qwen/Qwen3-0.6B, --port, 8000]
      healthPath: /health
      resources: {cpu: 4, memory: 16Gi, accelerators: L4:1}
    - name: sglang
      image: lmsysorg/sglang:v0.5.3
      args: [python3, -m, sglang.launch_server, --model-path, Qwen/Qwen3-0.6B, --port, 30000]
      port: 30000
      healthPath: /health
      resources: {cpu: 4, memory: 16Gi, accelerators: L4:1}
    - name: tgi
      image: ghcr.io/huggingface/text-generation-inference:3.3.4
      args: [--model-id, Qwen/Qwen3-0.6B]
      port: 80
      healthPath: /health
      resources: {cpu: 4, memory: 16Gi, accelerators: L4:1}
  placements:
    - {provider: aws, region: us-west-2, context: eks, mesh: istio}
    - {provider: gcp, region: us-central1, context: gke}
"""


def rendered() -> list[tuple[str, dict[str, Any]]]:
    doc = manifest.load_manifest(textwrap.dedent(SERVERS), "m.yaml")
    resources = {s.name: from_manifest.effective_resources(s) for s in doc.spec.services}
    result = from_manifest.plan_manifest(
        doc, resources=resources, rows=catalog_files.shipped()
    ).require()
    out = []
    for cluster in from_plan.clusters(doc, result, resources=resources):
        for obj in render.render_placement(
            deployment="llms",
            placement=cluster.placement,
            services=cluster.services,
            traffic=from_plan.traffic(doc.spec.traffic),
        ):
            out.append((cluster.placement.key, obj))
    return out


def test_third_party_servers_render_schema_valid_objects(validate: Validate) -> None:
    objects = rendered()
    assert {key for key, _ in objects} == {"aws-us-west-2", "gcp-us-central1"}
    for key, obj in objects:
        assert validate(obj) == [], (key, obj["kind"], obj["metadata"]["name"])


@pytest.mark.parametrize(
    ("name", "port", "args"),
    [
        ("vllm", 8000, ["--model", "Qwen/Qwen3-0.6B", "--port", "8000"]),
        (
            "sglang",
            30000,
            [
                "python3",
                "-m",
                "sglang.launch_server",
                "--model-path",
                "Qwen/Qwen3-0.6B",
                "--port",
                "30000",
            ],
        ),
        ("tgi", 80, ["--model-id", "Qwen/Qwen3-0.6B"]),
    ],
)
def test_port_args_and_health_path_reach_the_pods(name: str, port: int, args: list[str]) -> None:
    deployments = [
        o for _, o in rendered() if o["kind"] == "Deployment" and o["metadata"]["name"] == name
    ]
    assert len(deployments) == 2  # one per cluster
    for deployment in deployments:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert container["args"] == args
        probes = {
            k: container[k]["httpGet"] for k in ("startupProbe", "readinessProbe", "livenessProbe")
        }
        assert all(p == {"path": "/health", "port": "http"} for p in probes.values())
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 600  # a model loads
    services = [
        o for _, o in rendered() if o["kind"] == "Service" and o["metadata"]["name"] == name
    ]
    assert all(s["spec"]["ports"][0]["targetPort"] == "http" for s in services)
