"""The request target as the router must see it: origin-form, dot segments removed and
slashes merged, so that `/open/../guarded/x`, `//guarded/x` and `/open/%2e%2e/guarded/x`
name the service they reach (as nginx and Istio's default path normalization do) and a
token check cannot be walked around.

The fast path (a plain `/service/rest` target) costs three substring scans; only targets
with `//`, `/.`, `%` or an absolute URI take the slow path.
"""

from __future__ import annotations

import re

_DOT = re.compile(rb"%2e", re.IGNORECASE)


def origin_form(url: bytes) -> tuple[bytes, bytes]:
    """(path with its query, host from an absolute-form target or b"")."""
    if url[:1] == b"/":
        return url, b""
    lower = url[:8].lower()
    for scheme in (b"http://", b"https://"):
        if lower.startswith(scheme):
            rest = url[len(scheme) :]
            cut = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=len(rest))
            authority, path = rest[:cut], rest[cut:]
            if path[:1] != b"/":
                path = b"/" + path
            return path, authority.rpartition(b"@")[2]
    return url, b""


def normalize(url: bytes) -> bytes:
    """The target with dot segments removed (RFC 3986 5.2.4) and repeated slashes merged;
    the query is left alone, and so is every escape but `%2e` (a dot): an encoded slash
    stays part of its segment, as in nginx and Envoy."""
    path, sep, query = url.partition(b"?")
    if b"//" not in path and b"/." not in path and b"%" not in path:
        return url
    path = _DOT.sub(b".", path)
    out: list[bytes] = []
    segments = path.split(b"/")[1:]
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == b"..":
            if out:
                out.pop()
            if last:
                out.append(b"")
        elif seg == b".":
            if last:
                out.append(b"")
        elif seg or last:
            out.append(seg)
    return b"/" + b"/".join(out) + sep + query
