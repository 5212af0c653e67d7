"""`crosscloud up / status / down` on three Kubernetes placements (EKS, AKS, GKE) at once.

The clusters are fake API servers in this test process (the real REST paths, server-side
apply, every body validated against the Kubernetes 1.30 schemas); a generated kubeconfig
names them, and the CLI and the control plane it starts find it through $KUBECONFIG.
Covered: objects created in each cluster, pods reported as replicas and Ready once the
test lets them run, load balancers as the gateway's upstreams, a deleted Deployment put
back, pods that stay Unschedulable moved to the next placement in failover order, one
cluster unreachable while the others serve, and `down` deleting what it labelled.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.adapters.kubernetes.conftest import istio_validators, validate  # noqa: F401
from tests.adapters.kubernetes.fake_apiserver import FakeCluster
from tests.adapters.kubernetes.test_client import write_kubeconfig
from tests.conftest import free_port
from tests.e2e.deploy import Deployer, app_folder, post

pytestmark = pytest.mark.timeout(240)

NAMESPACE = "shop"
CLOUDS = {  # placement -> (context, load-balancer address)
    "aws/us-west-2": ("prod-eks", "k8s-shop-echo-0123.elb.us-west-2.amazonaws.com"),
    "azure/eastus": ("prod-aks", "20.62.1.7"),
    "gcp/us-central1": ("prod-gke", "34.118.2.9"),
}
EKS, AKS, GKE = CLOUDS
MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: shop
spec:
  services:
    - name: echo
      image: registry.example.com/echo:cc-0123456789abcdef
  placements:
    - {provider: aws, region: us-west-2, type: EKS, context: prod-eks,
       services: [{name: echo, replicas: 2}]}
    - {provider: azure, region: eastus, type: AKS, context: prod-aks,
       services: [{name: echo, replicas: 1}]}
    - {provider: gcp, region: us-central1, type: GKE, context: prod-gke,
       services: [{name: echo, replicas: 1}]}
  traffic:
    failover: [aws/us-west-2, gcp/us-central1, azure/eastus]
"""


@pytest.fixture
def clouds(validate: Any) -> Iterator[dict[str, FakeCluster]]:  # noqa: F811
    started = {
        placement: FakeCluster(token=f"token-{context}", validate=validate, lb_address=lb).start()
        for placement, (context, lb) in CLOUDS.items()
    }
    yield started
    for cluster in started.values():
        cluster.stop()


def _deployer(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clouds: dict[str, FakeCluster],
    deployers: list[Deployer],
    *,
    unreachable: str | None = None,
) -> tuple[Deployer, Path]:
    """A state directory whose kubeconfig names the fake clusters (one of them at a port
    nobody listens on, if asked), and the shop manifest; torn down after the test."""
    servers = {}
    for placement, cluster in clouds.items():
        url = f"http://127.0.0.1:{free_port()}" if placement == unreachable else cluster.url
        servers[CLOUDS[placement][0]] = (url, cluster.token)
    monkeypatch.setenv("KUBECONFIG", write_kubeconfig(tmp_path / "kubeconfig", servers))
    manifest = tmp_path / "crosscloud.yaml"
    manifest.write_text(MANIFEST)
    deployer = Deployer(tmp_path / "home")
    deployers.append(deployer)
    return deployer, manifest


@pytest.fixture
def deployers() -> Iterator[list[Deployer]]:
    made: list[Deployer] = []
    yield made
    for deployer in made:
        deployer.kill_everything()


def _deployment(cluster: FakeCluster) -> dict[str, Any] | None:
    return cluster.get("apps/v1", "deployments", NAMESPACE, "echo")


def _by_placement(d: Deployer) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for replica in d.replicas():
        out.setdefault(replica["placement"], []).append(replica)
    return out


def _events(d: Deployer) -> list[dict[str, Any]]:
    status = orjson.loads(d.run("status", "-o", "json", "--events", "200").stdout)
    return list(status["events"])


def test_up_applies_waits_reports_and_down_deletes_in_three_clusters(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clouds: dict[str, FakeCluster],
    deployers: list[Deployer],
) -> None:
    d, manifest = _deployer(tmp_path, monkeypatch, clouds, deployers)
    for cluster in clouds.values():
        cluster.start_ready = False  # pods are created but not Running until we say so
    log = tmp_path / "up.log"
    with log.open("w") as out:
        up = d.start("up", str(manifest), "--timeout", "120", stdout=out)
    try:
        d.wait(lambda: all(_deployment(c) for c in clouds.values()), what="three Deployments")
        starting = d.wait(
            lambda: (found := _by_placement(d)) and sum(map(len, found.values())) == 4 and found,
            what="four pods recorded",
        )
        assert {r["state"] for rs in starting.values() for r in rs} == {"Starting"}
        assert up.poll() is None, "up returned before any pod was ready"
        for cluster in clouds.values():
            cluster.run_pods()
        assert up.wait(timeout=120) == 0, log.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert "ready: shop version 1" in log.read_text()

    for cluster in clouds.values():
        assert cluster.invalid == []
        assert _deployment(cluster)["metadata"]["labels"]["app.kubernetes.io/managed-by"] == (
            "crosscloud"
        )
        assert cluster.names("v1", "services", NAMESPACE) == ["echo"]
        assert cluster.names("autoscaling/v2", "horizontalpodautoscalers", NAMESPACE) == []
    replicas = _by_placement(d)
    assert {p: len(rs) for p, rs in replicas.items()} == {EKS: 2, AKS: 1, GKE: 1}
    for placement, found in replicas.items():
        pods = clouds[placement].names("v1", "pods", NAMESPACE)
        assert sorted(r["pod"] for r in found) == pods
        assert all(r["state"] == "Ready" and r["pid"] is None for r in found)

    config = orjson.loads((d.home / "gateway.json").read_bytes())
    (echo,) = config["services"]
    upstreams = {(u["placement"], u["host"], u["port"]) for u in echo["upstreams"]}
    assert upstreams == {(p, lb, 80) for p, (_ctx, lb) in CLOUDS.items()}
    table = d.run("status").stdout
    assert "34.118.2.9:80" in table and "2/2" in table
    _logs_are_read_from_the_clusters(d, clouds, replicas)

    d.run("scale", "echo", "3", "--placement", AKS)
    d.wait(
        lambda: [r["state"] for r in _by_placement(d)[AKS]] == ["Ready"] * 3,
        what="three Ready pods in azure/eastus",
    )
    assert _deployment(clouds[AKS])["spec"]["replicas"] == 3

    clouds[GKE].remove("apps/v1", "deployments", NAMESPACE, "echo")  # drift
    d.wait(lambda: _deployment(clouds[GKE]), what="the deleted Deployment to be put back")
    d.wait(
        lambda: [r["state"] for r in _by_placement(d).get(GKE, [])] == ["Ready"],
        what="its new pod recorded and Ready",
    )

    down = d.run("down").stdout
    assert "deleted shop (6 replica(s) stopped)" in down
    assert down.count("object(s) deleted in placement") == 3, down
    for cluster in clouds.values():
        assert cluster.objects == {}
    assert d.run("status").stdout.strip() == "nothing is deployed"


def _logs_are_read_from_the_clusters(
    d: Deployer, clouds: dict[str, FakeCluster], replicas: dict[str, list[dict[str, Any]]]
) -> None:
    """`crosscloud logs` on pods: the last lines of one, every pod of a placement with
    prefixes, and `-f` printing what the pod writes later, each line once."""
    (gke,) = replicas[GKE]
    clouds[GKE].write_log(NAMESPACE, gke["pod"], "loading", "ready", "POST /echo 200")
    out = d.run("logs", "echo", "--placement", GKE, "--tail", "2").stdout
    assert out.splitlines() == ["ready", "POST /echo 200"]
    for replica in replicas[EKS]:
        clouds[EKS].write_log(NAMESPACE, replica["pod"], f"hello from {replica['pod']}")
    lines = d.run("logs", "echo", "--placement", EKS).stdout.splitlines()
    assert sorted(lines) == sorted(f"[{r['id']}] hello from {r['pod']}" for r in replicas[EKS])
    clouds[GKE].logs_forbidden = True
    try:
        refused = d.run("logs", "echo", check=False)
    finally:
        clouds[GKE].logs_forbidden = False
    assert refused.returncode == 1
    assert f"hello from {replicas[EKS][0]['pod']}" in refused.stdout  # the others still print
    assert f"[{gke['id']}] cannot read the log: placement gcp/us-central1" in refused.stderr
    assert "forbidden (403)" in refused.stderr

    (aks,) = replicas[AKS]
    clouds[AKS].write_log(NAMESPACE, aks["pod"], "before")
    follow = d.start("logs", "echo", "--placement", AKS, "-f", "--tail", "1")
    seen: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [seen.put(x) for x in follow.stdout or ()])
    reader.start()
    try:
        assert seen.get(timeout=60).rstrip() == "before"
        clouds[AKS].write_log(NAMESPACE, aks["pod"], "after 1", "after 2")
        assert [seen.get(timeout=60).rstrip() for _ in range(2)] == ["after 1", "after 2"]
        time.sleep(2.5)  # two more polls: nothing is printed twice
        assert seen.empty(), seen.get()
    finally:
        follow.kill()
        follow.wait()
        reader.join(timeout=10)
        if follow.stdout is not None:
            follow.stdout.close()


def test_pods_that_stay_pending_move_to_the_next_placement(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clouds: dict[str, FakeCluster],
    deployers: list[Deployer],
) -> None:
    d, manifest = _deployer(tmp_path, monkeypatch, clouds, deployers)
    eks = clouds[EKS]
    eks.schedulable = False  # no GPU node there, for ten minutes already
    eks.unschedulable_since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)

    result = d.run("up", str(manifest), "--timeout", "120")
    assert "ready: shop version 1" in result.stderr

    moved = [e for e in _events(d) if e["kind"] == "CapacityMoved"]
    assert len(moved) == 1, moved
    assert moved[0]["message"].startswith(
        "moved 2 replica(s) of echo from aws/us-west-2 to gcp/us-central1: 2 replica(s) of"
        " echo cannot be scheduled on aws/us-west-2 for "
    )
    assert "Insufficient nvidia.com/gpu" in moved[0]["message"]
    assert _deployment(eks)["spec"]["replicas"] == 0
    assert _deployment(clouds[GKE])["spec"]["replicas"] == 3
    replicas = _by_placement(d)
    assert EKS not in replicas
    assert [r["state"] for r in replicas[GKE]] == ["Ready"] * 3


def test_one_unreachable_cluster_leaves_the_others_serving(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clouds: dict[str, FakeCluster],
    deployers: list[Deployer],
) -> None:
    d, manifest = _deployer(tmp_path, monkeypatch, clouds, deployers, unreachable=AKS)

    result = d.run("up", str(manifest), "--timeout", "120")
    named = "placement azure/eastus (context 'prod-aks'): cannot reach the cluster at"
    assert f"warning: {named}" in result.stderr
    status = d.status()["deployments"][0]
    (aks,) = [c for c in status["clusters"] if c["placement"] == AKS]
    assert aks["reachable"] is False and aks["message"].startswith(named)
    assert {c["placement"]: c["reachable"] for c in status["clusters"]} == {
        EKS: True,
        AKS: False,
        GKE: True,
    }
    replicas = _by_placement(d)
    assert {p: [r["state"] for r in rs] for p, rs in replicas.items()} == {
        EKS: ["Ready", "Ready"],
        GKE: ["Ready"],
    }
    assert named in d.run("status").stdout
    assert any(e["kind"] == "ClusterError" and named in e["message"] for e in _events(d))

    down = d.run("down").stdout
    assert down.count("object(s) deleted in placement") == 2, down
    assert f"{named}" in down and "kubectl --context prod-aks -n shop delete" in down
    assert clouds[EKS].objects == {} and clouds[GKE].objects == {}


def test_down_waits_for_an_apply_in_flight_and_leaves_no_object(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clouds: dict[str, FakeCluster],
    deployers: list[Deployer],
) -> None:
    d, manifest = _deployer(tmp_path, monkeypatch, clouds, deployers)
    gate = clouds[EKS].apply_gate = threading.Event()
    d.run("up", str(manifest), "--no-wait")
    d.wait(
        lambda: any(m == "PATCH" for m, _p, _c in clouds[EKS].requests),
        what="an apply to EKS, held by the fake",
    )
    with d.start("down") as down:
        try:
            waited = False
            down.wait(timeout=3)  # deleting now would race the apply that is still going
        except subprocess.TimeoutExpired:
            waited = True
        finally:
            gate.set()
        out, _ = down.communicate(timeout=120)
    assert waited, f"down did not wait for the apply in flight:\n{out}"
    assert down.returncode == 0, out
    assert "object(s) deleted in placement aws/us-west-2" in out
    for cluster in clouds.values():
        assert cluster.objects == {}


def test_a_placement_dropped_after_a_control_plane_restart_is_cleaned_up(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clouds: dict[str, FakeCluster],
    deployers: list[Deployer],
) -> None:
    d, manifest = _deployer(tmp_path, monkeypatch, clouds, deployers)
    d.run("up", str(manifest), "--timeout", "120")
    assert _deployment(clouds[GKE]) is not None
    (control,) = d.processes()["controlplane"]
    os.kill(control, signal.SIGKILL)  # what it knew of the clusters is gone with it
    d.wait(lambda: "controlplane" not in d.processes(), what="the control plane gone")
    without_gke = MANIFEST.replace(
        "    - {provider: gcp, region: us-central1, type: GKE, context: prod-gke,\n"
        "       services: [{name: echo, replicas: 1}]}\n",
        "",
    ).replace(", gcp/us-central1", "")
    assert "gcp" not in without_gke
    manifest.write_text(without_gke)
    d.run("up", str(manifest), "--timeout", "120")
    d.wait(lambda: clouds[GKE].objects == {}, what="the dropped GKE placement's objects deleted")
    assert _deployment(clouds[EKS]) is not None and _deployment(clouds[AKS]) is not None
    assert {r["placement"] for r in d.replicas()} == {EKS, AKS}


class HungCluster:
    """An API server that takes connections and requests and never answers (a cluster
    whose network path black-holes after the handshake)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.requests = 0
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            if self.closed.is_set():
                conn.close()
                return
            self.held.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                self.requests += 1

    def open_requests(self) -> int:
        """Connections that sent something and that the client has not given up on."""
        alive = 0
        for conn in self.held:
            with contextlib.suppress(OSError):
                conn.setblocking(False)
                try:
                    alive += conn.recv(1, socket.MSG_PEEK) != b""
                except BlockingIOError:
                    alive += 1
        return alive

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept(); close alone does not
        self.listener.close()
        for conn in self.held:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # the client's wait ends now
            conn.close()


MIXED = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: mixed
spec:
  services:
    - name: echo
      source: service.py:Echo
    - name: remote
      image: registry.example.com/echo:cc-0123456789abcdef
  placements:
    - {provider: local, region: region-a, services: [{name: echo, replicas: 1}]}
    - {provider: aws, region: us-west-2, type: EKS, context: prod-eks,
       services: [{name: remote, replicas: 1}]}
"""


def test_a_hung_cluster_holds_up_neither_local_replicas_nor_the_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deployers: list[Deployer]
) -> None:
    hung = HungCluster()
    try:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"prod-eks": (hung.url, "t")})
        monkeypatch.setenv("KUBECONFIG", kubeconfig)
        folder = app_folder(tmp_path, MIXED)
        d = Deployer(tmp_path / "home")
        deployers.append(d)
        d.run("up", str(folder / "crosscloud.yaml"), "--no-wait")
        d.wait(lambda: hung.requests > 0, what="a request to the hung cluster")
        local = d.wait(
            lambda: [r for r in d.replicas() if r["state"] == "Ready" and r["pid"]],
            what="the local replica ready",
        )[0]
        os.kill(local["pid"], signal.SIGKILL)
        # The client gives a cluster 30 s to answer (and retries): a control plane that
        # waited on it would restart nothing for that long.
        again = d.wait(
            lambda: next(
                (r for r in d.replicas() if r["state"] == "Ready" and r["pid"] != local["pid"]),
                None,
            ),
            timeout=25,
            what="the killed local replica restarted while the cluster hangs",
        )
        assert again["placement"] == "local/region-a" and again["restarts"] == 1
        assert hung.open_requests() > 0  # still hanging: the restart did not wait for it
        answer = post(f"{d.gateway()}/echo/echo", {"text": "still here"})
        assert answer.json() == "still here"
    finally:
        hung.close()


def test_a_spot_node_tainted_then_deleted_has_its_pods_drained_and_replaced(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clouds: dict[str, FakeCluster],
    deployers: list[Deployer],
) -> None:
    d, manifest = _deployer(tmp_path, monkeypatch, clouds, deployers)
    manifest.write_text(
        MANIFEST.replace(
            "context: prod-gke,\n       services: [{name: echo, replicas: 1}]",
            "context: prod-gke, spot: true,\n       services: [{name: echo, replicas: 2}]",
        )
    )
    gke = clouds[GKE]
    spot_taint = {"key": "cloud.google.com/gke-spot", "value": "true", "effect": "NoSchedule"}
    for name in ("spot-1", "spot-2"):  # a GKE Spot VM pool, labelled and tainted
        gke.add_node(name, {"cloud.google.com/gke-spot": "true"}, (spot_taint,))
    gke.add_node("standard-1", {})  # an on-demand pool: spot pods must not land here
    d.run("up", str(manifest), "--timeout", "120")
    # the rendered pods select the spot pool and tolerate its taint: one on each spot node
    assert gke.pods_on("standard-1") == []
    assert len(gke.pods_on("spot-1")) == len(gke.pods_on("spot-2")) == 1
    assert {r["capacity"] for r in _by_placement(d)[GKE]} == {"spot"}
    assert {r["capacity"] for r in _by_placement(d)[EKS]} == {"on-demand"}
    [first] = gke.pods_on("spot-1")

    gke.taint_node("spot-1", "cloud.google.com/impending-node-termination")  # the notice
    d.wait(
        lambda: not gke.pods_on("spot-1") and len(gke.pods_on("spot-2")) == 2,
        what="the pod on the noticed node deleted and replaced on spot-2",
    )
    preempted = d.wait(
        lambda: [e for e in _events(d) if e["kind"] == "Preempted"], what="a Preempted event"
    )
    assert preempted[0]["message"].startswith(
        f"1 pod(s) in {GKE} on a spot node that is going away: deleted"
    )
    assert first in preempted[0]["message"]
    gke.delete_node("spot-1")  # the cloud takes the machine: nothing of ours was left on it

    def ready_on_spot_2() -> list[dict[str, Any]]:
        # status follows the cluster on the control plane's next sync: until then it may
        # still show the deleted pod Ready and its replacement starting
        ready = [r for r in _by_placement(d).get(GKE, []) if r["state"] == "Ready"]
        pods = gke.pods_on("spot-2")
        return ready if len(pods) == 2 and sorted(r["pod"] for r in ready) == pods else []

    ready = d.wait(ready_on_spot_2, what="status showing the two pods on spot-2 Ready")
    assert {r["capacity"] for r in ready} == {"spot"}
    assert gke.invalid == []
    assert "preemptions seen: 1" in d.run("status").stdout
