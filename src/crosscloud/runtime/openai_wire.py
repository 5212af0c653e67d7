"""OpenAI's wire format, as bytes: response bodies, stream chunks, server-sent events and
the `{"error": {"message", "type", "param", "code"}}` shape. Pure functions of their
arguments (ids and times are passed in)."""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

import pydantic

from crosscloud.runtime import asgi

Head = Mapping[str, Any]  # id, created, model: what every body and chunk of one answer shares
DONE = b"data: [DONE]\n\n"
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # proxies that buffer by default (nginx) pass it at once
]
#: The OpenAI error type of each status the runtime answers with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    500: "server_error",
    503: "service_unavailable",
    504: "timeout",
}


def error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> bytes:
    """The body of an OpenAI-shaped error."""
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return asgi.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})


def validation_problem(exc: pydantic.ValidationError) -> tuple[str, str | None]:
    """(message, param) for a request that does not match its schema, as OpenAI words it."""
    problems = exc.errors(include_url=False, include_input=False)
    first = problems[0]
    if first["type"] == "json_invalid":
        return f"We could not parse the JSON body of your request: {first['msg']}", None
    param = _param(first["loc"])
    extra = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"Invalid value for '{param}': {first['msg']}{extra}", param


def _param(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not path:
            path = part
        elif not part[:1].islower() and "[" in part:  # a union branch's name: skip it
            continue
        else:
            path += f".{part}"
    return path or "body"


def sse(payload: Any) -> bytes:
    return b"data: " + asgi.dumps(payload) + b"\n\n"


def usage(prompt: int, completion: int, cached: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def chat_body(head: Head, *, text: str, finish: str, use: dict[str, Any]) -> dict[str, Any]:
    """A whole chat completion; `head` holds its `id`, `created` and `model`."""
    message = {"role": "assistant", "content": text}
    choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    return {**head, "object": "chat.completion", "choices": [choice], "usage": use}


def completion_body(head: Head, *, text: str, finish: str, use: dict[str, Any]) -> dict[str, Any]:
    choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
    return {**head, "object": "text_completion", "choices": [choice], "usage": use}


def chat_chunk(head: Head, *, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
    return {**head, "object": "chat.completion.chunk", "choices": [choice]}


def completion_chunk(head: Head, *, text: str, finish: str | None) -> dict[str, Any]:
    choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
    return {**head, "object": "text_completion", "choices": [choice]}


def usage_chunk(head: Head, *, obj: str, use: dict[str, Any]) -> dict[str, Any]:
    """The last chunk when `stream_options.include_usage`: no choices, the usage."""
    return {**head, "object": obj, "choices": [], "usage": use}


def embedding_body(
    *, model: str, vectors: list[list[float]], prompt_tokens: int, base64_floats: bool
) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(v, base64_floats)}
        for i, v in enumerate(vectors)
    ]
    use = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return {"object": "list", "data": data, "model": model, "usage": use}


def _encode(vector: list[float], as_base64: bool) -> list[float] | str:
    if not as_base64:
        return vector
    # What OpenAI sends for encoding_format=base64: little-endian float32s.
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def models_body(models: tuple[str, ...], *, created: int) -> dict[str, Any]:
    data = [
        {"id": m, "object": "model", "created": created, "owned_by": "crosscloud"} for m in models
    ]
    return {"object": "list", "data": data}
