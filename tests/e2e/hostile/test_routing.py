"""Path and Host tricks: a service that has API tokens is never reached without one, the
gateway's own paths are never proxied, and a request on the `open` service is never
reinterpreted as another service's.

Each case lists the answers a correct gateway may give (refusing, or normalizing first
and then routing, as nginx does) and what the open service may receive, if anything.
Whatever any backend receives is in origin form with no dot-segments, so a replica that
normalizes paths itself cannot be walked out of its prefix either.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.hostile import raw
from tests.e2e.hostile.conftest import TOKEN, Backend, Gateway

pytestmark = pytest.mark.timeout(30)

ANY_HOST = b"unknown.test"  # names no service: routing by path


def _get(target: bytes, host: bytes | None = ANY_HOST, extra: bytes = b"") -> bytes:
    host_line = b"" if host is None else b"Host: %b\r\n" % host
    return b"GET %b HTTP/1.1\r\n%b%bConnection: close\r\n\r\n" % (target, host_line, extra)


# (id, request, statuses a correct gateway may answer, the target the open service gets
# when it is reached, or None when it must not be reached at all)
CASES: list[tuple[str, bytes, tuple[int, ...], str | None]] = [
    # Absolute form (RFC 9112 3.2.2): its authority names the service, not the Host header.
    ("absolute-evil", _get(b"http://evil/x", b"open.test"), (400, 404, 421), None),
    # ... so an authority that names no service leaves routing by path, as Host does.
    ("absolute-evil-path-open", _get(b"http://evil/open/x"), (200, 400, 404), "/x"),
    (
        "absolute-guarded-host-open",
        _get(b"http://guarded.test/x", b"open.test"),
        (400, 401, 404, 421),
        None,
    ),
    (
        "absolute-userinfo",
        _get(b"http://open.test@guarded.test/x", b"open.test"),
        (400, 401, 404, 421),
        None,
    ),
    (
        "absolute-open-host-guarded",
        _get(b"http://open.test/guarded/x", b"guarded.test"),
        (200, 400),
        "/guarded/x",
    ),
    # Dot-segments, plain and percent-encoded.
    ("dotdot-root", _get(b"/../guarded/x"), (400, 401, 404), None),
    ("dotdot-root-encoded", _get(b"/%2e%2e/guarded/x"), (400, 401, 404), None),
    ("double-slash-guarded", _get(b"//guarded/x"), (400, 401, 404), None),
    ("double-slash-open", _get(b"//open/x"), (200, 400, 404), "/x"),
    ("open-dotdot-guarded", _get(b"/open/../guarded/x"), (400, 401, 404), None),
    ("open-encoded-dotdot-guarded", _get(b"/open/%2e%2e/guarded/x"), (400, 401, 404), None),
    ("open-encoded-dotdot-upper", _get(b"/open/%2E%2E/guarded/x"), (400, 401, 404), None),
    ("open-dot-encoded-dot", _get(b"/open/.%2e/guarded/x"), (400, 401, 404), None),
    ("open-dotdot-dotdot", _get(b"/open/x/../../guarded/x"), (400, 401, 404), None),
    ("open-nul-dotdot", _get(b"/open/%00/../../guarded/x"), (400, 401, 404), None),
    ("open-dotdot-alone", _get(b"/open/.."), (400, 404), None),
    ("open-dot", _get(b"/open/./x"), (200, 400), "/x"),
    ("open-dotdot-inside", _get(b"/open/a/../x"), (200, 400), "/x"),
    ("stats-dotdot-guarded", _get(b"/-/stats/../../guarded/x"), (400, 401, 404), None),
    # Percent-encoded slashes are data, never a separator between service and path.
    ("encoded-slash-open", _get(b"/open%2fx"), (400, 404), None),
    ("encoded-slash-open-upper", _get(b"/open%2Fguarded/x"), (400, 404), None),
    ("encoded-slash-guarded-dotdot", _get(b"/guarded%2f.."), (400, 401, 404), None),
    ("encoded-slash-guarded", _get(b"/guarded%2Fx"), (400, 401, 404), None),
    (
        "open-encoded-slash-walk",
        _get(b"/open/x%2f..%2f..%2fguarded/x"),
        (200, 400, 404),
        "/x%2f..%2f..%2fguarded/x",
    ),
    # Case, encoded letters, parameters, backslashes, fragments.
    ("upper-guarded", _get(b"/GUARDED/x"), (400, 401, 404), None),
    ("mixed-guarded", _get(b"/Guarded/x"), (400, 401, 404), None),
    ("upper-open", _get(b"/OPEN/x"), (200, 400, 404), "/x"),
    ("encoded-letter-guarded", _get(b"/%67uarded/x"), (400, 401, 404), None),
    ("encoded-letter-open", _get(b"/%6fpen/x"), (200, 400, 404), "/x"),
    ("semicolon-guarded", _get(b"/guarded;a=b/x"), (400, 401, 404), None),
    ("semicolon-open-dotdot", _get(b"/open;/../guarded/x"), (400, 401, 404), None),
    # `..;` is a segment like any other (RFC 3986): it stays on the open service.
    ("open-dotdot-semicolon", _get(b"/open/..;/guarded/x"), (200, 400, 404), "/..;/guarded/x"),
    ("backslash-walk", _get(b"/open\\..\\guarded/x"), (400, 404), None),
    ("fragment-walk", _get(b"/open/x#/../../guarded/x"), (200, 400, 401, 404), "/x"),
    # The gateway's own paths: answered by it or refused, never proxied.
    ("admin-stats-dotdot", _get(b"/open/../-/stats"), (200, 400, 404), None),
    ("admin-metrics-dotdot", _get(b"/open/../metrics"), (200, 400, 404), None),
    ("admin-stats-encoded", _get(b"/%2d/stats"), (200, 400, 404), None),
    ("admin-metrics-host-guarded", _get(b"/metrics", b"guarded.test"), (200, 400, 401), None),
    # The Host header (RFC 9112 3.2: exactly one, a host and an optional port).
    ("host-guarded-path-open", _get(b"/open/x", b"guarded.test"), (400, 401, 421), None),
    ("host-guarded-port", _get(b"/open/x", b"guarded.test:8080"), (400, 401, 421), None),
    ("host-guarded-upper", _get(b"/open/x", b"GUARDED.TEST"), (400, 401, 421), None),
    (
        "host-guarded-trailing-dot",
        _get(b"/guarded/x", b"guarded.test."),
        (400, 401, 404, 421),
        None,
    ),
    ("host-open-path-guarded", _get(b"/guarded/x", b"open.test"), (200, 400), "/guarded/x"),
    ("host-list", _get(b"/guarded/x", b"open.test, guarded.test"), (400, 401, 404), None),
    ("host-userinfo", _get(b"/guarded/x", b"open.test@guarded.test"), (400, 401, 404), None),
    (
        "two-hosts-open-first",
        _get(b"/open/x", b"open.test", b"Host: guarded.test\r\n"),
        (400,),
        None,
    ),
    (
        "two-hosts-guarded-first",
        _get(b"/open/x", b"guarded.test", b"Host: open.test\r\n"),
        (400,),
        None,
    ),
    ("no-host", _get(b"/open/x", None), (400,), None),
    ("empty-host-open", _get(b"/open/x", b""), (200, 400), "/x"),
    ("empty-host-guarded", _get(b"/guarded/x", b""), (400, 401), None),
    # A token somewhere other than the Authorization header is no token.
    ("token-in-query", _get(b"/guarded/x?access_token=" + TOKEN.encode()), (401,), None),
    (
        "token-in-cookie",
        _get(b"/guarded/x", extra=b"Cookie: token=%b\r\n" % TOKEN.encode()),
        (401,),
        None,
    ),
    (
        "token-basic",
        _get(b"/guarded/x", extra=b"Authorization: Basic %b\r\n" % TOKEN.encode()),
        (401,),
        None,
    ),
    (
        "token-wrong",
        _get(
            b"/guarded/x",
            extra=b"Authorization: Bearer %b\r\n"
            % (TOKEN[:-1] + ("A" if TOKEN[-1] != "A" else "B")).encode(),
        ),
        (401,),
        None,
    ),
]


def _check_normal_form(entry: dict[str, Any]) -> None:
    target: str = entry["target"]
    assert target.startswith("/") and not target.startswith("//"), target
    assert all(0x20 < ord(c) < 0x7F for c in target), target
    path = target.partition("?")[0]
    for segment in path.split("/"):
        assert segment.lower().replace("%2e", ".") not in (".", ".."), target


@pytest.mark.parametrize(
    ("data", "statuses", "open_target"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_path_and_host_tricks(
    gateway: Gateway,
    backend: Backend,
    data: bytes,
    statuses: tuple[int, ...],
    open_target: str | None,
) -> None:
    mark = backend.mark()
    resp, _, _ = raw.request(gateway.port, data)
    seen = backend.between(mark, gateway.port)
    guarded = [e for e in seen if e["port"] == backend.guarded_port]
    assert guarded == [], f"the guarded service was reached without a token: {guarded}"
    for entry in seen:
        _check_normal_form(entry)
    assert resp is not None, "no answer"
    assert resp.status in statuses, f"answered {resp.status}: {resp.body[:300]!r}"
    targets = [e["target"] for e in seen]
    if resp.status == 200 and targets == []:  # the gateway's own answer
        assert data.split(b" ")[1].endswith((b"/-/stats", b"/metrics")), resp.body[:200]
    elif open_target is None or resp.status != 200:
        assert targets == [], f"the open service was reached: {targets}"
    else:
        assert targets == [open_target]


OK_CASES = [
    ("open-by-path", _get(b"/open/x"), "open", "/x"),
    ("open-root", _get(b"/open"), "open", "/"),
    ("open-query", _get(b"/open?q=1"), "open", "/?q=1"),
    ("open-query-with-dots", _get(b"/open/x?a=/../guarded"), "open", "/x?a=/../guarded"),
    ("open-by-host", _get(b"/x", b"open.test"), "open", "/x"),
    (
        "guarded-by-path",
        _get(b"/guarded/x", extra=b"Authorization: Bearer %b\r\n" % TOKEN.encode()),
        "guarded",
        "/x",
    ),
    (
        "guarded-by-host",
        _get(b"/x", b"guarded.test", b"Authorization: Bearer %b\r\n" % TOKEN.encode()),
        "guarded",
        "/x",
    ),
    (
        "guarded-by-host-port",
        _get(b"/x", b"guarded.test:443", b"Authorization: Bearer %b\r\n" % TOKEN.encode()),
        "guarded",
        "/x",
    ),
]


def test_own_paths_on_a_host_routed_service_are_answered_or_forwarded_whole(
    gateway: Gateway, backend: Backend
) -> None:
    """`/-/stats` with `Host: open.test`: the gateway's own answer, or the open service's
    own `/-/stats` (Host routing keeps the whole path); never anything else."""
    mark = backend.mark()
    resp, _, _ = raw.request(gateway.port, _get(b"/-/stats", b"open.test"))
    seen = [e["target"] for e in backend.between(mark, gateway.port)]
    assert resp is not None and resp.status == 200
    if seen == []:
        assert b'"open"' in resp.body  # the gateway's stats, which name its services
    else:
        assert seen == ["/-/stats"] and resp.body == b"/-/stats"


@pytest.mark.parametrize(
    ("data", "service", "target"), [c[1:] for c in OK_CASES], ids=[c[0] for c in OK_CASES]
)
def test_routes_that_must_work(
    gateway: Gateway, backend: Backend, data: bytes, service: str, target: str
) -> None:
    mark = backend.mark()
    resp, _, _ = raw.request(gateway.port, data)
    seen = backend.between(mark, gateway.port)
    assert resp is not None and resp.status == 200, resp
    port = backend.open_port if service == "open" else backend.guarded_port
    assert [(e["port"], e["target"]) for e in seen] == [(port, target)]
    names = [n.lower() for n, _ in seen[0]["headers"]]
    if service == "guarded":
        assert "authorization" not in names, "a checked token was passed on to the replica"
