"""The Kubernetes target driven through the official client against fake API servers.

Three fake clusters (EKS, AKS, GKE contexts in one generated kubeconfig) receive the real
REST calls; every body they get is validated against Kubernetes 1.30 (strict) and Istio's
CRD schemas. Covered: apply/wait/report/delete at once, capacity shortfalls from pods that
stay Pending, an unreachable cluster beside working ones, 401/403/missing Istio, drift
repair, conflicts, and that no credential ever reaches a message.
"""

from __future__ import annotations

import datetime
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crosscloud import errors
from crosscloud.adapters.kubernetes import client, model, render
from crosscloud.domain import state, targets
from tests.adapters.kubernetes.fake_apiserver import FakeCluster

DEPLOYMENT = "shop"
NAMESPACE = "shop"
CLOUDS = {
    "EKS": ("aws", "us-west-2", "prod-eks", "k8s-shop-echo-0123.elb.us-west-2.amazonaws.com"),
    "AKS": ("azure", "eastus", "prod-aks", "20.62.1.7"),
    "GKE": ("gcp", "us-central1", "prod-gke", "34.118.2.9"),
}
ECHO = model.RenderService(name="echo", image="registry.example.com/echo:cc-1", replicas=2)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def clusters(validate: Any) -> Iterator[dict[str, FakeCluster]]:
    started = {
        kind: FakeCluster(token=f"secret-token-{kind.lower()}", validate=validate, lb_address=lb)
        for kind, (_, _, _, lb) in CLOUDS.items()
    }
    for cluster in started.values():
        cluster.start()
    yield started
    for cluster in started.values():
        cluster.stop()


def write_kubeconfig(path: Path, servers: dict[str, tuple[str, str]]) -> str:
    """A kubeconfig with one context per entry: name -> (server URL, bearer token)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": url}} for n, (url, _) in servers.items()],
        "users": [{"name": n, "user": {"token": token}} for n, (_, token) in servers.items()],
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in servers],
        "current-context": next(iter(servers)),
    }
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture
def kubeconfig(tmp_path: Path, clusters: dict[str, FakeCluster]) -> str:
    servers = {CLOUDS[k][2]: (c.url, c.token) for k, c in clusters.items()}
    servers["down-eks"] = (f"http://127.0.0.1:{_closed_port()}", "x")
    return write_kubeconfig(tmp_path / "kubeconfig", servers)


def placement(
    kind: str, *, mesh: str = "none", context: str | None = None
) -> model.RenderPlacement:
    provider, region, ctx, _ = CLOUDS[kind]
    return model.RenderPlacement(
        provider=provider,  # type: ignore[arg-type]
        region=region,
        type=kind,  # type: ignore[arg-type]
        context=context or ctx,
        namespace=NAMESPACE,
        mesh=mesh,  # type: ignore[arg-type]
    )


def objects(where: model.RenderPlacement, *services: model.RenderService) -> list[dict[str, Any]]:
    return render.render_placement(
        deployment=DEPLOYMENT,
        placement=where,
        services=services or (ECHO,),
        traffic=model.RenderTraffic(timeout_s=30, retry_attempts=2, consecutive_5xx=5),
    )


@pytest.fixture
def target(kubeconfig: str) -> Iterator[client.KubernetesTarget]:
    made = client.KubernetesTarget(kubeconfig=kubeconfig, unschedulable_after=300, timeout=(2, 10))
    yield made
    made.close()


def test_three_clouds_apply_wait_report_delete(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    places = {kind: placement(kind, mesh="istio" if kind == "GKE" else "none") for kind in CLOUDS}
    applied = target.apply_many({p: objects(p) for p in places.values()})
    assert all(isinstance(result, list) for result in applied.values()), applied
    assert applied["gcp/us-central1"][-2:] == [
        "VirtualService shop/echo",
        "DestinationRule shop/echo",
    ]
    for cluster in clusters.values():
        assert cluster.invalid == []
        patches = [r for r in cluster.requests if r[0] == "PATCH"]
        assert patches
        assert {r[2] for r in patches} == {"application/apply-patch+yaml"}
        deployed = cluster.get("apps/v1", "deployments", NAMESPACE, "echo")
        assert deployed is not None
        managers = {(m["manager"], m["operation"]) for m in deployed["metadata"]["managedFields"]}
        assert managers == {("crosscloud", "Apply")}

    seen: list[targets.ServiceRollout] = []
    for where in places.values():
        rollout = target.wait_rollout(
            where,
            deployment=DEPLOYMENT,
            services=["echo"],
            timeout=30,
            poll=0.05,
            progress=seen.append,
        )
        assert rollout.done
        assert not rollout.shortfalls
        assert not rollout.timed_out
    assert {(s.placement, s.available) for s in seen if s.done} == {
        ("aws/us-west-2", 2),
        ("azure/eastus", 2),
        ("gcp/us-central1", 2),
    }

    reports = target.report_many(places.values(), deployment=DEPLOYMENT)
    for kind, where in places.items():
        report = reports[f"{where.provider}/{where.region}"]
        assert isinstance(report, targets.PlacementReport)
        assert [r.state for r in report.replicas] == [state.ReplicaState.READY] * 2
        assert all(r.pod and r.id.endswith(r.pod) and r.port == 8000 for r in report.replicas)
        assert report.endpoints == {"echo": f"http://{CLOUDS[kind][3]}:80"}
        assert report.shortfalls == ()

    for kind, where in places.items():
        deleted = target.delete(where, deployment=DEPLOYMENT)
        assert "Deployment shop/echo" in deleted
        assert deleted[-1] == "Namespace shop"
        assert clusters[kind].objects == {}


def test_delete_leaves_what_it_does_not_manage(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    where, cluster = placement("AKS"), clusters["AKS"]
    target.apply(where, objects(where))
    other = model.RenderService(name="billing", image="billing:1")
    # Another deployment's objects in the same namespace, and a hand-made Service.
    foreign = render.render_placement(
        deployment="billing", placement=where, services=[other], traffic=model.RenderTraffic()
    )
    target.apply(where, foreign[1:])
    cluster.handle(
        "PATCH",
        f"/api/v1/namespaces/{NAMESPACE}/services/hand-made?fieldManager=kubectl",
        {
            "Authorization": f"Bearer {cluster.token}",
            "Content-Type": "application/apply-patch+yaml",
        },
        b'{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hand-made", "namespace": "shop"},'
        b' "spec": {"ports": [{"port": 80}]}}',
    )
    deleted = target.delete(where, deployment=DEPLOYMENT)
    assert "Namespace shop" not in deleted
    assert cluster.names("v1", "services", NAMESPACE) == ["billing", "hand-made"]
    assert cluster.names("apps/v1", "deployments", NAMESPACE) == ["billing"]
    assert cluster.names("v1", "namespaces") == [NAMESPACE]


def test_pods_pending_too_long_are_a_capacity_shortfall(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    where, cluster = placement("EKS"), clusters["EKS"]
    cluster.schedulable = False
    cluster.unschedulable_since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(
        seconds=600
    )
    gpu = model.RenderService(
        name="embed", image="embed:1", replicas=2, accelerator="T4", accelerator_count=1
    )
    target.apply(where, objects(where, gpu))
    rollout = target.wait_rollout(
        where, deployment=DEPLOYMENT, services=["embed"], timeout=30, poll=0.05
    )
    assert not rollout.done
    [short] = rollout.shortfalls
    assert (short.placement, short.service, short.pods) == ("aws/us-west-2", "embed", 2)
    assert "Insufficient nvidia.com/gpu" in short.reason
    assert "2 replica(s) of embed cannot be scheduled on aws/us-west-2 for 6" in short.message(
        time.time()
    )
    replicas = target.replicas(where, deployment=DEPLOYMENT)
    assert [r.state for r in replicas] == [state.ReplicaState.PENDING] * 2
    assert "Insufficient nvidia.com/gpu" in replicas[0].message

    # The cluster finds capacity (a node pool scaled up): the same rollout completes.
    cluster.run_pods()
    done = target.wait_rollout(
        where, deployment=DEPLOYMENT, services=["embed"], timeout=30, poll=0.05
    )
    assert done.done
    assert done.shortfalls == ()


def test_recently_unschedulable_pods_are_not_yet_a_shortfall(
    kubeconfig: str, clusters: dict[str, FakeCluster]
) -> None:
    where, cluster = placement("GKE"), clusters["GKE"]
    cluster.schedulable = False
    since = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    cluster.unschedulable_since = since
    clock = [since.timestamp() + 299.0]
    target = client.KubernetesTarget(
        kubeconfig=kubeconfig, unschedulable_after=300, clock=lambda: clock[0]
    )
    target.apply(where, objects(where))
    rollout = target.wait_rollout(
        where, deployment=DEPLOYMENT, services=["echo"], timeout=0, poll=0
    )
    assert rollout.timed_out
    assert rollout.shortfalls == ()
    clock[0] = since.timestamp() + 301.0
    assert [s.pods for s in target.shortfalls(where, deployment=DEPLOYMENT)] == [2]
    target.close()


def test_unreachable_cluster_fails_alone(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    down = placement("EKS", context="down-eks")
    aks, gke = placement("AKS"), placement("GKE")
    results = target.apply_many({down: objects(down), aks: objects(aks), gke: objects(gke)})
    failure = results["aws/us-west-2"]
    assert isinstance(failure, errors.TargetError)
    message = str(failure)
    assert message.startswith(
        "placement aws/us-west-2 (context 'down-eks'): cannot reach the cluster at http://127.0.0.1:"
    )
    assert isinstance(results["azure/eastus"], list)
    assert isinstance(results["gcp/us-central1"], list)
    assert clusters["AKS"].names("apps/v1", "deployments", NAMESPACE) == ["echo"]
    reports = target.report_many([down, aks], deployment=DEPLOYMENT)
    assert isinstance(reports["aws/us-west-2"], errors.TargetError)
    assert isinstance(reports["azure/eastus"], targets.PlacementReport)


def test_expired_credentials_name_the_placement_and_how_to_refresh(
    tmp_path: Path, clusters: dict[str, FakeCluster]
) -> None:
    stale = "stale-token-never-printed"
    config = write_kubeconfig(tmp_path / "kc", {"prod-eks": (clusters["EKS"].url, stale)})
    target = client.KubernetesTarget(kubeconfig=config)
    with pytest.raises(errors.TargetError) as caught:
        target.apply(placement("EKS"), objects(placement("EKS")))
    message = str(caught.value)
    assert message.startswith("placement aws/us-west-2 (context 'prod-eks'): the cluster rejected")
    assert "401" in message
    assert "aws eks update-kubeconfig" in message
    assert stale not in message
    assert clusters["EKS"].token not in message
    target.close()


def test_forbidden_namespace(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    clusters["AKS"].forbidden_namespaces = {NAMESPACE}
    where = placement("AKS")
    target.apply(where, objects(where)[:1])  # the Namespace itself is cluster-scoped
    with pytest.raises(errors.TargetError) as caught:
        target.apply(where, objects(where))
    message = str(caught.value)
    assert message.startswith("placement azure/eastus (context 'prod-aks'): forbidden (403)")
    assert 'in the namespace "shop"' in message


def test_missing_istio_is_named(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    clusters["GKE"].istio = False
    where = placement("GKE", mesh="istio")
    with pytest.raises(
        errors.TargetError,
        match=r"^placement gcp/us-central1 \(context 'prod-gke'\): Istio is not installed",
    ):
        target.apply(where, objects(where))


def test_unknown_context_lists_the_known_ones(target: client.KubernetesTarget) -> None:
    with pytest.raises(
        errors.TargetError, match=r"no such context in the kubeconfig \(it has: down-eks, prod-aks"
    ):
        target.apply(placement("AKS", context="prod-typo"), [])


def test_drift_is_repaired_by_applying_again(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    where, cluster = placement("AKS"), clusters["AKS"]
    target.apply(where, objects(where))
    cluster.edit(
        "apps/v1", "deployments", NAMESPACE, "echo", {"spec": {"replicas": 7}}, manager="kubectl"
    )
    cluster.remove("v1", "services", NAMESPACE, "echo")
    cluster.conflicts = 2  # a concurrent writer: the client applies again
    target.apply(where, objects(where))
    deployed = cluster.get("apps/v1", "deployments", NAMESPACE, "echo")
    assert deployed is not None
    assert deployed["spec"]["replicas"] == 2
    assert cluster.get("v1", "services", NAMESPACE, "echo") is not None
    cluster.conflicts = 10
    with pytest.raises(errors.TargetError, match="answered 409"):
        target.apply(where, objects(where))


def test_rollout_waits_for_the_controller_to_observe_the_generation(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    where, cluster = placement("EKS"), clusters["EKS"]
    target.apply(where, objects(where))
    cluster.status_lag = 2
    seen: list[targets.ServiceRollout] = []
    rollout = target.wait_rollout(
        where, deployment=DEPLOYMENT, services=["echo"], timeout=30, poll=0.01, progress=seen.append
    )
    assert rollout.done
    assert not seen[0].observed
    assert seen[0].available == 2
    assert seen[-1].done


def test_observe_follows_recorded_pods(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    where, cluster = placement("GKE"), clusters["GKE"]
    target.apply(where, objects(where))
    records = target.replicas(where, deployment=DEPLOYMENT, version=3)
    assert {r.version for r in records} == {3}
    assert len(records) == 2
    assert records[0].pod is not None
    cluster.remove("v1", "pods", NAMESPACE, records[0].pod)
    seen = target.observe(where, records)
    assert [o.liveness for o in seen] == [state.Liveness.GONE, state.Liveness.RUNNING]
    assert seen[1].ready


def test_pod_log_reads_the_last_lines_and_what_came_since(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    where, cluster = placement("AKS"), clusters["AKS"]
    target.apply(where, objects(where))
    pod = str(target.replicas(where, deployment=DEPLOYMENT)[0].pod)
    cluster.write_log(NAMESPACE, pod, "starting", "ready on :8000", "GET /healthz 200")
    assert [line.text for line in target.pod_log(where, pod)] == [
        "starting",
        "ready on :8000",
        "GET /healthz 200",
    ]
    last = target.pod_log(where, pod, tail=1)
    assert [line.text for line in last] == ["GET /healthz 200"]
    assert last[0].at.startswith(str(datetime.datetime.now(datetime.UTC).year))
    time.sleep(0.01)
    cluster.write_log(NAMESPACE, pod, "POST /embed 200")
    since = target.pod_log(where, pod, since=last[0].at)
    assert [line.text for line in since] == ["GET /healthz 200", "POST /embed 200"]
    assert target.pod_log(where, pod, tail=0) == []

    with pytest.raises(errors.TargetError) as gone:
        target.pod_log(where, "echo-nope")
    assert "placement azure/eastus (context 'prod-aks')" in str(gone.value)
    assert "404" in str(gone.value)


def test_pod_log_of_a_pod_not_yet_running_says_why(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    where, cluster = placement("EKS"), clusters["EKS"]
    cluster.schedulable = False
    target.apply(where, objects(where))
    pod = str(target.replicas(where, deployment=DEPLOYMENT)[0].pod)
    with pytest.raises(errors.TargetError, match=f"pod {pod} does not have a host assigned"):
        target.pod_log(where, pod)


def test_the_fake_refuses_what_a_cluster_would_refuse(
    target: client.KubernetesTarget, clusters: dict[str, FakeCluster]
) -> None:
    where, cluster = placement("AKS"), clusters["AKS"]
    rendered = objects(where)
    rendered[1]["spec"]["replicas"] = "two"  # the Deployment
    rendered[1]["spec"]["template"]["spec"]["containers"][0]["gpu"] = 1
    with pytest.raises(errors.TargetError, match="answered 422"):
        target.apply(where, rendered)
    assert any("replicas" in problem for problem in cluster.invalid)
    assert cluster.get("apps/v1", "deployments", NAMESPACE, "echo") is None
