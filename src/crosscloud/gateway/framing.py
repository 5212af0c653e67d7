"""HTTP/1.x response framing the gateway writes itself: status lines, the Connection
header (which differs between HTTP/1.1 clients, persistent unless told, and HTTP/1.0 ones,
closed unless told and without chunked bodies), and whole answers of its own."""

from __future__ import annotations

import functools
import http
import json

_STATUS_LINES = {
    s.value: b"HTTP/1.1 %d %b\r\n" % (s.value, s.phrase.encode()) for s in http.HTTPStatus
}

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def status_line(status: int) -> bytes:
    return _STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status


def connection_line(*, close: bool, http10: bool) -> bytes:
    """The Connection header an answer needs, or nothing when the default is right."""
    if close:
        return b"connection: close\r\n"
    return b"connection: keep-alive\r\n" if http10 else b""


def response_bytes(
    status: int,
    body: bytes,
    *,
    content_type: bytes = b"application/json",
    close: bool = False,
    http10: bool = False,
) -> bytes:
    head = status_line(status) + b"content-type: %b\r\ncontent-length: %d\r\n" % (
        content_type,
        len(body),
    )
    return head + connection_line(close=close, http10=http10) + b"\r\n" + body


def error_bytes(status: int, message: str, *, close: bool, http10: bool = False) -> bytes:
    """The gateway's own error answer: JSON `{error, detail}`, as every HTTP layer here."""
    phrase = status_line(status)[13:-2].decode()
    body = json.dumps({"error": phrase, "detail": message}).encode()
    return response_bytes(status, body, close=close, http10=http10)


@functools.lru_cache(maxsize=256)
def too_many_bytes(message: str, retry_after: int, *, openai: bool, http10: bool = False) -> bytes:
    """429 with Retry-After: OpenAI's error object on its API's paths (`/v1/...`, what its
    clients parse and back off on), the gateway's `{error, detail}` elsewhere. Cached: a
    token far past its quota gets the same few answers many times a second."""
    if openai:
        error = {"message": message, "type": "requests", "param": None}
        body = json.dumps({"error": {**error, "code": "rate_limit_exceeded"}}).encode()
    else:
        body = json.dumps({"error": "Too Many Requests", "detail": message}).encode()
    head = status_line(429) + b"content-type: application/json\r\ncontent-length: %d\r\n" % len(
        body
    )
    head += b"retry-after: %d\r\n" % retry_after
    return head + connection_line(close=False, http10=http10) + b"\r\n" + body
