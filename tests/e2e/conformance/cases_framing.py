"""Conformance cases of well-formed requests: framing of requests and answers,
persistence, pipelining, 100-continue, large bodies, slow peers.

Every request goes to /svc/... (the backend of backend.py, which sees /...) unless it
says otherwise; `echoed(...)` is the backend's account of the request it received.
"""

from __future__ import annotations

from tests.e2e.conformance import backend, drivers
from tests.e2e.conformance.build import (
    BIG,
    HOST,
    chunks,
    echoed,
    expect,
    get,
    of_pattern,
    ok,
    request,
)
from tests.e2e.conformance.model import CLOSED, Answer, Case

BASICS = [
    Case("get", get("/echo"), expect(echoed())),
    Case(
        "keep-alive-20-sequential",
        get("/echo?n"),
        expect(*[echoed(target="/echo?n")] * 20),
        drive=drivers.one_by_one,
    ),
    Case(
        "query-string",
        get("/echo?a=1&b=two%20words&c=&d"),
        expect(echoed(target="/echo?a=1&b=two%20words&c=&d")),
    ),
    Case(
        "percent-encoding-preserved",
        get("/echo/a%2Fb%20c%3F%25?x=%2F"),
        expect(echoed(target="/echo/a%2Fb%20c%3F%25?x=%2F")),
    ),
    Case(
        "absolute-form",
        request("GET http://gw.test/svc/echo?q=1 HTTP/1.1", HOST),
        expect(echoed(target="/echo?q=1")),
    ),
    Case(
        "leading-empty-line",
        b"\r\n" + get("/echo"),
        expect(echoed()),
    ),
    Case(
        "header-whitespace",
        request("GET /svc/echo HTTP/1.1", "host:gw.test", "X-Spaces:   padded value \t"),
        expect(echoed(sent={"x-spaces": "padded value"})),
    ),
    Case(
        "options-path",
        request("OPTIONS /svc/echo HTTP/1.1", HOST),
        expect(echoed(method="OPTIONS")),
    ),
    Case(
        "patch-with-body",
        request("PATCH /svc/echo HTTP/1.1", HOST, "Content-Length: 5", body=b"patch"),
        expect(echoed(method="PATCH", body="patch")),
    ),
    Case(
        "delete",
        request("DELETE /svc/echo/7 HTTP/1.1", HOST),
        expect(echoed(method="DELETE", target="/echo/7")),
    ),
    Case(
        "target-near-limit",
        get("/echo?" + "t" * 7000),
        expect(echoed(target="/echo?" + "t" * 7000)),
    ),
    Case(
        "90-headers",
        get("/echo", *[f"X-H{i}: {i}" for i in range(90)]),
        expect(echoed(sent={"x-h0": "0", "x-h89": "89"})),
    ),
    Case(
        "headers-near-limit",
        get("/echo", *[f"X-Big-{i}: {'v' * 7000}" for i in range(4)]),
        expect(echoed(sent={f"x-big-{i}": "v" * 7000 for i in range(4)})),
    ),
]

REQUEST_BODIES = [
    Case(
        "post-content-length",
        request("POST /svc/echo HTTP/1.1", HOST, "Content-Length: 11", body=b"hello world"),
        expect(echoed(method="POST", body="hello world")),
    ),
    Case(
        "post-no-body-no-length",
        request("POST /svc/echo HTTP/1.1", HOST),
        expect(echoed(method="POST", body="")),
    ),
    Case(
        "get-with-body",
        request("GET /svc/echo HTTP/1.1", HOST, "Content-Length: 4", body=b"body"),
        expect(echoed(body="body")),
    ),
    Case(
        "post-chunked",
        request(
            "POST /svc/echo HTTP/1.1",
            HOST,
            "Transfer-Encoding: chunked",
            body=b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        ),
        expect(echoed(method="POST", body="hello world")),
    ),
    Case(
        "post-chunked-extensions-trailers",
        request(
            "POST /svc/echo HTTP/1.1",
            HOST,
            "Transfer-Encoding: chunked",
            "Trailer: X-Sum",
            body=b'5;name=value\r\nhello\r\n6;quoted="a;b"\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n',
        ),
        expect(echoed(method="POST", body="hello world")),
    ),
    Case(
        "post-chunked-hex-sizes",
        request(
            "POST /svc/echo HTTP/1.1",
            HOST,
            "Transfer-Encoding: chunked",
            body=b"000B\r\nhello world\r\na\r\n0123456789\r\n0\r\n\r\n",
        ),
        expect(echoed(method="POST", body="hello world0123456789")),
    ),
    Case(
        "upload-10MB-length",
        request("POST /svc/echo HTTP/1.1", HOST, f"Content-Length: {BIG}"),
        expect(of_pattern(BIG)),
        drive=drivers.upload(BIG, chunked=False),
    ),
    Case(
        "upload-10MB-chunked",
        request("POST /svc/echo HTTP/1.1", HOST, "Transfer-Encoding: chunked"),
        expect(of_pattern(BIG)),
        drive=drivers.upload(BIG, chunked=True),
    ),
]

ANSWER_FRAMING = [
    Case("chunked-answer", get("/chunked/5"), expect(ok(chunks(5), "chunked"))),
    Case("chunked-answer-trailers", get("/trailers"), expect(ok(b"first\nsecond\n", "chunked"))),
    Case(
        # A close-delimited answer is re-framed for the client: chunked keeps the
        # connection (RFC 9112 section 7.1).
        "close-delimited-answer",
        get("/eof-body"),
        expect(ok(b"no length, no chunks:\nthe end is the close\n", "chunked")),
    ),
    Case(
        "close-delimited-answer-http10",
        request("GET /svc/eof-body HTTP/1.0"),
        expect(ok(b"no length, no chunks:\nthe end is the close\n", "close"), after=CLOSED),
    ),
    Case(
        "download-10MB-length",
        get(f"/big/{BIG}"),
        expect(ok(backend.pattern(BIG))),
    ),
    Case(
        "download-10MB-chunked",
        get(f"/big-chunked/{BIG}"),
        expect(ok(backend.pattern(BIG), "chunked")),
    ),
    Case(
        "slow-reader",
        get("/big/4000000"),
        expect(ok(backend.pattern(4_000_000))),
        drive=drivers.slow_reader,
    ),
    Case(
        "slow-backend-streamed",
        get("/slow/4?ms=200"),
        expect(ok(b"tick 0\ntick 1\ntick 2\ntick 3\n", "chunked")),
        drive=drivers.streaming(b"tick 0\n"),
    ),
    Case(
        "interim-103-forwarded",
        get("/1xx"),
        expect(ok(b"after the hints\n", interim=(103,))),
        nginx=expect(ok(b"after the hints\n", interim=(103,)), after="hung"),
        why="nginx 1.22 takes an upstream 103 for the final answer and relays the real one "
        "as its unframed body, so the connection hangs after it; RFC 9110 section 15.2: "
        "a proxy MUST forward 1xx answers",
    ),
]

NO_BODY = [
    Case(
        "head",
        request("HEAD /svc/head-able HTTP/1.1", HOST),
        expect(Answer(200, "none", head=True, headers={"content-length": "30"})),
    ),
    Case(
        "head-chunked-resource",
        request("HEAD /svc/chunked/3 HTTP/1.1", HOST),
        expect(Answer(200, "none", head=True)),
    ),
    Case(
        "head-10MB",
        request(f"HEAD /svc/big/{BIG} HTTP/1.1", HOST),
        expect(Answer(200, "none", head=True, headers={"content-length": str(BIG)})),
    ),
    Case("204", get("/204"), expect(Answer(204, "none", headers={"x-answer": "none"}))),
    Case("304", get("/304"), expect(Answer(304, "none", headers={"etag": '"v1"'}))),
    Case(
        "pipelined-head-then-get",
        request("HEAD /svc/big/5000 HTTP/1.1", HOST) + get("/echo?after-head"),
        expect(Answer(200, "none", head=True), echoed(target="/echo?after-head")),
    ),
]

CASES = BASICS + REQUEST_BODIES + ANSWER_FRAMING + NO_BODY
