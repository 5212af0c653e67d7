"""One proxied request: pick a replica, send, stream the answer back, retry when allowed.

Callbacks only (no task per request): the client protocol feeds the request in, the
upstream protocol feeds the response back, and a coarse timer (`Gateway`'s sweep)
enforces per-try and overall timeouts. A new connection is the only await.

One clock for a request's life: `time.perf_counter()`, read once when it starts (latency,
deadlines, the idle pool) and once when it ends (latency, the idle pool). Reading
uvloop's `loop.time()` at each step as well was three more clock reads per request.
"""

from __future__ import annotations

import asyncio
import bisect
import ssl
import time
from typing import TYPE_CHECKING

from crosscloud.adapters.security import tls as tlsmod
from crosscloud.gateway import cluster as gwcluster
from crosscloud.gateway import hold as gwhold
from crosscloud.gateway import upstream as gwupstream
from crosscloud.gateway.framing import CONTINUE, connection_line, status_line
from crosscloud.planning import outlier, retry, routing
from crosscloud.planning import quota as gwquota

if TYPE_CHECKING:
    from crosscloud.gateway.downstream import Downstream

#: Request bodies up to this size are kept so a failed try can be replayed elsewhere.
RETRY_BUFFER = 256 * 1024
#: An answer with a Content-Length is held back until it is whole, up to this size: a
#: replica that dies between its head and its body is then retried elsewhere rather than
#: leaving the client with a cut-off answer (uvicorn writes the head and the body apart).
HOLD_BUFFER = 64 * 1024
LATENCY_BUCKETS = gwcluster.LATENCY_BUCKETS
_SUCCESS, _5XX, _CONNECT = (
    outlier.Outcome.SUCCESS,
    outlier.Outcome.SERVER_ERROR,
    outlier.Outcome.CONNECT_FAILURE,
)


class Exchange:
    """The life of one request through the gateway, across its tries."""

    __slots__ = (
        "chunked",
        "client",
        "cluster",
        "conn",
        "connecting",
        "deadline",
        "done",
        "expect",
        "failure",
        "head",
        "head_only",
        "held",
        "held_size",
        "host",
        "http10",
        "idempotent",
        "interim",
        "is_retry",
        "keep_alive",
        "parts",
        "replayable",
        "request_complete",
        "resp_chunked",
        "response_started",
        "retries_done",
        "served_by",
        "size",
        "slot",
        "started",
        "status",
        "timer",
        "tried",
        "try_deadline",
        "zone",
    )

    def __init__(
        self,
        client: Downstream,
        cluster: gwcluster.Cluster,
        *,
        head: bytes,
        method: bytes,
        chunked: bool,
        keep_alive: bool,
        http10: bool = False,
        expect: bool = False,
        zone: str | None = None,
    ) -> None:
        self.client = client
        #: The request's residency zone: every try, retry and failover stays in it.
        self.zone = zone
        self.expect = expect
        self.cluster = cluster
        self.head = head
        self.head_only = method == b"HEAD"
        self.idempotent = retry.is_idempotent(method, service_idempotent=cluster.config.idempotent)
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.http10 = http10
        self.parts: list[bytes] = []
        self.size = 0
        self.replayable = True
        self.request_complete = False
        self.conn: gwupstream.UpstreamConn | None = None
        self.host: gwcluster.Host | None = None
        self.connecting: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.tried: list[gwcluster.Host] = []
        #: The answer if no replica is left to retry on: the last try's failure.
        self.failure: tuple[int, bytes] = (503, b"no healthy upstream")
        self.retries_done = 0
        self.is_retry = False
        self.response_started = False
        #: The answer so far while it is held back (see HOLD_BUFFER), else None.
        self.held: list[bytes] | None = None
        self.held_size = 0
        self.resp_chunked = False
        self.interim = False
        self.done = False
        self.status = 0
        self.served_by: gwcluster.Host | None = None
        self.started = 0.0
        self.deadline = 0.0
        self.try_deadline = 0.0
        #: the API token's quota slot this request holds (planning/quota.py), if any
        self.slot: gwquota.Limiter | None = client.holding
        client.holding = None

    # -- request side -------------------------------------------------------------

    def start(self) -> None:
        # perf_counter, not loop.time(): uvloop's clock only has ms resolution
        self.started = now = time.perf_counter()
        self.deadline = now + self.cluster.config.timeout
        self.cluster.active += 1
        self.client.server.inflight.add(self)
        if self.expect:  # in its turn: a pipelined request gets its 100 when it starts
            self.client.write(CONTINUE)
        self._try(now)

    def request_body(self, data: bytes) -> None:
        if self.done:
            return  # answered before its body was read (an early 413): the rest is dropped
        framed = b"%x\r\n%b\r\n" % (len(data), data) if self.chunked else data
        conn = self.conn
        if conn is not None:
            conn.write(framed)
            if not self.replayable:
                return
        self.parts.append(framed)
        self.size += len(framed)
        if self.size > RETRY_BUFFER:
            if conn is not None:
                self.replayable, self.parts = False, []
            else:
                self.client.pause_reading()  # resumed when a connection is attached

    def request_done(self) -> None:
        self.request_complete = True
        if self.chunked and not self.done:
            self.request_body_raw(b"0\r\n\r\n")

    def request_body_raw(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.write(data)
        if self.conn is None or self.replayable:
            self.parts.append(data)

    def _try_later(self) -> None:
        self._try(time.perf_counter())

    def _try(self, now: float) -> None:
        self.timer = None
        if self.done:
            return
        host = self.cluster.pick(self.tried, self.zone)
        if host is None:
            if not self.tried and self.cluster.held.hold(self):
                return  # no replica at all yet: held until one starts (hold.py)
            if self.zone is not None:
                self._zone_unavailable()
                return
            self._fail(*self.failure)
            return
        self._send_to(host, now)

    def _send_to(self, host: gwcluster.Host, now: float) -> None:
        """Start a try on `host`: an idle pooled connection, else a new one."""
        self.host = host
        host.active += 1
        self.try_deadline = now + self.cluster.config.per_try_timeout
        conn = host.take_idle(now)
        if conn is not None:
            self._attach(conn)
        else:
            self.connecting = self.client.server.loop.create_task(self._connect(host))

    async def _connect(self, host: gwcluster.Host) -> None:
        server = self.client.server
        # mutual TLS to the replicas of a service that names the identity they must have
        tls = server.upstream_tls if self.cluster.config.identity is not None else None
        context = None if tls is None else tls.current
        try:
            _, conn = await server.loop.create_connection(
                lambda: gwupstream.UpstreamConn(host, context),
                host.upstream.host,
                host.upstream.port,
                ssl=None if context is None else tlsmod.resuming(context, host.tls_session),
            )
        except (OSError, ssl.SSLError):  # refused, reset, or a handshake that failed
            self.connecting = None
            self._connect_failed(host)
            return
        self.connecting = None
        if tls is not None and not gwupstream.is_expected(conn, self.cluster.config.identity):
            conn.abort()  # TLS to the wrong service: not one byte of the request goes
            self._connect_failed(host, failure=(502, b"upstream is not the service it should be"))
        elif self.done or self.host is not host:
            conn.close()
        else:
            self._attach(conn)

    def _attach(self, conn: gwupstream.UpstreamConn) -> None:
        self.conn = conn
        conn.exchange = self
        conn.write(self.head + b"".join(self.parts) if self.parts else self.head)
        if self.size > RETRY_BUFFER:
            self.replayable, self.parts = False, []
            self.client.resume_reading()

    # -- response side ------------------------------------------------------------

    def response_head(self, conn: gwupstream.UpstreamConn, status: int) -> None:
        if status < 200:
            # RFC 9110 15.2: a proxy forwards 1xx answers, but not to an HTTP/1.0 client,
            # and not a 100 Continue: the gateway answered the client's Expect itself.
            self.interim = True
            if status != 100 and not self.http10:
                self.client.write(status_line(status) + conn.head + b"\r\n")
            return
        host = self.host
        assert host is not None
        cluster = self.cluster
        if status >= 500 or host.failing:  # else a success would be a no-op for the detector
            now = self.client.server.loop.time()
            if status in retry.RETRIABLE_STATUSES and self._may_retry(retry.Failure.STATUS):
                cluster.record(host, _5XX, now)
                conn.abort()
                self._retry((status, b"upstream answered %d" % status))
                return
            cluster.record(host, _5XX if status >= 500 else _SUCCESS, now)
        if cluster.tracks_latency:
            host.ewma = routing.ewma(host.ewma, time.perf_counter() - self.started)
        self.status = status
        self.served_by = host
        bodyless = status in (204, 304) or self.head_only
        head = self._framed_head(conn, status, bodyless=bodyless) + host.id_line
        if conn.content_length and not bodyless and self.replayable and self.request_complete:
            self.held, self.held_size = [head], 0
            return
        self.response_started = True
        self.client.write(head)
        if self.head_only:
            conn.exchange = None
            conn.close()  # httptools cannot be told a HEAD answer has no body
            self._end_try()
            self._finish()

    def _framed_head(self, conn: gwupstream.UpstreamConn, status: int, *, bodyless: bool) -> bytes:
        """The answer's head for this client: re-chunked when the replica's body has no
        length (close-delimited for an HTTP/1.0 client), with the Connection it needs."""
        head = status_line(status) + conn.head
        if not conn.content_length and not bodyless:
            if self.http10:
                self.keep_alive = False  # no chunked in 1.0: the body ends where we close
            else:
                self.resp_chunked = True
                head += b"transfer-encoding: chunked\r\n"
        if not self.keep_alive or self.http10:
            head += connection_line(close=not self.keep_alive, http10=self.http10)
        return head

    def response_body(self, data: bytes) -> None:
        held = self.held
        if held is not None:
            held.append(data)
            self.held_size += len(data)
            if self.held_size > HOLD_BUFFER:
                self._release()
            return
        if self.resp_chunked:
            self.client.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            self.client.write(data)

    def response_done(self, conn: gwupstream.UpstreamConn, keep_alive: bool) -> None:
        if self.interim:
            self.interim = False
            conn.exchange = self
            return
        if self.held is not None:
            self._release()
        if self.resp_chunked:
            self.client.write(b"0\r\n\r\n")
        if not self.request_complete:
            # Answered before the whole body was sent (a replica's early 413): nothing
            # more goes to the replica, the client's connection closes once it is read.
            self.keep_alive = False
            self.client.resume_reading()
        host = self.host
        self._end_try()
        now = time.perf_counter()
        if keep_alive and self.request_complete and host is not None:
            host.put_idle(conn, now)
        else:
            conn.close()
        self._finish(now)

    def _release(self) -> None:
        """Send what was held back; from now on the answer streams."""
        held, self.held = self.held, None
        self.response_started = True
        if held:
            self.client.write(held[0] if len(held) == 1 else b"".join(held))

    def upstream_lost(self, conn: gwupstream.UpstreamConn) -> None:
        if conn is not self.conn or self.done:
            return
        if self.response_started:
            if not conn.content_length and not conn.chunked:
                self.response_done(conn, False)  # a close-delimited body ends at EOF
            else:
                self._end_try()
                self.client.abort()  # truncated: the client must not take it as whole
                self._finish()
            return
        host = self.host
        assert host is not None
        self.cluster.record(host, _5XX, self.client.server.loop.time())
        failure = (502, b"upstream reset or broken answer before a response")
        if self._may_retry(retry.Failure.RESET):
            self._retry(failure)
        else:
            self._fail(*failure)

    def _connect_failed(
        self, host: gwcluster.Host, *, failure: tuple[int, bytes] = (503, b"upstream connect error")
    ) -> None:
        if self.done:
            return
        host.connect_errors += 1
        self.cluster.record(host, _CONNECT, self.client.server.loop.time())
        if self._may_retry(retry.Failure.CONNECT):
            self._retry(failure)
        else:
            self._fail(*failure)

    # -- retries, timeouts, endings -------------------------------------------------

    def _may_retry(self, failure: retry.Failure, *, unbudgeted: bool = False) -> bool:
        cluster = self.cluster
        policy = cluster.config.retry
        if not self.replayable or not retry.should_retry(
            failure, idempotent=self.idempotent, retries_done=self.retries_done, policy=policy
        ):
            return False
        if unbudgeted or not retry.budget_applies(failure):
            return True
        active_retries = cluster.active_retries - (1 if self.is_retry else 0)
        if not retry.budget_allows(
            active_requests=cluster.active, active_retries=active_retries, policy=policy
        ):
            cluster.retries_overflow += 1
            return False
        return True

    def _retry(self, failure: tuple[int, bytes]) -> None:
        self.failure = failure
        host = self.host
        if host is not None and host not in self.tried:
            self.tried.append(host)
        self._end_try()
        self.retries_done += 1
        cluster = self.cluster
        cluster.retries += 1
        if not self.is_retry:
            self.is_retry = True
            cluster.active_retries += 1
        delay = retry.backoff(self.retries_done, cluster.rng, cluster.config.retry)
        self.timer = self.client.server.loop.call_later(delay, self._try_later)

    def expire(self, now: float) -> bool:
        """The gateway's coarse timer, for every request in flight (`now` from
        `time.perf_counter()`): ends a request past its deadline; a try past its per-try
        timeout is aborted and counted against its replica (a timeout is a gateway
        failure to Envoy's outlier detection), and True says `after_timeout` must follow.
        Two steps, so that the timeouts of one sweep are all counted before any retry is
        decided: a replica that hangs is ejected by them, and their retries then go on
        as after a reset (no budget), rather than most failing for want of budget."""
        if now >= self.deadline:
            self._abort_try()
            self._fail(504, b"upstream request timeout")
            return False
        host = self.host
        if now >= self.try_deadline and host is not None and not self.response_started:
            self._abort_try()
            self.cluster.record(host, _5XX, self.client.server.loop.time())
            return True
        return False

    def after_timeout(self) -> None:
        host = self.host
        gone = host is not None and host.ejected
        failure = (504, b"upstream request timeout")
        if self._may_retry(retry.Failure.TIMEOUT, unbudgeted=gone):
            self._retry(failure)
        else:
            self._fail(*failure)

    def _abort_try(self) -> None:
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        if self.conn is not None:
            self.conn.abort()

    def _end_try(self) -> None:
        self.held = None  # an answer held back from a failed try is never sent
        if self.host is not None:
            self.host.active -= 1
            self.host = None
        self.conn = None

    def _fail(self, status: int, message: bytes) -> None:
        self._end_try()
        if self.response_started:
            self.client.abort()
        else:
            self.status = status
            self.client.write_error(status, message, close=not self.keep_alive, http10=self.http10)
        self._finish()

    def release(self) -> None:
        """Held while the service had no replica (hold.py): one is here, send it now."""
        self.timer = None
        now = time.perf_counter()
        self.deadline = now + self.cluster.config.timeout
        self._try(now)

    def _zone_unavailable(self) -> None:
        """No replica of the request's residency zone can take it (all dead, ejected or
        tried): 503 with Retry-After. It is never sent outside the zone instead."""
        self._end_try()
        cluster, zone = self.cluster, self.zone
        where = ", ".join(cluster.zones.get(zone or "", ())) or "none"
        message = (
            f"no replica of {cluster.name!r} in residency zone {zone!r} ({where}) can take"
            " the request now; it is not sent outside the zone"
        )
        retry_after = cluster.config.hold.retry_after
        close, http10 = not self.keep_alive, self.http10
        answer = gwhold.unavailable(message, retry_after=retry_after, close=close, http10=http10)
        self.answer(503, answer)

    def answer(self, status: int, data: bytes) -> None:
        """End a request that never reached a replica with a whole response of the
        gateway's own (a held request's 503 with Retry-After)."""
        self.status = status
        self.client.write(data)
        self._finish()

    def reject(self, status: int, message: bytes) -> None:
        """Stop this request with an error of the gateway's own (413 mid-body)."""
        if self.done:
            return
        self.keep_alive = False
        if self.timer is not None:
            self.timer.cancel()
        self._abort_try()
        self._fail(status, message)

    def client_gone(self) -> None:
        """The client disconnected: cancel the upstream request (never pool that conn)."""
        if self.done:
            return
        if self.timer is not None:
            self.timer.cancel()
        self._abort_try()
        self._end_try()
        self.status = 499
        self._finish()

    def drop_slot(self) -> None:
        """Give back the token's concurrency slot (at the end, or never started)."""
        slot = self.slot
        if slot is not None:
            self.slot = None
            slot.release()

    def _finish(self, now: float = 0.0) -> None:
        if self.done:
            return
        self.done = True
        if self.slot is not None:
            self.drop_slot()
        cluster = self.cluster
        cluster.active -= 1
        if self.is_retry:
            cluster.active_retries -= 1
        server = self.client.server
        server.inflight.discard(self)
        elapsed = (now or time.perf_counter()) - self.started
        served = self.served_by
        placement = served.placement if served is not None else ""
        latency = cluster.latency.get(placement) or cluster.latency_of(placement)
        latency[bisect.bisect_left(LATENCY_BUCKETS, elapsed)] += 1
        latency[-1] += elapsed
        key = (placement, self.status)
        counts = cluster.by_key
        counts[key] = counts.get(key, 0) + 1
        self.client.exchange_done(self)
