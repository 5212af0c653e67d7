"""The handler in a batch worker: the service loaded and set up once per process (a cache, so
a model is never captured in a closure and shipped with tasks), rows validated against the
endpoint's types, and chunks of up to `max_batch_size` rows fed to it with per-row errors."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic

from crosscloud import errors
from crosscloud.batch import schema
from crosscloud.sdk import loader
from crosscloud.sdk.definition import EndpointDefinition

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_cache: dict[tuple[str, str, int | None], Handler] = {}


@dataclass
class Handler:
    """A set-up service's endpoint, callable on columns of row values."""

    ep: EndpointDefinition
    func: Callable[..., Any]
    row_model: type[pydantic.BaseModel]
    result_hint: Any
    loop: asyncio.AbstractEventLoop | None = None

    def invoke(self, kwargs: dict[str, Any]) -> Any:
        if self.ep.is_async:
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            return self.loop.run_until_complete(self.func(**kwargs))
        return self.func(**kwargs)


def get(source: str, endpoint: str, *, threads: int | None = None) -> Handler:
    """The handler for `source`'s `endpoint`, loaded and set up on first use in this process."""
    key = (source, endpoint, threads)
    if key not in _cache:
        _cache[key] = load(source, endpoint, threads=threads)
    return _cache[key]


def check(ep: EndpointDefinition) -> None:
    """Raise UserError when batch cannot run this endpoint."""
    if ep.options.stream:
        raise errors.UserError(
            f"endpoint {ep.name!r} streams its answer; batch runs request/response endpoints"
        )


def load(source: str, endpoint: str, *, threads: int | None = None) -> Handler:
    """Import the service, run its setup() and bind the endpoint (no cache)."""
    if threads is not None:
        for var in _THREAD_VARS:
            os.environ[var] = str(threads)
    definition = loader.load(source)
    ep = definition.endpoint(endpoint)
    check(ep)
    instance = definition.cls()
    instance.setup()
    if threads is not None and "torch" in sys.modules:
        # After setup: a service that sized its own thread pool for a whole replica would
        # oversubscribe the cores when several task slots share a machine.
        torch = sys.modules["torch"]
        torch.set_num_threads(threads)
    row_model = pydantic.create_model(  # type: ignore[call-overload]
        f"{ep.attr}_row",
        __config__=pydantic.ConfigDict(extra="forbid"),
        **{
            name: (hint, ep.request_model.model_fields[name].default)
            for name, hint in schema.row_types(ep).items()
        },
    )
    return Handler(
        ep=ep,
        func=getattr(instance, ep.attr),
        row_model=row_model,
        result_hint=schema.result_type(ep),
    )


def describe(exc: BaseException) -> str:
    """One line naming an exception: `ValueError: bad input`."""
    if isinstance(exc, pydantic.ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r:.80})"
            for e in exc.errors()
        )
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def call_chunk(h: Handler, rows: dict[str, list[Any]], count: int) -> tuple[list[Any], list[str]]:
    """Results for `count` valid rows (None where a row failed) and an error per row ('' for
    rows that succeeded). A failing batch call is retried row by row to find the bad rows."""
    if not h.ep.options.batch:
        return _one_by_one(h, rows, count)
    try:
        out = h.invoke(rows)
        if not isinstance(out, list | tuple) or len(out) != count:
            got = len(out) if isinstance(out, list | tuple) else type(out).__name__
            raise errors.PermanentError(f"batch endpoint returned {got} results for {count} rows")
        return list(out), [""] * count
    except Exception as exc:
        if count == 1:
            return [None], [describe(exc)]
        results: list[Any] = []
        problems: list[str] = []
        for i in range(count):
            one, why = call_chunk(h, {k: v[i : i + 1] for k, v in rows.items()}, 1)
            results.append(one[0])
            problems.append(why[0])
        return results, problems


def _one_by_one(h: Handler, rows: dict[str, list[Any]], count: int) -> tuple[list[Any], list[str]]:
    results: list[Any] = []
    problems: list[str] = []
    for i in range(count):
        try:
            results.append(h.invoke({k: v[i] for k, v in rows.items()}))
            problems.append("")
        except Exception as exc:
            results.append(None)
            problems.append(describe(exc))
    return results, problems
