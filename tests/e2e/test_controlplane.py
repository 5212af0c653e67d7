"""`crosscloud up / status / scale / rollout / down` with real processes on 127.0.0.1:
several local regions behind the gateway, crashes, kill -9 of the control plane, and a
rollout whose new version fails. Each test has its own state directory."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.e2e.deploy import Deployer, app_folder, isolated, post

pytestmark = pytest.mark.timeout(300)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: echoes
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - provider: local
      region: region-a
      services: [{name: echo, replicas: 2}]
    - provider: local
      region: region-b
      services: [{name: echo, replicas: 1}]
  traffic:
    failover: [local/region-a, local/region-b]
"""

VERSION_2 = """
from crosscloud import Service, endpoint

class Echo(Service):
    @endpoint
    def echo(self, text: str) -> str:
        return "v2:" + text
"""

BROKEN = """
from crosscloud import Service, endpoint

class Echo(Service):
    def setup(self) -> None:
        raise RuntimeError("the new weights are missing")

    @endpoint
    def echo(self, text: str) -> str:
        return text
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Deployer, Path]]:
    """The echo example and a 2-region manifest in a folder of their own."""
    with isolated(tmp_path) as deployer:
        yield deployer, app_folder(tmp_path, MANIFEST)


def _replica_pids(d: Deployer) -> dict[str, int]:
    return {r["id"]: r["pid"] for r in d.replicas() if r["state"] == "Ready"}


def test_up_serves_through_the_gateway_and_down_leaves_no_process(
    app: tuple[Deployer, Path],
) -> None:
    d, folder = app
    d.run("up", str(folder / "crosscloud.yaml"))
    replicas = d.replicas()
    assert sorted((r["placement"], r["state"]) for r in replicas) == [
        ("local/region-a", "Ready"),
        ("local/region-a", "Ready"),
        ("local/region-b", "Ready"),
    ]
    running = d.processes()
    assert {r["id"]: [r["pid"]] for r in replicas}.items() <= running.items()
    gateway = d.gateway()
    answers = [post(f"{gateway}/echo/echo", {"text": f"hi {i}"}) for i in range(30)]
    assert [a.json() for a in answers] == [f"hi {i}" for i in range(30)]
    table = d.run("status").stdout
    assert "local/region-a" in table and "2/2" in table

    result = d.run("down")
    assert "3 replica(s) stopped" in result.stdout
    d.wait(lambda: not d.processes(), timeout=30, what="every process to exit")
    assert d.run("down").stdout.strip() == "nothing is deployed; nothing to do"


def test_a_killed_replica_restarts_and_traffic_never_fails(app: tuple[Deployer, Path]) -> None:
    d, folder = app
    d.run("up", str(folder / "crosscloud.yaml"))
    gateway = d.gateway()
    victim = next(r for r in d.replicas() if r["placement"] == "local/region-b")
    every = d.run("logs", "echo").stdout.splitlines()
    assert sum(line.endswith("Echo is ready") for line in every) == 3
    assert {line.split("]")[0][1:] for line in every} == {r["id"] for r in d.replicas()}
    follow = d.start("logs", "echo", "--placement", "local/region-b", "-f", "--tail", "1")
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline()  # the last line so far: -f knows where the file ends
        os.kill(victim["pid"], signal.SIGKILL)
        answers = [post(f"{gateway}/echo/echo", {"text": "x"}).status_code for _ in range(50)]
        assert answers == [200] * 50  # the gateway retries on the other region
        again = d.wait(
            lambda: next(
                (r for r in d.replicas() if r["id"] == victim["id"] and r["state"] == "Ready"),
                None,
            ),
            what="the killed replica to be restarted",
        )
        assert again["pid"] != victim["pid"] and again["restarts"] == 1
        line = ""
        while "Echo is ready" not in line:
            line = follow.stdout.readline()
            assert line, "logs -f ended"
        assert "Echo is ready" in line  # the restarted process, printed as it happened
    finally:
        follow.kill()
        follow.communicate()
    lines = d.run("logs", "echo", "--placement", "local/region-b").stdout.splitlines()
    assert sum(line.endswith("Echo is ready") for line in lines) == 2  # both lives, no prefix


def test_scale_up_and_down_one_placement(app: tuple[Deployer, Path]) -> None:
    d, folder = app
    d.run("up", str(folder / "crosscloud.yaml"))
    d.run("scale", "echo", "3", "--placement", "local/region-b")
    d.wait(
        lambda: (
            sum(r["placement"] == "local/region-b" and r["state"] == "Ready" for r in d.replicas())
            == 3
        )
    )
    d.run("scale", "echo", "0", "--placement", "local/region-a")
    d.wait(
        lambda: not any(r["placement"] == "local/region-a" for r in d.replicas()),
        what="region-a empty",
    )
    assert len([k for k in d.processes() if k.startswith("echo-")]) == 3
    bad = d.run("scale", "nope", "1", check=False)
    assert bad.returncode == 2 and "known services: ['echo']" in bad.stderr
    where = d.run("scale", "echo", "1", "--placement", "aws/us-west-2", check=False)
    assert where.returncode == 2 and "local/region-a, local/region-b" in where.stderr


def test_rollout_replaces_replicas_and_a_failing_version_keeps_the_old_serving(
    app: tuple[Deployer, Path],
) -> None:
    d, folder = app
    manifest = str(folder / "crosscloud.yaml")
    d.run("up", manifest)
    (folder / "service.py").write_text(VERSION_2)
    d.run("rollout", manifest)
    assert {r["version"] for r in d.replicas()} == {2}
    assert post(f"{d.gateway()}/echo/echo", {"text": "x"}).json() == "v2:x"

    (folder / "service.py").write_text(BROKEN)
    failed = d.run("rollout", manifest, "--timeout", "120", check=False)
    assert failed.returncode != 0
    assert "rollout halted" in failed.stderr and "the new weights are missing" in failed.stderr
    assert "version 2 keeps serving" in failed.stderr
    states = {(r["version"], r["state"]) for r in d.replicas()}
    assert (2, "Ready") in states and (3, "Ready") not in states
    gateway = d.gateway()  # one `status` (a CLI process), not one per request
    answers = [post(f"{gateway}/echo/echo", {"text": "y"}).json() for _ in range(20)]
    assert answers == ["v2:y"] * 20


def test_a_bad_manifest_leaves_the_running_deployment_untouched(app: tuple[Deployer, Path]) -> None:
    d, folder = app
    d.run("up", str(folder / "crosscloud.yaml"))
    before = _replica_pids(d)
    broken = folder / "broken.yaml"
    broken.write_text(MANIFEST.replace("replicas: 2", "replicas: -1"))
    result = d.run("up", str(broken), check=False)
    assert result.returncode == 2
    assert "broken.yaml:12" in result.stderr and "replicas" in result.stderr
    assert _replica_pids(d) == before


@pytest.mark.parametrize("moment", ["up", "rollout"])
def test_kill_9_of_the_control_plane_converges_without_duplicates_or_orphans(
    app: tuple[Deployer, Path], moment: str
) -> None:
    d, folder = app
    manifest = str(folder / "crosscloud.yaml")
    if moment == "rollout":
        d.run("up", manifest)
        (folder / "service.py").write_text(VERSION_2)
    d.run(
        "up" if moment == "up" else "rollout",
        manifest,
        "--no-wait" if moment == "up" else "--timeout=1",
        check=False,
    )
    control = d.processes()["controlplane"]
    os.kill(control[0], signal.SIGKILL)
    d.wait(lambda: "controlplane" in d.processes() or d.status(), what="a new control plane")
    final = 1 if moment == "up" else 2
    d.wait(
        lambda: (
            sorted(r["state"] for r in d.replicas()) == ["Ready"] * 3
            and {r["version"] for r in d.replicas()} == {final}
        ),
        timeout=180,
        what="convergence",
    )
    recorded = {r["id"]: r["pid"] for r in d.replicas()}
    running = {k: v for k, v in d.processes().items() if k not in ("gateway", "controlplane")}
    assert running == {rid: [pid] for rid, pid in recorded.items()}  # no duplicate, no orphan
    assert len(d.processes()["controlplane"]) == 1


def test_services_call_each_other_by_name_across_regions(tmp_path: Path) -> None:
    with isolated(tmp_path) as d:
        d.run("up", str(EXAMPLES / "multiservice" / "crosscloud.yaml"))
        gateway = d.gateway()
        result = post(f"{gateway}/summary/count", {"text": "the cat saw the dog."})
        assert result.json() == {"the": 2, "cat": 1, "saw": 1, "dog": 1}
        placements = sorted(r["placement"] for r in d.replicas() if r["service"] == "tokenizer")
        assert placements == ["local/region-a", "local/region-b"]
