"""Running a `Generation` to the client: gathered into one OpenAI body, or streamed as
server-sent events chunk by chunk (ending with `data: [DONE]`), with `max_tokens` and stop
strings applied here so every handler gets them right, and usage counted on the way."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from crosscloud.runtime import asgi, invoke, streaming
from crosscloud.runtime import openai_wire as wire
from crosscloud.runtime.llm_metrics import LLMMetrics
from crosscloud.runtime.stops import StopFilter
from crosscloud.sdk import llm
from crosscloud.sdk.openai_schema import ChatRequest, CompletionRequest

log = logging.getLogger("crosscloud.runtime")
Emit = Callable[[str], Awaitable[None]]


@dataclass
class Outcome:
    """How a generation ended."""

    tokens: int = 0
    finish: str = "stop"


@dataclass(frozen=True)
class Envelope:
    """What every body or chunk of one answer shares."""

    chat: bool
    rid: str
    created: int
    model: str

    @classmethod
    def new(cls, *, chat: bool, model: str) -> Envelope:
        prefix = "chatcmpl-" if chat else "cmpl-"
        return cls(chat=chat, rid=prefix + uuid.uuid4().hex, created=int(time.time()), model=model)

    @property
    def head(self) -> wire.Head:
        return {"id": self.rid, "created": self.created, "model": self.model}

    def chunk(self, text: str | None, finish: str | None = None, *, first: bool = False) -> bytes:
        if not self.chat:
            return wire.sse(wire.completion_chunk(self.head, text=text or "", finish=finish))
        delta: dict[str, Any] = {} if text is None else {"content": text}
        if first:
            delta["role"] = "assistant"
        return wire.sse(wire.chat_chunk(self.head, delta=delta, finish=finish))

    def body(self, text: str, finish: str, use: dict[str, Any]) -> bytes:
        make = wire.chat_body if self.chat else wire.completion_body
        return asgi.dumps(make(self.head, text=text, finish=finish, use=use))

    def usage_chunk(self, use: dict[str, Any]) -> bytes:
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        return wire.sse(wire.usage_chunk(self.head, obj=obj, use=use))


def tokens_of(gen: llm.Generation, pool: ThreadPoolExecutor) -> AsyncIterator[str]:
    """The generation's tokens as an async iterator (a sync one advances in the pool)."""
    tokens = gen.tokens
    if hasattr(tokens, "__aiter__"):
        return tokens.__aiter__()
    return invoke.iterate_in_pool(iter(tokens), pool)


@dataclass
class Answer:
    """One generation on its way to the client."""

    gen: llm.Generation
    tokens: AsyncIterator[str]
    request: ChatRequest | CompletionRequest
    envelope: Envelope
    metrics: LLMMetrics
    started: float  # perf_counter when the request arrived (time to first token)
    outcome: Outcome = field(default_factory=Outcome)

    @property
    def usage(self) -> dict[str, Any]:
        return wire.usage(self.gen.prompt_tokens, self.outcome.tokens, self.gen.cached_tokens)


async def run(answer: Answer, emit: Emit) -> Outcome:
    """Pull tokens, emitting text as stop strings allow, until the end, a stop or the limit."""
    outcome, metrics, tokens = answer.outcome, answer.metrics, answer.tokens
    stops = StopFilter(answer.request.stops)
    limit = answer.request.token_limit
    try:
        async for piece in tokens:
            if outcome.tokens == 0:
                metrics.ttft.observe(time.perf_counter() - answer.started)
            outcome.tokens += 1
            metrics.generation_tokens += 1
            text, stopped = stops.feed(piece)
            if text:
                await emit(text)
            if stopped:
                return outcome
            if limit is not None and outcome.tokens >= limit:
                outcome.finish = "length"
                break
        rest = stops.flush()
        if rest:
            await emit(rest)
        return outcome
    finally:
        aclose = getattr(tokens, "aclose", None)
        if aclose is not None:
            await aclose()


async def gather(answer: Answer) -> bytes:
    """The whole answer as one body."""
    parts: list[str] = [_echo(answer.request)]

    async def keep(text: str) -> None:
        parts.append(text)

    outcome = await run(answer, keep)
    answer.metrics.finish(outcome.finish)
    return answer.envelope.body("".join(parts), outcome.finish, answer.usage)


async def stream(answer: Answer, *, send: asgi.Send, receive: asgi.Receive) -> int:
    """Send the answer as server-sent events; a client that leaves stops the generation."""
    await send({"type": "http.response.start", "status": 200, "headers": wire.SSE_HEADERS})
    return await streaming.until_disconnect(_pump(answer, send), receive)


async def _pump(answer: Answer, send: asgi.Send) -> int:
    envelope = answer.envelope

    async def out(data: bytes) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": True})

    async def emit(text: str) -> None:
        await out(envelope.chunk(text))

    if envelope.chat:
        await out(envelope.chunk("", first=True))
    if echo := _echo(answer.request):
        await emit(echo)
    try:
        outcome = await run(answer, emit)
    except Exception as exc:
        log.error("the tokens of a generation raised", exc_info=exc)
        message = f"the model failed while generating: {type(exc).__name__}"
        await out(b"data: " + wire.error(500, message) + b"\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return 500
    answer.metrics.finish(outcome.finish)
    await out(envelope.chunk(None, outcome.finish))
    if answer.request.include_usage:
        await out(envelope.usage_chunk(answer.usage))
    await send({"type": "http.response.body", "body": wire.DONE, "more_body": False})
    return 200


def _echo(request: ChatRequest | CompletionRequest) -> str:
    if isinstance(request, CompletionRequest) and request.echo and isinstance(request.prompt, str):
        return request.prompt
    return ""
