"""HTTP/1.x response framing the gateway writes itself: status lines and the Connection
header, which differs between HTTP/1.1 clients (persistent unless told) and HTTP/1.0 ones
(closed unless told; no chunked bodies)."""

from __future__ import annotations

import http

_STATUS_LINES = {
    s.value: b"HTTP/1.1 %d %b\r\n" % (s.value, s.phrase.encode()) for s in http.HTTPStatus
}


def status_line(status: int) -> bytes:
    return _STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status


def connection_line(*, close: bool, http10: bool) -> bytes:
    """The Connection header an answer needs, or nothing when the default is right."""
    if close:
        return b"connection: close\r\n"
    return b"connection: keep-alive\r\n" if http10 else b""
