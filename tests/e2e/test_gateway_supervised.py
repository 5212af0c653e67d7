"""The gateway is supervised: SIGKILLed under load, the control plane starts a new one on
the same address at once, requests succeed again, and the restart is an event. The outage
(from the kill to the first 200 of a request sent after it) is measured and printed."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.deploy import Deployer, Load, app_folder, isolated

pytestmark = pytest.mark.timeout(240)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: supervised
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - {provider: local, region: region-a, services: [{name: echo, replicas: 1}]}
    - {provider: local, region: region-b, services: [{name: echo, replicas: 1}]}
"""


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployer]:
    with isolated(tmp_path) as d:
        d.run("up", str(app_folder(tmp_path, MANIFEST) / "crosscloud.yaml"))
        yield d


def _events(d: Deployer, kind: str) -> list[dict[str, object]]:
    out = d.run("status", "--events", "50", "-o", "json").stdout
    found = httpx.Response(200, content=out).json().get("events", [])
    return [e for e in found if e["kind"] == kind]


def _kill_under_load(d: Deployer) -> int:
    """SIGKILL the gateway under load; check it comes back on the same address and serves
    every request sent once it is back; print the outage; the killed pid."""
    url = d.gateway()
    [old] = d.processes()["gateway"]
    with Load(f"{url}/echo/echo", timeout=10) as load:
        d.wait(lambda: load.count() > 200, what="steady load")
        killed = time.monotonic()
        os.kill(old, signal.SIGKILL)
        d.wait(lambda: load.count(since=killed) > 0, timeout=60, what="a 200 after the kill")
        with load.lock:
            first = min(a.done for a in load.answers if a.sent >= killed and a.status == 200)
        back = time.monotonic()
        d.wait(lambda: load.count(since=back) >= 500, timeout=60, what="500 requests after")
    print(f"\ngateway outage after SIGKILL: {(first - killed) * 1000:.0f} ms (kill to first 200)")
    after = Counter(a.status for a in load.since(back))
    assert set(after) == {200}, f"requests sent once it was back: {after}"
    assert d.gateway() == url  # same address: clients need no new URL
    [new] = d.processes()["gateway"]
    assert new != old
    assert d.status()["gateway"]["running"] is True
    events = d.wait(
        lambda: [e for e in _events(d, "GatewayRestarted") if f"pid {old} " in str(e["message"])],
        timeout=30,
        what="the restart's event",
    )
    assert url in str(events[-1]["message"])
    return old


def test_a_killed_gateway_comes_back_on_the_same_address(deployed: Deployer) -> None:
    old = _kill_under_load(deployed)
    [event] = _events(deployed, "GatewayRestarted")
    assert f"gateway pid {old} was killed by SIGKILL" in str(event["message"])


def test_a_gateway_adopted_by_a_restarted_control_plane_is_supervised(
    deployed: Deployer,
) -> None:
    d = deployed
    [control] = d.processes()["controlplane"]
    [gateway] = d.processes()["gateway"]
    os.kill(control, signal.SIGKILL)  # the gateway runs on, now no child of anyone we run
    d.wait(lambda: "controlplane" not in d.processes(), what="the control plane gone")
    log = d.home / "logs" / "controlplane.log"
    d.status()  # the CLI starts a new control plane, which adopts the running gateway
    d.wait(
        lambda: (
            f"watching the running gateway on {d.gateway()} (pid {gateway})"
            in log.read_text(errors="replace")
        ),
        what="the new control plane watching the gateway",
    )
    _kill_under_load(d)
