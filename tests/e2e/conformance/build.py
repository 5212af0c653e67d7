"""Short ways to write the bytes of a request and the answers expected back, for the
case tables (cases_*.py)."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.e2e.conformance import backend
from tests.e2e.conformance.model import OPEN, Answer, Expected

HOST = "Host: gw.test"
BIG = 10_000_000


def request(line: str, *headers: str, body: bytes = b"") -> bytes:
    """The request line, the header lines and an empty line, CRLF-ended, then `body`."""
    return "".join(f"{x}\r\n" for x in (line, *headers, "")).encode("latin-1") + body


def get(target: str, *headers: str) -> bytes:
    return request(f"GET /svc{target} HTTP/1.1", HOST, *headers)


def echoed(
    *, method: str = "GET", target: str = "/echo", body: str | None = None, **more: Any
) -> Answer:
    """The backend's echo of a request that reached it as `method target` with `body`."""
    echo: dict[str, Any] = {"method": method, "target": target}
    if body is not None:
        echo["body"] = body
    return Answer(200, "length", echo=echo, **more)


def of_pattern(size: int) -> Answer:
    """The echo of an upload of `backend.pattern(size)`."""
    digest = hashlib.sha256(backend.pattern(size)).hexdigest()
    return Answer(200, "length", echo={"method": "POST", "length": size, "sha256": digest})


def ok(body: bytes, framing: str = "length", **more: Any) -> Answer:
    return Answer(200, framing, body=body, **more)


def chunks(n: int) -> bytes:
    return b"".join(b"chunk %d\n" % i for i in range(n))


def expect(*answers: Answer, after: str = OPEN) -> Expected:
    return Expected(answers, after)
