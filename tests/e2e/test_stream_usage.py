"""A stream whose client never asks for `usage` is still counted, per API token, and its
client sees exactly the bytes the engine would have sent it directly; those tokens are
spent from the token's tokens-per-minute quota. The `openai` package through
`crosscloud gateway` to a mock engine (`crosscloud.testing.mock_llm`) and to the SDK's
runtime (`crosscloud serve` of a test service) on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from crosscloud.domain import tokens
from tests.conftest import CROSSCLOUD, ROOT, free_port
from tests.e2e.test_gateway import Cluster, Proc
from tests.e2e.test_gateway_llm import metric, mock, upstream

pytestmark = pytest.mark.timeout(120)

TPM = 20  # the metered token's model tokens per minute
HELLO = [{"role": "user", "content": "tell me a story"}]
PARROT = str(ROOT / "tests" / "e2e" / "apps" / "parrot.py") + ":Parrot"


def _token() -> tuple[str, str, str]:
    token_id, token = tokens.new_token(os.urandom(tokens.ID_BYTES), os.urandom(tokens.SECRET_BYTES))
    return token_id, token, hashlib.sha256(token.encode()).hexdigest()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[Proc, Proc, Proc, dict[str, tuple[str, str]]]]:
    """(engine, runtime, gateway, name -> (token id, token)): `free` has no quota,
    `metered` TPM; `tiny-chat` is the mock engine's model, `parrot-1` the runtime's."""
    cluster = Cluster(tmp_path)
    try:
        engine = mock(cluster, "e", "tiny-chat")
        port = free_port()
        runtime = cluster._spawn(
            [*CROSSCLOUD, "serve", PARROT, "--port", str(port)], port=port, env={}, name="rt"
        )
        made = {name: _token() for name in ("free", "metered")}
        entries = [{"id": i, "sha256": d} for i, _, d in made.values()]
        entries[1]["quota"] = {"tokensPerMinute": TPM}
        services = [
            {
                "name": name,
                "models": [model],
                "auth": {"tokens": entries},
                "upstreams": [upstream(proc, name, "local/a")],
            }
            for name, model, proc in (("chat", "tiny-chat", engine), ("sdk", "parrot-1", runtime))
        ]
        made_ids = {n: (i, t) for n, (i, t, _) in made.items()}
        yield engine, runtime, cluster.gateway(services), made_ids
    finally:
        cluster.stop_all()


def _raw_stream(base: str, token: str, model: str = "tiny-chat", **extra: object) -> bytes:
    body = {"model": model, "messages": HELLO, "max_tokens": 5, "stream": True, **extra}
    headers = {"authorization": f"Bearer {token}"}
    with httpx.stream(
        "POST", f"{base}/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as answer:
        assert answer.status_code == 200
        return answer.read()


def _same_but_ids(data: bytes) -> bytes:
    """The stream without what differs per answer (its id, its creation second)."""
    data = re.sub(rb'"id":"[^"]*"', b'"id":"-"', data)
    return re.sub(rb'"created":\d+', b'"created":0', data)


def test_a_stream_without_include_usage_is_counted_per_token_and_unchanged(
    gateway: tuple[Proc, Proc, Proc, dict[str, tuple[str, str]]],
) -> None:
    engine, runtime, gw, made = gateway
    free_id, free = made["free"]
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=free, max_retries=0)
    client.models.list()  # the gateway is up

    # byte for byte what the server sends when asked directly (the ids are per answer)
    for server, model in ((engine, "tiny-chat"), (runtime, "parrot-1")):
        direct = _raw_stream(server.url, "unused", model)
        through = _raw_stream(gw.url, free, model)
        assert b'"usage"' not in direct and b"data: [DONE]" in direct
        assert _same_but_ids(through) == _same_but_ids(direct)
        with_usage = _raw_stream(gw.url, free, model, stream_options={"include_usage": True})
        assert with_usage.count(b'"usage"') == 1  # asked for: it gets it, once
    parrot = metric(gw, "crosscloud_gateway_token_completion_tokens_total", service="sdk")
    assert parrot == 4 + 4  # "tell me a story", said back, twice

    before = metric(gw, "crosscloud_gateway_token_completion_tokens_total", token=free_id)
    chunks = list(
        client.chat.completions.create(
            model="tiny-chat",
            messages=HELLO,
            max_tokens=7,
            stream=True,  # type: ignore[arg-type]
        )
    )
    assert all(c.usage is None and c.choices for c in chunks)  # no usage chunk appeared
    assert "".join(c.choices[0].delta.content or "" for c in chunks).split() == [
        f"t{i}" for i in range(7)
    ]
    grew = metric(gw, "crosscloud_gateway_token_completion_tokens_total", token=free_id) - before
    assert grew == 7
    assert metric(gw, "crosscloud_gateway_token_prompt_tokens_total", token=free_id) > 0
    # the service's and the replica's counters count the same answers
    assert metric(gw, "crosscloud_gateway_completion_tokens_total", service="chat") == (5 + 5 + 7)
    assert metric(
        gw, "crosscloud_gateway_token_completion_tokens_total", service="chat", token=free_id
    ) == (5 + 5 + 7)


def test_an_uncounted_looking_stream_spends_the_tokens_per_minute_quota(
    gateway: tuple[Proc, Proc, Proc, dict[str, tuple[str, str]]],
) -> None:
    _, _, gw, made = gateway
    metered_id, metered = made["metered"]
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=metered, max_retries=0)
    client.models.list()
    stream = client.chat.completions.create(
        model="tiny-chat",
        messages=HELLO,
        max_tokens=3 * TPM,
        stream=True,  # type: ignore[arg-type]
    )
    assert len([c for c in stream if c.choices]) >= 3 * TPM
    # 60+ tokens from a bucket of 20 a minute: the next request waits for it to refill
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=1)  # type: ignore[arg-type]
    assert int(caught.value.response.headers["retry-after"]) >= 60
    assert metric(gw, "crosscloud_gateway_token_completion_tokens_total", token=metered_id) == (
        3 * TPM
    )
    # another token is not charged for it
    _, free = made["free"]
    other = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=free, max_retries=0)
    assert other.chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=1).choices  # type: ignore[arg-type]


def test_a_client_that_leaves_mid_stream_is_still_charged(
    gateway: tuple[Proc, Proc, Proc, dict[str, tuple[str, str]]],
) -> None:
    """It never gets the `usage` chunk: the chunks the engine had sent count, a token
    each, against the token's counters and its tokens-per-minute quota."""
    _, _, gw, made = gateway
    metered_id, metered = made["metered"]
    body = {"model": "tiny-chat", "messages": HELLO, "max_tokens": 500, "stream": True}
    headers = {"authorization": f"Bearer {metered}"}
    read = 0
    with httpx.stream(
        "POST", f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as answer:
        for line in answer.iter_lines():
            read += line.startswith("data: {")
            if read == 3 * TPM:
                break  # and the connection closes
    name = "crosscloud_gateway_token_completion_tokens_total"
    for _ in range(50):
        if metric(gw, name, token=metered_id):
            break
        time.sleep(0.1)
    assert 3 * TPM <= metric(gw, name, token=metered_id) < 500
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=metered, max_retries=0)
    with pytest.raises(openai.RateLimitError):  # 60+ tokens from a bucket of 20 a minute
        client.chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=1)  # type: ignore[arg-type]
