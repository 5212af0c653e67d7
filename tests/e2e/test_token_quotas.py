"""Per-token quotas through `crosscloud up`'s gateway, and cost by token: a token sending 10x
its quota is let through at its configured rate (within 5%, counted over a window) and
refused with 429 + Retry-After otherwise, while a second token is never refused; the
`openai` client sees OpenAI's rate-limit error on `/v1/` paths; `token update` changes the
quota; `crosscloud cost --by token` splits the cost by the tokens' requests, and an LLM
service's by the model tokens each token used (a stream that did not ask for `usage`
included), with $ per 1M tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import ROOT
from tests.e2e import paced
from tests.e2e.deploy import Deployer, app_folder, isolated

pytestmark = pytest.mark.timeout(300)

PARROT = ROOT / "tests" / "e2e" / "apps" / "parrot.py"
MANIFEST = f"""\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {{name: metered}}
spec:
  services:
    - {{name: echo, source: service.py:Echo}}
    - {{name: parrot, source: {PARROT}:Parrot}}
  placements:
    - provider: local
      region: region-a
      pricePerHour: 3.6
      services: [{{name: echo}}, {{name: parrot}}]
"""
QUOTA = 20.0  # requests per second of the noisy token
WARMUP, WINDOW = 1.0, 8.0


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployer, str]]:
    """One deployment for the module (each test makes tokens of its own)."""
    tmp_path = tmp_path_factory.mktemp("quotas")
    with isolated(tmp_path) as d:
        d.run("up", str(app_folder(tmp_path, MANIFEST) / "crosscloud.yaml"))
        yield d, d.gateway()


def _token(d: Deployer, *args: str) -> str:
    return d.run("token", "create", "metered", *args).stdout.strip()


def test_a_token_at_10x_its_quota_gets_its_rate_and_429s(
    deployed: tuple[Deployer, str],
) -> None:
    d, gw = deployed
    # the burst is spent in the warm-up; from then on only the refill lets requests through
    noisy = _token(d, "--name", "noisy", "--rps", str(QUOTA), "--burst", "10")
    quiet = _token(d, "--name", "quiet")
    url = f"{gw}/echo/echo"
    d.wait(lambda: httpx.post(url, json={"text": "x"}, trust_env=False).status_code == 401)
    listed = {
        t["name"]: t["quota"] for t in json.loads(d.run("token", "list", "-o", "json").stdout)
    }
    assert (listed["noisy"], listed["quiet"]) == ({"rps": QUOTA, "burst": 10}, {})

    async def both() -> list[list[paced.Answer]]:
        seconds = WARMUP + WINDOW
        loud = paced.load(url, token=noisy, rate=10 * QUOTA, seconds=seconds)
        calm = paced.load(url, token=quiet, rate=QUOTA / 2, seconds=seconds, connections=1)
        return await asyncio.gather(loud, calm)

    loud, calm = asyncio.run(both())
    assert {a.status for a in loud} == {200, 429}
    # counted by when the answer came: a 429 comes back the moment the gateway decides
    # (an admitted one after the echo's few ms), while a send time runs ahead of the
    # decision by however long the contended gateway took to read it
    in_window = [a for a in loud if WARMUP <= a.done < WARMUP + WINDOW]
    admitted = sum(a.status == 200 for a in in_window) / WINDOW
    sent = len(in_window) / WINDOW
    print(f"noisy sent {sent:.0f}/s, admitted {admitted:.2f}/s (quota {QUOTA}/s)")
    assert sent >= 9 * QUOTA  # it did send 10x its quota
    assert abs(admitted - QUOTA) <= 0.05 * QUOTA
    assert {a.status for a in calm} == {200}  # the other token is never refused


def test_openai_clients_see_a_rate_limit_error_and_update_changes_the_quota(
    deployed: tuple[Deployer, str],
) -> None:
    d, gw = deployed
    token = _token(d, "--name", "llm", "--rps", "0.01", "--burst", "1")
    token_id = token.split("_")[1]
    url = f"{gw}/echo/echo"
    headers = {"authorization": f"Bearer {token}"}
    d.wait(lambda: httpx.post(url, json={"text": "x"}, headers=headers).status_code == 200)
    client = openai.OpenAI(base_url=f"{gw}/echo/v1", api_key=token, max_retries=0)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "rate_limit_exceeded"
    assert int(caught.value.response.headers["retry-after"]) >= 90
    refused = httpx.post(url, json={"text": "x"}, headers=headers)  # not /v1/: our shape
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 90
    assert refused.json()["error"] == "Too Many Requests"
    assert "requests per second" in refused.json()["detail"]

    bad = d.run("token", "update", token_id, "--rps", "0", check=False)
    assert bad.returncode == 2 and "--rps" in bad.stderr
    d.run("token", "update", token_id, "--unlimited")
    assert d.wait(lambda: httpx.post(url, json={"text": "x"}, headers=headers).status_code == 200)

    listed = json.loads(d.run("token", "list", "-o", "json").stdout)
    assert next(t["quota"] for t in listed if t["id"] == token_id) == {}


def test_cost_by_token_splits_by_requests(deployed: tuple[Deployer, str]) -> None:
    d, gw = deployed
    one, two = _token(d, "--name", "one"), _token(d, "--name", "two")
    url = f"{gw}/echo/echo"
    two_says = {"authorization": f"Bearer {two}"}  # accepted: the gateway knows both
    d.wait(lambda: httpx.post(url, json={"text": "x"}, headers=two_says).status_code == 200)
    for token, n in ((one, 30), (two, 10)):
        for _ in range(n):
            r = httpx.post(url, json={"text": "x"}, headers={"authorization": f"Bearer {token}"})
            assert r.status_code == 200

    def by_token() -> dict[str, dict[str, object]] | None:
        report = json.loads(d.run("cost", "--by", "token", "-o", "json").stdout)
        rows = {r["name"]: r for r in report["rows"]}
        done = (
            rows.get("one", {}).get("requests") == 30 and rows.get("two", {}).get("requests") == 11
        )
        return rows if done else None

    rows = d.wait(by_token, timeout=60, what="usage of both tokens")
    share = float(rows["one"]["cost"]) / (float(rows["one"]["cost"]) + float(rows["two"]["cost"]))
    assert share == pytest.approx(30 / 41, abs=0.001)
    service = json.loads(d.run("cost", "-o", "json").stdout)
    assert service["rows"][0]["key"] == "metered/echo"
    assert service["rows"][0]["cost"] > 0 and service["hourly"] == pytest.approx(2 * 3.6)
    assert service["rows"][0]["per_1k_requests"] > 0
    assert "over the last 24h" in d.run("cost").stdout


def test_up_refuses_a_bad_catalog_before_anything_starts(tmp_path: Path) -> None:
    with isolated(tmp_path) as d:
        folder = app_folder(tmp_path, MANIFEST)
        bad = folder / "prices.csv"
        bad.write_text(
            "provider,region,instance_type,accelerator,accelerator_count,vcpus,memory_gib,"
            "price_hour\naws,us-east-1,m5.large,,0,2,8,cheap\n"
        )
        result = d.run("up", str(folder / "crosscloud.yaml"), "--catalog", str(bad), check=False)
        assert result.returncode == 2
        assert f"{bad}:2" in result.stderr and "price_hour" in result.stderr
        assert d.processes() == {}  # no control plane, gateway or replica was started


def test_cost_by_token_splits_an_llm_service_by_model_tokens(
    deployed: tuple[Deployer, str],
) -> None:
    """`many` sends 3 short answers, `streamer` one long stream without `usage`: the same
    model tokens, so the same share of the service's cost, whatever their requests."""
    d, gw = deployed
    many, streamer = _token(d, "--name", "llm-many"), _token(d, "--name", "llm-streamer")

    def client(token: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{gw}/v1", api_key=token, max_retries=0, timeout=30)

    def listed() -> bool:
        return "parrot-1" in {m.id for m in client(streamer).models.list()}

    d.wait(listed, timeout=60, what="the gateway to know the token and the parrot's models")
    ten = " ".join(f"w{i}" for i in range(10))
    for _ in range(3):  # 10 prompt + 10 completion tokens each (the parrot says it back)
        answer = client(many).chat.completions.create(
            model="parrot-1", messages=[{"role": "user", "content": ten}]
        )
        assert answer.usage is not None and answer.usage.total_tokens == 20
    thirty = " ".join(f"w{i}" for i in range(30))
    chunks = list(
        client(streamer).chat.completions.create(
            model="parrot-1", messages=[{"role": "user", "content": thirty}], stream=True
        )
    )
    assert all(c.usage is None and c.choices for c in chunks)  # no usage chunk came
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == thirty

    def by_token() -> dict[str, dict[str, object]] | None:
        report = json.loads(d.run("cost", "--by", "token", "-o", "json").stdout)
        rows = {r["name"]: r for r in report["rows"]}
        got = {
            n: (rows.get(n, {}).get("requests"), rows.get(n, {}).get("tokens"))
            for n in ("llm-many", "llm-streamer")
        }
        return rows if got == {"llm-many": (3, 60), "llm-streamer": (1, 60)} else None

    rows = d.wait(by_token, timeout=60, what="model tokens of both tokens")
    a, b = float(rows["llm-many"]["cost"]), float(rows["llm-streamer"]["cost"])
    assert a > 0 and a / (a + b) == pytest.approx(0.5, abs=0.001)  # by tokens, not 3:1
    assert rows["llm-many"]["per_million_tokens"] == pytest.approx(a / 60 * 1e6)
    table = d.run("cost", "--by", "token").stdout
    assert "$/1M tokens" in table and "llm-streamer" in table
