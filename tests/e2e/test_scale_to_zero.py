"""The autoscaler through `crosscloud up` with real processes: a service with
minReplicas 0 goes to zero replicas after `scaleToZeroAfter` idle, and a request sent
while it has none is held by the gateway and served once a replica starts; under a
bounded concurrent load with `targetConcurrency`, replicas grow up to maxReplicas."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.deploy import Deployer, post

pytestmark = pytest.mark.timeout(300)

SERVICE = """
import asyncio

from crosscloud import Service, endpoint


class Echo(Service):
    @endpoint
    def echo(self, text: str) -> str:
        return text

    @endpoint
    async def slow(self, text: str) -> str:
        await asyncio.sleep(0.3)
        return text
"""

TO_ZERO = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: idle
spec:
  services:
    - name: echo
      source: service.py:Echo
      scaling: {minReplicas: 0, maxReplicas: 2, scaleToZeroAfter: 3s}
  placements:
    - provider: local
      region: region-a
      services: [{name: echo, replicas: 1}]
"""

UNDER_LOAD = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: busy
spec:
  services:
    - name: echo
      source: service.py:Echo
      scaling: {minReplicas: 1, maxReplicas: 3, targetConcurrency: 1}
  placements:
    - provider: local
      region: region-a
      services: [{name: echo, replicas: 1}]
    - provider: local
      region: region-b
      services: [{name: echo, replicas: 0}]
"""


@pytest.fixture
def deployer(tmp_path: Path) -> Iterator[Deployer]:
    d = Deployer(tmp_path / "home")
    yield d
    d.kill_everything()


def _app(tmp_path: Path, manifest: str) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "service.py").write_text(SERVICE)
    (folder / "crosscloud.yaml").write_text(manifest)
    return folder / "crosscloud.yaml"


def _wanted(status: dict[str, Any]) -> int:
    return sum(s["replicas"] for d in status["deployments"] for s in d["services"])


def _ready(status: dict[str, Any]) -> int:
    return sum(r["state"] == "Ready" for d in status["deployments"] for r in d["replicas"])


def _events(d: Deployer, kind: str) -> list[str]:
    status = d.run("status", "-o", "json", "--events", "50").stdout
    found = orjson.loads(status)["events"]
    return [e["message"] for e in found if e["kind"] == kind]


def test_idle_service_goes_to_zero_and_a_held_request_wakes_it(
    deployer: Deployer, tmp_path: Path
) -> None:
    d = deployer
    d.run("up", str(_app(tmp_path, TO_ZERO)))
    gateway = d.gateway()
    assert post(f"{gateway}/echo/echo", {"text": "warm"}).json() == "warm"
    d.wait(
        lambda: (s := d.status()) and _wanted(s) == 0 and not s["deployments"][0]["replicas"],
        timeout=60,
        what="zero replicas after 3 s idle",
    )
    assert not [k for k in d.processes() if k.startswith("echo-")]
    assert "0/0" in d.run("status").stdout
    assert any("from 1 to 0" in m and "scaleToZeroAfter 3s" in m for m in _events(d, "Autoscaled"))

    sent = time.monotonic()
    answer = post(f"{gateway}/echo/echo", {"text": "wake up"}, timeout=120)
    waited = time.monotonic() - sent
    assert answer.status_code == 200 and answer.json() == "wake up"
    assert _ready(d.status()) == 1
    assert any("request(s) held with no replica" in m for m in _events(d, "Autoscaled"))
    print(f"\nheld at zero replicas -> served: {waited:.2f} s (replica start included)")


def test_concurrent_load_grows_replicas_up_to_max(deployer: Deployer, tmp_path: Path) -> None:
    d = deployer
    d.run("up", str(_app(tmp_path, UNDER_LOAD)))
    gateway = d.gateway()
    stop = threading.Event()
    answers: list[int] = []

    def client() -> None:
        while not stop.is_set():
            answers.append(post(f"{gateway}/echo/slow", {"text": "x"}, timeout=60).status_code)

    seen: list[int] = []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:  # 8 in flight, target 1 each
        clients = [pool.submit(client) for _ in range(8)]
        try:
            d.wait(
                lambda: seen.append(_wanted(s := d.status())) or _ready(s) == 3,
                timeout=120,
                what="3 ready replicas",
            )
            time.sleep(3)  # several more passes under the same load
            seen.append(_wanted(d.status()))
        finally:
            stop.set()
        for c in clients:
            c.result()
    assert max(seen) == 3 and seen[-1] == 3  # grew, and never past maxReplicas
    placements = sorted(r["placement"] for r in d.replicas() if r["state"] == "Ready")
    assert placements == ["local/region-a", "local/region-a", "local/region-b"]
    assert set(answers) == {200}
    assert any("concurrent requests" in m for m in _events(d, "Autoscaled"))
