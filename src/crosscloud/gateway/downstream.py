"""The client side of the gateway: parse requests with httptools, route them, enforce
limits, and hand each one to an `Exchange`; answers its own /healthz, /readyz, /metrics.

Written against uvloop's transports rather than a framework (see upstream.py for the
numbers): each request costs a handful of parser callbacks and no task or future.
Pipelined requests queue behind the one in flight, so answers keep their order.
"""

from __future__ import annotations

import asyncio
import collections
import json
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from crosscloud.gateway import exchange as gwexchange
from crosscloud.gateway import upstream as gwupstream
from crosscloud.gateway.framing import connection_line, status_line

if TYPE_CHECKING:
    from crosscloud.gateway.server import Gateway

# Request headers that only concern the client's hop; framing is redone for the upstream.
_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"upgrade"})
_MAX_QUEUED = 16


class _Pending(Protocol):
    keep_alive: bool

    def start(self) -> None: ...
    def request_body(self, data: bytes) -> None: ...
    def request_done(self) -> None: ...
    def client_gone(self) -> None: ...


class _Local:
    """An answer the gateway writes itself (errors, health, metrics)."""

    __slots__ = ("client", "data", "keep_alive")

    def __init__(self, client: Downstream, data: bytes, *, keep_alive: bool) -> None:
        self.client, self.data, self.keep_alive = client, data, keep_alive

    def start(self) -> None:
        self.client.write(self.data)
        self.client.exchange_done(self)

    def request_body(self, data: bytes) -> None:
        pass

    def request_done(self) -> None:
        pass

    def client_gone(self) -> None:
        pass


def response_bytes(
    status: int,
    body: bytes,
    *,
    content_type: bytes = b"application/json",
    close: bool = False,
    http10: bool = False,
) -> bytes:
    head = status_line(status) + b"content-type: %b\r\ncontent-length: %d\r\n" % (
        content_type,
        len(body),
    )
    return head + connection_line(close=close, http10=http10) + b"\r\n" + body


def error_bytes(status: int, message: str, *, close: bool, http10: bool = False) -> bytes:
    phrase = status_line(status)[13:-2].decode()
    body = json.dumps({"error": phrase, "detail": message}).encode()
    return response_bytes(status, body, close=close, http10=http10)


class Downstream(asyncio.Protocol):
    """One client connection."""

    __slots__ = (
        "auth",
        "body_size",
        "chunked",
        "closed",
        "content_length",
        "corked",
        "corked_conns",
        "current",
        "expect",
        "feeding",
        "header_bytes",
        "headers",
        "host_header",
        "keep_alive_asked",
        "out",
        "parser",
        "parsing",
        "queue",
        "reading_paused",
        "server",
        "transport",
        "url",
    )

    def __init__(self, server: Gateway) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.current: _Pending | None = None
        self.parsing: _Pending | None = None
        self.queue: collections.deque[_Pending] = collections.deque()
        self.closed = False
        # Writes made while one read is being handled go out as one write (one syscall):
        # on loopback the send carries the receiver's whole TCP path, so it dominates CPU.
        self.corked = False
        self.out: list[bytes] = []
        self.feeding = False
        self.corked_conns: list[gwupstream.UpstreamConn] = []
        self.reading_paused = False
        self.url = b""
        self.headers: list[bytes] = []
        self.header_bytes = 0
        self.host_header = b""
        self.content_length = -1
        self.body_size = 0
        self.chunked = False
        self.expect = False
        self.keep_alive_asked = False
        self.auth: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        current = self.current
        if current is not None:
            self.current = None
            current.client_gone()
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        self.feeding = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(501, "protocol upgrades (WebSocket) are not supported by the gateway")
        except httptools.HttpParserError as exc:
            self._reject(400, f"malformed HTTP request: {exc}")
        finally:
            self.feeding = False
            if self.corked_conns:
                conns, self.corked_conns = self.corked_conns, []
                for conn in conns:
                    conn.uncork()

    # -- parser callbacks -------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        lower = name.lower()
        if lower == b"host":
            self.host_header = value
        elif lower == b"content-length":
            self.content_length = int(value) if value.isdigit() else -1
        elif lower == b"transfer-encoding":
            self.chunked = b"chunked" in value.lower()
            return
        elif lower == b"expect":
            self.expect = True
            return
        elif lower == b"authorization":
            self.auth = value
            return  # passed on in _dispatch unless the gateway checks it
        elif lower in _HOP:
            if lower == b"connection":
                self.keep_alive_asked = b"keep-alive" in value.lower()
            return
        self.headers.append(b"%b: %b\r\n" % (name, value))

    def on_headers_complete(self) -> None:
        pending = self._dispatch()
        # The next request's head starts clean. Done here rather than in an
        # on_message_begin callback: one parser-to-Python call less per request.
        self.url = b""
        self.headers = []
        self.header_bytes = 0
        self.host_header = b""
        self.content_length = -1
        self.body_size = 0
        self.chunked = self.expect = self.keep_alive_asked = False
        self.auth = None
        self.parsing = pending
        if self.current is None:
            self.current = pending
            pending.start()
        else:
            self.queue.append(pending)
            if len(self.queue) >= _MAX_QUEUED:
                self.pause_reading()

    def on_body(self, body: bytes) -> None:
        parsing = self.parsing
        if parsing is not None:
            self.body_size += len(body)
            if self.body_size > self.server.config.max_body_size:
                self._too_large(parsing)
            else:
                parsing.request_body(body)

    def _too_large(self, parsing: _Pending) -> None:
        self.parsing = None
        limit = self.server.config.max_body_size
        if isinstance(parsing, gwexchange.Exchange):
            parsing.reject(413, f"request body is over the limit of {limit} bytes".encode())
        else:
            self.close()

    def on_message_complete(self) -> None:
        parsing = self.parsing
        if parsing is not None:
            self.parsing = None
            parsing.request_done()
            if not parsing.keep_alive and parsing is not self.current and parsing not in self.queue:
                self.close()  # its answer is out already (413 and the like): now it may go

    # -- routing ------------------------------------------------------------------------

    def _dispatch(self) -> _Pending:
        server, parser = self.server, self.parser
        keep_alive = bool(parser.should_keep_alive())
        # An HTTP/1.0 client knows neither chunked bodies nor persistence by default. Only
        # such a client, or one closing anyway, can be on 1.0: no version check for the rest.
        http10 = (not keep_alive or self.keep_alive_asked) and parser.get_http_version() == "1.0"
        config = server.config
        if len(self.headers) > config.max_headers or self.header_bytes > config.max_header_bytes:
            return self._local(
                431, "request headers are too large", keep_alive=False, http10=http10
            )
        if self.content_length > config.max_body_size:
            limit = config.max_body_size
            message = f"request body is over the limit of {limit} bytes"
            return self._local(413, message, keep_alive=False, http10=http10)
        url = self.url
        if url in server.own_paths:  # one set lookup, not a call, for proxied requests
            own = server.own_route(url)
            if own is not None:
                if http10:  # own answers are written for HTTP/1.1 keep-alive clients
                    keep_alive = False
                    own = own.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)
                return _Local(self, own, keep_alive=keep_alive)
        cluster, path = server.route(self.host_header, url)
        if cluster is None:
            return self._local(
                404, server.unknown_service(url), keep_alive=keep_alive, http10=http10
            )
        denied = self._authorize(cluster.name)
        if denied is not None:
            return self._local(denied[0], denied[1], keep_alive=keep_alive, http10=http10)
        if self.expect and self.current is None:
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        method = parser.get_method()
        te = b"transfer-encoding: chunked\r\n" if self.chunked else b""
        head = b"%b %b HTTP/1.1\r\n%b%b\r\n" % (method, path, b"".join(self.headers), te)
        return gwexchange.Exchange(
            self,
            cluster,
            head=head,
            method=method,
            chunked=self.chunked,
            keep_alive=keep_alive,
            http10=http10,
        )

    def _authorize(self, service: str) -> tuple[int, str] | None:
        """A refusal, or None. The Authorization header goes on to the replica only when
        the gateway did not check it: a token stays with the gateway."""
        authorizer, auth = self.server.authorizer, self.auth
        if authorizer is not None:
            denied = authorizer(service, auth)
            if denied is not None or authorizer.guards(service):
                return denied
        if auth is not None:
            self.headers.append(b"authorization: %b\r\n" % auth)
        return None

    def _local(self, status: int, message: str, *, keep_alive: bool, http10: bool) -> _Local:
        data = error_bytes(status, message, close=not keep_alive, http10=http10)
        return _Local(self, data, keep_alive=keep_alive)

    def _reject(self, status: int, message: str) -> None:
        if self.current is None:
            self.write(error_bytes(status, message, close=True))
        self.close()

    # -- called by exchanges --------------------------------------------------------------

    def exchange_done(self, done: _Pending) -> None:
        if self.current is done:
            self.current = None
        if self.closed:
            return
        if not done.keep_alive:
            if self.parsing is not done:
                self.close()  # else: close once its body is read (see on_message_complete)
            return
        if self.queue:
            nxt = self.queue.popleft()
            self.current = nxt
            self.resume_reading()
            nxt.start()

    def write(self, data: bytes) -> None:
        if self.corked:
            self.out.append(data)
        elif not self.closed and self.transport is not None:
            self.transport.write(data)

    def uncork(self) -> None:
        self.corked = False
        out = self.out
        if out:
            self.out = []
            self.write(out[0] if len(out) == 1 else b"".join(out))

    def write_error(self, status: int, message: bytes, *, close: bool, http10: bool) -> None:
        self.write(error_bytes(status, message.decode(), close=close, http10=http10))

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        current = self.current
        if isinstance(current, gwexchange.Exchange) and current.conn is not None:
            current.conn.pause_reading()

    def resume_writing(self) -> None:
        current = self.current
        if isinstance(current, gwexchange.Exchange) and current.conn is not None:
            current.conn.resume_reading()

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.closed = True
            self.transport.abort()
