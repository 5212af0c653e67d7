"""A controllable HTTP/1.1 origin for the conformance suite: raw asyncio streams, with its
behaviour chosen by the request path (`ROUTES`), so one process can answer well, badly
and half-way. Run as `python backend.py PORT`; it needs nothing but the standard library.

    /echo...          method, target, headers and body (or its length and sha256) as JSON
    /chunked/N        N chunks                 /trailers      2 chunks and a trailer
    /big/N            N bytes, content-length  /big-chunked/N N bytes in 64 KiB chunks
    /close            answers with `Connection: close` and closes
    /eof-body         a close-delimited body (neither length nor chunked)
    /204 /304         no body                  /head-able     a short body, HEAD-aware
    /1xx              103 Early Hints, then 200
    /slow/N?ms=M      N chunks, M ms apart
    /die-mid-chunked  2 chunks, then the connection closes (no last chunk)
    /die-mid-length   100 of 1000 promised bytes, then the connection closes
                      (/die-mid-length/N: N of 2N)
    /413-early        413 before the body is read (as a replica with a size limit does)
    /bad-response     two different Content-Length values (a proxy must answer 502)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

#: Bodies up to this size are echoed whole; larger ones by length and sha256 only.
ECHO_WHOLE = 64 * 1024
CHUNK = 64 * 1024


def pattern(n: int) -> bytes:
    """The N bytes /big/N sends: random-looking so that a lost or moved block shows."""
    return random.Random(n).randbytes(n)


class BadRequest(Exception):
    """The client sent something this backend will not parse."""


@dataclass
class Request:
    """One parsed request head; the body is read on demand (`read_body`)."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    reader: asyncio.StreamReader
    body: bytes | None = None
    framing: str = "none"
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        return ", ".join(values) if values else None

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def keep_alive(self) -> bool:
        tokens = (self.header("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    async def read_body(self) -> bytes:
        if self.body is None:
            if "chunked" in (self.header("transfer-encoding") or "").lower():
                self.framing = "chunked"
                self.body = await self._read_chunked()
            elif self.header("content-length") is not None:
                self.framing = "length"
                self.body = await self.reader.readexactly(int(self.header("content-length") or 0))
            else:
                self.body = b""
        return self.body

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            line = await self.reader.readuntil(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                break
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            self.trailers.append((name.strip().lower(), value.strip()))
        return b"".join(parts)


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request head on a connection, or None at its end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise BadRequest(lines[0])
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
    return Request(parts[0], parts[1], parts[2], headers, reader)


def head_bytes(status: int, headers: list[tuple[str, str]], *, reason: str = "Whatever") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


Writer = asyncio.StreamWriter
Handler = Callable[[Request, Writer], Awaitable[bool]]


async def send(req: Request, w: Writer, status: int, body: bytes, *, close: bool = False) -> bool:
    """A content-length framed answer (its head only for HEAD); whether to keep going."""
    headers = [("content-type", "application/octet-stream"), ("content-length", str(len(body)))]
    if close:
        headers.append(("connection", "close"))
    w.write(head_bytes(status, headers) + (b"" if req.method == "HEAD" else body))
    await w.drain()
    return not close


async def send_chunked(req: Request, w: Writer, parts: list[bytes], delay: float = 0.0) -> bool:
    w.write(head_bytes(200, [("transfer-encoding", "chunked")]))
    if req.method != "HEAD":
        for part in parts:
            await asyncio.sleep(delay)
            w.write(chunk(part))
            await w.drain()
        w.write(b"0\r\n\r\n")
    await w.drain()
    return True


async def echo(req: Request, w: Writer) -> bool:
    body = await req.read_body()
    answer = {
        "method": req.method,
        "target": req.target,
        "version": req.version,
        "headers": req.headers,
        "framing": req.framing,
        "trailers": req.trailers,
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "body": body.decode("latin-1") if len(body) <= ECHO_WHOLE else None,
    }
    return await send(req, w, 200, json.dumps(answer).encode())


async def chunked(req: Request, w: Writer) -> bool:
    n = int(req.path.rsplit("/", 1)[1])
    return await send_chunked(req, w, [b"chunk %d\n" % i for i in range(n)])


async def trailers(req: Request, w: Writer) -> bool:
    w.write(head_bytes(200, [("transfer-encoding", "chunked"), ("trailer", "x-checksum")]))
    w.write(chunk(b"first\n") + chunk(b"second\n") + b"0\r\nx-checksum: 42\r\n\r\n")
    await w.drain()
    return True


async def big(req: Request, w: Writer) -> bool:
    return await send(req, w, 200, pattern(int(req.path.rsplit("/", 1)[1])))


async def big_chunked(req: Request, w: Writer) -> bool:
    data = pattern(int(req.path.rsplit("/", 1)[1]))
    return await send_chunked(req, w, [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)])


async def slow(req: Request, w: Writer) -> bool:
    n = int(req.path.rsplit("/", 1)[1])
    ms = int(req.target.partition("ms=")[2] or 100)
    return await send_chunked(req, w, [b"tick %d\n" % i for i in range(n)], delay=ms / 1000)


async def close(req: Request, w: Writer) -> bool:
    return await send(req, w, 200, b"closing after this\n", close=True)


async def eof_body(req: Request, w: Writer) -> bool:
    w.write(head_bytes(200, [("content-type", "text/plain"), ("connection", "close")]))
    if req.method != "HEAD":
        w.write(b"no length, no chunks:\nthe end is the close\n")
    await w.drain()
    return False


async def no_content(req: Request, w: Writer) -> bool:
    w.write(head_bytes(204, [("x-answer", "none")], reason="No Content"))
    await w.drain()
    return True


async def not_modified(req: Request, w: Writer) -> bool:
    w.write(head_bytes(304, [("etag", '"v1"')], reason="Not Modified"))
    await w.drain()
    return True


async def head_able(req: Request, w: Writer) -> bool:
    return await send(req, w, 200, b"hello from a HEAD-aware route\n")


async def interim(req: Request, w: Writer) -> bool:
    w.write(head_bytes(103, [("link", "</style.css>; rel=preload")], reason="Early Hints"))
    await w.drain()
    return await send(req, w, 200, b"after the hints\n")


async def die_mid_chunked(req: Request, w: Writer) -> bool:
    w.write(head_bytes(200, [("transfer-encoding", "chunked")]))
    w.write(chunk(b"line 1 of 40\n") + chunk(b"line 2 of 40\n"))
    await w.drain()
    await asyncio.sleep(0.05)  # the proxy has sent the chunks on before the close
    return False


async def die_mid_length(req: Request, w: Writer) -> bool:
    tail = req.path.removeprefix("/die-mid-length").strip("/")
    sent = int(tail) if tail.isdigit() else 100
    promised = 1000 if sent == 100 else 2 * sent
    w.write(head_bytes(200, [("content-length", str(promised))]) + b"x" * sent)
    await w.drain()
    await asyncio.sleep(0.05)
    return False


async def too_large_early(req: Request, w: Writer) -> bool:
    await send(req, w, 413, b"body over this replica's limit\n", close=True)
    # Read what is still coming rather than close on it: a close with unread data
    # resets the connection, which could destroy the 413 before the proxy reads it.
    with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
        async with asyncio.timeout(5):
            while await req.reader.read(CHUNK):
                pass
    return False


async def bad_response(req: Request, w: Writer) -> bool:
    w.write(head_bytes(200, [("content-length", "5"), ("content-length", "7")]) + b"hello")
    await w.drain()
    return False


async def ready(req: Request, w: Writer) -> bool:
    return await send(req, w, 200, b"ok\n")


ROUTES: dict[str, Handler] = {
    "/chunked/": chunked,
    "/big/": big,
    "/big-chunked/": big_chunked,
    "/slow/": slow,
    "/echo": echo,
    "/trailers": trailers,
    "/close": close,
    "/eof-body": eof_body,
    "/204": no_content,
    "/304": not_modified,
    "/head-able": head_able,
    "/1xx": interim,
    "/die-mid-chunked": die_mid_chunked,
    "/die-mid-length": die_mid_length,
    "/413-early": too_large_early,
    "/bad-response": bad_response,
    "/readyz": ready,
    "/healthz": ready,
}


def route(path: str) -> Handler | None:
    for prefix, handler in ROUTES.items():
        if path.startswith(prefix):
            return handler
    return None


async def serve_one(req: Request, w: Writer) -> bool:
    """Answer one request; whether the connection may carry another."""
    handler = route(req.path)
    if handler is None:
        return await send(req, w, 404, b"no such route\n")
    keep = await handler(req, w)
    if keep and req.keep_alive:
        await req.read_body()  # what the handler left unread
        return True
    return False


async def connection(reader: asyncio.StreamReader, w: Writer) -> None:
    try:
        while (req := await read_request(reader)) is not None and await serve_one(req, w):
            pass
    except (BadRequest, ValueError, asyncio.LimitOverrunError):
        w.write(head_bytes(400, [("content-length", "0"), ("connection", "close")]))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        with contextlib.suppress(ConnectionError):
            w.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(connection, "127.0.0.1", port, limit=256 * 1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
