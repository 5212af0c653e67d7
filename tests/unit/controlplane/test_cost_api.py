"""`GET /v1/cost`, `/v1/quotas` and `/v1/metrics` on the control plane's real HTTP API (in
this process, on 127.0.0.1), read with httpx and Prometheus's own text parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import parser

from crosscloud.controlplane import api, operations, token_ops
from crosscloud.domain import cost, tokens
from tests.unit.controlplane.test_cost_day import HOUR, MANIFEST, T0, Day

pytestmark = pytest.mark.timeout(60)
TOKEN = "test-token-123"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Day, httpx.Client]]:
    day = Day(tmp_path)
    operations.apply(
        day.ctl.shared, cluster_sync=day.ctl.clusters, text=MANIFEST, path=str(day.manifest)
    )
    day.at(0)
    day.now = T0 + 2 * HOUR
    server = api.ApiServer(day.ctl, TOKEN)
    server.start()
    headers = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers=headers) as client:
        yield day, client
    server.shutdown()
    server.server_close()


def test_cost_as_json(served: tuple[Day, httpx.Client]) -> None:
    _, client = served
    got = client.get("/v1/cost", params={"by": "placement", "since": "1h"})
    assert got.status_code == 200
    body = got.json()
    assert body["currency"] == "USD"
    assert {r["key"]: round(r["cost"], 4) for r in body["rows"]} == {
        "local/a": 0.5,
        "local/b": 1.25,
    }
    assert body["hourly"] == pytest.approx(1.75)


@pytest.mark.parametrize(
    ("params", "detail"),
    [({"by": "colour"}, "not one of"), ({"since": "yesterday"}, "--since 'yesterday'")],
)
def test_bad_cost_queries_are_400(
    served: tuple[Day, httpx.Client], params: dict[str, str], detail: str
) -> None:
    got = served[1].get("/v1/cost", params=params)
    assert got.status_code == 400
    assert detail in got.json()["detail"]


def test_metrics_are_prometheus_text_behind_the_token(served: tuple[Day, httpx.Client]) -> None:
    _, client = served
    got = client.get("/v1/metrics")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in parser.text_string_to_metric_families(got.text)}
    spent = {s.labels["placement"]: s.value for s in families["crosscloud_cost_usd"].samples}
    assert spent == pytest.approx({"local/a": 1.0, "local/b": 2.5})
    assert httpx.get(f"{client.base_url}/v1/metrics").status_code == 401


def test_quotas_list_each_active_token_with_its_limits(served: tuple[Day, httpx.Client]) -> None:
    day, client = served
    made = token_ops.create(
        day.ctl.shared, {"deployment": "shop", "name": "ci"}, publish=lambda: None
    )
    day.ctl.shared.store.set_quota(made["id"], tokens.Quota(rps=5.0, burst=10))
    body = client.get("/v1/quotas").json()
    assert [(t["id"], t["name"], t["quota"]) for t in body["tokens"]] == [
        (made["id"], "ci", {"rps": 5.0, "burst": 10})
    ]
    assert "token" not in body["tokens"][0] and "sha256" not in body["tokens"][0]


def test_cost_by_token_splits_a_service_by_model_tokens(served: tuple[Day, httpx.Client]) -> None:
    """An LLM service's cost goes to the API tokens by the model tokens each used (not by
    requests: one long answer costs more than ten short ones), with $ per 1M tokens."""
    day, client = served
    bucket = cost.bucket_of(day.now - 600)
    day.ctl.shared.store.add_usage(
        [
            cost.Usage(bucket, "shop", "api", "t1", requests=10, tokens=300),
            cost.Usage(bucket, "shop", "api", "t2", requests=30, tokens=100),
            cost.Usage(bucket, "shop", "api", "", requests=10, tokens=0),
        ]
    )
    body = client.get("/v1/cost", params={"by": "token", "since": "1h"}).json()
    rows = {r["key"]: r for r in body["rows"]}
    assert {k: round(r["cost"], 4) for k, r in rows.items()} == {
        "t1": 1.3125,  # 1.75 $ over the hour, 300 of 400 tokens
        "t2": 0.4375,
        "": 0.0,
    }
    assert (rows["t1"]["tokens"], rows["t2"]["tokens"], rows[""]["tokens"]) == (300, 100, None)
    assert rows["t1"]["per_million_tokens"] == pytest.approx(1.3125 / 300 * 1e6)
    assert rows["t2"]["per_1k_requests"] == pytest.approx(0.4375 / 30 * 1e3)
