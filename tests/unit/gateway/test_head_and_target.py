"""Tables for the request-head checks (gateway/head.py) and the request-target
normalization (gateway/target.py) that the router and the token check rely on."""

from __future__ import annotations

import dataclasses

import pytest

from crosscloud.gateway import config as gwconfig
from crosscloud.gateway import head, target

LIMITS = gwconfig.Limits()


def _facts(**changes: object) -> head.HeadFacts:
    base = head.HeadFacts(
        version="1.1",
        method=b"POST",
        hosts=1,
        upgrade=None,
        transfer_encoding=None,
        headers=3,
        header_bytes=200,
        content_length=10,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, None),
        ({"version": "1.0", "hosts": 0}, None),  # HTTP/1.0 needs no Host
        ({"hosts": 0}, 400),
        ({"hosts": 2}, 400),
        ({"version": "2.0"}, 505),
        ({"version": "0.9"}, 505),
        ({"method": b"CONNECT"}, 501),
        ({"upgrade": b"websocket"}, 501),
        ({"upgrade": b"WebSocket"}, 501),
        ({"upgrade": b"h2c"}, None),  # an upgrade a server may ignore (RFC 9110 7.8)
        ({"transfer_encoding": b"chunked"}, None),
        ({"transfer_encoding": b"gzip"}, 400),  # chunked not last: length unknown
        ({"transfer_encoding": b"chunked, identity"}, 400),
        ({"transfer_encoding": b"gzip, chunked"}, 501),
        ({"transfer_encoding": b"chunked, chunked"}, 501),
        ({"headers": 101}, 431),
        ({"header_bytes": 32 * 1024 + 1}, 431),
        ({"content_length": 64 * 1024 * 1024 + 1}, 413),
        ({"content_length": 64 * 1024 * 1024}, None),
    ],
)
def test_refusal(changes: dict[str, object], status: int | None) -> None:
    found = head.refusal(_facts(**changes), LIMITS)
    assert (found[0] if found else None) == status, found


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (b"/svc/echo", b"/svc/echo"),
        (b"/svc/echo?x=/../y", b"/svc/echo?x=/../y"),  # the query is not a path
        (b"/open/../guarded/x", b"/guarded/x"),
        (b"/open/%2e%2e/guarded/x", b"/guarded/x"),
        (b"/open/%2E%2e/guarded/x", b"/guarded/x"),
        (b"//guarded/x", b"/guarded/x"),
        (b"/a//b///c", b"/a/b/c"),
        (b"/a/./b/.", b"/a/b/"),
        (b"/../../x", b"/x"),  # never above the root
        (b"/a/..", b"/"),
        (b"/open%2fguarded/x", b"/open%2fguarded/x"),  # an encoded slash stays in its segment
        (b"/", b"/"),
    ],
)
def test_normalize(url: bytes, expected: bytes) -> None:
    assert target.normalize(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (b"/x", (b"/x", b"")),
        (b"http://svc.example.com/echo?q=1", (b"/echo?q=1", b"svc.example.com")),
        (b"HTTP://svc:8080", (b"/", b"svc:8080")),
        (b"https://user@svc/p", (b"/p", b"svc")),
        (b"http://svc?q", (b"/?q", b"svc")),
        (b"*", (b"*", b"")),
    ],
)
def test_origin_form(url: bytes, expected: tuple[bytes, bytes]) -> None:
    assert target.origin_form(url) == expected
