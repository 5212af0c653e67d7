"""`LlmExchange`: an `Exchange` for `/v1/*` requests that routes by prompt prefix, counts
the model tokens of its answer, and hides the `usage` chunk the gateway asked for.

Counting: the last `streamusage.TAIL` bytes that went by are kept and `usage` is read
there when the answer ends (a JSON answer's, or a stream's last chunk's); a stream that
ends without one is counted by its chunks (see streamusage.py). The counts go to the
replica, the service and the API token the request came with (and its quota).

A stream the client did not ask `usage` for goes asking for it (`stream_options`). A
server that predates `stream_options` refuses that with a 400 or 422: the client's own
request is then sent to the same replica once more, and that answer is the client's
(counted by its chunks). Had it taken that one, the replica's id is remembered in its
service (`Cluster.plain_streams`, bounded) and its later streams go as the client sent
them. Only such a refusal pays for this: the answers of other requests take one more
attribute check.
"""

from __future__ import annotations

import time
from typing import Any

from crosscloud.gateway import exchange as gwexchange
from crosscloud.gateway import streamusage

#: Replicas remembered per service as refusing `stream_options` (a bound on the set).
PLAIN_LIMIT = 1024
#: How a server that does not know a request's field refuses it (422: pydantic's way).
_REFUSED = (400, 422)


def framed(body: bytes, *, chunked: bool) -> list[bytes]:
    """A whole request body as it goes on the wire (one chunk and the last, if chunked)."""
    if not chunked:
        return [body] if body else []
    return [b"%x\r\n%b\r\n" % (len(body), body), b"0\r\n\r\n"] if body else [b"0\r\n\r\n"]


class LlmExchange(gwexchange.Exchange):
    """An `Exchange` that routes by prompt prefix and counts the tokens of its answer."""

    __slots__ = (
        "events",
        "hashes",
        "plain",
        "resent",
        "strip",
        "tail",
        "tail_size",
        "token_key",
    )

    def __init__(
        self,
        *args: Any,
        hashes: list[int] | None,
        token_key: tuple[str, str] | None = None,
        plain: tuple[bytes, bytes] | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.hashes = hashes
        #: a stream's `data:` lines so far (-1: not a stream), counted if it has no `usage`
        self.events = 0 if stream else -1
        #: (service, API token id) whose counters the answer's model tokens go to
        self.token_key = token_key
        #: the client's own (head, body), when the gateway asked for a `usage` chunk the
        #: client did not ask for (and takes it out of the stream: `strip`)
        self.plain = plain
        self.strip = streamusage.UsageStrip() if plain is not None else None
        #: the id of the replica that refused the request asking for `usage`, until the
        #: answer to the client's own request comes
        self.resent: str | None = None
        self.tail: list[bytes] = []
        self.tail_size = 0

    def load(self, body: bytes) -> None:
        """The whole body, before `start`: which one goes is known with the replica."""
        self.parts = framed(body, chunked=self.chunked)
        self.size = len(body)
        self.request_complete = True

    def _try(self, now: float) -> None:
        # The cluster's prefix-affinity picker reads the prompt from here, for this call.
        cluster = self.cluster
        cluster.prefix_key = self.hashes
        try:
            super()._try(now)
        finally:
            cluster.prefix_key = None

    def _attach(self, conn: Any) -> None:
        if self.plain is not None and conn.host.id in self.cluster.plain_streams:
            self._go_plain()
        super()._attach(conn)

    def _go_plain(self) -> None:
        """From now on the request is the client's own, its answer passed on as it is."""
        plain = self.plain
        assert plain is not None
        self.head, body = plain
        self.parts, self.size = framed(body, chunked=self.chunked), len(body)
        self.plain, self.strip, self.replayable = None, None, True

    def _resend(self, conn: Any) -> None:
        """The replica refused the request asking for `usage`: send it the client's own
        (a new connection or an idle one; the refusal's body is not read)."""
        host = self.host
        assert host is not None
        conn.abort()
        self._end_try()
        self._go_plain()
        self.resent = host.id
        self._send_to(host, time.perf_counter())

    def _resent_answer(self, status: int) -> None:
        """The answer to the client's own request: if the replica that refused the one
        asking for `usage` takes it, its later streams are not asked for `usage`."""
        refused, self.resent = self.resent, None
        host = self.host
        plain = self.cluster.plain_streams
        ok = 200 <= status < 300 and host is not None and host.id == refused
        if ok and refused is not None and len(plain) < PLAIN_LIMIT:
            plain.add(refused)

    def response_head(self, conn: Any, status: int) -> None:
        strip = self.strip
        if strip is not None:
            if status in _REFUSED and self.plain is not None:
                self._resend(conn)
                return
            strip.take()
        elif self.resent is not None and status >= 200:
            self._resent_answer(status)
        self.tail, self.tail_size = [], 0  # a failed try's answer is not this one's
        self.events = min(self.events, 0)
        super().response_head(conn, status)

    def response_body(self, data: bytes) -> None:
        tail = self.tail
        tail.append(data)
        self.tail_size += len(data)
        if self.tail_size > 2 * streamusage.TAIL:
            kept = b"".join(tail)[-streamusage.TAIL :]
            self.tail, self.tail_size = [kept], len(kept)
        if self.events >= 0:
            self.events += data.count(b"data:")
        strip = self.strip
        # Most reads are whole events without `usage`: they pass with two byte checks.
        if (
            strip is not None
            and self.status < 300
            and (strip.pending or data[-2:] != b"\n\n" or b'"usage"' in data)
        ):
            data = strip.feed(data)
            if not data:
                return  # (an empty write would end a chunked answer)
        super().response_body(data)

    def response_done(self, conn: Any, keep_alive: bool) -> None:
        if self.strip is not None and not self.interim:
            rest = self.strip.take()
            if rest:
                super().response_body(rest)
        super().response_done(conn, keep_alive)

    def _finish(self, now: float = 0.0) -> None:
        host = self.served_by
        if not self.done and host is not None:
            found = streamusage.counted(self.tail, self.status, self.events)
            if found is not None:
                cluster = self.cluster
                host.prompt_tokens += found[0]
                host.completion_tokens += found[1]
                cluster.prompt_tokens += found[0]
                cluster.completion_tokens += found[1]
                key = self.token_key
                authorizer = self.client.server.authorizer
                if key is not None and authorizer is not None:
                    authorizer.count_model(key, found[0], found[1])
                if self.slot is not None:  # a token with a tokens-per-minute quota
                    self.slot.spend_tokens(time.monotonic(), found[0] + found[1])
        super()._finish(now)
