"""Request smuggling and malformed heads: each is refused with a 4xx and a close, and the
backend behind the gateway never receives a request the client did not send as one.

Every case carries a second request inside it (in a body, or after an ambiguous end of
one): a gateway that frames it differently from a lenient backend (recorder.py: chunked
wins, the first Content-Length counts) shows up in the backend's log as a request that
was never sent. RFC 9112 sections are named where a case comes from.
"""

from __future__ import annotations

import pytest

from tests.e2e.hostile import raw
from tests.e2e.hostile.conftest import Backend, Gateway

pytestmark = pytest.mark.timeout(30)

INNER = b"GET /guarded/smuggled HTTP/1.1\r\nHost: guarded.test\r\n\r\n"
CHUNKED_INNER = b"0\r\n\r\n" + INNER
BAD = (400,)
#: An unknown transfer coding may get 501 (RFC 9112 6.1; nginx answers 501 too).
BAD_CODING = (400, 501)


def _post(headers: bytes, body: bytes, *, path: bytes = b"/open/post") -> bytes:
    return b"POST %b HTTP/1.1\r\nHost: open.test\r\n%b\r\n%b" % (path, headers, body)


def _cl(n: int | bytes) -> bytes:
    return b"Content-Length: %b\r\n" % (str(n).encode() if isinstance(n, int) else n)


TE = b"Transfer-Encoding: chunked\r\n"

CASES: list[tuple[str, bytes, tuple[int, ...]]] = [
    # 6.3: Content-Length with Transfer-Encoding (a proxy must not forward both).
    ("cl-then-te", _post(_cl(len(CHUNKED_INNER)) + TE, CHUNKED_INNER), BAD),
    ("te-then-cl", _post(TE + _cl(len(CHUNKED_INNER)), CHUNKED_INNER), BAD),
    ("cl-te-short-cl", _post(_cl(3) + TE, CHUNKED_INNER), BAD),
    (
        "cl-te-tab",
        _post(_cl(len(CHUNKED_INNER)) + b"Transfer-Encoding:\tchunked\r\n", CHUNKED_INNER),
        BAD,
    ),
    # 6.3: several Content-Lengths, the same or different.
    ("two-cl-same", _post(_cl(5) + _cl(5), b"hello"), BAD),
    ("two-cl-different", _post(_cl(5) + _cl(5 + len(INNER)), b"hello" + INNER), BAD),
    ("cl-list-different", _post(_cl(b"5, %d" % (5 + len(INNER))), b"hello" + INNER), BAD),
    # 6.1: chunked must be the final coding, applied once; other codings are unknown here.
    (
        "te-chunked-identity",
        _post(b"Transfer-Encoding: chunked, identity\r\n", CHUNKED_INNER),
        BAD_CODING,
    ),
    ("te-identity", _post(b"Transfer-Encoding: identity\r\n", INNER), BAD_CODING),
    (
        "te-identity-chunked-headers",
        _post(b"Transfer-Encoding: identity\r\n" + TE, CHUNKED_INNER),
        BAD_CODING,
    ),
    (
        "te-chunked-chunked",
        _post(b"Transfer-Encoding: chunked, chunked\r\n", CHUNKED_INNER),
        BAD_CODING,
    ),
    ("te-twice", _post(TE + TE, CHUNKED_INNER), BAD_CODING),
    ("te-xchunked", _post(b"Transfer-Encoding: xchunked\r\n", INNER), BAD_CODING),
    ("te-gzip", _post(b"Transfer-Encoding: gzip\r\n", INNER), BAD_CODING),
    ("te-vertical-tab", _post(b"Transfer-Encoding:\x0bchunked\r\n", CHUNKED_INNER), BAD_CODING),
    ("te-nul", _post(b"Transfer-Encoding: chunked\x00\r\n", CHUNKED_INNER), BAD),
    # 5.1: no whitespace between a field name and its colon.
    ("te-space-before-colon", _post(b"Transfer-Encoding : chunked\r\n", CHUNKED_INNER), BAD),
    ("cl-space-before-colon", _post(b"Content-Length : 5\r\n", b"hello" + INNER), BAD),
    ("te-tab-before-colon", _post(b"Transfer-Encoding\t: chunked\r\n", CHUNKED_INNER), BAD),
    # 5.2: obs-fold (a field line continued on the next one).
    (
        "te-obs-fold",
        _post(_cl(len(CHUNKED_INNER)) + b"Transfer-Encoding:\r\n chunked\r\n", CHUNKED_INNER),
        BAD,
    ),
    ("obs-fold-tab", _post(b"X-Long: a\r\n\tb\r\n" + _cl(5), b"hello"), BAD),
    ("obs-fold-space", _post(b"X-Long: a\r\n b\r\n" + _cl(5), b"hello"), BAD),
    (
        "space-before-first-header",
        b"POST /open/post HTTP/1.1\r\n X-A: b\r\nHost: open.test\r\n" + _cl(5) + b"\r\nhello",
        BAD,
    ),
    # 2.2: bare LF as a line end (the brief: refuse; nginx would accept).
    (
        "bare-lf-everywhere",
        b"POST /open/post HTTP/1.1\nHost: open.test\n" + b"Content-Length: 5\n\nhello" + INNER,
        BAD,
    ),
    (
        "bare-lf-one-header",
        b"POST /open/post HTTP/1.1\r\nHost: open.test\nContent-Length: 5\r\n\r\nhello",
        BAD,
    ),
    (
        "bare-lf-end-of-head",
        b"POST /open/post HTTP/1.1\r\nHost: open.test\r\nContent-Length: 5\r\n\nhello",
        BAD,
    ),
    ("bare-cr-line-end", b"GET /open/get HTTP/1.1\rHost: open.test\r\n\r\n", BAD),
    # 5.5: NUL, CR and LF never belong in a head.
    ("nul-in-value", _post(b"X-A: a\x00b\r\n" + _cl(5), b"hello"), BAD),
    ("nul-in-name", _post(b"X-\x00A: b\r\n" + _cl(5), b"hello"), BAD),
    ("nul-in-target", b"GET /open/a\x00b HTTP/1.1\r\nHost: open.test\r\n\r\n", BAD),
    ("nul-in-method", b"G\x00ET /open/a HTTP/1.1\r\nHost: open.test\r\n\r\n", BAD),
    ("cr-in-value", _post(b"X-A: a\rX-Injected: 1\r\n" + _cl(5), b"hello"), BAD),
    ("lf-in-value", _post(b"X-A: a\nContent-Length: 99\r\n" + _cl(5), b"hello"), BAD),
    ("cr-in-host", b"GET /open/a HTTP/1.1\r\nHost: open.test\rguarded.test\r\n\r\n", BAD),
    # 6.3 / 8.6: Content-Length is 1*DIGIT.
    ("cl-negative", _post(_cl(b"-5"), b"hello" + INNER), BAD),
    ("cl-hex", _post(_cl(b"0x5"), b"hello" + INNER), BAD),
    ("cl-plus", _post(_cl(b"+5"), b"hello" + INNER), BAD),
    ("cl-space-inside", _post(_cl(b"5 5"), b"hello" + INNER), BAD),
    ("cl-empty", _post(_cl(b""), INNER), BAD),
    ("cl-letters", _post(_cl(b"5a"), b"hello" + INNER), BAD),
    ("cl-overflow", _post(_cl(b"18446744073709551621"), b"hello" + INNER), (400, 413)),
    # 3: the request line.
    ("space-in-target", b"GET /open/a " + INNER[4:], BAD),
    ("tab-in-target", b"GET /open/a\tb HTTP/1.1\r\nHost: open.test\r\n\r\n", BAD),
    ("lowercase-version", b"GET /open/a http/1.1\r\nHost: open.test\r\n\r\n", BAD),
    ("no-version", b"GET /open/a\r\nHost: open.test\r\n\r\n", (400, 505)),
    ("space-in-header-name", _post(b"X A: b\r\n" + _cl(5), b"hello"), BAD),
    ("header-without-colon", _post(b"X-A\r\n" + _cl(5), b"hello"), BAD),
    ("empty-header-name", _post(b": b\r\n" + _cl(5), b"hello"), BAD),
]

#: Broken chunked framing, found after the head: the gateway may have started to forward
#: the request, but the backend must never see it completed nor anything after it.
BODY_CASES: list[tuple[str, bytes, tuple[int, ...]]] = [
    ("chunk-size-not-hex", _post(TE, b"zz\r\nhello\r\n0\r\n\r\n" + INNER), BAD),
    ("chunk-size-plus", _post(TE, b"+5\r\nhello\r\n0\r\n\r\n" + INNER), BAD),
    ("chunk-size-0x", _post(TE, b"0x5\r\nhello\r\n0\r\n\r\n" + INNER), BAD),
    ("chunk-size-negative", _post(TE, b"-5\r\nhello\r\n0\r\n\r\n" + INNER), BAD),
    (
        "chunk-size-overflow",
        _post(TE, b"1" + b"0" * 20 + b"\r\nhello\r\n0\r\n\r\n" + INNER),
        (400, 413),
    ),
    ("chunk-data-longer", _post(TE, b"3\r\nhello\r\n0\r\n\r\n" + INNER), BAD),
    ("chunk-bare-lf", _post(TE, b"5\nhello\n0\n\n" + INNER), BAD),
    ("chunk-ext-with-lf", _post(TE, b"5;a=\nb\r\nhello\r\n0\r\n\r\n" + INNER), BAD),
    ("chunk-data-no-crlf", _post(TE, b"5\r\nhelloXX0\r\n\r\n" + INNER), BAD),
]


def _refused(
    gateway: Gateway, backend: Backend, data: bytes, statuses: tuple[int, ...]
) -> list[dict[str, object]]:
    """Send `data`, check the refusal and the close; what the backend logged meanwhile."""
    mark = backend.mark()
    resp, rest, closed = raw.request(gateway.port, data)
    seen = backend.between(mark, gateway.port)
    assert resp is not None, f"no answer at all (closed={closed}); the backend saw {seen}"
    assert resp.status in statuses, f"answered {resp.status} {resp.reason!r}: {resp.body!r}"
    assert closed, "the connection stayed open after the refusal"
    assert rest == b"", f"a second answer followed the refusal: {rest[:300]!r}"
    assert gateway.alive()
    return seen


@pytest.mark.parametrize(("data", "statuses"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_head_is_refused_and_never_forwarded(
    gateway: Gateway, backend: Backend, data: bytes, statuses: tuple[int, ...]
) -> None:
    seen = _refused(gateway, backend, data, statuses)
    assert seen == [], f"the backend received something: {seen}"


@pytest.mark.parametrize(
    ("data", "statuses"), [c[1:] for c in BODY_CASES], ids=[c[0] for c in BODY_CASES]
)
def test_broken_chunked_body_never_completes_upstream(
    gateway: Gateway, backend: Backend, data: bytes, statuses: tuple[int, ...]
) -> None:
    seen = _refused(gateway, backend, data, statuses)
    complete = [e for e in seen if "incomplete" not in e]
    assert complete == [], f"the backend received a request (or garbage) from it: {complete}"


VALID = [
    # Controls: the harness sees a request that is forwarded, and its body.
    ("content-length", _post(_cl(len(INNER)), INNER), INNER),
    ("chunked", _post(TE, b"%x\r\n%b\r\n0\r\n\r\n" % (len(INNER), INNER)), INNER),
    (
        "chunked-uppercase",
        _post(b"Transfer-Encoding: CHUNKED\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
        b"hello",
    ),
    ("chunked-ext-trailer", _post(TE, b"5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), b"hello"),
    (
        "te-leading-tab-ows",
        _post(b"Transfer-Encoding:\tchunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
        b"hello",
    ),
]


@pytest.mark.parametrize(("data", "body"), [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_framing_reaches_the_backend_as_one_request(
    gateway: Gateway, backend: Backend, data: bytes, body: bytes
) -> None:
    mark = backend.mark()
    with raw.Conn(gateway.port) as conn:
        conn.send(data)
        resp = conn.response()
    assert resp.status == 200, resp
    seen = backend.between(mark, gateway.port)
    # Host: open.test routes by Host, which keeps the whole path (config.py).
    assert [(e["method"], e["target"], e["body"]) for e in seen] == [
        ("POST", "/open/post", body.decode("latin-1"))
    ]
    assert seen[0]["port"] == backend.open_port


#: RFC 9112 3 lets a recipient parse the request line on whitespace boundaries: refusing
#: is fine, and so is forwarding exactly the one request, in normal form.
TOLERATED = [
    (
        "double-space-in-request-line",
        b"GET  /open/a HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n",
    ),
    (
        "trailing-space-in-request-line",
        b"GET /open/a  HTTP/1.1\r\nHost: open.test\r\nConnection: close\r\n\r\n",
    ),
]


@pytest.mark.parametrize("data", [c[1] for c in TOLERATED], ids=[c[0] for c in TOLERATED])
def test_lenient_request_line_is_refused_or_forwarded_in_normal_form(
    gateway: Gateway, backend: Backend, data: bytes
) -> None:
    mark = backend.mark()
    resp, _, _ = raw.request(gateway.port, data, timeout=2)
    seen = backend.between(mark, gateway.port)
    assert resp is not None
    if resp.status == 400:
        assert seen == []
    else:
        assert resp.status == 200
        assert [(e["method"], e["target"], e["version"]) for e in seen] == [
            ("GET", "/open/a", "HTTP/1.1")
        ]
