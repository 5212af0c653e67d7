"""The OpenAI request shapes a service's LLM handlers receive, as pydantic models.

Fields the handlers or the runtime use are typed and validated (a wrong type is a 400 that
names the field, as OpenAI answers); fields no handler here understands (tools, logprobs,
vendor extensions sent with the client's `extra_body`) are kept in `model_extra`, as vLLM
keeps them, so a client that sends them still works.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class TextPart(BaseModel):
    """One part of a message's content (`{"type": "text", "text": ...}`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    text: str = ""


class ChatMessage(BaseModel):
    """One message of a conversation."""

    model_config = ConfigDict(extra="allow", frozen=True)

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        """The content as one string (text parts joined, other parts left out)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if part.type == "text")


class StreamOptions(BaseModel):
    """`stream_options`: `include_usage` adds a last chunk carrying `usage`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    include_usage: bool = False


Stop = str | Annotated[list[str], Field(max_length=4)] | None


class _Sampling(_Request):
    """What chat completions and completions share."""

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    n: Literal[1] = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: Stop = None
    seed: int | None = None
    user: str | None = None

    @property
    def stops(self) -> tuple[str, ...]:
        """The stop strings as a tuple (empty strings dropped)."""
        found = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return tuple(s for s in found if s)

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class ChatRequest(_Sampling):
    """`POST /v1/chat/completions`."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)

    @property
    def token_limit(self) -> int | None:
        """`max_completion_tokens` (the newer name) or `max_tokens`."""
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    """`POST /v1/completions` (one prompt per request)."""

    prompt: str | list[int] = Field(min_length=1)
    max_tokens: int | None = Field(16, ge=1)  # OpenAI's default for this endpoint
    echo: bool = False

    @property
    def token_limit(self) -> int | None:
        return self.max_tokens


EmbeddingInput = str | list[str] | list[int] | list[list[int]]


class EmbeddingRequest(_Request):
    """`POST /v1/embeddings`."""

    model: str = Field(min_length=1)
    input: EmbeddingInput
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None

    @property
    def inputs(self) -> list[str] | list[list[int]]:
        """The input as a list: texts, or token id lists."""
        value: Any = self.input
        if isinstance(value, str):
            return [value]
        if value and isinstance(value[0], int):
            return [value]
        return list(value)


REQUESTS: dict[str, type[_Request]] = {
    "chat": ChatRequest,
    "completions": CompletionRequest,
    "embeddings": EmbeddingRequest,
}
