"""A mock OpenAI-compatible language-model engine for benchmarks and tests.

    python -m crosscloud.testing.mock_llm --port 9001 --model tiny [--model other]

Sleeps instead of computing, but keeps what routing cares about: a paged prefix cache
(chain hashes of 16-token blocks, LRU, a capacity in blocks), a time to first token that
grows with the *uncached* prompt length (prefill is serialized, as on one GPU), a decode
rate, a cap on concurrent sequences (queueing beyond it), vLLM-named metrics at /metrics,
/health, `GET /v1/models`, and chat and text completions, streamed as server-sent events
(with `usage` in a last chunk when `stream_options.include_usage` asks) or whole. A token
is 4 bytes of the templated prompt. `POST /-/reset` empties the cache and the counters
(between benchmark rounds). One process per replica, a few MB of CPU time per second
while busy: 8 or more fit on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn

from crosscloud.testing import mock_metrics, mock_wire

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

BYTES_PER_TOKEN = 4
BLOCK_TOKENS = 16


@dataclass(frozen=True)
class EngineConfig:
    """How fast the pretend GPU is and how much it holds."""

    models: tuple[str, ...] = ("mock",)
    prefill_tokens_per_s: float = 50_000.0
    decode_tokens_per_s: float = 200.0
    base_latency: float = 0.002
    max_seqs: int = 8
    cache_blocks: int = 4096
    max_tokens: int = 16
    #: Refuse (422) a request naming `stream_options`, as servers that predate it do.
    reject_stream_options: bool = False


class Engine:
    """The cache, the queue and the counters of one replica."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.cache: OrderedDict[int, None] = OrderedDict()
        self.seqs = asyncio.Semaphore(config.max_seqs)
        self.prefill = asyncio.Lock()
        self.stats = mock_metrics.Stats(time.monotonic())

    def reset(self) -> None:
        self.cache.clear()
        self.stats = mock_metrics.Stats(time.monotonic(), running=self.stats.running)

    def lookup(self, prompt: bytes) -> tuple[int, int, list[int]]:
        """(prompt tokens, tokens found in the cache, block hashes of the prompt)."""
        tokens = -(-len(prompt) // BYTES_PER_TOKEN)
        size = BLOCK_TOKENS * BYTES_PER_TOKEN
        hashes, h = [], 0
        for start in range(0, len(prompt) - size + 1, size):
            h = hash((h, prompt[start : start + size]))
            hashes.append(h)
        cached = 0
        for h in hashes:
            if h not in self.cache:
                break
            cached += 1
        return tokens, cached * BLOCK_TOKENS, hashes

    def remember(self, hashes: list[int]) -> None:
        for h in hashes:
            self.cache[h] = None
            self.cache.move_to_end(h)
        while len(self.cache) > self.config.cache_blocks:
            self.cache.popitem(last=False)

    async def run_prefill(self, prompt: bytes) -> tuple[int, int]:
        """Wait for a sequence slot, then prefill what is not cached; (prompt, cached)."""
        stats = self.stats
        stats.change(time.monotonic(), waiting=1)
        await self.seqs.acquire()
        stats.change(time.monotonic(), waiting=-1, running=1)
        async with self.prefill:
            tokens, cached, hashes = self.lookup(prompt)
            uncached = tokens - cached
            await asyncio.sleep(
                self.config.base_latency + uncached / self.config.prefill_tokens_per_s
            )
            self.remember(hashes)
        stats.prompt_tokens += tokens
        stats.cache_queries += tokens
        stats.cache_hits += cached
        return tokens, cached

    def finish(self, generated: int) -> None:
        self.stats.generation_tokens += generated
        self.stats.requests += 1
        self.stats.change(time.monotonic(), running=-1)
        self.seqs.release()


class App:
    """The ASGI app of one mock replica."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/health" or path == "/readyz":
            await mock_wire.reply(send, 200, b"{}")
        elif path == "/metrics":
            body = mock_metrics.render(self.engine.stats, time.monotonic())
            await mock_wire.reply(send, 200, body, b"text/plain; version=0.0.4")
        elif path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "mock"}
                for m in self.engine.config.models
            ]
            await mock_wire.reply(send, 200, orjson.dumps({"object": "list", "data": data}))
        elif path == "/-/reset" and method == "POST":
            self.engine.reset()
            await mock_wire.reply(send, 200, b"{}")
        elif path in ("/v1/chat/completions", "/v1/completions") and method == "POST":
            await self._complete(scope, receive, send, chat=path.endswith("chat/completions"))
        else:
            await mock_wire.reply(send, *mock_wire.error(404, f"no route {method} {path}"))

    async def _complete(self, scope: Scope, receive: Receive, send: Send, *, chat: bool) -> None:
        raw = b""
        while True:
            msg = await receive()
            raw += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            await mock_wire.reply(send, *mock_wire.error(400, "the body is not valid JSON"))
            return
        if not isinstance(body, dict):
            await mock_wire.reply(send, *mock_wire.error(400, "the body must be a JSON object"))
            return
        model = body.get("model")
        if model not in self.engine.config.models:
            text = f"The model `{model}` does not exist."
            await mock_wire.reply(
                send, *mock_wire.error(404, text, param="model", code="model_not_found")
            )
            return
        refusal = self._refusal(body)
        if refusal is not None:
            self.engine.stats.refused += 1
            await mock_wire.reply(send, *refusal)
            return
        out_tokens = int(
            body.get("max_tokens")
            or body.get("max_completion_tokens")
            or self.engine.config.max_tokens
        )
        stream = bool(body.get("stream"))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        reply = mock_wire.Reply(send, model=str(model), chat=chat)
        tokens, cached = await self.engine.run_prefill(mock_wire.prompt_of(body))
        try:
            if stream:
                await reply.stream(out_tokens, self.engine.config.decode_tokens_per_s)
            else:
                await asyncio.sleep(out_tokens / self.engine.config.decode_tokens_per_s)
            usage = {
                "prompt_tokens": tokens,
                "completion_tokens": out_tokens,
                "total_tokens": tokens + out_tokens,
                "prompt_tokens_details": {"cached_tokens": cached},
            }
            if stream:
                await reply.end_stream(usage if include_usage else None)
            else:
                await reply.whole(out_tokens, usage)
        finally:
            self.engine.finish(out_tokens)

    def _refusal(self, body: dict[str, Any]) -> tuple[int, bytes] | None:
        """The 4xx answer of a request the engine does not take, if it does not."""
        if self.engine.config.reject_stream_options and "stream_options" in body:
            text = "Unrecognized request argument supplied: stream_options"
            return mock_wire.error(422, text, param="stream_options")
        for field in ("max_tokens", "max_completion_tokens"):
            value = body.get(field)
            if value is not None and (type(value) is not int or value < 1):
                return mock_wire.error(400, f"{field} must be a positive integer", param=field)
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m crosscloud.testing.mock_llm", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--model", action="append", dest="models", help="a model name it serves (repeatable)"
    )
    parser.add_argument(
        "--prefill-rate",
        type=float,
        default=EngineConfig.prefill_tokens_per_s,
        help="prompt tokens per second",
    )
    parser.add_argument(
        "--decode-rate",
        type=float,
        default=EngineConfig.decode_tokens_per_s,
        help="tokens per second per sequence",
    )
    parser.add_argument(
        "--max-seqs", type=int, default=EngineConfig.max_seqs, help="sequences at once; more queue"
    )
    parser.add_argument(
        "--cache-blocks",
        type=int,
        default=EngineConfig.cache_blocks,
        help="prefix cache capacity (16-token blocks)",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=EngineConfig.max_tokens,
        help="tokens generated when the request does not say",
    )
    parser.add_argument(
        "--reject-stream-options",
        action="store_true",
        help="refuse (422) requests with stream_options, as servers that predate it do",
    )
    args = parser.parse_args(argv)
    config = EngineConfig(
        models=tuple(args.models or ["mock"]),
        prefill_tokens_per_s=args.prefill_rate,
        decode_tokens_per_s=args.decode_rate,
        max_seqs=args.max_seqs,
        cache_blocks=args.cache_blocks,
        max_tokens=args.max_tokens,
        reject_stream_options=args.reject_stream_options,
    )

    uvicorn.run(
        App(Engine(config)),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
