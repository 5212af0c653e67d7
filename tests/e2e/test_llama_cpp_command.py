"""A real third-party OpenAI-compatible server as a `command:` service: llama-cpp-python's
server (llama.cpp) running a tiny GGUF model written here with the `gguf` package, in two
local regions behind the gateway, called with the `openai` client, streaming and not, next
to a crosscloud LLM service, by the request's model.

Opt-in: llama-cpp-python compiles llama.cpp when installed, which took 2,196 s (37 min;
25 MB installed) on this project's shared 2-core machine, past what CI can spend, so it is
not in the dev extra. Point CROSSCLOUD_LLAMA_CPP_PYTHON at a Python that has it:

    python -m venv /tmp/llama && /tmp/llama/bin/pip install 'llama-cpp-python[server]==0.3.36'
    CROSSCLOUD_LLAMA_CPP_PYTHON=/tmp/llama/bin/python pytest tests/e2e/test_llama_cpp_command.py
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import openai
import pytest

from tests.conftest import ROOT
from tests.e2e.apps import tiny_gguf
from tests.e2e.deploy import isolated

LLAMA_PYTHON = os.environ.get("CROSSCLOUD_LLAMA_CPP_PYTHON", "")
pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not LLAMA_PYTHON,
        reason="set CROSSCLOUD_LLAMA_CPP_PYTHON to a Python with llama-cpp-python[server]"
        " (it compiles llama.cpp: 37 min on 2 cores, too long for CI)",
    ),
]
PARROT = ROOT / "tests" / "e2e" / "apps" / "parrot.py"


def test_llama_cpp_server_behind_the_gateway(tmp_path: Path) -> None:
    check = [LLAMA_PYTHON, "-c", "import llama_cpp.server, llama_cpp; print(llama_cpp.__version__)"]
    version = subprocess.run(check, capture_output=True, text=True, timeout=60, check=True).stdout
    tiny_gguf.write(tmp_path / "tiny.gguf")
    manifest = tmp_path / "crosscloud.yaml"
    manifest.write_text(
        f"""
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {{name: mixed}}
spec:
  services:
    - name: llama
      command: [{LLAMA_PYTHON}, -m, llama_cpp.server, --model, tiny.gguf, --model_alias, tiny-llama,
                --host, "{{host}}", --port, "{{port}}", --n_ctx, 512, --n_threads, 1]
      healthPath: /v1/models
      models: [tiny-llama]
    - name: parrot
      source: {PARROT}:Parrot
      models: [parrot-1, parrot-mini]
  placements:
    - {{provider: local, region: region-a}}
    - {{provider: local, region: region-b, services: [{{name: llama}}]}}
"""
    )
    with isolated(tmp_path) as deployer:
        deployer.run("up", str(manifest), timeout=240)
        ready = [
            (r["service"], r["placement"]) for r in deployer.replicas() if r["state"] == "Ready"
        ]
        assert sorted(ready) == [
            ("llama", "local/region-a"),
            ("llama", "local/region-b"),
            ("parrot", "local/region-a"),
        ], version
        gateway = deployer.gateway()
        for base in (f"{gateway}/llama/v1", f"{gateway}/v1"):  # by path, and by model
            oa = openai.OpenAI(base_url=base, api_key="unused", max_retries=0, timeout=60)
            # Random weights may pick </s> early: at most 8 tokens, "length" when all 8.
            done = oa.completions.create(model="tiny-llama", prompt="hello", max_tokens=8)
            assert done.usage is not None and 1 <= done.usage.completion_tokens <= 8
            assert done.choices[0].finish_reason == (
                "length" if done.usage.completion_tokens == 8 else "stop"
            )
            reply = oa.chat.completions.create(
                model="tiny-llama", messages=[{"role": "user", "content": "hi"}], max_tokens=8
            )
            assert reply.choices[0].finish_reason in ("length", "stop")
            chunks = list(
                oa.chat.completions.create(
                    model="tiny-llama",
                    messages=[{"role": "user", "content": "hi"}],
                    max_tokens=8,
                    stream=True,
                )
            )
            assert chunks[-1].choices[0].finish_reason in ("length", "stop")
            assert len(chunks) >= 2  # streamed as chunks, not one body
        both = openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0)
        assert {m.id for m in both.models.list()} >= {"tiny-llama", "parrot-1", "parrot-mini"}
        parrot = both.chat.completions.create(
            model="parrot-1", messages=[{"role": "user", "content": "same gateway"}]
        )
        assert parrot.choices[0].message.content == "same gateway"
