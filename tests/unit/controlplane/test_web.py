"""The dashboard's files come from the package, and only they; requests are same-origin
and to a loopback name."""

from __future__ import annotations

import email

import pytest

from crosscloud.controlplane import web


def _headers(**fields: str) -> email.message.Message:
    return email.message_from_string("".join(f"{k}: {v}\r\n" for k, v in fields.items()))


@pytest.mark.parametrize(
    ("path", "kind", "contains"),
    [
        ("/dashboard/", "text/html; charset=utf-8", b'<script src="app.js" defer>'),
        ("/dashboard/app.js", "text/javascript; charset=utf-8", b"sessionStorage"),
        ("/dashboard/app.css", "text/css; charset=utf-8", b".health-down"),
    ],
)
def test_the_files_ship_in_the_package(path: str, kind: str, contains: bytes) -> None:
    found = web.asset(path)
    assert found is not None
    data, content_type = found
    assert content_type == kind and contains in data


@pytest.mark.parametrize(
    "path", ["/dashboard/index.html/../app.js", "/dashboard/../api.py", "/dashboard/x.js", "/"]
)
def test_no_other_path_is_a_file(path: str) -> None:
    assert web.asset(path) is None


def test_the_page_loads_nothing_from_elsewhere() -> None:
    """No CDN: every src/href of the page is one of its own files (or the empty icon)."""
    page = web.asset("/dashboard/")
    assert page is not None
    html = page[0].decode()
    assert (
        "http://" not in html
        and "https://" not in html
        and "//" not in html.replace("<!doctype", "")
    )
    assert "script-src 'self'" in web.CSP and "'unsafe-inline'" not in web.CSP


@pytest.mark.parametrize(
    ("headers", "local", "same"),
    [
        ({"host": "127.0.0.1:8123"}, True, True),
        ({"host": "localhost:8123", "origin": "http://localhost:8123"}, True, True),
        ({"host": "127.0.0.1:8123", "origin": "http://127.0.0.1:8123"}, True, True),
        ({"host": "127.0.0.1:8123", "origin": "http://evil.example"}, True, False),
        ({"host": "127.0.0.1:8123", "origin": "null"}, True, False),
        ({"host": "evil.example:8123"}, False, True),  # DNS rebinding: the page is not served
        ({"host": "127.0.0.1:9999"}, False, True),
        ({}, False, True),
    ],
)
def test_loopback_host_and_same_origin(headers: dict[str, str], local: bool, same: bool) -> None:
    message = _headers(**headers)
    assert web.local_host(message, 8123) is local
    assert web.same_origin(message, 8123) is same
