"""Conformance cases of requests a proxy must refuse, or answer itself, cleanly: one
answer, then a closed connection (where the framing of what follows is unknown), never
an empty reply. Error pages differ (nginx's HTML, the gateway's JSON), so their bodies
are not compared."""

from __future__ import annotations

from tests.e2e.conformance.build import HOST, echoed, expect, get, request
from tests.e2e.conformance.model import CLOSED, EITHER, OPEN, Answer, Case, Expected

CHUNKED = "Transfer-Encoding: chunked"


def refusal(*statuses: int, after: str = CLOSED) -> Expected:
    """One answer with one of `statuses` (any framing that is whole), then `after`."""
    return expect(Answer(frozenset(statuses), None), after=after)


CASES = [
    Case("missing-host-http11", request("GET /svc/echo HTTP/1.1"), refusal(400)),
    Case(
        "duplicate-host", request("GET /svc/echo HTTP/1.1", HOST, "Host: other.test"), refusal(400)
    ),
    Case(
        "http10-without-host",
        request("GET /svc/echo HTTP/1.0"),
        expect(echoed(), after=CLOSED),
    ),
    Case(
        "bad-chunk-size",
        request("POST /svc/echo HTTP/1.1", HOST, CHUNKED, body=b"zz\r\nhello\r\n0\r\n\r\n"),
        refusal(400),
    ),
    Case(
        "unknown-transfer-coding",
        request("POST /svc/echo HTTP/1.1", HOST, "Transfer-Encoding: gzip", body=b"hello"),
        refusal(400, 501),
    ),
    Case(
        "content-length-and-chunked",
        request("POST /svc/echo HTTP/1.1", HOST, "Content-Length: 5", CHUNKED, body=b"0\r\n\r\n"),
        refusal(400),
    ),
    Case(
        "invalid-content-length",
        request("POST /svc/echo HTTP/1.1", HOST, "Content-Length: 5x", body=b"hello"),
        refusal(400),
    ),
    Case("http2-request-line", request("GET /svc/echo HTTP/2.0", HOST), refusal(400, 505)),
    Case(
        # Exactly one answer: the probe after it would show a second one.
        "connect",
        request("CONNECT gw.test:443 HTTP/1.1", "Host: gw.test:443"),
        refusal(400, 405, 501, after=EITHER),
    ),
    Case(
        "header-over-limit",
        get("/echo", f"X-Huge: {'h' * 100_000}"),
        refusal(400, 431),
    ),
    Case(
        "uri-too-long",
        get("/echo?" + "u" * 100_000),
        refusal(414),
    ),
    Case(
        "unknown-method",
        request("FOO /svc/echo HTTP/1.1", HOST),
        expect(echoed(method="FOO")),
        gateway=refusal(501, after=EITHER),
        why="the gateway's parser (httptools) knows the registered methods only, so it "
        "answers 501 Not Implemented (RFC 9110 section 9.1) where nginx relays any token",
    ),
    Case(
        "options-asterisk",
        request("OPTIONS * HTTP/1.1", HOST),
        expect(Answer(frozenset({200, 204, 404}), None), after=OPEN),
        nginx=refusal(400),
        why="nginx 1.22 refuses the asterisk-form that RFC 9112 section 3.2.4 defines for "
        "OPTIONS; the gateway answers it itself, as no service is named",
    ),
    Case(
        "websocket-upgrade",
        get(
            "/echo",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ),
        expect(echoed(sent={"upgrade": None, "connection": None})),
        gateway=refusal(501, after=EITHER),
        why="the gateway refuses upgrades with 501 as its README promises (a replica "
        "behind it cannot take one); nginx without upgrade config drops the hop-by-hop "
        "Upgrade and Connection headers and relays a plain GET",
    ),
]
