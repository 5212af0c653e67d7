"""One pooled keep-alive HTTP/1.1 connection from the gateway to a replica.

A raw asyncio Protocol with httptools' response parser, on purpose: callbacks straight
from uvloop's transport into the exchange cost a few microseconds per request, where a
client library (aiohttp, httpx) adds futures, stream readers and header objects per
request — measured here at 3-4x (aiohttp) and ~10x (httpx) slower than nginx, while this
shape reaches ~0.9x.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import TYPE_CHECKING, cast

import httptools

from crosscloud.adapters.security import tls

if TYPE_CHECKING:
    from crosscloud.gateway.cluster import Host
    from crosscloud.gateway.exchange import Exchange

# Response headers the gateway sets itself or that only concern one hop, and the one it
# must know about, found in the lowered raw head. llhttp has already rejected bare-LF line
# ends, folded lines and space before the colon, so every name follows a CRLF and is
# followed by ':' at once.
_NOTED = re.compile(
    rb"\n(connection|keep-alive|transfer-encoding|proxy-connection|upgrade|content-length):"
)
_HOP = frozenset(
    {b"connection", b"keep-alive", b"transfer-encoding", b"proxy-connection", b"upgrade"}
)
_JUST_LENGTH = [b"content-length"]


class UpstreamConn(asyncio.Protocol):
    """Parses responses and hands them to the exchange that currently owns the connection."""

    __slots__ = (
        "chunked",
        "closed",
        "content_length",
        "exchange",
        "head",
        "host",
        "in_head",
        "out",
        "parser",
        "raw",
        "tls_context",
        "transport",
        "used",
    )

    def __init__(self, host: Host, tls_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        #: The client context of a new TLS connection, until its first answer has come
        #: and its session is saved for the host's next connection to resume.
        self.tls_context = tls_context
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
        #: The response's header lines (status line excluded, hop-by-hop ones removed).
        self.head = b""
        self.content_length = False
        #: The response is chunked: EOF before its last chunk is a cut-off body.
        self.chunked = False
        #: Bytes received since the current response began, until its head is complete.
        self.raw = b""
        self.in_head = True
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
        if self.in_head:
            self.raw += data
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

    # No on_header callback, on purpose: the head is cut from the raw bytes and passed on
    # as one block, unless a hop-by-hop header must come out (`_filter`). Measured on the
    # bench backend's answer (4 headers), parsing it took 1.9 us with a callback per
    # header (two bytes objects, a lowered name and a formatted line each) and 1.2 us so.

    def on_headers_complete(self) -> None:
        raw = self.raw
        if raw[:1] != b"H":
            raw = raw.lstrip(b"\r\n")  # llhttp skips blank lines before a status line
        end = raw.find(b"\r\n\r\n") + 2
        if end < 2:
            raise ValueError("response head not in the bytes received")  # parse error
        status = self.parser.get_status_code()
        if status < 200:
            self.raw = raw[end + 2 :]  # the final response may follow in the same bytes
        else:
            self.raw, self.in_head = b"", False
        start = raw.find(b"\r\n") + 2
        noted = _NOTED.findall(raw[:end].lower())
        if noted == _JUST_LENGTH:  # the usual answer: pass its header lines on as they are
            self.head, self.content_length, self.chunked = raw[start:end], True, False
        else:
            self.head, self.content_length = _filter(raw[start:end]), b"content-length" in noted
            self.chunked = b"transfer-encoding" in noted
        exchange = self.exchange
        if exchange is not None:
            exchange.response_head(self, status)

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.response_body(body)

    def on_message_complete(self) -> None:
        self.in_head = True
        if self.tls_context is not None and self.transport is not None:
            self.host.tls_session = tls.saved_session(self.transport, self.tls_context)
            self.tls_context = None
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


def is_expected(conn: UpstreamConn, identity: str | None) -> bool:
    """Whether a new TLS connection's peer is the service it was opened to reach: its
    certificate (verified against the CA's roots in the handshake) names `identity`. With
    no identity configured, any certificate of the CA is accepted."""
    if identity is None:
        return True
    transport = conn.transport
    peer = None if transport is None else transport.get_extra_info("peercert")
    return tls.peer_identity(peer) == identity


def _filter(block: bytes) -> bytes:
    """Header lines without the hop-by-hop ones."""
    lines = block.split(b"\r\n")
    kept = [ln for ln in lines if ln and ln.partition(b":")[0].lower() not in _HOP]
    return b"".join(ln + b"\r\n" for ln in kept)
