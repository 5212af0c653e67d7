"""The OpenAI-compatible routes of a replica whose service has LLM handlers:
`POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings` and `GET /v1/models`.

Validation, the model check, the concurrency slot (what `vllm:num_requests_waiting`
counts) and the handler call are here; the answer's shape is in openai_generate and
openai_wire. Every failure is OpenAI's error shape, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pydantic

from crosscloud import errors
from crosscloud.runtime import asgi, openai_generate
from crosscloud.runtime import openai_wire as wire
from crosscloud.runtime.llm_metrics import LLMMetrics
from crosscloud.runtime.metrics import Metrics
from crosscloud.sdk import llm
from crosscloud.sdk.definition import ServiceDefinition
from crosscloud.sdk.llm_definition import LLMHandler
from crosscloud.sdk.openai_schema import ChatRequest

log = logging.getLogger("crosscloud.runtime")
PATHS = {
    "chat": "/v1/chat/completions",
    "completions": "/v1/completions",
    "embeddings": "/v1/embeddings",
}
MODELS_PATH = "/v1/models"
ReadBody = Callable[[], Awaitable[bytes | None]]


class _Failure(Exception):
    """An answer to send instead of the handler's (status, message, param, code)."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


class _Bound:
    """One LLM handler bound to the service instance, with its concurrency slot."""

    def __init__(self, handler: LLMHandler, instance: object, metrics: LLMMetrics) -> None:
        self.handler = handler
        self.call = getattr(instance, handler.attr)
        limit = handler.options.concurrency
        self.slots = asyncio.Semaphore(limit) if limit else None
        self.metrics = metrics
        self.endpoint = PATHS[handler.kind].lstrip("/")


class OpenAIRoutes:
    """Answers the /v1 paths for one service instance."""

    def __init__(
        self,
        definition: ServiceDefinition,
        instance: object,
        *,
        pool: ThreadPoolExecutor,
        metrics: Metrics,
    ) -> None:
        self.models = definition.models
        self.pool = pool
        self.llm = LLMMetrics(self.models[0])
        metrics.registry.register(self.llm)
        self.endpoint_metrics = metrics
        self.created = int(time.time())
        self.by_path = {PATHS[h.kind]: _Bound(h, instance, self.llm) for h in definition.llm}

    @property
    def paths(self) -> list[str]:
        return [MODELS_PATH, *self.by_path]

    def serves(self, path: str) -> bool:
        return path == MODELS_PATH or path in self.by_path

    async def handle(
        self,
        path: str,
        scope: asgi.Scope,
        read_body: ReadBody,
        send: asgi.Send,
        receive: asgi.Receive,
    ) -> None:
        if path == MODELS_PATH:
            if scope["method"] not in ("GET", "HEAD"):
                await respond_error(send, 405, f"{path} takes GET, not {scope['method']}")
                return
            await asgi.respond(
                send, 200, asgi.dumps(wire.models_body(self.models, created=self.created))
            )
            return
        bound = self.by_path[path]
        counters = self.endpoint_metrics.endpoint(bound.endpoint)
        started = time.perf_counter()
        counters.in_flight += 1
        status = 500
        try:
            status = await self._serve(bound, scope, read_body, send, receive, started)
        finally:
            counters.in_flight -= 1
            counters.done(status, time.perf_counter() - started)

    async def _serve(
        self,
        bound: _Bound,
        scope: asgi.Scope,
        read_body: ReadBody,
        send: asgi.Send,
        receive: asgi.Receive,
        started: float,
    ) -> int:
        try:
            if scope["method"] != "POST":
                raise _Failure(405, f"/{bound.endpoint} takes POST, not {scope['method']}")
            request = await self._request(bound, read_body)
            if request is None:
                return 499
            return await self._answer(bound, request, send, receive, started)
        except _Failure as failure:
            body = wire.error(
                failure.status, failure.message, param=failure.param, code=failure.code
            )
            await asgi.respond(send, failure.status, body)
            return failure.status

    async def _request(self, bound: _Bound, read_body: ReadBody) -> Any:
        try:
            body = await read_body()
        except errors.HTTPError as exc:
            raise _Failure(exc.status, f"{exc.error}: {exc.detail}") from None
        if body is None:
            return None
        try:
            request = bound.handler.request_model.model_validate_json(body or b"{}")
        except pydantic.ValidationError as exc:
            message, param = wire.validation_problem(exc)
            raise _Failure(400, message, param=param) from None
        if request.model not in self.models:
            raise _Failure(
                404,
                f"The model `{request.model}` does not exist; served here:"
                f" {', '.join(self.models)}",
                param="model",
                code="model_not_found",
            )
        return request

    async def _answer(
        self, bound: _Bound, request: Any, send: asgi.Send, receive: asgi.Receive, started: float
    ) -> int:
        metrics = self.llm
        if bound.slots is not None:
            metrics.waiting += 1
            try:
                await bound.slots.acquire()
            finally:
                metrics.waiting -= 1
        metrics.running += 1
        try:
            result = await self._call(bound, request)
            if bound.handler.kind == "embeddings":
                return await self._embeddings(result, request, send)
            return await self._generation(result, request, send, receive, started)
        finally:
            metrics.running -= 1
            if bound.slots is not None:
                bound.slots.release()

    async def _call(self, bound: _Bound, request: Any) -> Any:
        handler = bound.handler
        try:
            if handler.is_async:
                pending = bound.call(request)
            else:
                pending = asyncio.get_running_loop().run_in_executor(self.pool, bound.call, request)
            if handler.options.timeout is None:
                return await pending
            return await asyncio.wait_for(pending, handler.options.timeout)
        except TimeoutError:
            raise _Failure(
                504, f"the handler took longer than {handler.options.timeout}s"
            ) from None
        except errors.HTTPError as exc:
            raise _Failure(exc.status, f"{exc.error}: {exc.detail}") from None
        except (errors.UserError, ValueError) as exc:
            raise _Failure(400, str(exc)) from None
        except Exception as exc:
            log.error("the @%s handler raised", handler.kind, exc_info=exc)
            raise _Failure(500, f"the handler failed: {type(exc).__name__}") from None

    async def _generation(
        self, gen: Any, request: Any, send: asgi.Send, receive: asgi.Receive, started: float
    ) -> int:
        if not isinstance(gen, llm.Generation):
            log.error("a generation handler returned %s, not a Generation", type(gen).__name__)
            raise _Failure(500, "the handler returned something other than a Generation")
        self.llm.prompt(gen.prompt_tokens, gen.cached_tokens)
        chat = isinstance(request, ChatRequest)
        envelope = openai_generate.Envelope.new(chat=chat, model=request.model)
        answer = openai_generate.Answer(
            gen=gen,
            tokens=openai_generate.tokens_of(gen, self.pool),
            request=request,
            envelope=envelope,
            metrics=self.llm,
            started=started,
        )
        if request.stream:
            return await openai_generate.stream(answer, send=send, receive=receive)
        try:
            body = await openai_generate.gather(answer)
        except Exception as exc:
            log.error("the tokens of a generation raised", exc_info=exc)
            message = f"the model failed while generating: {type(exc).__name__}"
            raise _Failure(500, message) from None
        await asgi.respond(send, 200, body)
        return 200

    async def _embeddings(self, result: Any, request: Any, send: asgi.Send) -> int:
        if not isinstance(result, llm.Embeddings) or len(result.vectors) != len(request.inputs):
            log.error(
                "an embeddings handler returned %r for %d inputs",
                type(result).__name__,
                len(request.inputs),
            )
            raise _Failure(500, "the handler did not return one embedding per input")
        self.llm.prompt_tokens += result.prompt_tokens
        body = wire.embedding_body(
            model=request.model,
            vectors=result.vectors,
            prompt_tokens=result.prompt_tokens,
            base64_floats=request.encoding_format == "base64",
        )
        await asgi.respond(send, 200, asgi.dumps(body))
        return 200


async def respond_error(
    send: asgi.Send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """An OpenAI-shaped error for the /v1 paths (auth, readiness, method)."""
    await asgi.respond(send, status, wire.error(status, message), headers=headers)
