"""One pooled keep-alive HTTP/1.1 connection from the gateway to a replica.

A raw asyncio Protocol with httptools' response parser, on purpose: callbacks straight
from uvloop's transport into the exchange cost a few microseconds per request, where a
client library (aiohttp, httpx) adds futures, stream readers and header objects per
request — measured here at 3-4x (aiohttp) and ~10x (httpx) slower than nginx, while this
shape reaches ~0.9x.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

import httptools

if TYPE_CHECKING:
    from crosscloud.gateway.cluster import Host
    from crosscloud.gateway.exchange import Exchange

# Response headers the gateway sets itself or that only concern one hop.
_HOP = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"proxy-connection", b"upgrade"}
)


class UpstreamConn(asyncio.Protocol):
    """Parses responses and hands them to the exchange that currently owns the connection."""

    __slots__ = (
        "closed",
        "content_length",
        "exchange",
        "headers",
        "host",
        "out",
        "parser",
        "transport",
        "used",
    )

    def __init__(self, host: Host) -> None:
        self.host = host
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.headers: list[bytes] = []
        self.content_length = False
        self.closed = False
        self.used = False
        self.out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange = self.exchange
        if exchange is not None:
            self.exchange = None
            exchange.upstream_lost(self)
        else:
            self.host.forget_idle(self)

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:
            self.abort()  # an idle connection has nothing to say; drop it
            return
        client = exchange.client
        client.corked = True  # head and body reach the client in one write
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()
            exchange.upstream_lost(self)
        finally:
            client.uncork()

    def pause_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.client.pause_reading()

    def resume_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.client.resume_reading()

    def on_message_begin(self) -> None:
        self.headers = []
        self.content_length = False

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower in _HOP:
            return
        if lower == b"content-length":
            self.content_length = True
        self.headers.append(b"%b: %b\r\n" % (name, value))

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.response_head(self, self.parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.response_body(body)

    def on_message_complete(self) -> None:
        exchange = self.exchange
        if exchange is not None:
            self.exchange = None
            exchange.response_done(self, self.parser.should_keep_alive())

    def write(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is not None and exchange.client.feeding:
            if not self.out:
                exchange.client.corked_conns.append(self)
            self.out.append(data)
        elif self.transport is not None and not self.closed:
            self.transport.write(data)

    def uncork(self) -> None:
        out = self.out
        if out and self.transport is not None and not self.closed:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        self.out = []

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        """Close gracefully (an idle or finished connection)."""
        self.closed = True
        self.exchange = None
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop at once: the request it carries is cancelled (client gone, timeout)."""
        self.closed = True
        self.exchange = None
        if self.transport is not None:
            self.transport.abort()
