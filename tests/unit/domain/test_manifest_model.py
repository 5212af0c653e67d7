"""Valid manifests load into the values a planner needs: aliases resolved, units parsed,
defaults filled, placements named `provider/region`."""

from __future__ import annotations

import copy
import pathlib

import pydantic
import pytest
import yaml

from crosscloud import errors
from crosscloud.domain import manifest, quantity

EXAMPLES = pathlib.Path(__file__).parents[3] / "examples"


def _load(data: object) -> manifest.Manifest:
    return manifest.load_manifest(yaml.safe_dump(data, sort_keys=False), "test.yaml")


def _minimal(**spec: object) -> dict[str, object]:
    services = [{"name": "svc", "source": "./service.py:Svc"}]
    return {
        "apiVersion": "crosscloud.dev/v1",
        "kind": "CloudDeployment",
        "metadata": {"name": "demo"},
        "spec": {"services": services, **spec},
    }


def test_full_manifest_loads_with_parsed_values(valid_text: str) -> None:
    m = manifest.load_manifest(valid_text, "crosscloud.yaml")
    embedder = m.service("embedder")
    assert embedder.scaling.scale_to_zero_after == 300.0
    assert embedder.resources is not None
    assert embedder.resources.cpu == 0.5
    assert embedder.resources.memory == 4 * 2**30
    assert embedder.resources.accelerators == (quantity.Accelerator("T4", 1),)
    assert embedder.secret_env["HF_TOKEN"] == manifest.SecretRef(secret="huggingface", key="token")
    assert m.spec.traffic.timeout == 5400.0
    assert m.spec.traffic.retries.per_try_timeout == 0.25
    assert m.spec.traffic.retries.retry_on == ("5xx", "reset")
    assert m.spec.traffic.failover == ("aws/us-west-2", "azure/eastus", "local/region-a")
    assert m.spec.optimizer.providers == ("aws", "gcp")
    assert m.spec.optimizer.regions == ("us-west-2", "gcp/us-central1")
    assert m.spec.optimizer.max_hourly_price == 2.5


def test_placements_have_ids_types_namespaces_and_services(valid_text: str) -> None:
    m = manifest.load_manifest(valid_text, "crosscloud.yaml")
    assert [p.id for p in m.placements()] == ["aws/us-west-2", "azure/eastus", "local/region-a"]
    assert [p.type for p in m.placements()] == ["EKS", "AKS", "Local"]
    assert {p.namespace for p in m.placements()} == {"demo"}
    local = m.placement("local/region-a")
    assert [s.name for s in local.services] == ["embedder", "echo"]  # left out: every service
    assert m.placement("aws/us-west-2").services[0].replicas == 2
    with pytest.raises(KeyError):
        m.placement("gcp/us-central1")


@pytest.mark.parametrize(
    ("written", "provider", "cluster_type"),
    [
        ("AWS", "aws", "EKS"),
        ("aws", "aws", "EKS"),
        ("Azure", "azure", "AKS"),
        ("AZURE", "azure", "AKS"),
        ("Google", "gcp", "GKE"),
        ("GCP", "gcp", "GKE"),
        ("gce", "gcp", "GKE"),
        ("Local", "local", "Local"),
    ],
)
def test_provider_aliases_and_inferred_type(written: str, provider: str, cluster_type: str) -> None:
    region = {"aws": "us-west-2", "azure": "eastus", "gcp": "us-central1", "local": "a"}[provider]
    placement = {"provider": written, "region": region, "context": "ctx"}
    m = _load(_minimal(placements=[placement]))
    assert (m.placements()[0].provider, m.placements()[0].type) == (provider, cluster_type)


@pytest.mark.parametrize(("written", "canonical"), [("eks", "EKS"), ("Eks", "EKS"), ("EKS", "EKS")])
def test_type_is_case_insensitive(written: str, canonical: str) -> None:
    placement = {"provider": "aws", "region": "us-east-1", "type": written, "context": "c"}
    assert _load(_minimal(placements=[placement])).placements()[0].type == canonical


@pytest.mark.parametrize(
    ("scaling", "low", "high"),
    [
        ({}, 1, 1),
        ({"minReplicas": 3}, 3, 3),
        ({"minReplicas": 0}, 0, 1),
        ({"maxReplicas": 5}, 1, 5),
    ],
)
def test_max_replicas_defaults_to_min(scaling: dict[str, int], low: int, high: int) -> None:
    data = _minimal()
    data["spec"]["services"][0]["scaling"] = scaling  # type: ignore[index]
    got = _load(data).spec.services[0].scaling
    assert (got.min_replicas, got.max_replicas) == (low, high)


def test_placements_auto_and_defaults() -> None:
    m = _load(_minimal(placements="auto"))
    assert m.is_auto
    assert m.placements() == ()
    assert m.spec.traffic.policy == "least-request"
    assert m.spec.traffic.timeout == 30.0
    assert m.spec.traffic.outlier_detection.consecutive_5xx_errors == 5
    assert m.spec.state.url is None  # the state directory's own SQLite file
    assert not _load(_minimal()).placements()  # placements left out means auto


@pytest.mark.parametrize(
    ("written", "stored"), [(True, "true"), (3, "3"), (0.5, "0.5"), ("x", "x")]
)
def test_env_values_become_text(written: object, stored: str) -> None:
    data = _minimal()
    data["spec"]["services"][0]["env"] = {"VALUE": written}  # type: ignore[index]
    assert _load(data).spec.services[0].env == {"VALUE": stored}


def test_dump_and_reload_gives_the_same_manifest(valid_text: str) -> None:
    m = manifest.load_manifest(valid_text, "crosscloud.yaml")
    again = manifest.Manifest.model_validate(m.model_dump(by_alias=True))
    assert again == m


def test_manifest_is_immutable(valid_text: str) -> None:
    m = manifest.load_manifest(valid_text, "crosscloud.yaml")
    with pytest.raises(pydantic.ValidationError):
        m.metadata.name = "other"  # type: ignore[misc]


def test_rules_hold_for_models_built_in_python(valid_data: dict[str, object]) -> None:
    data = copy.deepcopy(valid_data)
    data["spec"]["traffic"]["failover"] = ["gcp/us-east1"]  # type: ignore[index]
    with pytest.raises(pydantic.ValidationError, match="no placement is named 'gcp/us-east1'"):
        manifest.Manifest.model_validate(data)


@pytest.mark.parametrize(
    ("path", "ids"),
    [
        ("multicloud", ["aws/us-west-2", "azure/eastus", "gcp/us-central1", "local/region-a"]),
        ("quickstart", ["local/region-a", "local/region-b", "local/region-c"]),
    ],
)
def test_examples_load(path: str, ids: list[str]) -> None:
    file = EXAMPLES / path / "crosscloud.yaml"
    m = manifest.load_manifest(file.read_text(), str(file))
    assert [p.id for p in m.placements()] == ids
    assert m.spec.state.url is None or m.spec.state.url.startswith(("sqlite:///", "postgresql://"))


def test_quickstart_runs_the_embedder_with_one_or_two_replicas_per_region() -> None:
    file = EXAMPLES / "quickstart" / "crosscloud.yaml"
    m = manifest.load_manifest(file.read_text(), str(file))
    assert m.service("embedder").source == "../embeddings/service.py:Embedder"
    replicas = [s.replicas for p in m.placements() for s in p.services]
    assert all(r is not None and 1 <= r <= 2 for r in replicas)


def test_several_problems_come_together_sorted_by_line() -> None:
    data = _minimal(traffic={"policy": "fastest", "timeout": "soon"})
    data["metadata"] = {"name": "Bad_Name"}
    with pytest.raises(errors.ManifestError) as info:
        _load(data)
    problems = info.value.problems
    assert [p.path for p in problems] == [
        "metadata.name",
        "spec.traffic.policy",
        "spec.traffic.timeout",
    ]
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    assert info.value.exit_code == 2
