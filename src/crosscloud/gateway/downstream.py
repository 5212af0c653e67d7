"""The client side of the gateway: parse requests with httptools, route them, enforce
limits, and hand each one to an `Exchange`; answers its own /healthz, /readyz, /metrics.

Written against uvloop's transports rather than a framework (see upstream.py for the
numbers): each request costs a handful of parser callbacks and no task or future.
Pipelined requests queue behind the one in flight, so answers keep their order; a
request refused for its bytes (a protocol error, a limit) is answered in that order too,
and nothing after it is read.

Timeouts cost no timer per request: each connection notes the gateway's tick when its
state changes (`mark`), and the gateway's sweep (server.py) closes the ones past a limit.
"""

from __future__ import annotations

import asyncio
import collections
import re
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from crosscloud.adapters.security import tls
from crosscloud.gateway import cluster as gwcluster
from crosscloud.gateway import config as gwconfig
from crosscloud.gateway import exchange as gwexchange
from crosscloud.gateway import framing
from crosscloud.gateway import head as gwhead
from crosscloud.gateway import llm as gwllm
from crosscloud.gateway import target as gwtarget
from crosscloud.gateway import upstream as gwupstream
from crosscloud.gateway.framing import error_bytes
from crosscloud.planning import residency

if TYPE_CHECKING:
    from crosscloud.gateway.server import Gateway
    from crosscloud.planning import quota

# Request headers that only concern the client's hop; framing is redone for the upstream.
#: The residency zone a request asks for (planning/residency.py); for the gateway only.
RESIDENCY = b"x-crosscloud-residency"
_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"te", b"upgrade", RESIDENCY})
_HEAD_END = b"\r\n\r\n"
#: How long a refused client may go on sending before its connection is dropped (nginx's
#: lingering_timeout).
LINGER = 5.0
#: A target the router must not take as it is: not origin-form, or with a dot segment, an
#: empty segment or an escape in it (gateway/target.py makes it plain).
_ODD_TARGET = re.compile(rb"\A[^/]|/\.|//|%")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 5.6.2


class _Refused(Exception):
    """Raised from a parser callback to stop parsing at once (the status is noted)."""


class _Pending(Protocol):
    keep_alive: bool

    def start(self) -> None: ...
    def request_body(self, data: bytes) -> None: ...
    def request_done(self) -> None: ...
    def client_gone(self) -> None: ...
    def drop_slot(self) -> None: ...


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

    def drop_slot(self) -> None:
        pass


class Downstream(asyncio.Protocol):
    """One client connection."""

    __slots__ = (
        "auth",
        "body_size",
        "chunked",
        "close_on_flush",
        "closed",
        "content_length",
        "corked",
        "corked_conns",
        "current",
        "error",
        "expect",
        "feeding",
        "head_bytes",
        "header_bytes",
        "headers",
        "holding",
        "holding_key",
        "host_header",
        "hosts",
        "in_head",
        "keep_alive_asked",
        "limits",
        "lingering",
        "mark",
        "mesh",
        "odd",
        "out",
        "over_cap",
        "parser",
        "parsing",
        "peer_deployment",
        "queue",
        "reading_paused",
        "refused",
        "residency",
        "server",
        "te",
        "transport",
        "upgrade",
        "url",
    )

    def __init__(self, server: Gateway, *, mesh: bool = False) -> None:
        self.server = server
        #: On the mesh listener: the deployment of the client's workload certificate
        #: (set once the handshake is done); its own services need no API token.
        self.peer_deployment: str | None = None
        self.mesh = mesh
        self.limits = server.config.limits
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.current: _Pending | None = None
        self.parsing: _Pending | None = None
        self.queue: collections.deque[_Pending] = collections.deque()
        self.closed = False
        # Writes made while one read is being handled go out as one write (one syscall):
        # on loopback the send carries the receiver's whole TCP path, so it dominates CPU.
        self.corked = False
        self.close_on_flush = False
        self.out: list[bytes] = []
        self.feeding = False
        self.corked_conns: list[gwupstream.UpstreamConn] = []
        self.reading_paused = False
        self.refused = False
        self.lingering = False
        self.over_cap = False
        self.error: tuple[int, str] | None = None
        #: A request head is being received: since `mark`, `head_bytes` of it at most.
        self.in_head = False
        self.head_bytes = 0
        self.mark = server.tick
        self.url = b""
        self.headers: list[bytes] = []
        self._reset_head()

    def _reset_head(self) -> None:
        self.url = b""
        self.headers = []
        self.header_bytes = 0
        self.host_header = b""
        self.hosts = 0
        self.content_length = -1
        self.body_size = 0
        self.chunked = self.expect = self.keep_alive_asked = False
        self.auth: bytes | None = None
        #: the token quota slot the request just authorized holds (the exchange takes it)
        self.holding: quota.Limiter | None = None
        #: (service, token id) the request just authorized counts its model tokens under
        self.holding_key: tuple[str, str] | None = None
        self.residency: bytes | None = None
        self.te: bytes | None = None
        self.upgrade: bytes | None = None
        self.odd = self.over_cap  # something in the head that _dispatch must look at

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if self.mesh:  # TLS: called after the handshake verified the client's certificate
            self.peer_deployment = tls.peer_deployment(transport.get_extra_info("peercert"))
        connections = self.server.connections
        connections.add(self)
        # Refused (every request on it answered, then closed): over the connection cap, or
        # without the client certificate the front door requires (adapters/frontdoor.py).
        self.over_cap = len(connections) > self.limits.max_connections or (
            self.server.requires_cert and not self.transport.get_extra_info("peercert")
        )
        self.odd = self.over_cap

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        current = self.current
        if current is not None:
            self.current = None
            current.client_gone()
        for pending in self.queue:  # never started: only their quota slots to give back
            pending.drop_slot()
        self.queue.clear()

    # -- reading ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # after a refusal nothing more of this client is read
        if self.in_head:
            if self.head_bytes + len(data) > self.limits.max_header_bytes and _no_end(data):
                self._head_overflow(data)
                return
        elif self.parsing is not None:
            self.mark = self.server.tick  # one more read of a body: its gap starts again
        # Else idle: the idle time runs on until a head begins (`_count_head`), so empty
        # lines, which llhttp skips between requests, cannot keep a connection open.
        self.feeding = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._after_upgrade(data, int(exc.args[0]))
        except httptools.HttpParserError as exc:
            status, message = self.error or _parse_error(exc, data)
            self.refuse(status, message)
        finally:
            self.feeding = False
            if self.corked_conns:
                conns, self.corked_conns = self.corked_conns, []
                for conn in conns:
                    conn.uncork()
        if self.in_head:
            self._count_head(data)

    def _count_head(self, data: bytes) -> None:
        """Note how much of a head has come, at most: the bytes of a head are counted as
        they come, since httptools keeps a partial header to itself until it ends."""
        if self.head_bytes < 0:  # a head began in these bytes: at most what follows
            end = data.rfind(_HEAD_END)  # the last head or body that ended in them
            self.head_bytes = len(data) - (end + 4 if end >= 0 else 0)
            self.mark = self.server.tick
        else:
            self.head_bytes += len(data)

    def _head_overflow(self, data: bytes) -> None:
        """The head grows past its limit with no end in these bytes: refuse it now rather
        than let the parser buffer it (414 when the target alone is too long)."""
        allowed = max(0, self.limits.max_header_bytes - self.head_bytes)
        try:
            self.parser.feed_data(data[:allowed])
        except httptools.HttpParserError as exc:
            status, message = self.error or _parse_error(exc, data)
            self.refuse(status, message)
            return
        limit = self.limits.max_header_bytes
        self.refuse(431, f"request head is over the limit of {limit} bytes")

    def _after_upgrade(self, data: bytes, offset: int) -> None:
        """llhttp stops after a request that asked to upgrade (h2c and the like). The
        gateway answered it as plain HTTP/1.1 (RFC 9110 7.8 lets a server ignore the
        request), so parsing goes on with a new parser."""
        if self.refused:
            return
        self.parser = httptools.HttpRequestParser(self)
        if offset < len(data):
            self.data_received(data[offset:])

    # -- parser callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_head = True
        self.head_bytes = -1

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.limits.max_url_bytes:
            self.error = (414, f"request target is over {self.limits.max_url_bytes} bytes")
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        lower = name.lower()
        if lower == b"host":
            self.host_header = value
            self.hosts += 1
        elif lower == b"content-length":
            self.content_length = int(value) if value.isdigit() else -1
        elif lower == b"transfer-encoding":
            self.te = value if self.te is None else self.te + b", " + value
            self.chunked = self.odd = True  # llhttp refuses other framings, head.py the rest
            return
        elif lower == b"expect":
            self.expect = value.lower() == b"100-continue"
            return
        elif lower == b"authorization":
            self.auth = value
            return  # passed on in _dispatch unless the gateway checks it
        elif lower in _HOP:
            self._hop_header(lower, value)
            return
        headers = self.headers
        headers.append(b"%b: %b\r\n" % (name, value))
        if len(headers) > self.limits.max_headers:
            self.odd = True  # a refusal for _dispatch to find (one flag there, not four tests)

    def _hop_header(self, lower: bytes, value: bytes) -> None:
        """A header for the gateway itself (never passed on)."""
        if lower == b"connection":
            self.keep_alive_asked = b"keep-alive" in value.lower()
        elif lower == b"upgrade":
            self.upgrade = value
        elif lower == RESIDENCY:
            # Repeated, the values join and name no zone: 400.
            self.residency = value if self.residency is None else self.residency + b", " + value

    def on_headers_complete(self) -> None:
        self.in_head = False
        limits = self.limits
        if (
            self.header_bytes > limits.max_header_bytes
            or self.content_length > limits.max_body_size
        ):
            self.odd = True
        pending = self._dispatch()
        # The next request's head starts clean (as `_reset_head`, written out: this is
        # once per request, and a call costs more than the stores).
        self.url = b""
        self.headers = []
        self.header_bytes = self.hosts = self.body_size = 0
        self.host_header = b""
        self.content_length = -1
        self.chunked = self.expect = self.keep_alive_asked = False
        self.auth = self.te = self.upgrade = self.residency = None
        self.odd = self.over_cap
        self.parsing = pending
        if self.current is None:
            self.current = pending
            pending.start()
        else:
            self._enqueue(pending)

    def _enqueue(self, pending: _Pending) -> None:
        if self.current is None:
            self.current = pending
            pending.start()
        else:
            self.queue.append(pending)
            if len(self.queue) >= self.limits.max_pipelined:
                self.pause_reading()

    def on_body(self, body: bytes) -> None:
        parsing = self.parsing
        if parsing is not None:
            self.body_size += len(body)
            if self.body_size > self.limits.max_body_size:
                limit = self.limits.max_body_size
                self.refuse(413, f"request body is over the limit of {limit} bytes")
                raise _Refused
            parsing.request_body(body)

    def on_message_complete(self) -> None:
        parsing = self.parsing
        if parsing is not None:
            self.parsing = None
            parsing.request_done()

    # -- routing ------------------------------------------------------------------------

    def _dispatch(self) -> _Pending:
        server, parser = self.server, self.parser
        keep_alive = bool(parser.should_keep_alive())
        # An HTTP/1.0 client knows neither chunked bodies nor persistence by default. Only
        # such a client, or one closing anyway, can be on 1.0: no version check for the rest.
        version = "1.1"
        if not keep_alive or self.keep_alive_asked:
            version = parser.get_http_version()
        http10 = version == "1.0"
        if self.odd or self.hosts != 1 or version != "1.1" or parser.should_upgrade():
            denied = self._refusal(version)
            if denied is not None:
                return self._local(denied[0], denied[1], keep_alive=False, http10=http10)
        url, authority = self.url, b""
        if _ODD_TARGET.search(url) is not None:  # 0.27 us; four `in` tests took 1 us
            url, authority = gwtarget.origin_form(url)  # 0.6 us: only for unusual targets
            url = gwtarget.normalize(url)
        if url in server.own_paths:  # one set lookup, not a call, for proxied requests
            own = self._own(url, keep_alive=keep_alive, http10=http10)
            if own is not None:
                return own
        cluster, path = server.route(authority or self.host_header, url)
        if cluster is None:
            return self._unrouted(url, keep_alive=keep_alive, http10=http10)
        zone, refused = self._admit(cluster)
        if refused is not None:
            return self._denied(refused, path, keep_alive=keep_alive, http10=http10)
        if cluster.llm and path[:4] == b"/v1/":
            read = self._body_read(cluster, path, keep_alive=keep_alive, http10=http10)
            read.zone = zone
            return read
        method = parser.get_method()
        return gwexchange.Exchange(
            self,
            cluster,
            head=self._forward_head(method, path),
            method=method,
            chunked=self.chunked,
            keep_alive=keep_alive,
            http10=http10,
            expect=self.expect,
            zone=zone,
        )

    def _forward_head(self, method: bytes, path: bytes) -> bytes:
        """The head sent upstream: rebuilt from the parsed parts, never the client's bytes."""
        te = b"transfer-encoding: chunked\r\n" if self.chunked else b""
        return b"%b %b HTTP/1.1\r\n%b%b\r\n" % (method, path, b"".join(self.headers), te)

    def _own(self, url: bytes, *, keep_alive: bool, http10: bool) -> _Local | None:
        if url == b"/v1/models":
            own = self.server.models_route(self.auth)
        else:
            own = self.server.own_route(url)
        if own is None:
            return None
        if http10:  # own answers are written for HTTP/1.1 keep-alive clients
            keep_alive = False
            own = own.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)
        return _Local(self, own, keep_alive=keep_alive)

    def _unrouted(self, url: bytes, *, keep_alive: bool, http10: bool) -> _Pending:
        """No service by that name: an OpenAI route goes by the body's model, else 404."""
        server = self.server
        if url[:4] == b"/v1/" and server.models:
            return self._body_read(None, url, keep_alive=keep_alive, http10=http10)
        return self._local(404, server.unknown_service(url), keep_alive=keep_alive, http10=http10)

    def _body_read(
        self, cluster: gwcluster.Cluster | None, path: bytes, *, keep_alive: bool, http10: bool
    ) -> gwllm.BodyRead:
        """An OpenAI request, read before it is routed (gateway/llm.py); `cluster` None:
        routed by its model, and the token check waits until the service is known."""
        method = self.parser.get_method()
        return gwllm.BodyRead(
            self,
            cluster,
            head=self._forward_head(method, path),
            method=method,
            chunked=self.chunked,
            keep_alive=keep_alive,
            http10=http10,
            expect=self.expect,
            auth=self.auth if cluster is None else None,
            residency=self.residency if cluster is None else None,
        )

    def _refusal(self, version: str) -> tuple[int, str] | None:
        if self.over_cap:
            transport = self.transport
            if self.server.requires_cert and not (
                transport and transport.get_extra_info("peercert")
            ):
                return 403, "this gateway requires a client certificate; none was sent"
            limit = self.limits.max_connections
            return 503, f"the gateway holds its limit of {limit} client connections; retry"
        facts = gwhead.HeadFacts(
            version=version,
            method=self.parser.get_method(),
            hosts=self.hosts,
            upgrade=self.upgrade if self.parser.should_upgrade() else None,
            transfer_encoding=self.te,
            headers=len(self.headers),
            header_bytes=self.header_bytes,
            content_length=self.content_length,
        )
        return gwhead.refusal(facts, self.limits)

    def _authorize(
        self, cluster: gwcluster.Cluster
    ) -> tuple[int, str] | tuple[int, str, int] | None:
        """A refusal, or None. The Authorization header goes on to the replica only when
        the gateway did not check it: a token stays with the gateway."""
        denied, line = self.authorize_for(cluster, self.auth)
        if line:
            self.headers.append(line)
        return denied

    def authorize_for(
        self, cluster: gwcluster.Cluster, auth: bytes | None
    ) -> tuple[tuple[int, str] | tuple[int, str, int] | None, bytes]:
        """(refusal or None, the Authorization line to pass on or b""); an admitted token
        with a quota leaves its limiter in `holding` for the request's exchange. A workload
        of the service's own deployment, known by its certificate (mesh listener), needs
        no token."""
        authorizer = self.server.authorizer
        peer = self.peer_deployment
        if peer is not None and peer == cluster.config.deployment:
            authorizer = self.holding_key = None
        if authorizer is not None:
            denied = authorizer(cluster.name, auth)
            self.holding, self.holding_key = authorizer.holding, authorizer.holding_key
            if denied is not None or authorizer.guards(cluster.name):
                return denied, b""
        return None, (b"authorization: %b\r\n" % auth if auth is not None else b"")

    def _denied(
        self, denied: tuple[int, str] | tuple[int, str, int], path: bytes, **how: bool
    ) -> _Local:
        if len(denied) == 3:  # past a quota: 429 with Retry-After, the client may stay
            data = framing.too_many_bytes(
                denied[1], denied[2], openai=path.startswith(b"/v1/"), http10=how["http10"]
            )
            return _Local(self, data, keep_alive=how["keep_alive"])
        return self._local(denied[0], denied[1], **how)

    def _admit(
        self, cluster: gwcluster.Cluster
    ) -> tuple[str | None, tuple[int, str] | tuple[int, str, int] | None]:
        """(the request's residency zone, None), or (None, a refusal): its token first."""
        denied = self._authorize(cluster)
        if denied is None and (self.residency is not None or self.server.zoned_tokens):
            zone, refused = self.zone_for(cluster, self.auth, self.residency)
            if refused is not None:
                self.drop_holding()
            return zone, refused
        return None, denied

    def drop_holding(self) -> None:
        """A request its token's quota admitted is refused after all: give its slot back."""
        holding, self.holding = self.holding, None
        if holding is not None:
            holding.release()

    def zone_for(
        self, cluster: gwcluster.Cluster, auth: bytes | None, asked: bytes | None
    ) -> tuple[str | None, tuple[int, str] | None]:
        """The request's residency zone (its token's, else the one its header `asked`
        for), or a refusal (planning/residency.py)."""
        authorizer = self.server.authorizer
        token_zone = None if authorizer is None else authorizer.zone_of(auth)
        header = None if asked is None else asked.decode("latin-1").strip()
        return residency.request_zone(header=header, token_zone=token_zone, zones=cluster.zones)

    def _local(self, status: int, message: str, *, keep_alive: bool, http10: bool) -> _Local:
        if not keep_alive:
            self.refused = True  # a request answered with a close: read nothing after it
        data = error_bytes(status, message, close=not keep_alive, http10=http10)
        return _Local(self, data, keep_alive=keep_alive)

    def refuse(self, status: int, message: str) -> None:
        """Answer the request being read with an error, in its turn, then close: nothing
        more is read from this client. Also the sweep's answer to a timeout."""
        if self.refused and self.parsing is None:
            return
        self.refused = True
        self.in_head = False
        parsing, self.parsing = self.parsing, None
        answer = _Local(self, error_bytes(status, message, close=True), keep_alive=False)
        if parsing is None:  # the head itself was refused
            self._enqueue(answer)
        elif parsing is self.current and isinstance(parsing, gwexchange.Exchange | gwllm.BodyRead):
            parsing.reject(status, message.encode())
        elif parsing in self.queue:  # not started: nothing of it went anywhere
            parsing.drop_slot()
            self.queue[self.queue.index(parsing)] = answer
        elif self.current is None and not self.queue:
            self.close()  # its answer is out already

    # -- called by exchanges --------------------------------------------------------------

    def exchange_done(self, done: _Pending) -> None:
        if self.current is done:
            self.current = None
        if self.closed:
            return
        self.mark = self.server.tick  # idle from now, unless a request is queued
        if self.queue and done.keep_alive:
            nxt = self.queue.popleft()
            self.current = nxt
            self.resume_reading()
            nxt.start()
        elif not done.keep_alive or self.refused:
            self.close()

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
            if self.transport is not None and (not self.closed or self.close_on_flush):
                self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self.close_on_flush:
            self.close_on_flush = False
            self._shut()

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
        """Close once what was written is sent (after the current read, when corked)."""
        if not self.closed and self.transport is not None:
            self.closed = True
            if self.corked:
                self.close_on_flush = True
            else:
                self._shut()

    def _shut(self) -> None:
        """Close; or, when the client may still be sending (a refused request, a body not
        read to its end), send FIN and read and drop what comes for a while first (nginx's
        lingering close): closing with unread bytes sends an RST, and the client's TCP
        stack may then drop the answer before the client reads it."""
        transport = self.transport
        assert transport is not None
        if (self.refused or self.parsing is not None or self.in_head) and transport.can_write_eof():
            self.refused = self.lingering = True
            self.mark = self.server.tick
            transport.write_eof()
            return
        transport.close()

    def abort(self) -> None:
        """Drop at once: the client must not take a cut-off answer as whole."""
        if self.transport is not None:
            self.closed = True
            self.close_on_flush = False
            self.out = []
            self.transport.abort()

    def overdue(
        self, tick: int, period: float, limits: gwconfig.Limits
    ) -> tuple[str, float] | None:
        """(what is late, its limit) when this connection is past a timeout, else None."""
        if self.lingering:
            kind, limit = "linger", LINGER
        elif self.reading_paused or self.closed:
            return None  # held back by the gateway itself (back-pressure), or going
        elif self.in_head:
            kind, limit = "head", limits.header_timeout
        elif self.parsing is not None:
            kind, limit = "body", limits.body_timeout
        elif self.current is None and not self.queue:
            kind, limit = "idle", limits.idle_timeout
        else:
            return None
        return (kind, limit) if (tick - self.mark) * period >= limit else None

    def timed_out(self, kind: str, limit: float) -> None:
        """The sweep's verdict: idle connections close; a late head or body gets 408."""
        if kind == "idle":
            self.close()
        elif kind == "linger":
            self.abort()
        else:
            self.refuse(408, f"request {kind} not received within {limit:g} s")


def _no_end(data: bytes) -> bool:
    """No head ends in these bytes (nor, by its first bytes, just before them)."""
    return _HEAD_END not in data and b"\n" not in data[:3]


def _parse_error(exc: httptools.HttpParserError, data: bytes) -> tuple[int, str]:
    message = str(exc) or type(exc).__name__
    if "HTTP version" in message:
        return 505, f"{message}; send HTTP/1.1"
    if "method" in message.lower():
        # llhttp knows the registered methods only: a well-formed one it does not know is
        # 501 (RFC 9110 9.1), anything else in that place is a malformed request.
        method = data.lstrip(b"\r\n").split(b" ", 1)[0]  # the first request's, at least
        if _TOKEN.fullmatch(method):
            return 501, f"method {method.decode()!r} is not one the gateway relays"
    return 400, f"malformed HTTP request: {message}"


class Admin(Downstream):
    """A client of the admin listener (`listen.adminPort`): the gateway's own answers
    (/metrics, /-/stats, /healthz, /readyz) and nothing routed, so that a front door that
    asks for TLS or client certificates cannot be walked around through it."""

    __slots__ = ()

    def _dispatch(self) -> _Pending:
        keep_alive = bool(self.parser.should_keep_alive())
        own = self.server.own_route(self.url.partition(b"?")[0])
        if own is None:
            message = "the gateway's admin port answers /metrics, /-/stats, /healthz and /readyz"
            return self._local(404, message, keep_alive=keep_alive, http10=False)
        if not keep_alive:
            own = own.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)
        return _Local(self, own, keep_alive=keep_alive)
