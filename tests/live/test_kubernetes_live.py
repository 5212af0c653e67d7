"""Opt-in: the echo example on real clusters: render, apply, wait, call, delete.

CROSSCLOUD_LIVE_KUBECONFIG  kubeconfig file with the contexts below
CROSSCLOUD_LIVE_CONTEXTS    comma-separated provider/region=context, e.g.
                            aws/us-west-2=prod-eks,gcp/us-central1=prod-gke
CROSSCLOUD_LIVE_IMAGE       the echo image every cluster can pull (`crosscloud build
                            examples/echo/service.py --tag <registry>/echo --push`)
CROSSCLOUD_LIVE_TIMEOUT     seconds for rollout and load balancer each (default 600)
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from crosscloud.adapters.kubernetes import client, model, render
from crosscloud.domain import providers

pytestmark = pytest.mark.live
CLUSTER_OF = {p.name: p.cluster_type for p in providers.CLUSTERS}


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"{name} must be set for the live tests", pytrace=False)
    return value


def _placements(namespace: str) -> list[model.RenderPlacement]:
    found = []
    for item in _required("CROSSCLOUD_LIVE_CONTEXTS").split(","):
        where, _, context = item.strip().partition("=")
        provider, _, region = where.partition("/")
        if not (context and region and provider in CLUSTER_OF):
            pytest.fail(f"CROSSCLOUD_LIVE_CONTEXTS item {item!r}: use provider/region=context")
        found.append(
            model.RenderPlacement(
                provider=provider,
                region=region,
                type=CLUSTER_OF[provider],
                context=context,
                namespace=namespace,
            )
        )
    return found


@pytest.fixture
def target() -> Iterator[client.KubernetesTarget]:
    made = client.KubernetesTarget(kubeconfig=_required("CROSSCLOUD_LIVE_KUBECONFIG"))
    yield made
    made.close()


def _wait_endpoint(
    target: client.KubernetesTarget, where: model.RenderPlacement, deployment: str, limit: float
) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        url = target.endpoints(where, deployment=deployment).get("echo")
        if url:
            try:
                answer = httpx.post(f"{url}/echo", json={"text": "live"}, timeout=10)
                if answer.status_code == 200:
                    return url
            except httpx.HTTPError:
                pass  # DNS for a new load balancer takes a while
        time.sleep(5)
    pytest.fail(f"{where.context}: no answering load balancer after {limit:.0f}s")


@pytest.mark.timeout(3600)
def test_echo_up_status_down(target: client.KubernetesTarget) -> None:
    deployment = f"live-{uuid.uuid4().hex[:6]}"
    limit = float(os.environ.get("CROSSCLOUD_LIVE_TIMEOUT", "600"))
    service = model.RenderService(
        name="echo", image=_required("CROSSCLOUD_LIVE_IMAGE"), cpu=0.25, memory_bytes=256 * 2**20
    )
    places = _placements(deployment)
    try:
        batches = {
            where: render.render_placement(
                deployment=deployment,
                placement=where,
                services=[service],
                traffic=model.RenderTraffic(),
            )
            for where in places
        }
        for key, result in target.apply_many(batches).items():
            assert isinstance(result, list), f"{key}: {result}"
        for where in places:
            rollout = target.wait_rollout(
                where, deployment=deployment, services=["echo"], timeout=limit
            )
            assert rollout.done, rollout
            url = _wait_endpoint(target, where, deployment, limit)
            answer = httpx.post(f"{url}/echo", json={"text": "live"}, timeout=10)
            assert answer.json() == "live"
            pod = str(target.replicas(where, deployment=deployment)[0].pod)
            printed = [line.text for line in target.pod_log(where, pod, tail=200)]
            assert any("Echo is ready" in text for text in printed), printed
    finally:
        for where in places:
            target.delete(where, deployment=deployment)
    for where in places:
        assert target.endpoints(where, deployment=deployment) == {}
