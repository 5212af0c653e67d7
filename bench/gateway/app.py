"""The benchmark's backend: a bare ASGI app answering a small JSON body (run by uvicorn,
one worker, uvloop + httptools, no access log), plus /readyz for health checks."""

from __future__ import annotations

from typing import Any

BODY = b'{"message":"hello, world"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
