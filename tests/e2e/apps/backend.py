"""A tiny ASGI backend for the gateway's e2e tests and benchmark (run with uvicorn).

NAME names the replica in answers (with the Authorization header it was sent, if any); MODE=fail500 (fail503) answers 500 (503) to everything
but /readyz and /stats, after `?ms=N` milliseconds when the query has it. Routes: /whoami,
/echo (POST, echoes the body), /sse?n=N (N events, 0: until the client leaves), /slow?ms=N,
/stats (requests seen, connections they came on, streams open, streams cancelled).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

NAME = os.environ.get("NAME", "backend")
MODE = os.environ.get("MODE", "ok")
STATS = {"requests": 0, "streams_open": 0, "streams_cancelled": 0}
CLIENT_PORTS: set[int] = set()  # one per TCP connection the backend was sent requests on


async def _send_json(send: Any, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _sse(receive: Any, send: Any, n: int) -> None:
    STATS["streams_open"] += 1
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        i = 0
        while n == 0 or i < n:
            chunk = f"data: {i}\n\n".encode()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            i += 1
            done, _ = await asyncio.wait({gone}, timeout=0.05)
            if done:
                STATS["streams_cancelled"] += 1
                return
        await send({"type": "http.response.body", "body": b""})
    except OSError:
        STATS["streams_cancelled"] += 1
    finally:
        gone.cancel()
        STATS["streams_open"] -= 1


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
    if path == "/readyz":
        await _send_json(send, 200, {"ready": True})
        return
    if path == "/stats":
        await _send_json(send, 200, {**STATS, "connections": len(CLIENT_PORTS)})
        return
    STATS["requests"] += 1
    if scope.get("client"):
        CLIENT_PORTS.add(scope["client"][1])
    if MODE in ("fail500", "fail503"):
        if "ms" in query:
            await asyncio.sleep(int(query["ms"]) / 1000)
        await _send_json(send, int(MODE[4:]), {"error": "broken on purpose", "name": NAME})
    elif path == "/echo":
        body = await _read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
    elif path == "/sse":
        await _sse(receive, send, int(query.get("n", "0")))
    elif path == "/slow":
        await asyncio.sleep(int(query.get("ms", "100")) / 1000)
        await _send_json(send, 200, {"name": NAME})
    else:
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        seen = {"name": NAME, "path": path, "query": query}
        await _send_json(send, 200, {**seen, "authorization": headers.get("authorization")})
