"""The gateway's traffic policies with real backend processes on 127.0.0.1: a canary split
by version and by placement, locality failover that spills by Envoy's arithmetic and
comes back, and a retry budget that caps retries when every replica answers 503.

Shares are counted by which backend answered; bounds leave more than 4 standard
deviations of room for the random draws, and no time is asserted.
"""

from __future__ import annotations

import collections
import concurrent.futures
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_gateway import Cluster, Proc, metric, upstream

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop_all()


def _answered_by(url: str, count: int, *, workers: int = 4) -> collections.Counter[str]:
    """Send `count` GETs to `url` over `workers` keep-alive clients; count who answered."""

    def share(n: int) -> list[str]:
        with httpx.Client(timeout=30) as client:
            answers = [client.get(url) for _ in range(n)]
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers[:3]]
        return [str(r.json()["name"]) for r in answers]

    shares = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return collections.Counter(name for names in pool.map(share, shares) for name in names)


def _wait_available(gw: Proc, upstream_id: str, value: float) -> None:
    deadline = time.monotonic() + 20
    while metric(gw, "crosscloud_gateway_upstream_available", upstream=upstream_id) != value:
        assert time.monotonic() < deadline, f"{upstream_id} never became available={value}"
        time.sleep(0.05)


def test_canary_split_by_version_and_by_placement_holds_within_3_percent(
    cluster: Cluster,
) -> None:
    v1a, v1b, v2 = cluster.backend("v1-a"), cluster.backend("v1-b"), cluster.backend("v2")
    ups = [
        {**upstream("v1-a", v1a, "local/east"), "version": "v1"},
        {**upstream("v1-b", v1b, "local/east"), "version": "v1"},
        {**upstream("v2", v2, "local/west"), "version": "v2"},
    ]
    gw = cluster.gateway(
        [
            {"name": "byversion", "split": {"v1": 90, "v2": 10}, "upstreams": ups},
            {
                "name": "byplacement",
                "split": {"local/west": 90, "local/east": 10},
                "upstreams": ups,
            },
        ]
    )
    by_version = _answered_by(f"{gw.url}/byversion/whoami", 2000)
    assert sum(by_version.values()) == 2000
    assert 0.07 <= by_version["v2"] / 2000 <= 0.13, by_version
    assert by_version["v1-a"] > 0 and by_version["v1-b"] > 0  # the 90% spreads over v1
    by_placement = _answered_by(f"{gw.url}/byplacement/whoami", 2000)
    assert 0.87 <= by_placement["v2"] / 2000 <= 0.93, by_placement
    # every answer was counted once by the backend that gave it
    seen = sum(httpx.get(f"{p.url}/stats").json()["requests"] for p in (v1a, v1b, v2))
    assert seen == 4000


def test_locality_failover_spills_by_the_overprovisioning_factor_and_comes_back(
    cluster: Cluster,
) -> None:
    near = [cluster.backend(f"a{i}") for i in range(4)]
    far = cluster.backend("b0")
    ups = [upstream(f"a{i}", p, "local/a") for i, p in enumerate(near)]
    svc = {
        "name": "s",
        "policy": "round-robin",
        "failover": ["local/a", "local/b"],
        "healthCheck": {"interval": "200ms"},
        "upstreams": [*ups, upstream("b0", far, "local/b")],
    }
    gw = cluster.gateway([svc])
    url = f"{gw.url}/s/whoami"
    healthy = _answered_by(url, 400)
    assert healthy["b0"] == 0 and len(healthy) == 4, healthy  # all four of a, nothing to b

    near[0].proc.send_signal(signal.SIGKILL)  # the pids this test started
    _wait_available(gw, "a0", 0)
    three_of_four = _answered_by(url, 400)  # 75% x 1.4 >= 100: a keeps all its traffic
    assert three_of_four["b0"] == 0 and three_of_four["a0"] == 0, three_of_four

    near[1].proc.send_signal(signal.SIGKILL)
    _wait_available(gw, "a1", 0)
    half = _answered_by(url, 4000)  # 50% x 1.4 = 70: a keeps 70%, 30% spills to b
    assert half["a0"] == half["a1"] == 0, half
    assert 0.27 <= half["b0"] / 4000 <= 0.33, half

    for i in (0, 1):  # back on the same ports: health checks pass, a takes it all again
        cluster.backend(f"a{i}", port=near[i].port)
        _wait_available(gw, f"a{i}", 1)
    back = _answered_by(url, 400)
    assert back["b0"] == 0 and len(back) == 4, back


def test_retry_budget_caps_retries_when_every_replica_answers_503(cluster: Cluster) -> None:
    failing = [cluster.backend(f"f{i}", mode="fail503") for i in range(3)]
    svc = {
        "name": "s",
        # keep every replica in rotation: this test is about retries, not ejection
        "outlierDetection": {"consecutive5xxErrors": 1_000_000},
        "upstreams": [upstream(f"f{i}", p) for i, p in enumerate(failing)],
    }
    gw = cluster.gateway([svc])
    clients = 20
    ready = threading.Barrier(clients)

    def one(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            ready.wait()
            # each try takes 1 s, so all 20 first tries are in flight together
            return client.get(f"{gw.url}/s/whoami?ms=1000")

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        responses = list(pool.map(one, range(clients)))
    assert [r.status_code for r in responses] == [503] * clients
    assert all(r.headers["x-crosscloud-upstream"].startswith("f") for r in responses)
    retries = metric(gw, "crosscloud_gateway_retries_total", service="s")
    exhausted = metric(gw, "crosscloud_gateway_retry_budget_exhausted_total", service="s")
    tries = sum(httpx.get(f"{p.url}/stats").json()["requests"] for p in failing)
    assert tries == clients + retries  # every retry the gateway counted reached a replica
    # Budget: retries in flight < max(3, 20% of 20 active) = 4, so at most 4 requests get
    # a first retry and those 4 a second: 8, where 2 retries each would send 40.
    assert 3 <= retries <= 8, (retries, exhausted)
    assert exhausted >= clients - 4, (retries, exhausted)
