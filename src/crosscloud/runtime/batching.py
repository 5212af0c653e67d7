"""Adaptive batching: requests to a `batch=True` endpoint are merged into one handler call.

A batch runs when `max_batch_size` items wait, or when `max_wait_ms` has passed since the
oldest waiting request. A lone request is not held: when the previous batch held a single
item (nobody else is calling), the next one runs at once. Items are counted, not requests:
a request carrying 3 texts adds 3 items.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from crosscloud import errors
from crosscloud.runtime.metrics import EndpointMetrics

RunBatch = Callable[[dict[str, list[Any]]], Awaitable[Any]]


class BatchResultError(errors.CrossCloudError):
    """The handler broke the batch contract (not a list, or the wrong length)."""


@dataclass
class _Pending:
    kwargs: dict[str, list[Any]]
    size: int
    future: asyncio.Future[list[Any]]
    arrived: float = field(default_factory=time.monotonic)


class Batcher:
    """Queues calls to one batch endpoint and runs them in batches."""

    def __init__(
        self,
        *,
        run: RunBatch,
        max_batch_size: int,
        max_wait_ms: float,
        slots: int,
        metrics: EndpointMetrics,
    ) -> None:
        self._run = run
        self._max = max_batch_size
        self._max_wait = max_wait_ms / 1000.0
        self._free_slots = slots
        self._metrics = metrics
        self._queue: deque[_Pending] = deque()
        self._queued_items = 0
        self._last_size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._scheduled = False
        self._freed_at = 0.0

    async def submit(self, kwargs: dict[str, list[Any]], size: int) -> list[Any]:
        """Queue one request's lists; returns this request's slice of the batch result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        self._queue.append(_Pending(kwargs, size, future))
        self._queued_items += size
        self._metrics.queue_items = self._queued_items
        if not self._scheduled:
            # call_soon lets requests that arrive in the same loop turn join this batch.
            self._scheduled = True
            loop.call_soon(self._dispatch)
        return await future

    def _dispatch(self) -> None:
        self._scheduled = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queue and self._free_slots > 0:
            wait = self._wait_left()
            if wait > 0:
                self._timer = asyncio.get_running_loop().call_later(wait, self._dispatch)
                return
            self._start(self._take())

    def _wait_left(self) -> float:
        """Seconds to wait for more items before running what is queued (0 = run now)."""
        if self._queued_items >= self._max or self._last_size <= 1:
            return 0.0
        # Wait from when a slot freed too, not only from the oldest arrival: the clients of
        # the batch that just finished send again within a moment, and should join this batch
        # (else batches alternate 1, 31, 1, 31 at 32 clients: mean 16 instead of 32).
        start = max(self._queue[0].arrived, self._freed_at)
        return start + self._max_wait - time.monotonic()

    def _take(self) -> list[_Pending]:
        batch = [self._queue.popleft()]
        items = batch[0].size
        while self._queue and items + self._queue[0].size <= self._max:
            pending = self._queue.popleft()
            batch.append(pending)
            items += pending.size
        self._queued_items -= items
        self._metrics.queue_items = self._queued_items
        return batch

    def _start(self, batch: list[_Pending]) -> None:
        self._free_slots -= 1
        task = asyncio.get_running_loop().create_task(self._execute(batch))
        task.add_done_callback(self._finished)

    def _finished(self, _task: asyncio.Task[None]) -> None:
        self._free_slots += 1
        self._freed_at = time.monotonic()
        self._dispatch()

    async def _execute(self, batch: list[_Pending]) -> None:
        names = list(batch[0].kwargs)
        merged = {n: [x for p in batch for x in p.kwargs[n]] for n in names}
        total = sum(p.size for p in batch)
        self._last_size = total
        self._metrics.batch_size.observe(total)
        try:
            result = await self._run(merged)
            if not isinstance(result, list | tuple) or len(result) != total:
                got = (
                    f"{len(result)} results"
                    if isinstance(result, list | tuple)
                    else type(result).__name__
                )
                raise BatchResultError(
                    f"batch handler returned {got} for {total} inputs; it must return a list"
                    " with one result per input"
                )
        except BaseException as exc:
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        start = 0
        for p in batch:
            if not p.future.done():
                p.future.set_result(list(result[start : start + p.size]))
            start += p.size
