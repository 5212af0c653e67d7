"""The renderer's output: valid for Kubernetes 1.30 and Istio's CRDs, labelled, secret-free,
deterministic, and carrying spec.traffic into the mesh."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from crosscloud import errors
from crosscloud.adapters.kubernetes import clouds, model, render
from crosscloud.domain import providers

PLACEMENTS = {
    "EKS": model.RenderPlacement(
        provider="aws",
        region="us-west-2",
        type="EKS",
        context="prod-eks",
        namespace="ml",
        instance_type="g6.xlarge",
        registry="123456789012.dkr.ecr.us-west-2.amazonaws.com/crosscloud",
    ),
    "AKS": model.RenderPlacement(
        provider="azure",
        region="eastus",
        type="AKS",
        context="prod-aks",
        namespace="ml",
        instance_type="Standard_NC4as_T4_v3",
        registry="mycompanyacr.azurecr.io/crosscloud",
    ),
    "GKE": model.RenderPlacement(
        provider="gcp",
        region="us-central1",
        type="GKE",
        context="prod-gke",
        namespace="ml",
        registry="us-central1-docker.pkg.dev/my-project/crosscloud",
    ),
}
GPU_SERVICE = model.RenderService(
    name="my-model",
    image="my-model:3f2a9c",
    cpu=4,
    memory_bytes=16 * 2**30,
    args=("--port", "8000"),
    env={"LOG_LEVEL": "info", "TOKENIZERS_PARALLELISM": "false"},
    secret_env={"HF_TOKEN": model.SecretRef(secret="hf", key="token")},
    accelerator="T4",
    accelerator_count=1,
    replicas=2,
    min_replicas=1,
    max_replicas=6,
    target_concurrency=4,
)
CPU_SERVICE = model.RenderService(name="tokenizer", image="ghcr.io/acme/tokenizer:1.2", cpu=0.5)
TRAFFIC = model.RenderTraffic(
    policy="least-request",
    timeout_s=30,
    retry_attempts=2,
    per_try_timeout_s=10,
    retry_on="5xx,connect-failure,refused-stream",
    consecutive_5xx=5,
    interval_s=10,
    base_ejection_s=30,
    max_ejection_percent=50,
)


def rendered(cluster: str, *, mesh: str = "istio", **changes: Any) -> list[dict[str, Any]]:
    placement = dataclasses.replace(PLACEMENTS[cluster], mesh=mesh)
    return render.render_placement(
        deployment="my-deployment",
        placement=placement,
        services=[dataclasses.replace(GPU_SERVICE, **changes), CPU_SERVICE],
        traffic=TRAFFIC,
    )


def find(objects: list[dict[str, Any]], kind: str, name: str = "my-model") -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, got {len(matches)}"
    return matches[0]


@pytest.mark.parametrize("mesh", ["none", "istio"])
@pytest.mark.parametrize("cluster", ["EKS", "AKS", "GKE"])
def test_every_object_passes_its_schema(validate: Any, cluster: str, mesh: str) -> None:
    objects = rendered(cluster, mesh=mesh)
    mesh_kinds = ["VirtualService", "DestinationRule"] if mesh == "istio" else []
    gpu = ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", *mesh_kinds]
    cpu = ["Deployment", "Service", "PodDisruptionBudget", *mesh_kinds]
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Namespace", "ml"),
        *[(kind, "my-model") for kind in gpu],
        *[(kind, "tokenizer") for kind in cpu],
    ]
    for obj in objects:
        assert validate(obj) == [], f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize(
    ("kind", "mutate", "fragment"),
    [
        ("Deployment", lambda o: o["spec"].update(replica=2), "replica"),
        ("Service", lambda o: o["spec"]["ports"][0].update(port="eighty"), "eighty"),
        ("VirtualService", lambda o: o["spec"]["http"][0].update(timeOut="30s"), "timeOut"),
        ("VirtualService", lambda o: o["spec"]["http"][0].update(timeout="30 s"), "duration"),
        ("VirtualService", lambda o: o["spec"]["http"][0].update(timeout=30), "string"),
        ("DestinationRule", lambda o: o["spec"]["trafficPolicy"].update(lb={}), "lb"),
        (
            "DestinationRule",
            lambda o: o["spec"]["trafficPolicy"]["loadBalancer"].update(simple="EWMA"),
            "EWMA",
        ),
        ("DestinationRule", lambda o: o["metadata"].update(labelz={}), "labelz"),
    ],
)
def test_the_validators_reject_what_a_cluster_would(
    validate: Any, kind: str, mutate: Any, fragment: str
) -> None:
    obj = copy.deepcopy(find(rendered("GKE"), kind))
    mutate(obj)
    problems = validate(obj)
    assert problems, f"{kind} with a broken field passed validation"
    assert any(fragment in problem for problem in problems), problems


def test_every_object_is_labelled_as_ours() -> None:
    for cluster in PLACEMENTS:
        for obj in rendered(cluster):
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/managed-by"] == "crosscloud"
            assert labels["crosscloud.dev/deployment"] == "my-deployment"
            assert labels["app.kubernetes.io/name"]
            if obj["kind"] != "Namespace":
                assert obj["metadata"]["namespace"] == "ml"


def test_secrets_are_references_never_values() -> None:
    objects = list(yaml.safe_load_all(render.to_yaml(rendered("EKS"))))
    container = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item for item in container["env"]}
    assert env["HF_TOKEN"] == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}},
    }
    assert env["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "info"}
    assert not [o for o in objects if o["kind"] == "Secret"]


@pytest.mark.parametrize(
    "name", ["HF_TOKEN", "DB_PASSWORD", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY"]
)
def test_a_credential_as_a_plain_value_is_refused(name: str) -> None:
    with pytest.raises(errors.UserError, match=f"env {name} looks like a credential"):
        dataclasses.replace(GPU_SERVICE, env={name: "s3cr3t-value"}, secret_env={})


def test_a_name_both_plain_and_secret_is_refused() -> None:
    with pytest.raises(errors.UserError, match="HF_TOKEN set both"):
        dataclasses.replace(GPU_SERVICE, env={"HF_TOKEN": "x"})


def test_pods_run_unprivileged_and_probe_the_runtime() -> None:
    pod = find(rendered("AKS"), "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert [c["topologyKey"] for c in pod["topologySpreadConstraints"]] == [
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    ]


def test_resources_and_image() -> None:
    container = find(rendered("GKE"), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
        "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
    }
    assert container["image"] == "us-central1-docker.pkg.dev/my-project/crosscloud/my-model:3f2a9c"
    assert container["args"] == ["--port", "8000"]
    cpu = find(rendered("GKE"), "Deployment", "tokenizer")["spec"]["template"]["spec"]
    assert cpu["containers"][0]["image"] == "ghcr.io/acme/tokenizer:1.2"
    assert cpu["containers"][0]["resources"]["requests"] == {"cpu": "500m", "memory": "2Gi"}
    assert "tolerations" not in cpu


@pytest.mark.parametrize(
    ("cluster", "annotations"),
    [
        (
            "EKS",
            {
                "service.beta.kubernetes.io/aws-load-balancer-type": "external",
                "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
                "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "http",
                "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": "/readyz",
            },
        ),
        (
            "AKS",
            {
                "service.beta.kubernetes.io/azure-load-balancer-health-probe-protocol": "http",
                "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": "/readyz",
            },
        ),
        ("GKE", {"cloud.google.com/l4-rbs": "enabled"}),
    ],
)
def test_load_balancer_service_per_cloud(cluster: str, annotations: dict[str, str]) -> None:
    service = find(rendered(cluster), "Service")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["metadata"]["annotations"] == annotations
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_autoscaler_on_concurrency_cpu_or_none() -> None:
    hpa = find(rendered("EKS"), "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 6)
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "crosscloud_requests_in_flight"
    assert hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "4000m"
    cpu = find(
        rendered("EKS", target_concurrency=None, target_cpu_percent=60),
        "HorizontalPodAutoscaler",
    )
    assert cpu["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    fixed = rendered("EKS", min_replicas=2, max_replicas=2, replicas=2)
    assert not [o for o in fixed if o["kind"] == "HorizontalPodAutoscaler"]
    assert find(fixed, "Deployment")["spec"]["replicas"] == 2


def test_disruption_budget_lets_drains_proceed() -> None:
    pdb = find(rendered("AKS"), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "my-model",
        "crosscloud.dev/deployment": "my-deployment",
    }


def test_istio_namespace_injection_only_with_the_mesh() -> None:
    assert rendered("GKE")[0]["metadata"]["labels"]["istio-injection"] == "enabled"
    plain = rendered("GKE", mesh="none")
    assert "istio-injection" not in plain[0]["metadata"]["labels"]
    assert not [o for o in plain if "istio" in o["apiVersion"]]


def test_same_input_same_bytes_whatever_the_order() -> None:
    first = render.to_yaml(rendered("EKS"))
    assert render.to_yaml(rendered("EKS")) == first
    reordered = render.render_placement(
        deployment="my-deployment",
        placement=dataclasses.replace(PLACEMENTS["EKS"], mesh="istio"),
        services=[
            CPU_SERVICE,
            dataclasses.replace(GPU_SERVICE, env=dict(reversed(list(GPU_SERVICE.env.items())))),
        ],
        traffic=TRAFFIC,
    )
    assert render.to_yaml(reordered) == first
    assert "&id" not in first
    assert list(yaml.safe_load_all(first)) == rendered("EKS")


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True).filter(
            lambda n: not model.looks_secret(n)
        ),
        st.text(max_size=20),
        max_size=6,
    ),
    st.randoms(use_true_random=False),
)
def test_env_order_never_changes_the_output(env: dict[str, str], rng: Any) -> None:
    items = list(env.items())
    rng.shuffle(items)
    one = render.to_yaml(rendered("AKS", env=env))
    other = render.to_yaml(rendered("AKS", env=dict(items)))
    assert one == other


def test_duplicate_services_and_bad_names_are_refused() -> None:
    with pytest.raises(errors.UserError, match="listed more than once"):
        render.render_placement(
            deployment="d",
            placement=PLACEMENTS["GKE"],
            services=[CPU_SERVICE, CPU_SERVICE],
            traffic=TRAFFIC,
        )
    with pytest.raises(errors.UserError, match="deployment name 'My_Deploy'"):
        render.render_placement(
            deployment="My_Deploy",
            placement=PLACEMENTS["GKE"],
            services=[CPU_SERVICE],
            traffic=TRAFFIC,
        )
    with pytest.raises(errors.UserError, match="service name '9lives'"):
        dataclasses.replace(CPU_SERVICE, name="9lives")
    with pytest.raises(errors.UserError, match="type 'AKS' does not run on provider 'aws'"):
        dataclasses.replace(PLACEMENTS["EKS"], type="AKS")


def _matrix() -> list[tuple[str, str | None]]:
    offered = {p.cluster_type: clouds.kubernetes(p.cluster_type).gpus for p in providers.CLUSTERS}
    return [
        (cluster, name) for cluster, names in offered.items() for name in [None, *sorted(names)]
    ]


@pytest.mark.parametrize(("cluster", "accelerator"), _matrix())
def test_every_offered_accelerator_renders_valid_objects(
    validate: Any, cluster: str, accelerator: str | None
) -> None:
    service = dataclasses.replace(
        GPU_SERVICE,
        accelerator=accelerator,
        accelerator_count=2 if accelerator else 0,
        replicas=0,
        target_concurrency=None,
        target_cpu_percent=70,
    )
    objects = render.render_placement(
        deployment="my-deployment",
        placement=dataclasses.replace(PLACEMENTS[cluster], mesh="istio", instance_type=None),
        services=[service],
        traffic=model.RenderTraffic(policy="latency"),
    )
    for obj in objects:
        assert validate(obj) == [], f"{obj['kind']}/{obj['metadata']['name']}"


def test_inputs_are_frozen_and_hashable() -> None:
    assert len({GPU_SERVICE, dataclasses.replace(GPU_SERVICE), CPU_SERVICE}) == 2
    assert len({PLACEMENTS["EKS"], TRAFFIC}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        GPU_SERVICE.replicas = 3  # type: ignore[misc]
