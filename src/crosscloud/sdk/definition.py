"""Introspection: a Service class -> a frozen ServiceDefinition with JSON Schemas for every
endpoint, built from the handlers' type hints with pydantic."""

from __future__ import annotations

import collections.abc
import functools
import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any

import pydantic

from crosscloud import errors
from crosscloud.sdk.llm_definition import LLMHandler, define_llm
from crosscloud.sdk.resources import Resources
from crosscloud.sdk.service import ENDPOINT_ATTR, EndpointOptions, Service

RESERVED_PATHS = frozenset({"healthz", "readyz", "metrics", "openapi.json", "docs", "static", "v1"})
_STREAM_ORIGINS = (
    collections.abc.Iterator,
    collections.abc.Iterable,
    collections.abc.Generator,
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
)


@dataclass(frozen=True)
class EndpointDefinition:
    """One handler as the runtime, the client and batch jobs see it."""

    name: str
    attr: str
    options: EndpointOptions
    params: tuple[str, ...]
    request_model: type[pydantic.BaseModel]
    response_type: Any
    is_async: bool
    is_generator: bool
    is_async_generator: bool
    doc: str

    @property
    def method(self) -> str:
        return self.options.method

    @functools.cached_property
    def list_params(self) -> frozenset[str]:
        """Parameters whose type is a list (GET takes them as repeated query parameters)."""
        return frozenset(
            n for n, f in self.request_model.model_fields.items() if _is_collection(f.annotation)
        )

    @property
    def text_stream(self) -> bool:
        """A stream of `str` is sent as plain text; any other stream as JSON lines."""
        return self.options.stream and self.response_type is str


@dataclass(frozen=True)
class ServiceDefinition:
    """A Service class turned into data: its name, resources and endpoints."""

    name: str
    cls: type[Service]
    resources: Resources
    requirements: tuple[str, ...]
    endpoints: tuple[EndpointDefinition, ...]
    doc: str
    llm: tuple[LLMHandler, ...] = ()
    models: tuple[str, ...] = ()  # the names OpenAI requests may give as `model`

    def endpoint(self, name: str) -> EndpointDefinition:
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        known = ", ".join(e.name for e in self.endpoints)
        raise errors.UserError(f"service {self.name!r} has no endpoint {name!r} (it has: {known})")


def define(cls: type[Service]) -> ServiceDefinition:
    """Introspect a Service subclass; raises ServiceDefinitionError naming what is wrong."""
    if not (isinstance(cls, type) and issubclass(cls, Service)):
        raise errors.ServiceDefinitionError(f"{cls!r} is not a subclass of crosscloud.Service")
    if not isinstance(cls.resources, Resources):
        raise errors.ServiceDefinitionError(
            f"{cls.__name__}.resources must be a crosscloud.Resources, got {cls.resources!r}"
        )
    endpoints = tuple(
        _define_endpoint(cls, attr, getattr(member, ENDPOINT_ATTR))
        for attr, member in inspect.getmembers(cls)
        if hasattr(member, ENDPOINT_ATTR)
    )
    llm_handlers = define_llm(cls)
    if not endpoints and not llm_handlers:
        raise errors.ServiceDefinitionError(
            f"{cls.__name__} has no endpoints; mark a method with @endpoint (or with"
            " @llm.chat, @llm.completions, @llm.embeddings)"
        )
    names = [e.name for e in endpoints]
    if dup := sorted({n for n in names if names.count(n) > 1}):
        raise errors.ServiceDefinitionError(f"{cls.__name__}: endpoint names repeat: {dup}")
    return ServiceDefinition(
        name=cls.name or cls.__name__,
        cls=cls,
        resources=cls.resources,
        requirements=tuple(cls.requirements),
        endpoints=endpoints,
        doc=inspect.getdoc(cls) or "",
        llm=llm_handlers,
        models=_models(cls, llm_handlers),
    )


def _models(cls: type[Service], handlers: tuple[LLMHandler, ...]) -> tuple[str, ...]:
    """`models` of the class; default: the service's name, when it has LLM handlers."""
    declared = cls.models
    if isinstance(declared, str) or not all(isinstance(m, str) and m for m in declared):
        raise errors.ServiceDefinitionError(
            f"{cls.__name__}.models must be a list of non-empty model names, got {declared!r}"
        )
    if declared and not handlers:
        raise errors.ServiceDefinitionError(
            f"{cls.__name__}.models names models, but no method is marked @llm.chat,"
            " @llm.completions or @llm.embeddings"
        )
    if len(set(declared)) != len(declared):
        raise errors.ServiceDefinitionError(f"{cls.__name__}.models repeats a name: {declared}")
    return tuple(declared) or ((cls.name or cls.__name__,) if handlers else ())


def _define_endpoint(cls: type[Service], attr: str, options: EndpointOptions) -> EndpointDefinition:
    func = getattr(cls, attr)
    where = f"{cls.__name__}.{attr}"
    name = options.name or attr
    if name in RESERVED_PATHS or not name.replace("_", "").replace("-", "").isalnum():
        raise errors.ServiceDefinitionError(
            f"{where}: endpoint name {name!r} is reserved or not a plain path segment"
        )
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise errors.ServiceDefinitionError(f"{where}: cannot resolve type hints: {exc}") from None
    fields = _request_fields(func, hints, where, batch=options.batch)
    response = hints.get("return", Any)
    is_gen = inspect.isgeneratorfunction(func)
    is_agen = inspect.isasyncgenfunction(func)
    if options.stream != (is_gen or is_agen):
        raise errors.ServiceDefinitionError(
            f"{where}: stream=True needs a generator (a def with yield), and a generator needs"
            " stream=True"
        )
    if options.stream:
        response = _stream_item(response)
    if (
        options.batch
        and typing.get_origin(_unannotated(response)) is not list
        and response is not Any
    ):
        raise errors.ServiceDefinitionError(
            f"{where}: a batch endpoint returns a list (one item per input), not {response!r}"
        )
    model = pydantic.create_model(  # type: ignore[call-overload]
        f"{cls.__name__}_{attr}_request",
        __config__=pydantic.ConfigDict(extra="forbid"),
        **fields,
    )
    return EndpointDefinition(
        name=name,
        attr=attr,
        options=options,
        params=tuple(fields),
        request_model=model,
        response_type=response,
        is_async=inspect.iscoroutinefunction(func),
        is_generator=is_gen,
        is_async_generator=is_agen,
        doc=inspect.getdoc(func) or "",
    )


def _request_fields(
    func: Any, hints: dict[str, Any], where: str, *, batch: bool
) -> dict[str, tuple[Any, Any]]:
    fields: dict[str, tuple[Any, Any]] = {}
    params = list(inspect.signature(func).parameters.values())[1:]  # drop self
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise errors.ServiceDefinitionError(
                f"{where}: parameter {p.name!r} must be a plain named parameter"
            )
        if p.name not in hints:
            raise errors.ServiceDefinitionError(f"{where}: parameter {p.name!r} has no type hint")
        hint = hints[p.name]
        if batch and typing.get_origin(_unannotated(hint)) is not list:
            raise errors.ServiceDefinitionError(
                f"{where}: a batch endpoint takes lists; {p.name!r} is {hint!r}, write list[...]"
            )
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hint, default)
    if batch and not fields:
        raise errors.ServiceDefinitionError(f"{where}: a batch endpoint needs a list parameter")
    return fields


def _unannotated(hint: Any) -> Any:
    """`Annotated[list[int], Field(...)]` -> `list[int]`."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint


def _is_collection(hint: Any) -> bool:
    """list[int], tuple[str, ...] and Optional[list[int]] are collections."""
    origin = typing.get_origin(_unannotated(hint))
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_collection(arg) for arg in typing.get_args(hint))
    return False


def _stream_item(hint: Any) -> Any:
    if hint is Any:
        return Any
    hint = _unannotated(hint)
    if typing.get_origin(hint) in _STREAM_ORIGINS:
        args = typing.get_args(hint)
        return args[0] if args else Any
    return Any
