"""The `openai` package through `crosscloud gateway` to mock engines on 127.0.0.1
(`crosscloud.testing.mock_llm`): routing by the body's model, `/v1/models`, OpenAI's 404
for an unknown model, token counters from JSON answers and from streams, and
prefix-affinity sending a prompt to the replica that already holds its prefix."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from crosscloud.domain import tokens
from tests.conftest import free_port
from tests.e2e.test_gateway import Cluster, Proc

pytestmark = pytest.mark.timeout(120)


def mock(cluster: Cluster, name: str, *models: str) -> Proc:
    port = free_port()
    args = [sys.executable, "-m", "crosscloud.testing.mock_llm", "--port", str(port)]
    for model in models:
        args += ["--model", model]
    # slow prefill: a cache miss on a 20 kB prompt takes 250 ms, a hit a few ms
    args += ["--prefill-rate", "20000", "--decode-rate", "1000"]
    return cluster._spawn(args, port=port, env={}, name=name)


def upstream(proc: Proc, name: str, placement: str) -> dict[str, Any]:
    return {"id": name, "port": proc.port, "placement": placement}


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Cluster, Proc]]:
    cluster = Cluster(tmp_path)
    try:
        a = mock(cluster, "a", "tiny-chat")
        b = mock(cluster, "b", "tiny-chat")
        c = mock(cluster, "c", "tiny-chat")
        other = mock(cluster, "other", "big-chat")
        check = {"interval": "0.2s"}
        services = [
            {
                "name": "chat",
                "policy": "prefix-affinity",
                "models": ["tiny-chat"],
                "healthCheck": check,
                "upstreams": [
                    upstream(a, "a", "local/one"),
                    upstream(b, "b", "local/two"),
                    upstream(c, "c", "local/three"),
                ],
            },
            # no models declared: the gateway learns them from the replica's /v1/models
            {
                "name": "other",
                "discoverModels": True,
                "healthCheck": check,
                "upstreams": [upstream(other, "o", "local/one")],
            },
        ]
        gateway = cluster.gateway(services)
        yield cluster, gateway
    finally:
        cluster.stop_all()


def client(gateway: Proc) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


def metric(gateway: Proc, name: str, **labels: str) -> float:
    text = httpx.get(f"{gateway.url}/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for_model(gateway: Proc, model: str) -> None:
    for _ in range(100):
        if model in {m.id for m in client(gateway).models.list()}:
            return
        time.sleep(0.1)
    raise AssertionError(f"{model} never listed")


def test_models_routing_errors_and_token_counts(deployment: tuple[Cluster, Proc]) -> None:
    _, gateway = deployment
    oa = client(gateway)
    wait_for_model(gateway, "big-chat")
    listed = oa.models.list()
    assert {(m.id, m.owned_by) for m in listed} == {("tiny-chat", "chat"), ("big-chat", "other")}

    # routed by model: each answer names the model it was asked for
    for model in ("tiny-chat", "big-chat"):
        raw = oa.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "hello"}], max_tokens=3
        )
        answer = raw.parse()
        assert answer.model == model
        assert answer.usage is not None and answer.usage.completion_tokens == 3
        expected = {"a", "b", "c"} if model == "tiny-chat" else {"o"}
        assert raw.headers["x-crosscloud-upstream"] in expected

    with pytest.raises(openai.NotFoundError) as caught:
        oa.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 404
    assert caught.value.body == {
        "message": "The model `nope` does not exist.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }

    # a stream is counted from its last chunk's usage, as it passes (include_usage)
    before = metric(gateway, "crosscloud_gateway_completion_tokens_total", service="chat")
    stream = oa.completions.create(
        model="tiny-chat",
        prompt="once upon a time " * 10,
        max_tokens=7,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    texts = "".join(c.choices[0].text for c in chunks if c.choices)
    assert texts.split() == [f"t{i}" for i in range(7)]
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens == 7
    after = metric(gateway, "crosscloud_gateway_completion_tokens_total", service="chat")
    assert after - before == 7
    prompt = metric(gateway, "crosscloud_gateway_prompt_tokens_total", service="chat")
    assert prompt >= usage.prompt_tokens > 0
    stats = httpx.get(f"{gateway.url}/-/stats").json()
    assert stats["chat"]["completion_tokens"] == after


def test_non_v1_paths_still_route_by_service(deployment: tuple[Cluster, Proc]) -> None:
    _, gateway = deployment
    answer = httpx.get(f"{gateway.url}/chat/health")
    assert answer.status_code == 200
    assert answer.headers["x-crosscloud-upstream"] in {"a", "b", "c"}
    missing = httpx.post(f"{gateway.url}/v1/chat/completions", json={"messages": []})
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "model"


def test_prefix_affinity_picks_the_replica_that_holds_the_prefix(
    deployment: tuple[Cluster, Proc],
) -> None:
    _, gateway = deployment
    oa = client(gateway)
    tenants = {f"tenant-{i}": f"You are assistant {i}. " + f"rule {i}; " * 2000 for i in range(3)}
    first: dict[str, str] = {}
    for name, system in tenants.items():
        raw = oa.chat.completions.with_raw_response.create(
            model="tiny-chat",
            messages=[{"role": "system", "content": system}, {"role": "user", "content": "hi"}],
            max_tokens=1,
        )
        first[name] = raw.headers["x-crosscloud-upstream"]
    # later turns of every tenant, in another order, each go where its prefix is
    for turn in range(3):
        for name in reversed(tenants):
            messages = [
                {"role": "system", "content": tenants[name]},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "t0"},
                {"role": "user", "content": f"and then {turn}?"},
            ]
            raw = oa.chat.completions.with_raw_response.create(
                model="tiny-chat", messages=messages, max_tokens=1
            )
            assert raw.headers["x-crosscloud-upstream"] == first[name]
            usage = raw.parse().usage
            assert usage is not None and usage.prompt_tokens_details is not None
            # the engine saw the prefix cached: most of the prompt was not computed again
            assert usage.prompt_tokens_details.cached_tokens > 0.9 * usage.prompt_tokens
    hits = metric(gateway, "crosscloud_gateway_prefix_affinity_decisions_total", reason="hit")
    assert hits == 9
    # least-loaded for new prefixes: three tenants on an idle deployment, three replicas
    assert len(set(first.values())) == 3
    assert re.fullmatch(r"[abc]", first["tenant-0"])


def test_api_tokens_guard_model_routes_and_the_model_list(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    try:
        open_mock, closed_mock = mock(cluster, "o", "open-chat"), mock(cluster, "c", "paid-chat")
        token_id, token = tokens.new_token(
            os.urandom(tokens.ID_BYTES), os.urandom(tokens.SECRET_BYTES)
        )
        digest = hashlib.sha256(token.encode()).hexdigest()
        gateway = cluster.gateway(
            [
                {
                    "name": "free",
                    "models": ["open-chat"],
                    "upstreams": [upstream(open_mock, "o", "local/a")],
                },
                {
                    "name": "paid",
                    "models": ["paid-chat"],
                    "auth": {"tokens": [{"id": token_id, "sha256": digest}]},
                    "upstreams": [upstream(closed_mock, "c", "local/a")],
                },
            ]
        )
        anonymous = client(gateway)
        assert [m.id for m in anonymous.models.list()] == ["open-chat"]
        hello = [{"role": "user", "content": "hi"}]
        with pytest.raises(openai.AuthenticationError) as caught:
            anonymous.chat.completions.create(model="paid-chat", messages=hello)  # type: ignore[arg-type]
        assert caught.value.status_code == 401
        assert (
            anonymous.chat.completions.create(model="open-chat", messages=hello).model
            == "open-chat"
        )  # type: ignore[arg-type]
        paying = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=token, max_retries=0)
        assert {m.id for m in paying.models.list()} == {"open-chat", "paid-chat"}
        assert (
            paying.chat.completions.create(model="paid-chat", messages=hello).model == "paid-chat"
        )  # type: ignore[arg-type]
    finally:
        cluster.stop_all()
