"""The floor: the benchmark's echo handler behind a bare ASGI callable, nothing else.

Run as `uvicorn floor_app:app --loop uvloop --http httptools --no-access-log`; every
framework in the benchmark is compared with what this one costs.
"""

from __future__ import annotations

from typing import Any

import orjson

_HEADERS = [(b"content-type", b"application/json")]


async def echo(text: str) -> str:
    """The trivial handler every contender serves."""
    return text


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """POST /echo with {"text": str}; anything else is a 404."""
    if scope["type"] != "http":
        return
    if scope["path"] != "/echo":
        await send({"type": "http.response.start", "status": 404, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": b'{"error":"not found"}'})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    result = await echo(orjson.loads(body)["text"])
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": orjson.dumps(result)})
