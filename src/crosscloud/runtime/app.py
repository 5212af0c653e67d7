"""The replica's ASGI application: routing, auth, body limits, validation and responses.

Hand-written against raw ASGI messages because this is the hot path (see asgi.py).
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from crosscloud import errors
from crosscloud.runtime import asgi, invoke, openai_api, openapi, parsing, streaming
from crosscloud.runtime.batching import Batcher
from crosscloud.runtime.metrics import Metrics
from crosscloud.sdk.definition import EndpointDefinition, ServiceDefinition

log = logging.getLogger("crosscloud.runtime")

DEFAULT_MAX_BODY = 16 * 2**20
_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/docs"})
_RETRY_AFTER = [(b"retry-after", b"1")]


def default_threads() -> int:
    """Threads for sync handlers: enough that a slow handler does not block the rest."""
    return max(4, min(32, len(os.sched_getaffinity(0)) + 4))


class Route:
    """One endpoint, bound to the service instance, with its caller and metrics."""

    def __init__(self, app: ServiceApp, ep: EndpointDefinition) -> None:
        self.ep = ep
        self.bound = getattr(app.instance, ep.attr)
        self.metrics = app.metrics.endpoint(ep.name)
        self.call = invoke.make_call(ep, self.bound, app.pool)
        self.batcher: Batcher | None = None
        if ep.options.batch:
            self.batcher = Batcher(
                run=self.call,
                max_batch_size=ep.options.max_batch_size,
                max_wait_ms=ep.options.max_wait_ms,
                slots=ep.options.concurrency or 1,
                metrics=self.metrics,
            )


class ServiceApp:
    """ASGI app serving one ServiceDefinition; `setup()` runs in the background at startup."""

    def __init__(
        self,
        definition: ServiceDefinition,
        *,
        token: str | None = None,
        max_body_size: int = DEFAULT_MAX_BODY,
        threads: int | None = None,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.definition = definition
        self.max_body_size = max_body_size
        self.metrics = Metrics()
        self.pool = ThreadPoolExecutor(threads or default_threads(), thread_name_prefix="handler")
        self.instance = definition.cls()
        self.ready = False
        self.draining = False
        self.setup_error: str | None = None
        self._token = token.encode() if token else None
        self._on_fatal = on_fatal
        self._routes = {f"/{ep.name}": Route(self, ep) for ep in definition.endpoints}
        self.openai = (
            openai_api.OpenAIRoutes(definition, self.instance, pool=self.pool, metrics=self.metrics)
            if definition.llm
            else None
        )
        self._openapi: bytes | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start_setup(self) -> threading.Thread:
        """Run the service's setup() in a thread so /healthz answers while models load."""
        thread = threading.Thread(target=self._setup, name="setup", daemon=True)
        thread.start()
        return thread

    def _setup(self) -> None:
        try:
            self.instance.setup()
        except BaseException as exc:
            log.exception("setup() of %s failed", self.definition.name)
            self.setup_error = f"{type(exc).__name__}: {exc}"
            if self._on_fatal is not None:
                self._on_fatal(exc)
            return
        self.ready = True
        self.metrics.ready = 1
        log.info("%s is ready", self.definition.name)

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: asgi.Receive, send: asgi.Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start_setup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- requests ----------------------------------------------------------------------------

    async def _http(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        path: str = scope["path"]
        route = self._routes.get(path)
        if route is None:
            if self.openai is not None and self.openai.serves(path):
                await self._openai(path, scope, receive, send)
            else:
                await self._builtin(path, scope, send)
            return
        headers = _headers(scope)
        if self._token is not None and not self._authorized(headers):
            await _unauthorized(send)
            return
        if scope["method"] != route.ep.method:
            allow = [(b"allow", route.ep.method.encode())]
            detail = f"/{route.ep.name} takes {route.ep.method}, not {scope['method']}"
            await asgi.respond_error(send, 405, "method not allowed", detail, allow)
            return
        if not self.ready or self.draining:
            reason = "draining" if self.draining else "not ready: setup() has not finished"
            await asgi.respond_error(send, 503, "unavailable", reason, _RETRY_AFTER)
            return
        await self._endpoint(route, scope, receive, send, headers)

    async def _openai(
        self, path: str, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send
    ) -> None:
        """The /v1 routes: the same token and readiness rules, in OpenAI's error shape."""
        assert self.openai is not None
        headers = _headers(scope)
        if self._token is not None and not self._authorized(headers):
            challenge = [(b"www-authenticate", b'Bearer realm="crosscloud"')]
            await openai_api.respond_error(send, 401, "a valid bearer token is required", challenge)
            return
        if not self.ready or self.draining:
            reason = "draining" if self.draining else "not ready: setup() has not finished"
            await openai_api.respond_error(send, 503, reason, _RETRY_AFTER)
            return

        async def read_body() -> bytes | None:
            return await self._read_body(receive, headers)

        await self.openai.handle(path, scope, read_body, send, receive)

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        assert self._token is not None
        scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
        # Constant-time compare, so response timing says nothing about the token.
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)

    async def _endpoint(
        self,
        route: Route,
        scope: asgi.Scope,
        receive: asgi.Receive,
        send: asgi.Send,
        headers: dict[bytes, bytes],
    ) -> None:
        started = time.perf_counter()
        route.metrics.in_flight += 1
        status = 500
        try:
            status = await self._serve(route, scope, receive, send, headers)
        finally:
            route.metrics.in_flight -= 1
            route.metrics.done(status, time.perf_counter() - started)

    async def _serve(
        self,
        route: Route,
        scope: asgi.Scope,
        receive: asgi.Receive,
        send: asgi.Send,
        headers: dict[bytes, bytes],
    ) -> int:
        ep = route.ep
        try:
            if ep.method == "GET":
                kwargs = parsing.query_kwargs(ep, scope)
            else:
                body = await self._read_body(receive, headers)
                if body is None:
                    return 499  # the client went away
                kwargs = parsing.body_kwargs(ep, body)
        except errors.HTTPError as exc:
            await asgi.respond_error(send, exc.status, exc.error, exc.detail)
            return exc.status
        if ep.options.stream:
            return await streaming.send_stream(route, kwargs, receive, send, headers, self.pool)
        try:
            result = await invoke.with_timeout(self._result(route, kwargs), ep.options.timeout)
        except Exception as exc:
            status, error, detail = parsing.failure(ep, exc)
            await asgi.respond_error(send, status, error, detail)
            return status
        await asgi.respond(send, 200, asgi.dumps(result))
        return 200

    async def _result(self, route: Route, kwargs: dict[str, Any]) -> Any:
        if route.batcher is None:
            return await route.call(kwargs)
        sizes = {len(v) for v in kwargs.values()}
        if len(sizes) > 1:
            lengths = {k: len(v) for k, v in kwargs.items()}
            raise errors.ValidationFailed(
                422, "validation failed", f"batch parameters must have the same length: {lengths}"
            )
        size = sizes.pop()
        if size == 0:
            return []
        return await route.batcher.submit(kwargs, size)

    async def _read_body(self, receive: asgi.Receive, headers: dict[bytes, bytes]) -> bytes | None:
        limit = self.max_body_size
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise errors.PayloadTooLarge(413, "payload too large", f"the limit is {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise errors.PayloadTooLarge(
                    413, "payload too large", f"the limit is {limit} bytes"
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _builtin(self, path: str, scope: asgi.Scope, send: asgi.Send) -> None:
        if path == "/healthz":
            await asgi.respond(send, 200, b'{"status":"ok"}')
        elif path == "/readyz":
            await self._readyz(send)
        elif path == "/metrics":
            body = self.metrics.render()
            await asgi.respond(send, 200, body, b"text/plain; version=0.0.4; charset=utf-8")
        elif path == "/docs":
            await asgi.respond(send, 200, openapi.docs_page(), b"text/html; charset=utf-8")
        elif path == "/openapi.json":
            if self._token is not None and not self._authorized(_headers(scope)):
                await _unauthorized(send)
                return
            if self._openapi is None:
                self._openapi = asgi.dumps(openapi.document(self.definition))
            await asgi.respond(send, 200, self._openapi)
        else:
            known = ", ".join(sorted([*self._routes, *(self.openai.paths if self.openai else ())]))
            await asgi.respond_error(send, 404, "not found", f"no endpoint {path}; known: {known}")

    async def _readyz(self, send: asgi.Send) -> None:
        if self.ready and not self.draining:
            await asgi.respond(send, 200, b'{"status":"ready"}')
            return
        detail = "draining" if self.draining else self.setup_error or "setup() has not finished"
        await asgi.respond_error(send, 503, "not ready", detail, _RETRY_AFTER)


def _headers(scope: asgi.Scope) -> dict[bytes, bytes]:
    return dict(scope["headers"])


async def _unauthorized(send: asgi.Send) -> None:
    await asgi.respond_error(
        send,
        401,
        "unauthorized",
        "a valid bearer token is required",
        [(b"www-authenticate", b'Bearer realm="crosscloud"')],
    )
