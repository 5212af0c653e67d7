"""Routing by model and prefix-affinity through `crosscloud up`: the control plane pushes the
service's policy and lets the gateway learn its models from the replicas' `/v1/models`;
the `openai` client talks to `<gateway>/v1` with no service in the path; every turn of a
conversation goes to the replica that served its start, and tokens are counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import ROOT
from tests.e2e.deploy import Deployer, isolated

pytestmark = pytest.mark.timeout(240)
PARROT = str(ROOT / "tests" / "e2e" / "apps" / "parrot.py")
MANIFEST = f"""
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {{name: affinity}}
spec:
  services:
    - name: parrot
      source: {PARROT}:Parrot
      policy: prefix-affinity
  placements:
    - {{provider: local, region: region-a, services: [{{name: parrot, replicas: 2}}]}}
    - {{provider: local, region: region-b}}
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployer]:
    tmp = tmp_path_factory.mktemp("affinity")
    manifest = Path(tmp) / "crosscloud.yaml"
    manifest.write_text(MANIFEST)
    with isolated(tmp) as deployer:
        deployer.run("up", str(manifest), timeout=200)
        yield deployer


def models(gateway: str) -> list[str]:
    return sorted(m["id"] for m in httpx.get(f"{gateway}/v1/models").json()["data"])


def test_model_routing_and_affinity_through_the_control_plane(deployed: Deployer) -> None:
    gateway = deployed.gateway()
    # not declared in the manifest: learned from the replicas' GET /v1/models
    deployed.wait(lambda: models(gateway) == ["parrot-1", "parrot-mini"], what="models", timeout=60)
    oa = openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=30)
    tenants = [f"policy {i}: " + f"clause {i} " * 800 for i in range(4)]
    first: dict[int, str] = {}
    for turn in range(3):
        for i, system in enumerate(tenants):
            messages = [{"role": "system", "content": system}]
            for t in range(turn + 1):
                messages.append({"role": "user", "content": f"question {t} from tenant {i}"})
            raw = oa.chat.completions.with_raw_response.create(
                model="parrot-1",
                messages=messages,  # type: ignore[arg-type]
            )
            upstream = raw.headers["x-crosscloud-upstream"]
            assert first.setdefault(i, upstream) == upstream, f"tenant {i} turn {turn} moved"
            assert raw.parse().choices[0].message.content == f"question {turn} from tenant {i}"
    assert len(set(first.values())) >= 2  # new prefixes spread over the idle replicas
    with pytest.raises(openai.NotFoundError):
        oa.chat.completions.create(model="parrot-9", messages=[{"role": "user", "content": "x"}])
    text = httpx.get(f"{gateway}/metrics").text
    hits = [ln for ln in text.splitlines() if 'reason="hit"' in ln]
    assert hits and float(hits[0].rsplit(" ", 1)[1]) == 8  # turns 2 and 3 of 4 tenants
    stats = httpx.get(f"{gateway}/-/stats").json()["parrot"]
    assert stats["completion_tokens"] == 12 * 5  # "question t from tenant i": 5 words
    assert stats["prompt_tokens"] > 12 * 800
