"""`Service` and `@endpoint`: how a user writes a model service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from crosscloud import errors
from crosscloud.sdk.resources import Resources

F = TypeVar("F", bound=Callable[..., Any])
ENDPOINT_ATTR = "__crosscloud_endpoint__"


@dataclass(frozen=True)
class EndpointOptions:
    """How the runtime calls one handler."""

    batch: bool = False
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    concurrency: int | None = None
    timeout: float | None = None
    method: Literal["GET", "POST"] = "POST"
    stream: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.max_batch_size < 1:
            problems.append(f"max_batch_size must be at least 1, got {self.max_batch_size}")
        if self.max_wait_ms < 0:
            problems.append(f"max_wait_ms cannot be negative, got {self.max_wait_ms}")
        if self.concurrency is not None and self.concurrency < 1:
            problems.append(f"concurrency must be at least 1, got {self.concurrency}")
        if self.timeout is not None and self.timeout <= 0:
            problems.append(f"timeout must be more than 0 seconds, got {self.timeout}")
        if self.method not in ("GET", "POST"):
            problems.append(f"method must be 'GET' or 'POST', got {self.method!r}")
        if self.batch and self.stream:
            problems.append("an endpoint cannot be both batch=True and stream=True")
        if problems:
            raise errors.ServiceDefinitionError("@endpoint: " + "; ".join(problems))


def endpoint(
    func: F | None = None,
    *,
    batch: bool = False,
    max_batch_size: int = 32,
    max_wait_ms: float = 5.0,
    concurrency: int | None = None,
    timeout: float | None = None,
    method: Literal["GET", "POST"] = "POST",
    stream: bool = False,
    name: str | None = None,
) -> Any:
    """Mark a Service method as an HTTP endpoint, `@endpoint` or `@endpoint(batch=True, ...)`.

    batch: the handler takes lists and returns a list of the same length; requests are
        merged into one call of up to `max_batch_size` items, run when that many wait or
        `max_wait_ms` passes (at once when nothing else waits).
    concurrency: at most this many calls at a time (default: the runtime's thread pool).
    timeout: seconds before the caller gets 504.
    stream: the handler is a generator; items are sent as they come.
    """
    options = EndpointOptions(
        batch=batch,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        concurrency=concurrency,
        timeout=timeout,
        method=method,
        stream=stream,
        name=name,
    )

    def mark(f: F) -> F:
        setattr(f, ENDPOINT_ATTR, options)
        return f

    return mark(func) if func is not None else mark


class Service:
    """Base class of a model service: subclass it, add `@endpoint` methods, and load
    models in `setup()`, which runs once per replica before the replica reports ready."""

    resources: ClassVar[Resources] = Resources()
    requirements: ClassVar[list[str]] = []
    name: ClassVar[str | None] = None
    #: The model names OpenAI requests to this service may give (`/v1/models` lists them).
    models: ClassVar[list[str]] = []

    def setup(self) -> None:
        """Load models and warm caches; runs once per replica, before /readyz says ready."""
