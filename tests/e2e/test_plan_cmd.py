"""`crosscloud plan` as a user runs it (a real process): the seed manifest refused with its
duplicated keys, the multicloud example planned and priced, its manifests rendered and valid
for Kubernetes 1.30 and Istio, infeasible plans and unloadable services refused with reasons."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CROSSCLOUD, EXAMPLES, ROOT


def _kubernetes_validators() -> Any:
    """The schema validators of the renderer's tests (tests/adapters/kubernetes/conftest.py)."""
    path = ROOT / "tests" / "adapters" / "kubernetes" / "conftest.py"
    spec = importlib.util.spec_from_file_location("crosscloud_tests_k8s_validators", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_validators = _kubernetes_validators()
# Reused as this module's fixtures: Istio CRD validators and the per-object `validate`.
istio_validators = _validators.istio_validators
validate = _validators.validate

EXAMPLE = EXAMPLES / "multicloud" / "crosscloud.yaml"
SEED = """\
apiVersion: leptonai.cloud/deployment/v1
kind: CloudDeployment
metadata:
  name: my-deployment
spec:
  provider: AWS
  region: us-west-2
  services:
  - name: my-model
    type: Aurora
  provider: Azure
  region: us-east-1
  services:
  - name: my-model
    type: AKS
  provider: Google
  region: us-central1
  services:
  - name: my-model
    type: GKE
"""


def plan(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CROSSCLOUD, "plan", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """stderr of a run that failed as a user error: exit 2, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    return result.stderr


def test_seed_manifest_names_its_duplicated_keys(tmp_path: Path) -> None:
    (tmp_path / "crosscloud.yaml").write_text(SEED)
    err = refused(plan("crosscloud.yaml", cwd=tmp_path))
    assert "provider at lines 6, 11 and 16" in err
    assert "only the last would count" in err
    assert "placements:\n" in err and "- provider: azure" in err
    assert "error: crosscloud.yaml:1:13 apiVersion:" in err


@pytest.fixture(scope="module")
def example_json() -> dict[str, Any]:
    result = plan(EXAMPLE, "-o", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_example_plans_every_placement_with_costs(example_json: dict[str, Any]) -> None:
    placed = {(a["service"], a["placement"]) for a in example_json["assignments"]}
    assert placed == {
        ("embedder", "aws/us-west-2"),
        ("embedder", "azure/eastus"),
        ("embedder", "gcp/us-central1"),
        ("echo", "aws/us-west-2"),
        ("echo", "azure/eastus"),
        ("echo", "local/region-a"),
    }
    lines = example_json["assignments"]
    assert sum(a["replicas"] for a in lines if a["service"] == "embedder") == 4
    assert example_json["hourly"] == pytest.approx(sum(a["hourly"] for a in lines))
    assert 0 < example_json["hourly"] <= 5 * 2  # maxHourlyPrice 5 per service
    # gcp/us-central1 says spot: true, the others do not
    assert {a["placement"] for a in lines if a["billed"] == "spot"} == {"gcp/us-central1"}


def test_example_table_shows_the_costs(example_json: dict[str, Any]) -> None:
    result = plan(EXAMPLE)
    assert result.returncode == 0, result.stderr
    table = result.stdout
    for item in example_json["assignments"]:
        assert item["instance_type"] in table
        assert f"{item['hourly']:.4f}" in table
    total = next(line for line in table.splitlines() if "total" in line and "$/h" not in line)
    assert f"{example_json['hourly']:.4f}" in total


def test_example_yaml_output_matches_json(example_json: dict[str, Any]) -> None:
    result = plan(EXAMPLE, "-o", "yaml")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout) == example_json


def test_render_writes_valid_manifests_per_cluster(
    tmp_path: Path, validate: Any, example_json: dict[str, Any]
) -> None:
    out = tmp_path / "rendered"
    result = plan(EXAMPLE, "--render", out)
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["aws-us-west-2.yaml", "azure-eastus.yaml", "gcp-us-central1.yaml"]
    assert "local/region-a: local placements run on this machine" in result.stderr
    assert "placeholder tag :unbuilt" in result.stderr
    assert "echo: targetQPS has no HorizontalPodAutoscaler metric" in result.stderr
    planned = {(a["placement"], a["service"]): a for a in example_json["assignments"]}
    kinds = set()
    for name in files:
        for obj in yaml.safe_load_all((out / name).read_text()):
            assert validate(obj) == [], (name, obj["kind"], obj["metadata"]["name"])
            kinds.add(obj["kind"])
            if obj["kind"] == "Deployment":
                where = name.removesuffix(".yaml").replace("-", "/", 1)
                line = planned[(where, obj["metadata"]["name"])]
                assert obj["spec"]["replicas"] == line["replicas"]
                pod = obj["spec"]["template"]["spec"]
                assert (
                    pod["nodeSelector"]["node.kubernetes.io/instance-type"]
                    == (line["instance_type"])
                )
    assert {"VirtualService", "DestinationRule", "HorizontalPodAutoscaler"} <= kinds


def test_quickstart_local_regions_plan_for_free() -> None:
    result = plan(EXAMPLES / "quickstart" / "crosscloud.yaml", "-o", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["hourly"] == 0
    placed = {a["placement"]: a["replicas"] for a in data["assignments"]}
    assert placed == {"local/region-a": 2, "local/region-b": 1, "local/region-c": 1}
    # 2 + 1 + 1 replicas for maxReplicas 2: plan says what the autoscaler will do
    assert data["warnings"] == [
        "embedder: the placements ask for 4 replicas, more than scaling.maxReplicas 2; the"
        " autoscaler brings it down to at most 2 (kept in 2 placement(s):"
        " scaling.minFailureDomains)"
    ]
    assert f"warning: {data['warnings'][0]}" in result.stderr


def test_spot_service_shows_its_mix_beside_all_on_demand(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("../", str(EXAMPLES) + "/")
    text = text.replace(
        "accelerators: T4:1}", "accelerators: T4:1}\n      spot: {baseOnDemand: 1}", 1
    )
    path = tmp_path / "crosscloud.yaml"
    path.write_text(text)
    result = plan(path, "-o", "json")
    assert result.returncode == 0, result.stderr
    [mix] = json.loads(result.stdout)["spot"]
    # 4 embedder replicas: 1 stays on-demand, 3 + 1 extra on spot over the three clouds
    assert mix["service"] == "embedder"
    assert sum(mix["on_demand"].values()) == 1
    assert sum(mix["spot"].values()) == 4 and len(mix["spot"]) == 3
    assert 0 < mix["hourly"] < mix["all_on_demand_hourly"]
    table = plan(path)
    ratio = mix["hourly"] / mix["all_on_demand_hourly"]
    assert "spot embedder: 4 spot (" in table.stdout
    assert f"all on-demand ${mix['all_on_demand_hourly']:.4f}/h ({ratio:.2f}x)" in table.stdout


def _manifest(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "crosscloud.yaml"
    head = "apiVersion: crosscloud.dev/v1\nkind: CloudDeployment\nmetadata: {name: demo}\n"
    path.write_text(head + textwrap.dedent(body))
    return path


def test_price_cap_too_low_is_refused_with_each_service_cost(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("maxHourlyPrice: 5", "maxHourlyPrice: 0.5")
    text = text.replace("../", str(EXAMPLES) + "/")
    path = tmp_path / "crosscloud.yaml"
    path.write_text(text)
    err = refused(plan(path))
    assert "error: no placement satisfies the constraints:" in err
    assert "embedder: its cheapest placement costs $1.8052/h, over maxHourlyPrice $0.5000/h" in err
    assert "echo:" not in err  # echo costs $0.3528/h, under the cap


def test_accelerator_missing_in_the_region_is_refused(tmp_path: Path) -> None:
    path = _manifest(
        tmp_path,
        """\
        spec:
          services:
            - {name: big, image: ghcr.io/me/big:1, resources: {accelerators: H100:1}}
          placements:
            - {provider: azure, region: westus2, context: aks}
        """,
    )
    err = refused(plan(path))
    assert "big: no H100 in azure/westus2" in err


def test_unloadable_source_names_the_service_and_the_file(tmp_path: Path) -> None:
    path = _manifest(
        tmp_path,
        """\
        spec:
          services:
            - {name: web, source: ./missing.py:Web}
          placements: [{provider: local, region: here}]
        """,
    )
    err = refused(plan(path))
    assert err.startswith(f"error: {path}:6:27 spec.services[0].source: web: ")
    assert "missing.py" in err


def test_malformed_user_catalog_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "prices.csv"
    bad.write_text(
        "provider,region,instance_type,accelerator,accelerator_count,vcpus,memory_gib,price_hour\n"
        "aws,us-west-2,g4dn.xlarge,T4,1,4,16,cheap\n"
    )
    err = refused(plan(EXAMPLE, "--catalog", bad))
    assert f"{bad}:2:" in err and "price_hour" in err
