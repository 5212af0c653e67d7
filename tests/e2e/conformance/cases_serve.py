"""Conformance cases against a real replica: `crosscloud serve examples/echo/service.py:Echo`
behind both proxies as the service `echo` (so /echo/echo reaches its `echo` endpoint)."""

from __future__ import annotations

from tests.e2e.conformance import drivers
from tests.e2e.conformance.build import HOST, expect, ok, request
from tests.e2e.conformance.model import CLOSED, Answer, Case

BODY = b'{"text": "hi"}'
JSON = "Content-Type: application/json"
SAID = ok(b'"hi"')


def post(*headers: str, version: str = "1.1", body: bytes = BODY) -> bytes:
    length = f"Content-Length: {len(body)}"
    return request(f"POST /echo/echo HTTP/{version}", HOST, JSON, length, *headers, body=body)


CASES = [
    Case("serve-post", post(), expect(SAID)),
    Case(
        "serve-connection-close-20-sequential",
        post("Connection: close"),
        expect(*[SAID] * 20, after=CLOSED),
        drive=drivers.fresh_connections,
    ),
    Case(
        "serve-connection-close-8-concurrent",
        post("Connection: close"),
        expect(*[SAID] * 8, after=CLOSED),
        drive=drivers.concurrent,
    ),
    Case("serve-http10", post(version="1.0"), expect(SAID, after=CLOSED)),
    Case(
        "serve-chunked-body",
        request(
            "POST /echo/echo HTTP/1.1",
            HOST,
            JSON,
            "Transfer-Encoding: chunked",
            body=b'6\r\n{"text\r\n8\r\n": "hi"}\r\n0\r\n\r\n',
        ),
        expect(SAID),
    ),
    Case("serve-pipelined-3", post() * 3, expect(SAID, SAID, SAID)),
    Case(
        "serve-validation-error",
        post(body=b'{"txt": "hi"}'),
        expect(Answer(422, "length")),
    ),
]
