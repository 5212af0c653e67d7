"""LLM handlers: `@chat`, `@completions` and `@embeddings` mark the Service methods that
crosscloud serves in OpenAI's wire format (`/v1/chat/completions`, `/v1/completions`,
`/v1/embeddings`, `/v1/models`).

A handler takes the typed request and returns what the model produced; the runtime writes
the envelopes (ids, `created`, `choices`, `usage`), server-sent events and errors. One
generation handler serves both streaming and non-streaming requests: it returns a
`Generation` whose `tokens` iterate lazily, and the runtime either sends them as they come
or gathers them.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from crosscloud import errors

Kind = Literal["chat", "completions", "embeddings"]
KINDS: tuple[Kind, ...] = ("chat", "completions", "embeddings")
LLM_ATTR = "__crosscloud_llm__"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Generation:
    """What a chat or completion handler returns.

    tokens: the generated text, one item per token, produced lazily (a generator, sync or
        async); the runtime counts them as `usage.completion_tokens`.
    prompt_tokens: how many tokens the prompt was (`usage.prompt_tokens`).
    cached_tokens: how many of those the model did not recompute because its prefix cache
        held them (`usage.prompt_tokens_details.cached_tokens`, and the replica's
        `vllm:prefix_cache_hits_total`).
    """

    tokens: Iterable[str] | AsyncIterable[str]
    prompt_tokens: int
    cached_tokens: int = 0

    def __post_init__(self) -> None:
        if self.prompt_tokens < 0 or not 0 <= self.cached_tokens <= self.prompt_tokens:
            raise ValueError(
                "Generation needs 0 <= cached_tokens <= prompt_tokens, got"
                f" {self.cached_tokens} and {self.prompt_tokens}"
            )


@dataclass(frozen=True)
class Embeddings:
    """What an embeddings handler returns: one vector per input, and the tokens read."""

    vectors: list[list[float]]
    prompt_tokens: int


@dataclass(frozen=True)
class LLMOptions:
    """How the runtime calls one LLM handler."""

    kind: Kind
    concurrency: int | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.concurrency is not None and self.concurrency < 1:
            raise errors.ServiceDefinitionError(
                f"@{self.kind}: concurrency must be at least 1, got {self.concurrency}"
            )
        if self.timeout is not None and self.timeout <= 0:
            raise errors.ServiceDefinitionError(
                f"@{self.kind}: timeout must be more than 0 seconds, got {self.timeout}"
            )


def _marker(kind: Kind) -> Callable[..., Any]:
    def decorate(
        func: F | None = None, *, concurrency: int | None = None, timeout: float | None = None
    ) -> Any:
        options = LLMOptions(kind=kind, concurrency=concurrency, timeout=timeout)

        def mark(f: F) -> F:
            setattr(f, LLM_ATTR, options)
            return f

        return mark(func) if func is not None else mark

    decorate.__name__ = kind
    decorate.__doc__ = (
        f"Serve this method as OpenAI's {kind} endpoint: `@{kind}` or"
        f" `@{kind}(concurrency=1, timeout=60)`. concurrency: requests run at once (the"
        " rest wait, counted in `vllm:num_requests_waiting`); timeout: seconds until the"
        " first token (504 after)."
    )
    return decorate


chat = _marker("chat")
completions = _marker("completions")
embeddings = _marker("embeddings")
