"""A paced HTTP/1.1 load generator on raw asyncio streams: `rate` POSTs a second for
`seconds`, spread over a few keep-alive connections, each answer recorded as (sent, done,
status). httpx's async client tops out near 40 requests a second on this shared machine;
this one sends a few thousand, so a test can press a quota at 10x and still be on time.
Used by tests/e2e/test_token_quotas.py and bench/quota.py."""

from __future__ import annotations

import asyncio
import time
from typing import NamedTuple
from urllib.parse import urlsplit


class Answer(NamedTuple):
    sent: float  # seconds since the load began
    done: float
    status: int


def request_bytes(url: str, *, token: str | None, body: bytes) -> bytes:
    parts = urlsplit(url)
    auth = f"authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {parts.path} HTTP/1.1\r\nhost: {parts.netloc}\r\n{auth}"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def load(
    url: str,
    *,
    token: str | None,
    rate: float,
    seconds: float,
    connections: int = 4,
    body: bytes = b'{"text": "hi"}',
) -> list[Answer]:
    """Request k is due at k / rate; a connection that falls behind sends at once."""
    parts = urlsplit(url)
    data = request_bytes(url, token=token, body=body)
    total = int(rate * seconds)
    answers: list[Answer] = []
    start = time.monotonic()

    async def worker(first: int) -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            for k in range(first, total, connections):
                delay = start + k / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent = time.monotonic() - start
                writer.write(data)
                status = await _read_answer(reader)
                answers.append(Answer(sent, time.monotonic() - start, status))
        finally:
            writer.close()

    await asyncio.gather(*(worker(i) for i in range(connections)))
    return answers
