"""Scale from zero in a real gateway process: a request for a service with no upstream is
held, then served once an upstream arrives by a SIGHUP-reloaded config; a full queue or a
wait past the hold timeout is answered 503 with Retry-After; held requests show in
/-/stats and /metrics."""

from __future__ import annotations

import concurrent.futures
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.test_gateway import Cluster, Proc, metric, upstream

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop_all()


def _stats(gw: Proc) -> dict[str, Any]:
    return dict(httpx.get(f"{gw.url}/-/stats", timeout=5).json())


def _wait_held(gw: Proc, service: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while _stats(gw)[service]["held"] != count:
        assert time.monotonic() < deadline, f"never {count} held: {_stats(gw)}"
        time.sleep(0.02)


def _reconfigure(gw: Proc, services: list[dict[str, Any]]) -> None:
    config = next(gw.log.parent.glob(f"gateway-{gw.port}.yaml"))
    config.write_text(yaml.safe_dump({"listen": {"port": gw.port}, "services": services}))
    gw.proc.send_signal(signal.SIGHUP)


def test_a_held_request_is_served_when_the_first_upstream_arrives(cluster: Cluster) -> None:
    backend = cluster.backend("first")
    gw = cluster.gateway([{"name": "echo", "hold": {"timeout": "60s"}}])
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        held = [
            pool.submit(httpx.post, f"{gw.url}/echo/echo", content=f"hi {i}".encode(), timeout=60)
            for i in range(3)
        ]
        _wait_held(gw, "echo", 3)
        assert _stats(gw)["echo"]["in_flight"] == 3
        assert metric(gw, "crosscloud_gateway_requests_held", service="echo") == 3
        assert not any(f.done() for f in held)
        sent = time.monotonic()
        _reconfigure(gw, [{"name": "echo", "upstreams": [upstream("first", backend)]}])
        answers = [f.result() for f in held]
        served = time.monotonic() - sent
    assert [(a.status_code, a.content) for a in answers] == [
        (200, f"hi {i}".encode()) for i in range(3)
    ]
    assert {a.headers["x-crosscloud-upstream"] for a in answers} == {"first"}
    after = _stats(gw)["echo"]
    assert (after["in_flight"], after["held"], after["requests"], after["upstreams"]) == (
        0,
        0,
        3,
        1,
    )
    assert after["busy_seconds"] > 0
    print(f"\nSIGHUP with the first upstream -> 3 held requests answered: {served * 1000:.1f} ms")


def test_full_queue_and_hold_timeout_answer_503_with_retry_after(cluster: Cluster) -> None:
    gw = cluster.gateway(
        [
            {"name": "slow", "hold": {"maxRequests": 1, "timeout": "1500ms", "retryAfter": "3s"}},
            {"name": "off", "hold": {"maxRequests": 0}},
        ]
    )
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.get, f"{gw.url}/slow/whoami", timeout=30)
        _wait_held(gw, "slow", 1)
        full = httpx.get(f"{gw.url}/slow/whoami", timeout=30)
        assert full.status_code == 503
        assert full.headers["retry-after"] == "3"
        assert "1 requests already wait" in full.json()["detail"]
        timed_out = first.result()
    assert timed_out.status_code == 503
    assert timed_out.headers["retry-after"] == "3"
    assert "no replica of 'slow' became ready within 1.5s" in timed_out.json()["detail"]
    assert _stats(gw)["slow"]["held"] == 0
    off = httpx.get(f"{gw.url}/off/whoami", timeout=30)
    assert off.status_code == 503 and "retry-after" not in off.headers


def test_a_client_that_leaves_while_held_is_forgotten(cluster: Cluster) -> None:
    backend = cluster.backend("late")
    gw = cluster.gateway([{"name": "echo"}])
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{gw.url}/echo/whoami", timeout=0.5)
    _wait_held(gw, "echo", 0)
    _reconfigure(gw, [{"name": "echo", "upstreams": [upstream("late", backend)]}])
    deadline = time.monotonic() + 30
    while _stats(gw)["echo"]["upstreams"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    answer = httpx.get(f"{gw.url}/echo/whoami", timeout=10)
    assert answer.status_code == 200
    assert httpx.get(f"{backend.url}/stats").json()["requests"] == 1  # only this one arrived
