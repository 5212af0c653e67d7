"""The upstream connection's response head: cut from the raw bytes, hop-by-hop headers
removed, framing noted, across split reads, interim answers and reused connections."""

from __future__ import annotations

from typing import Any

import pytest

from crosscloud.gateway import cluster as gwcluster
from crosscloud.gateway import config as gwconfig
from crosscloud.gateway import upstream as gwupstream


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class _Client:
    corked = False

    def uncork(self) -> None:
        pass


class _Exchange:
    """Records what the connection hands to the exchange that owns it."""

    def __init__(self) -> None:
        self.client = _Client()
        self.heads: list[tuple[int, bytes, bool]] = []
        self.body = b""
        self.done = False

    def response_head(self, conn: gwupstream.UpstreamConn, status: int) -> None:
        self.heads.append((status, conn.head, conn.content_length))

    def response_body(self, data: bytes) -> None:
        self.body += data

    def response_done(self, conn: gwupstream.UpstreamConn, keep_alive: bool) -> None:
        if self.heads[-1][0] < 200:
            conn.exchange = self  # type: ignore[assignment]  # as Exchange does after a 1xx
        else:
            self.done = True


def _conn() -> gwupstream.UpstreamConn:
    host = gwcluster.Host(gwconfig.Upstream(id="u1", host="127.0.0.1", port=9))
    conn = gwupstream.UpstreamConn(host)
    conn.connection_made(_Transport())  # type: ignore[arg-type]
    return conn


def _exchange(conn: gwupstream.UpstreamConn, *chunks: bytes) -> _Exchange:
    ex = _Exchange()
    conn.exchange = ex  # type: ignore[assignment]
    for chunk in chunks:
        conn.data_received(chunk)
    return ex


CASES: list[tuple[str, list[bytes], list[tuple[int, bytes, bool]], bytes]] = [
    (
        "passed on as it is",
        [b"HTTP/1.1 200 OK\r\ndate: x\r\nserver: uvicorn\r\ncontent-length: 2\r\n\r\nhi"],
        [(200, b"date: x\r\nserver: uvicorn\r\ncontent-length: 2\r\n", True)],
        b"hi",
    ),
    (
        "hop-by-hop headers removed, whatever their case; a value naming one is kept",
        [
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nX-Note: connection: fine\r\n"
            b"Keep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nhi"
        ],
        [(200, b"X-Note: connection: fine\r\nContent-Length: 2\r\n", True)],
        b"hi",
    ),
    (
        "chunked: no length, body de-chunked (the gateway frames it again)",
        [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nx: 1\r\n\r\n2\r\nhi\r\n0\r\n\r\n"],
        [(200, b"x: 1\r\n", False)],
        b"hi",
    ),
    (
        "head split across reads",
        [b"HTTP/1.1 201 Created\r\nconte", b"nt-length: 2\r\n", b"\r\nhi"],
        [(201, b"content-length: 2\r\n", True)],
        b"hi",
    ),
    (
        "an interim answer then the final one in the same bytes",
        [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"],
        [(100, b"", False), (200, b"Content-Length: 2\r\n", True)],
        b"hi",
    ),
    (
        "a blank line before the status line",
        [b"\r\nHTTP/1.1 204 No Content\r\nx: 1\r\n\r\n"],
        [(204, b"x: 1\r\n", False)],
        b"",
    ),
]


@pytest.mark.parametrize(
    ("chunks", "heads", "body"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_response_head(chunks: list[bytes], heads: list[Any], body: bytes) -> None:
    ex = _exchange(_conn(), *chunks)
    assert ex.heads == heads
    assert ex.body == body
    assert ex.done


def test_a_reused_connection_starts_each_head_afresh() -> None:
    conn = _conn()
    first = _exchange(conn, b"HTTP/1.1 200 OK\r\na: 1\r\nContent-Length: 1\r\n\r\nx")
    second = _exchange(
        conn, b"HTTP/1.1 503 Service Unavailable\r\nb: 2\r\nContent-Length: 0\r\n\r\n"
    )
    assert first.heads == [(200, b"a: 1\r\nContent-Length: 1\r\n", True)]
    assert second.heads == [(503, b"b: 2\r\nContent-Length: 0\r\n", True)]
