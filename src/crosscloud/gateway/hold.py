"""Scale from zero: a request for a service that has no replica (none at all, or only
draining ones) waits in a bounded queue until the control plane starts one, instead of
failing at once. The control plane sees the queue in `/-/stats` and starts a replica on
its next pass; the first upstream pushed to the service releases every held request.

When the queue is full, or a request waited `timeout`, it is answered 503 with a
Retry-After header. Nothing here runs for a service that has upstreams: the hot path
only reaches `HoldQueue.hold` when picking a replica found none.
"""

from __future__ import annotations

import collections
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crosscloud.gateway.framing import connection_line

if TYPE_CHECKING:
    from crosscloud.gateway.cluster import Cluster
    from crosscloud.gateway.exchange import Exchange


@dataclass(frozen=True)
class HoldConfig:
    """How many requests may wait for a first replica, and for how long (0: no holding)."""

    max_requests: int = 100
    timeout: float = 30.0
    retry_after: float = 5.0


def unavailable(message: str, *, retry_after: float, close: bool, http10: bool) -> bytes:
    body = json.dumps({"error": "Service Unavailable", "detail": message}).encode()
    head = (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\nretry-after: %d\r\n" % (len(body), math.ceil(retry_after))
    )
    return head + connection_line(close=close, http10=http10) + b"\r\n" + body


class HoldQueue:
    """The requests of one service waiting for its first replica."""

    __slots__ = ("cluster", "config", "waiting")

    def __init__(self, cluster: Cluster, config: HoldConfig) -> None:
        self.cluster = cluster
        self.config = config
        self.waiting: collections.deque[Exchange] = collections.deque()

    def __len__(self) -> int:
        """Requests held now (not counting ones whose client already left)."""
        return sum(1 for ex in self.waiting if not ex.done)

    def hold(self, ex: Exchange) -> bool:
        """Take `ex` (held, or answered 503 when the queue is full) if the service has no
        replica that could take it; False leaves `ex` to fail as it would otherwise."""
        config = self.config
        if config.max_requests <= 0 or any(
            not h.upstream.draining for h in self.cluster.hosts.values()
        ):
            return False
        waiting = self.waiting
        if waiting and len(waiting) >= config.max_requests:
            self.waiting = waiting = collections.deque(e for e in waiting if not e.done)
        if len(waiting) >= config.max_requests:
            message = f"{config.max_requests} requests already wait for a first replica"
            self._answer(ex, message)
            return True
        ex.deadline = math.inf  # the request timeout starts when it is released
        ex.timer = ex.client.server.loop.call_later(config.timeout, self._expire, ex)
        waiting.append(ex)
        return True

    def release(self) -> None:
        """A replica appeared: send every held request (in arrival order)."""
        waiting, self.waiting = self.waiting, collections.deque()
        for ex in waiting:
            if not ex.done:
                if ex.timer is not None:
                    ex.timer.cancel()
                ex.release()

    def fail_all(self, message: str) -> None:
        """The service is gone: answer everything still held."""
        waiting, self.waiting = self.waiting, collections.deque()
        for ex in waiting:
            if ex.timer is not None:
                ex.timer.cancel()
            self._answer(ex, message)

    def _expire(self, ex: Exchange) -> None:
        ex.timer = None
        try:
            self.waiting.remove(ex)
        except ValueError:
            return
        timeout = f"{self.config.timeout:g}s"
        self._answer(ex, f"no replica of {self.cluster.name!r} became ready within {timeout}")

    def _answer(self, ex: Exchange, message: str) -> None:
        if not ex.done:
            retry_after = self.config.retry_after
            close, http10 = not ex.keep_alive, ex.http10
            ex.answer(
                503, unavailable(message, retry_after=retry_after, close=close, http10=http10)
            )
