"""The OpenAI wire shapes of the mock engine (mock_llm.py): its prompt, its answers whole
or streamed as server-sent events, and OpenAI-shaped errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def prompt_of(body: dict[str, Any]) -> bytes:
    """The templated prompt: every message's role and content, or the prompt."""
    messages = body.get("messages")
    if isinstance(messages, list):
        return "".join(
            f"<|{m.get('role', '')}|>{m.get('content', '')}"
            for m in messages
            if isinstance(m, dict)
        ).encode()
    prompt = body.get("prompt", "")
    return (prompt if isinstance(prompt, str) else str(prompt)).encode()


def error(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> tuple[int, bytes]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return status, orjson.dumps(body)


class Reply:
    """The OpenAI shapes of one answer."""

    def __init__(self, send: Send, *, model: str, chat: bool) -> None:
        self.send, self.model, self.chat = send, model, chat
        self.id = f"cmpl-{id(self):x}"
        self.kind = "chat.completion" if chat else "text_completion"

    def _choice(self, text: str, finish: str | None, *, delta: bool) -> dict[str, Any]:
        if not self.chat:
            return {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
        key = "delta" if delta else "message"
        return {"index": 0, key: {"role": "assistant", "content": text}, "finish_reason": finish}

    def _event(self, obj: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        kind = self.kind + (".chunk" if self.chat else "")
        return self._event(
            {
                "id": self.id,
                "object": kind,
                "created": 0,
                "model": self.model,
                "choices": choices,
                **extra,
            }
        )

    async def stream(self, tokens: int, rate: float) -> None:
        await self.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for i in range(tokens):
            finish = "length" if i == tokens - 1 else None
            data = self._chunk([self._choice(f"t{i} ", finish, delta=True)])
            await self.send({"type": "http.response.body", "body": data, "more_body": True})
            if i < tokens - 1:
                await asyncio.sleep(1 / rate)

    async def end_stream(self, usage: dict[str, Any] | None) -> None:
        tail = self._chunk([], usage=usage) if usage is not None else b""
        await self.send({"type": "http.response.body", "body": tail + b"data: [DONE]\n\n"})

    async def whole(self, tokens: int, usage: dict[str, Any]) -> None:
        text = "".join(f"t{i} " for i in range(tokens))
        body = {
            "id": self.id,
            "object": self.kind,
            "created": 0,
            "model": self.model,
            "choices": [self._choice(text, "length", delta=False)],
            "usage": usage,
        }
        await reply(self.send, 200, orjson.dumps(body))


async def reply(
    send: Send, status: int, body: bytes, content_type: bytes = b"application/json"
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
