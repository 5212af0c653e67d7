"""Calling handlers: async ones on the loop, sync ones in a bounded thread pool, each with
its endpoint's concurrency limit and timeout; generators as async iterators."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from crosscloud.sdk.definition import EndpointDefinition

Call = Callable[[dict[str, Any]], Awaitable[Any]]
_DONE = object()


def make_call(ep: EndpointDefinition, bound: Callable[..., Any], pool: ThreadPoolExecutor) -> Call:
    """An async callable `call(kwargs)` that runs the handler where it belongs."""
    limit = asyncio.Semaphore(ep.options.concurrency) if ep.options.concurrency else None
    if ep.is_async:
        return _async_call(bound, limit)
    return _sync_call(bound, limit, pool)


def _async_call(bound: Callable[..., Any], limit: asyncio.Semaphore | None) -> Call:
    if limit is None:
        return lambda kwargs: bound(**kwargs)

    async def call(kwargs: dict[str, Any]) -> Any:
        async with limit:
            return await bound(**kwargs)

    return call


def _sync_call(
    bound: Callable[..., Any], limit: asyncio.Semaphore | None, pool: ThreadPoolExecutor
) -> Call:
    async def call(kwargs: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        if limit is None:
            return await loop.run_in_executor(pool, functools.partial(bound, **kwargs))
        await limit.acquire()
        future = loop.run_in_executor(pool, functools.partial(bound, **kwargs))
        # The slot frees when the thread finishes, not when a caller stops waiting: a timed-
        # out handler still occupies its thread, and the limit must count it.
        future.add_done_callback(lambda _f: limit.release())
        return await asyncio.shield(future)

    return call


async def with_timeout(awaitable: Awaitable[Any], seconds: float | None) -> Any:
    """Await with the endpoint's timeout (TimeoutError when it passes)."""
    if seconds is None:
        return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


def stream(
    ep: EndpointDefinition,
    bound: Callable[..., Any],
    kwargs: dict[str, Any],
    pool: ThreadPoolExecutor,
) -> AsyncIterator[Any]:
    """The handler's items as an async iterator; a sync generator advances in the pool."""
    if ep.is_async_generator:
        return bound(**kwargs)  # type: ignore[no-any-return]
    return iterate_in_pool(bound(**kwargs), pool)


async def iterate_in_pool(items: Iterator[Any], pool: ThreadPoolExecutor) -> AsyncIterator[Any]:
    """A sync iterator advanced in the pool, one item per hop; closed when left early."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            item = await loop.run_in_executor(pool, next, items, _DONE)
            if item is _DONE:
                return
            yield item
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            await loop.run_in_executor(pool, close)
