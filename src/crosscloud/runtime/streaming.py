"""Streaming responses: a generator handler's items as chunked JSON lines, plain text, or
server-sent events when the client asks for `text/event-stream`. A client that disconnects
stops the generator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from crosscloud.runtime import asgi, invoke

if TYPE_CHECKING:
    from crosscloud.runtime.app import Route

log = logging.getLogger("crosscloud.runtime")


def _encoder(route: Route, sse: bool) -> tuple[bytes, Any]:
    text = route.ep.text_stream
    if sse:

        def sse_chunk(item: Any) -> bytes:
            data = item.encode() if text and isinstance(item, str) else asgi.dumps(item)
            return b"data: " + data.replace(b"\n", b"\ndata: ") + b"\n\n"

        return b"text/event-stream", sse_chunk
    if text:
        return b"text/plain; charset=utf-8", lambda item: str(item).encode()
    return b"application/x-ndjson", lambda item: asgi.dumps(item) + b"\n"


async def send_stream(
    route: Route,
    kwargs: dict[str, Any],
    receive: asgi.Receive,
    send: asgi.Send,
    headers: dict[bytes, bytes],
    pool: ThreadPoolExecutor,
) -> int:
    """Send the handler's items as they come; returns the status for metrics."""
    sse = b"text/event-stream" in headers.get(b"accept", b"")
    content_type, encode = _encoder(route, sse)
    items = invoke.stream(route.ep, route.bound, kwargs, pool)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", content_type), (b"cache-control", b"no-cache")],
        }
    )
    return await until_disconnect(_pump(items, encode, send, sse), receive)


async def until_disconnect(work: Coroutine[Any, Any, int], receive: asgi.Receive) -> int:
    """Run `work` (which sends an answer and returns its status); cancel it, and return
    499, when the client disconnects first."""
    pump = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_wait_disconnect(receive))
    done, _ = await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
    if pump not in done:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        return 499
    watch.cancel()
    return pump.result()


async def _pump(items: Any, encode: Any, send: asgi.Send, sse: bool) -> int:
    status = 200
    try:
        async for item in items:
            await send({"type": "http.response.body", "body": encode(item), "more_body": True})
    except Exception as exc:
        log.error("stream handler raised", exc_info=exc)
        status = 500
        if sse:
            error = asgi.dumps({"error": "handler error", "detail": f"{type(exc).__name__}: {exc}"})
            await send(
                {
                    "type": "http.response.body",
                    "body": b"event: error\ndata: " + error + b"\n\n",
                    "more_body": True,
                }
            )
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return status


async def _wait_disconnect(receive: asgi.Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
