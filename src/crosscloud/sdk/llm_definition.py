"""Introspection of a Service's LLM handlers (`@chat`, `@completions`, `@embeddings`)."""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any

from crosscloud import errors
from crosscloud.sdk import llm
from crosscloud.sdk.openai_schema import REQUESTS


@dataclass(frozen=True)
class LLMHandler:
    """One LLM handler as the runtime calls it."""

    attr: str
    options: llm.LLMOptions
    request_model: type[Any]
    is_async: bool

    @property
    def kind(self) -> llm.Kind:
        return self.options.kind


def define_llm(cls: type[Any]) -> tuple[LLMHandler, ...]:
    """The LLM handlers of `cls`, at most one per kind, each taking its request type."""
    found: dict[str, LLMHandler] = {}
    for attr, member in inspect.getmembers(cls):
        options = getattr(member, llm.LLM_ATTR, None)
        if not isinstance(options, llm.LLMOptions):
            continue
        where = f"{cls.__name__}.{attr}"
        if options.kind in found:
            raise errors.ServiceDefinitionError(
                f"{where}: {cls.__name__} already has a @{options.kind} handler"
                f" ({found[options.kind].attr}); keep one"
            )
        found[options.kind] = _define(member, attr, where, options)
    return tuple(found[k] for k in llm.KINDS if k in found)


def _define(func: Any, attr: str, where: str, options: llm.LLMOptions) -> LLMHandler:
    request = REQUESTS[options.kind]
    params = list(inspect.signature(func).parameters.values())[1:]  # drop self
    if len(params) != 1 or params[0].kind in (params[0].VAR_POSITIONAL, params[0].VAR_KEYWORD):
        raise errors.ServiceDefinitionError(
            f"{where}: a @{options.kind} handler takes one parameter, the request"
            f" (crosscloud.llm.{request.__name__})"
        )
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise errors.ServiceDefinitionError(f"{where}: cannot resolve type hints: {exc}") from None
    hint = hints.get(params[0].name, request)
    if hint is not request:
        raise errors.ServiceDefinitionError(
            f"{where}: the request of a @{options.kind} handler is"
            f" crosscloud.llm.{request.__name__}, not {hint!r}"
        )
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise errors.ServiceDefinitionError(
            f"{where}: return a crosscloud.llm.Generation whose `tokens` is the generator,"
            " rather than yielding from the handler itself"
        )
    return LLMHandler(
        attr=attr,
        options=options,
        request_model=request,
        is_async=inspect.iscoroutinefunction(func),
    )
