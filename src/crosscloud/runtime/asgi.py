"""ASGI types and the few response helpers the runtime's hot path uses.

Responses are written as raw ASGI messages rather than through a framework: measured on
this project's 2-core machine, FastAPI serves ~6-7k req/s where a bare ASGI app on uvicorn
serves ~25k, and the runtime is on every request's path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json"
_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)  # pydantic models
    if dump is not None:
        return dump(mode="json")
    if isinstance(value, set | frozenset):
        return sorted(value)
    tolist = getattr(value, "tolist", None)  # torch tensors, numpy scalars
    if tolist is not None:
        return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """JSON bytes for a handler's result (orjson: numpy arrays and pydantic models too)."""
    return orjson.dumps(value, default=_default, option=_ORJSON_OPTIONS)


async def respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a complete response with a Content-Length."""
    raw = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if headers:
        raw.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def respond_error(
    send: Send,
    status: int,
    error: str,
    detail: Any = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """The runtime's one error shape: `{"error": ..., "detail": ...}`; never a traceback."""
    await respond(send, status, dumps({"error": error, "detail": detail}), headers=headers)
