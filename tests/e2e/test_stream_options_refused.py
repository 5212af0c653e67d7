"""A server that predates `stream_options` (`crosscloud.testing.mock_llm
--reject-stream-options` refuses it with a 422, as older OpenAI-compatible servers do)
still streams through the gateway, which asks for `usage` only where it is taken: the
`openai` package gets its stream, not the refusal, and a request the server refuses for
another reason gets the server's own 400. `crosscloud gateway` on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from tests.conftest import free_port
from tests.e2e.test_gateway import Cluster, Proc
from tests.e2e.test_gateway_llm import metric, upstream
from tests.e2e.test_stream_usage import HELLO, _raw_stream, _same_but_ids

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def old_server(tmp_path: Path) -> Iterator[tuple[Proc, Proc]]:
    """(engine that refuses `stream_options`, gateway in front of it)."""
    cluster = Cluster(tmp_path)
    try:
        port = free_port()
        args = [sys.executable, "-m", "crosscloud.testing.mock_llm", "--port", str(port)]
        args += ["--model", "old-chat", "--decode-rate", "1000", "--reject-stream-options"]
        engine = cluster._spawn(args, port=port, env={}, name="old")
        service = {
            "name": "old",
            "models": ["old-chat"],
            "upstreams": [upstream(engine, "o", "local/a")],
        }
        yield engine, cluster.gateway([service])
    finally:
        cluster.stop_all()


def test_a_server_that_refuses_stream_options_streams_through_the_gateway(
    old_server: tuple[Proc, Proc],
) -> None:
    engine, gw = old_server
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    client.models.list()  # the gateway is up

    def refused() -> float:
        return metric(engine, "mock_refused_requests_total")

    # Refused for another reason: the server's own 400, as it answers it directly. The
    # gateway's try asking for `usage` was refused too (422), then the client's own (400).
    bad = {"model": "old-chat", "messages": HELLO, "max_tokens": -1, "stream": True}
    direct = httpx.post(f"{engine.url}/v1/chat/completions", json=bad, timeout=30)
    assert direct.status_code == 400 and b"max_tokens" in direct.content
    assert refused() == 1
    through = httpx.post(f"{gw.url}/v1/chat/completions", json=bad, timeout=30)
    assert through.status_code == 400
    assert through.content == direct.content
    assert refused() == 1 + 2
    with pytest.raises(openai.BadRequestError, match="max_tokens must be a positive integer"):
        client.chat.completions.create(
            model="old-chat",
            messages=HELLO,
            max_tokens=-1,
            stream=True,  # type: ignore[arg-type]
        )
    assert refused() == 3 + 2  # that request did not teach the gateway anything

    # A good stream: refused once asking for `usage`, then the client's own, streamed.
    chunks = list(
        client.chat.completions.create(
            model="old-chat",
            messages=HELLO,
            max_tokens=7,
            stream=True,  # type: ignore[arg-type]
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks).split() == [
        f"t{i}" for i in range(7)
    ]
    assert refused() == 5 + 1
    # counted by its chunks, a completion token each (the server sent no `usage`)
    assert metric(gw, "crosscloud_gateway_completion_tokens_total", service="old") == 7

    # The replica is remembered: its later streams go as the client sent them, and the
    # client sees the bytes the server sends it directly.
    through_bytes = _raw_stream(gw.url, "unused", "old-chat")
    direct_bytes = _raw_stream(engine.url, "unused", "old-chat")
    assert _same_but_ids(through_bytes) == _same_but_ids(direct_bytes)
    assert b"data: [DONE]" in direct_bytes
    # a chunked request body too (its body is sent as the client's own, re-framed)
    body = orjson.dumps({"model": "old-chat", "messages": HELLO, "max_tokens": 2, "stream": True})
    with httpx.stream(
        "POST", f"{gw.url}/v1/chat/completions", content=iter([body[:9], body[9:]]), timeout=30
    ) as answer:
        assert answer.status_code == 200
        chunked = answer.read()
    assert _same_but_ids(chunked) == _same_but_ids(
        _raw_stream(engine.url, "-", "old-chat", max_tokens=2)
    )
    for _ in range(3):
        assert (
            len(
                [
                    c
                    for c in client.chat.completions.create(
                        model="old-chat",
                        messages=HELLO,
                        max_tokens=3,
                        stream=True,  # type: ignore[arg-type]
                    )
                    if c.choices
                ]
            )
            == 3
        )
    assert refused() == 6
    assert metric(gw, "crosscloud_gateway_completion_tokens_total", service="old") == 7 + 5 + 2 + 9

    # A client that asks for `usage` itself gets the server's refusal, as it would directly.
    with pytest.raises(openai.UnprocessableEntityError, match="stream_options"):
        client.chat.completions.create(
            model="old-chat",
            messages=HELLO,
            stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        )
