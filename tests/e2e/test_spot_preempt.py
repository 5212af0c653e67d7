"""Spot preemption rehearsed end to end (`crosscloud chaos preempt`): under steady load, a
notice on one region's spot replicas, then their kill. No request fails, the gateway sends
the noticed replica nothing new later than 1 s after the notice, and its replacement is
ready in the next region the spot policy picks before the kill."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import deploy

NOTICE = 20.0  # longer than a replica's start here (about 2-5 s on the shared machine)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: spotty
spec:
  services:
    - name: echo
      source: ./service.py:Echo
      env: {ARRIVALS: "%s"}
      spot: {overprovision: 1}
  placements:
    - {provider: local, region: region-a, services: [{name: echo, replicas: 1}]}
    - {provider: local, region: region-b, services: [{name: echo, replicas: 1}]}
    - {provider: local, region: region-c, services: [{name: echo, replicas: 0}]}
    - {provider: local, region: region-d, services: [{name: echo, replicas: 0}]}
"""

# Each replica writes down when every request arrived, in a file named by its pid: what
# the gateway sent it, seen from the replica's side.
SERVICE = """\
import os
import time

from crosscloud import Service, endpoint


class Echo(Service):
    @endpoint
    def echo(self, text: str) -> str:
        with open(os.path.join(os.environ["ARRIVALS"], str(os.getpid())), "a") as out:
            out.write(f"{time.time()}\\n")
        time.sleep(0.02)  # a little work, so requests are in flight at the notice
        return text
"""


def spot_ready(replicas: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in replicas:
        if r["capacity"] == "spot" and r["state"] == "Ready" and not r["preempt_at"]:
            out[r["placement"]] = out.get(r["placement"], 0) + 1
    return out


def upstreams(home: Path) -> list[dict[str, Any]]:
    """What the control plane told the gateway (its config file): read without a CLI
    call, which takes seconds on the loaded 2-core machine."""
    doc = json.loads((home / "gateway.json").read_text())
    return [u for s in doc["services"] for u in s["upstreams"]]


def on_demand(replicas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in replicas if r["capacity"] == "on-demand"]


@pytest.mark.timeout(240)
def test_preempted_region_drains_and_is_replaced_before_the_kill(tmp_path: Path) -> None:
    arrivals = tmp_path / "arrivals"
    arrivals.mkdir()
    folder = deploy.app_folder(tmp_path, MANIFEST % arrivals, SERVICE)
    with deploy.isolated(tmp_path) as cc:
        cc.run("up", str(folder / "crosscloud.yaml"))
        # 2 wanted + 1 extra on spot, one each in the first three regions; the on-demand
        # replicas that covered the start stop once spot is ready
        want = {"local/region-a": 1, "local/region-b": 1, "local/region-c": 1}
        cc.wait(
            lambda: spot_ready(cc.replicas()) == want and not on_demand(cc.replicas()),
            what="3 spot replicas ready in a, b, c and no on-demand",
        )
        [noticed] = [r for r in cc.replicas() if r["placement"] == "local/region-a"]
        gateway = cc.gateway()
        with deploy.Load(f"{gateway}/echo/echo", threads=4) as load:
            time.sleep(2.0)
            result = cc.run("chaos", "preempt", "local/region-a", "--notice", "20s", "--no-wait")
            assert "notice given to 1 spot replica(s) in local/region-a" in result.stdout
            # the gateway was told at once: the replica is draining in its config
            assert [u["draining"] for u in upstreams(cc.home) if u["id"] == noticed["id"]] == [True]
            # the replacement: in region-d (the one region not used yet), ready (the gateway
            # routes to it) before the notice runs out
            replaced = cc.wait(
                lambda: (
                    any(u["placement"] == "local/region-d" for u in upstreams(cc.home))
                    and time.time()
                ),
                timeout=NOTICE * 2,
                what="a replica ready in local/region-d",
            )
            cc.wait(
                lambda: noticed["id"] not in {u["id"] for u in upstreams(cc.home)},
                timeout=NOTICE * 3,
                what="the noticed replica killed",
            )
            killed = time.time()
            time.sleep(2.0)
        statuses = load.statuses()
        assert set(statuses) == {200}, statuses
        assert load.count(status=200) > 100
        [notice] = cc.status()["deployments"][0]["preemptions"]
        assert notice["replicas"] == [noticed["id"]]
        noticed_at, kill_at = notice["notice_at"], notice["kill_at"]
        assert kill_at - noticed_at == NOTICE
        assert noticed_at < replaced < kill_at  # replaced before the kill
        assert killed >= kill_at - 0.5  # killed when the notice ran out, not before
        seen = [float(t) for t in (arrivals / str(noticed["pid"])).read_text().split()]
        assert seen and min(seen) < noticed_at  # it served before the notice
        late = [t - noticed_at for t in seen if t > noticed_at + 1.0]
        assert not late, f"requests reached the noticed replica {late} s after the notice"
        assert notice["message"].startswith("1 spot replica(s) in local/region-a noticed")
        table = cc.run("status").stdout
        assert "preemptions seen: 1" in table and "spot," in table
        print(
            json.dumps(
                {
                    "requests": load.count(status=200),
                    "replacement_ready_s_after_notice": round(replaced - noticed_at, 2),
                    "last_arrival_s_after_notice": round(max(seen) - noticed_at, 3),
                }
            )
        )
