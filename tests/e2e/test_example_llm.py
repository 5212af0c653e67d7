"""examples/llm: a real (random-weight) GPT-2 on the CPU behind the OpenAI surface, in
three local regions behind the gateway: the README's `openai` snippet streams through the
gateway, and the prefix key/value cache really skips recomputation and gives the same
tokens."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import EXAMPLES, ROOT
from tests.e2e.deploy import Deployer, isolated

pytestmark = [pytest.mark.timeout(420), pytest.mark.slow]
SYSTEM = "You are a terse assistant for a cross-cloud deployment tool. " * 12


def ask(oa: openai.OpenAI, question: str) -> openai.types.chat.ChatCompletion:
    return oa.chat.completions.create(
        model="tiny-gpt",
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}],
        max_tokens=24,
        temperature=0,
    )


def cached(reply: openai.types.chat.ChatCompletion) -> int:
    assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
    return reply.usage.prompt_tokens_details.cached_tokens or 0


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployer]:
    with isolated(tmp_path_factory.mktemp("llm")) as deployer:
        deployer.run("up", str(EXAMPLES / "llm" / "crosscloud.yaml"), timeout=400)
        yield deployer


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    found = [b for b in blocks if "/tiny-gpt/v1" in b]
    assert len(found) == 1, "the README shows one openai snippet for examples/llm"
    return "\n".join(line.removeprefix("  ") for line in found[0].splitlines())


def test_the_readme_snippet_streams_through_the_gateway(deployed: Deployer) -> None:
    assert len([r for r in deployed.replicas() if r["state"] == "Ready"]) == 3
    env = deployed.env()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # `crosscloud`
    result = subprocess.run(
        [sys.executable, "-c", readme_snippet()],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.rstrip("\n")
    assert len(line) == 32 and line.isprintable()


@pytest.fixture
def mtls_client(deployed: Deployer) -> Iterator[httpx.Client]:
    """A client with a certificate of the deployment's CA: replicas take no other."""
    with httpx.Client(verify=deployed.replica_tls(), timeout=120) as http:
        yield http


def test_prefix_cache_reuse_is_real_and_gives_the_same_tokens(
    deployed: Deployer, mtls_client: httpx.Client
) -> None:
    replica = next(r for r in deployed.replicas() if r["state"] == "Ready")
    url = replica["url"]  # https: mutual TLS, see `mtls_client`
    http = mtls_client
    oa = openai.OpenAI(
        base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120, http_client=http
    )
    before = http.get(f"{url}/metrics").text
    first = ask(oa, "How do I deploy?")
    assert cached(first) < 16  # at most the chat template's start, if the snippet came here
    assert first.usage is not None and first.usage.completion_tokens == 24
    assert first.choices[0].finish_reason == "length"
    text = first.choices[0].message.content or ""
    assert len(text) == 24 and text.isprintable()

    again = ask(oa, "How do I deploy?")  # the whole prompt but its last token is cached
    assert again.usage is not None
    assert cached(again) == again.usage.prompt_tokens - 1
    assert again.choices[0].message.content == text  # reused keys/values, same greedy tokens

    other = ask(oa, "What does it cost?")  # shares the system prompt and the template
    assert cached(other) >= len(SYSTEM)

    streamed = oa.chat.completions.create(
        model="tiny-gpt",
        messages=[
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "How do I deploy?"},
        ],
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(streamed)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 24

    last = chunks[-1].usage
    assert last.prompt_tokens_details is not None
    assert last.prompt_tokens_details.cached_tokens == last.prompt_tokens - 1

    metrics = http.get(f"{url}/metrics").text
    replies = [first, again, other]
    prompts = sum(r.usage.prompt_tokens for r in replies if r.usage) + last.prompt_tokens
    hits = sum(cached(r) for r in replies) + (last.prompt_tokens_details.cached_tokens or 0)

    def grew(name: str) -> float:
        return _value(metrics, name) - _value(before, name)

    assert grew("vllm:prefix_cache_queries_total") == prompts
    assert grew("vllm:prefix_cache_hits_total") == hits
    assert grew("vllm:generation_tokens_total") == 4 * 24
    assert _value(metrics, "vllm:num_requests_running") == 0


def _value(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)}{{[^}}]*}} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0
