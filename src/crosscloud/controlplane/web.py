"""The dashboard's static files (shipped in the package: nothing comes from a CDN) and
the headers that keep its page to itself.

The files hold no data and are served without the token; every number on the page comes
from the API, which wants it. A page served to a name other than this address (DNS
rebinding) and requests from another origin are refused; the Content-Security-Policy
lets the page load only its own script and style and talk only to its own origin."""

from __future__ import annotations

import functools
from email.message import Message
from importlib import resources

PAGE = "/dashboard/"
FILES = {
    PAGE: ("index.html", "text/html; charset=utf-8"),
    PAGE + "app.js": ("app.js", "text/javascript; charset=utf-8"),
    PAGE + "app.css": ("app.css", "text/css; charset=utf-8"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-cache",
}
API_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")


@functools.cache
def asset(path: str) -> tuple[bytes, str] | None:
    """The file served at `path` and its content type; None for any other path."""
    found = FILES.get(path)
    if found is None:
        return None
    name, kind = found
    data = resources.files("crosscloud.controlplane").joinpath("dashboard", name).read_bytes()
    return data, kind


def local_host(headers: Message, port: int) -> bool:
    """The request names this server by a loopback address (a page fetched through
    another name, as after DNS rebinding, is not served)."""
    return headers.get("host", "") in {f"{name}:{port}" for name in LOCAL_NAMES}


def same_origin(headers: Message, port: int) -> bool:
    """No `Origin` (the CLI, curl, a same-origin GET), or this server's own."""
    origin = headers.get("origin")
    return origin is None or origin in {f"http://{name}:{port}" for name in LOCAL_NAMES}
