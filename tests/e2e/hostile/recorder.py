"""A recording backend for the hostile-input tests: a raw asyncio HTTP/1.1 server that logs
every request it receives (port, connection, method, target, headers, body) as one JSON
line, and answers 200 with the target it saw as the body.

It parses the way a lenient backend does (Transfer-Encoding: chunked wins over
Content-Length, the first Content-Length counts), so a request that a gateway lets
through with ambiguous framing shows up here as two requests or a wrong body. A head or
body cut off by a closed connection is logged with `incomplete`; bytes it cannot parse
are logged with `error`. Run: `python recorder.py --ports N --log FILE --ready FILE`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
from pathlib import Path
from typing import IO, Any

MAX_HEAD = 8 * 1024 * 1024
_conn_ids = itertools.count(1)


def _text(data: bytes) -> str:
    return data.decode("latin-1")


class Recorder:
    def __init__(self, log: IO[str]) -> None:
        self.log = log

    def write(self, entry: dict[str, Any]) -> None:
        self.log.write(json.dumps(entry) + "\n")
        self.log.flush()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("sockname")[1]
        conn = next(_conn_ids)
        base = {"port": port, "conn": conn}
        try:
            while await self._one(reader, writer, base):
                pass
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            partial = getattr(exc, "partial", b"")
            self.write({**base, "incomplete": True, "raw": _text(partial[:400])})
        except (ValueError, asyncio.LimitOverrunError) as exc:
            self.write({**base, "error": str(exc)[:300]})
        finally:
            writer.close()

    async def _one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, base: dict[str, Any]
    ) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                self.write({**base, "incomplete": True, "raw": _text(exc.partial[:400])})
            return False
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            raise ValueError(f"bad request line {lines[0][:200]!r}")
        headers = [_header(line) for line in lines[1:]]
        body = await _body(reader, headers)
        method, target, version = parts
        self.write(
            {
                **base,
                "method": _text(method),
                "target": _text(target),
                "version": _text(version),
                "headers": [[_text(n), _text(v)] for n, v in headers],
                "body": _text(body),
            }
        )
        close = any(n.lower() == b"connection" and b"close" in v.lower() for n, v in headers)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n%b\r\n%b"
            % (len(target), b"connection: close\r\n" if close else b"", target)
        )
        await writer.drain()
        return not close


def _header(line: bytes) -> tuple[bytes, bytes]:
    name, colon, value = line.partition(b":")
    if not colon:
        raise ValueError(f"header line without a colon {line[:200]!r}")
    return name.strip(), value.strip()


async def _body(reader: asyncio.StreamReader, headers: list[tuple[bytes, bytes]]) -> bytes:
    te = [v for n, v in headers if n.lower() == b"transfer-encoding"]
    if any(b"chunked" in v.lower() for v in te):
        return await _chunked(reader)
    lengths = [v for n, v in headers if n.lower() == b"content-length"]
    if lengths:
        return await reader.readexactly(int(lengths[0]))
    return b""


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return bytes(body)
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("chunk data not followed by CRLF")


async def main(ports: int, log_path: Path, ready: Path) -> None:
    with log_path.open("a", encoding="utf-8") as log:
        recorder = Recorder(log)
        servers = []
        for _ in range(ports):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            servers.append(
                await asyncio.start_server(recorder.serve, sock=sock, limit=MAX_HEAD, backlog=1024)
            )
        bound = [s.sockets[0].getsockname()[1] for s in servers]
        tmp = ready.with_suffix(".tmp")
        tmp.write_text(json.dumps({"ports": bound, "pid": os.getpid()}))
        tmp.rename(ready)  # the fixture sees the whole file or none
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", type=int, default=2)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--ready", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.ports, args.log, args.ready))
