"""Conformance cases of connection handling: `Connection: close` (one, sequential,
concurrent), HTTP/1.0 with and without keep-alive, pipelining, `Expect: 100-continue`,
and a backend that closes its connection, properly or in the middle of an answer."""

from __future__ import annotations

from tests.e2e.conformance import drivers
from tests.e2e.conformance.build import HOST, chunks, echoed, expect, get, ok, request
from tests.e2e.conformance.model import CLOSED, EITHER, Answer, Case

CLOSE = "Connection: close"
POST_5 = ("POST /svc/echo HTTP/1.1", HOST, "Content-Length: 5")

CONNECTION_CLOSE = [
    Case("connection-close", get("/echo", CLOSE), expect(echoed(), after=CLOSED)),
    Case(
        "connection-close-10-sequential",
        get("/echo", CLOSE),
        expect(*[echoed()] * 10, after=CLOSED),
        drive=drivers.fresh_connections,
    ),
    Case(
        "connection-close-8-concurrent",
        get("/echo", CLOSE),
        expect(*[echoed()] * 8, after=CLOSED),
        drive=drivers.concurrent,
    ),
    Case(
        "connection-close-post",
        request(*POST_5, CLOSE, body=b"hello"),
        expect(echoed(method="POST", body="hello"), after=CLOSED),
    ),
    Case(
        "connection-close-chunked-answer",
        get("/chunked/3", CLOSE),
        expect(ok(chunks(3), "chunked"), after=CLOSED),
    ),
    Case(
        "connection-close-10MB-answer",
        get("/big/10000000", CLOSE),
        expect(Answer(200, "length", headers={"content-length": "10000000"}), after=CLOSED),
    ),
]

HTTP10 = [
    Case("http10", request("GET /svc/echo HTTP/1.0"), expect(echoed(), after=CLOSED)),
    Case(
        "http10-keep-alive",
        request("GET /svc/echo HTTP/1.0", "Connection: keep-alive"),
        expect(echoed(headers={"connection": "keep-alive"})),
    ),
    Case(
        "http10-keep-alive-twice",
        request("GET /svc/echo?1 HTTP/1.0", "Connection: keep-alive")
        + request("GET /svc/echo?2 HTTP/1.0", "Connection: keep-alive"),
        expect(echoed(target="/echo?1"), echoed(target="/echo?2")),
    ),
    Case(
        # No chunked coding for a 1.0 client: the end of the body is the close.
        "http10-keep-alive-chunked-backend",
        request("GET /svc/chunked/3 HTTP/1.0", "Connection: keep-alive"),
        expect(ok(chunks(3), "close"), after=CLOSED),
    ),
    Case(
        "http10-post",
        request("POST /svc/echo HTTP/1.0", "Content-Length: 5", body=b"hello"),
        expect(echoed(method="POST", body="hello"), after=CLOSED),
    ),
]

PIPELINED = [
    Case(
        "pipelined-3",
        get("/echo?1") + get("/echo?2") + get("/echo?3"),
        expect(echoed(target="/echo?1"), echoed(target="/echo?2"), echoed(target="/echo?3")),
    ),
    Case(
        "pipelined-with-bodies",
        get("/echo?1")
        + request(*POST_5, body=b"abcde")
        + request(
            "POST /svc/echo HTTP/1.1",
            HOST,
            "Transfer-Encoding: chunked",
            body=b"2\r\nfg\r\n0\r\n\r\n",
        )
        + get("/echo?4"),
        expect(
            echoed(target="/echo?1"),
            echoed(method="POST", body="abcde"),
            echoed(method="POST", body="fg"),
            echoed(target="/echo?4"),
        ),
    ),
    Case(
        "pipelined-mixed-answers",
        get("/chunked/2") + get("/big/5000") + get("/204") + get("/eof-body") + get("/echo"),
        expect(
            ok(chunks(2), "chunked"),
            Answer(200, "length", headers={"content-length": "5000"}),
            Answer(204, "none"),
            ok(b"no length, no chunks:\nthe end is the close\n", "chunked"),
            echoed(),
        ),
    ),
    Case(
        # The third request comes after `Connection: close`: it must not be answered.
        "pipelined-close-in-the-middle",
        get("/echo?1") + get("/echo?2", CLOSE) + get("/echo?3"),
        expect(echoed(target="/echo?1"), echoed(target="/echo?2"), after=CLOSED),
    ),
]

EXPECT_CONTINUE = [
    Case(
        "expect-100-continue",
        request(*POST_5, "Expect: 100-continue"),
        expect(echoed(method="POST", body="hello", interim=(100,))),
        drive=drivers.expect_continue(b"hello"),
    ),
    Case(
        "expect-100-continue-pipelined",
        get("/echo?first") + request(*POST_5, "Expect: 100-continue"),
        expect(echoed(target="/echo?first"), echoed(method="POST", body="hello", interim=(100,))),
        drive=drivers.expect_continue(b"hello"),
    ),
    Case(
        # The client may send the body without waiting; a 100 may come or not.
        "expect-100-continue-body-at-once",
        request(*POST_5, "Expect: 100-continue", body=b"hello"),
        expect(echoed(method="POST", body="hello", interim=None)),
    ),
]

BACKEND_CLOSES = [
    Case(
        # The backend's `Connection: close` is about its own hop, not the client's.
        "backend-connection-close",
        get("/close"),
        expect(ok(b"closing after this\n")),
    ),
    Case(
        "backend-connection-close-pipelined",
        get("/close") + get("/close") + get("/echo"),
        expect(ok(b"closing after this\n"), ok(b"closing after this\n"), echoed()),
    ),
    Case(
        # The client must see a broken answer, never a short one that looks complete.
        "backend-dies-mid-chunked",
        get("/die-mid-chunked"),
        expect(ok(b"line 1 of 40\nline 2 of 40\n", "broken"), after=CLOSED),
    ),
    Case(
        "backend-dies-mid-length",
        get("/die-mid-length"),
        expect(Answer(502, None), after=EITHER),
        nginx=expect(ok(b"x" * 100, "broken"), after=CLOSED),
        why="the gateway holds an answer with a Content-Length back until it is whole (up to "
        "64 KiB), so a replica that dies in its middle is retried elsewhere, and with no other "
        "replica the client gets a whole 502; nginx has sent the head and can only cut it off",
    ),
    Case(
        # Past what the gateway holds back (64 KiB) the answer streams: cut off, it breaks.
        "backend-dies-mid-long-length",
        get("/die-mid-length/200000"),
        expect(ok(b"x" * 200000, "broken"), after=CLOSED),
    ),
    Case(
        # RFC 9112 section 6.3: differing Content-Lengths from upstream -> 502.
        "backend-invalid-content-length",
        get("/bad-response"),
        expect(Answer(502, None), after=EITHER),
        nginx=expect(ok(b"hello", "broken"), after=CLOSED),
        why="nginx 1.22 relays an upstream answer with two different Content-Lengths "
        "(the last one) where RFC 9112 section 6.3 asks a proxy for 502",
    ),
    Case(
        # A replica refusing a large upload before reading it (its 16 MiB limit).
        "backend-413-before-reading-upload",
        request("POST /svc/413-early HTTP/1.1", HOST, "Content-Length: 20000000"),
        expect(Answer(413, "length", body=b"body over this replica's limit\n"), after=EITHER),
        drive=drivers.answered_early(20_000_000),
    ),
]

CASES = CONNECTION_CLOSE + HTTP10 + PIPELINED + EXPECT_CONTINUE + BACKEND_CLOSES
