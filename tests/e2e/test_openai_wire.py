"""The OpenAI wire format of an SDK service, checked with the `openai` package (pinned in
the dev extra) against `crosscloud serve` and through the gateway of `crosscloud up`:
streaming and not, usage, errors in OpenAI's shape, and a gateway that passes server-sent
events on chunk by chunk."""

from __future__ import annotations

import base64
import os
import ssl
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import openapi_spec_validator
import pytest

from tests.conftest import ROOT, Served
from tests.e2e.deploy import Deployer, isolated

pytestmark = pytest.mark.timeout(180)
PARROT = str(ROOT / "tests" / "e2e" / "apps" / "parrot.py")
MANIFEST = f"""
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {{name: parrots}}
spec:
  services:
    - name: parrot
      source: {PARROT}:Parrot
      env: {{CROSSCLOUD_TEST_TOKEN_DELAY: "0.3"}}
  placements:
    - {{provider: local, region: region-a}}
    - {{provider: local, region: region-b}}
"""
HELLO = [{"role": "user", "content": "hello there world"}]


def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=30)


def check_surface(oa: openai.OpenAI) -> None:
    """What every OpenAI-compatible endpoint of the parrot must answer."""
    assert [m.id for m in oa.models.list()] == ["parrot-1", "parrot-mini"]
    reply = oa.chat.completions.create(model="parrot-1", messages=HELLO)
    assert reply.choices[0].message.content == "hello there world"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 3)
    assert reply.usage.total_tokens == 6

    chunks = list(
        oa.chat.completions.create(
            model="parrot-mini",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "hello there world"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3

    done = oa.completions.create(model="parrot-1", prompt="a b c d e f", max_tokens=4, stop=[" d"])
    assert (done.choices[0].text, done.choices[0].finish_reason) == ("a b c", "stop")
    assert done.usage is not None and done.usage.prompt_tokens_details is not None
    assert done.usage.prompt_tokens_details.cached_tokens == 3
    cut = oa.completions.create(model="parrot-1", prompt="a b c d e f", max_tokens=2, stream=True)
    pieces = list(cut)
    assert "".join(p.choices[0].text for p in pieces) == "a b"
    assert pieces[-1].choices[0].finish_reason == "length"

    vectors = oa.embeddings.create(model="parrot-1", input=["ab", "abcd"])  # base64 on the wire
    assert [d.embedding for d in vectors.data] == [[2.0, 0.5, -1.0], [4.0, 0.5, -1.0]]


def check_errors(oa: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        oa.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert missing.value.code == "model_not_found"
    assert "parrot-1" in missing.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        oa.chat.completions.create(model="parrot-1", messages=[{"role": "wizard", "content": "x"}])
    assert bad.value.param == "messages[0].role"
    assert isinstance(bad.value.body, dict) and bad.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError, match="this parrot refuses"):
        oa.chat.completions.create(
            model="parrot-1", messages=[{"role": "user", "content": "refuse"}]
        )
    with pytest.raises(openai.APIError, match="the model failed while generating"):
        list(
            oa.chat.completions.create(
                model="parrot-1", messages=[{"role": "user", "content": "a boom"}], stream=True
            )
        )


def test_openai_client_against_crosscloud_serve(serve: Callable[..., Served]) -> None:
    served = serve(PARROT)
    oa = client(f"{served.url}/v1")
    check_surface(oa)
    check_errors(oa)
    raw = httpx.post(f"{served.url}/v1/chat/completions", content=b"{nope", timeout=10)
    assert raw.status_code == 400
    assert set(raw.json()["error"]) == {"message", "type", "param", "code"}
    floats = httpx.post(
        f"{served.url}/v1/embeddings",
        json={"model": "parrot-1", "input": "abc", "encoding_format": "base64"},
        timeout=10,
    ).json()
    packed = base64.b64decode(floats["data"][0]["embedding"])
    assert struct.unpack("<3f", packed) == (3.0, 0.5, -1.0)
    document = httpx.get(f"{served.url}/openapi.json", timeout=10).json()
    openapi_spec_validator.validate(document)
    assert {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models"} <= set(
        document["paths"]
    )
    metrics = httpx.get(f"{served.url}/metrics", timeout=10).text
    assert 'vllm:prompt_tokens_total{model_name="parrot-1"}' in metrics
    assert 'vllm:prefix_cache_hits_total{model_name="parrot-1"} 6.0' in metrics  # 2 x 3
    assert 'vllm:num_requests_waiting{model_name="parrot-1"} 0.0' in metrics


def first_chunk_times(
    url: str, runs: int = 3, verify: ssl.SSLContext | bool = True
) -> tuple[float, float]:
    """Median seconds to the first content chunk and to the end, streaming 4 tokens 0.3 s
    apart: a proxy that buffers shows the first chunk only at the end."""
    firsts, totals = [], []
    body = {
        "model": "parrot-1",
        "stream": True,
        "messages": [{"role": "user", "content": "w x y z"}],
    }
    for _ in range(runs):
        started = time.perf_counter()
        first = None
        with httpx.stream(
            "POST", url, json=body, timeout=30, trust_env=False, verify=verify
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if first is None and '"content":"w"' in line:
                    first = time.perf_counter() - started
        assert first is not None
        firsts.append(first)
        totals.append(time.perf_counter() - started)
    return sorted(firsts)[runs // 2], sorted(totals)[runs // 2]


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployer]:
    with isolated(tmp_path) as deployer:
        manifest = tmp_path / "crosscloud.yaml"
        manifest.write_text(MANIFEST)
        deployer.run("up", str(manifest), timeout=170)
        yield deployer


def test_openai_client_through_the_gateway(deployed: Deployer) -> None:
    gateway = deployed.gateway()
    oa = client(f"{gateway}/parrot/v1")
    os.environ.pop("OPENAI_BASE_URL", None)
    check_surface(oa)
    check_errors(oa)
    direct = next(r for r in deployed.replicas() if r["state"] == "Ready")
    replica = f"{direct['url']}/v1/chat/completions"  # https: mutual TLS
    via_gateway = f"{gateway}/parrot/v1/chat/completions"
    first_direct, total_direct = first_chunk_times(replica, verify=deployed.replica_tls())
    first_gateway, total_gateway = first_chunk_times(via_gateway)
    print(
        f"first chunk: direct {first_direct * 1000:.1f} ms, gateway {first_gateway * 1000:.1f} ms;"
        f" whole stream: direct {total_direct:.2f} s, gateway {total_gateway:.2f} s"
    )
    # 4 tokens 0.3 s apart: the first arrives ~0.3 s in, the stream ends ~1.2 s in. A
    # gateway that held the answer until its end would show the first chunk after ~1.2 s.
    assert first_gateway < total_gateway - 0.5
    assert first_gateway < first_direct + 0.3


def test_requests_over_the_concurrency_wait_and_are_counted_as_vllm_does(
    serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parrot's chat runs 2 at a time: 4 slow streams show 2 running and 2 waiting in
    `vllm:num_requests_running` / `vllm:num_requests_waiting` (what routers read)."""
    monkeypatch.setenv("CROSSCLOUD_TEST_TOKEN_DELAY", "0.5")
    served = serve(PARROT)
    oa = client(f"{served.url}/v1")

    def slow() -> str:
        chunks = oa.chat.completions.create(
            model="parrot-1", messages=[{"role": "user", "content": "a b c d"}], stream=True
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    def gauges() -> tuple[float, float]:
        text = httpx.get(f"{served.url}/metrics", timeout=10).text
        found = {
            line.split("{")[0]: line.rsplit(" ", 1)[1]
            for line in text.splitlines()
            if line.startswith(("vllm:num_requests_running{", "vllm:num_requests_waiting{"))
        }
        return float(found["vllm:num_requests_running"]), float(found["vllm:num_requests_waiting"])

    with ThreadPoolExecutor(4) as pool:
        answers = [pool.submit(slow) for _ in range(4)]
        seen = set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (2.0, 2.0) not in seen:
            seen.add(gauges())
            time.sleep(0.05)
        assert (2.0, 2.0) in seen, seen
        assert all(max(r, w) <= 2 for r, w in seen)
        assert [a.result(timeout=60) for a in answers] == ["a b c d"] * 4
    assert gauges() == (0.0, 0.0)
