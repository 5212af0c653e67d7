"""The product's promise, end to end: three local regions behind the gateway under steady
load; every replica of one region is SIGKILLed; no request fails, the dead region gets no
new request once ejected, and after the control plane restarts it and it passes health
checks it takes traffic again. Real processes, own state directory, bounded load."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.deploy import Deployer, Load, app_folder, isolated

pytestmark = pytest.mark.timeout(300)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: chaos
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - {provider: local, region: region-a, services: [{name: echo, replicas: 1}]}
    - {provider: local, region: region-b, services: [{name: echo, replicas: 2}]}
    - {provider: local, region: region-c, services: [{name: echo, replicas: 1}]}
"""


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployer]:
    with isolated(tmp_path) as d:
        d.run("up", str(app_folder(tmp_path, MANIFEST) / "crosscloud.yaml"))
        yield d


def _by_placement(gateway: str, metric: str = "crosscloud_gateway_requests_total") -> Counter[str]:
    """A gateway counter of service echo, summed per placement."""
    counts: Counter[str] = Counter()
    for line in httpx.get(f"{gateway}/metrics", trust_env=False).text.splitlines():
        if line.startswith(metric + "{") and 'service="echo"' in line:
            placement = line.split('placement="', 1)[1].split('"', 1)[0]
            counts[placement] += int(float(line.rsplit(" ", 1)[1]))
    return counts


def test_killing_a_whole_region_under_load_fails_no_request(deployed: Deployer) -> None:
    d = deployed
    gateway = d.gateway()
    victims = [r for r in d.replicas() if r["placement"] == "local/region-b"]
    assert len(victims) == 2
    control = d.processes()["controlplane"][0]
    with Load(f"{gateway}/echo/echo", limit=20_000) as load:
        d.wait(lambda: len(load.since()) > 300, what="steady load")
        # Freeze the control plane so nothing restarts region-b while we watch the gateway.
        os.kill(control, signal.SIGSTOP)
        try:
            for r in victims:
                os.kill(r["pid"], signal.SIGKILL)
            d.wait(lambda: len(load.since()) > 1500, what="load after the kill")
            # Out of rotation soon: outlier ejection takes one host at once (10% cap, at
            # least one), active health checks the other after 2 failed checks 1 s apart;
            # wait until the gateway says both are out before watching.
            available = "crosscloud_gateway_upstream_available"
            d.wait(
                lambda: _by_placement(gateway, available)["local/region-b"] == 0,
                timeout=30,
                what="region-b out of rotation",
            )
            tried = "crosscloud_gateway_upstream_connect_errors_total"
            seen = _by_placement(gateway)["local/region-b"], _by_placement(gateway, tried)
            done = len(load.since())
            d.wait(lambda: len(load.since()) > done + 1000, what="1,000 more requests")
            # Ejected: region-b is neither answered by nor even tried any more.
            now = _by_placement(gateway)["local/region-b"], _by_placement(gateway, tried)
            assert now[0] == seen[0]
            assert now[1]["local/region-b"] == seen[1]["local/region-b"]
        finally:
            os.kill(control, signal.SIGCONT)
        dead = {r["id"] for r in victims}
        # The control plane restarts both; after health checks they take traffic again.
        d.wait(
            lambda: sum(r["id"] in dead and r["state"] == "Ready" for r in d.replicas()) == 2,
            timeout=120,
            what="region-b restarted",
        )
        back = _by_placement(gateway)["local/region-b"]
        d.wait(
            lambda: _by_placement(gateway)["local/region-b"] > back + 50,
            timeout=60,
            what="region-b taking traffic again",
        )
    assert set(load.statuses()) == {200}, load.statuses()
    assert len(load.since()) > 2500
