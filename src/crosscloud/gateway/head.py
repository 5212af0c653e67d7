"""Checks of a parsed request head that llhttp does not make, as data: the refusal a
request gets (status and message) before anything of it goes to a replica.

llhttp already refuses bare LF, obs-fold, NUL and CR/LF in values, Content-Length with
Transfer-Encoding, two Content-Lengths and a bad chunk size; what is left here is what
RFC 9112 asks of a server (one Host, a version it speaks, a transfer coding it knows) and
what the gateway will not proxy (upgrades to WebSocket, CONNECT).
"""

from __future__ import annotations

from dataclasses import dataclass

from crosscloud.gateway import config as gwconfig


@dataclass(slots=True)
class HeadFacts:
    """What the parser callbacks noted about one request head."""

    version: str
    method: bytes
    hosts: int
    upgrade: bytes | None
    transfer_encoding: bytes | None
    headers: int
    header_bytes: int
    content_length: int


def refusal(facts: HeadFacts, limits: gwconfig.Limits) -> tuple[int, str] | None:
    """(status, message) for a head the gateway must refuse, else None."""
    if facts.version not in ("1.1", "1.0"):
        return 505, f"HTTP/{facts.version} is not supported; send HTTP/1.1"
    if facts.headers > limits.max_headers or facts.header_bytes > limits.max_header_bytes:
        return 431, (
            f"request headers are too large (limits: {limits.max_headers} headers,"
            f" {limits.max_header_bytes} bytes)"
        )
    if facts.version == "1.1" and facts.hosts != 1:
        what = "no Host header" if facts.hosts == 0 else "more than one Host header"
        return 400, f"an HTTP/1.1 request needs exactly one Host header; this one has {what}"
    if facts.method == b"CONNECT":
        return 501, "CONNECT is not supported: the gateway is not a forward proxy"
    if facts.upgrade is not None and b"websocket" in facts.upgrade.lower():
        return 501, "protocol upgrades (WebSocket) are not supported by the gateway"
    te = facts.transfer_encoding
    if te is not None:
        codings = [c.strip().lower() for c in te.split(b",")]
        if codings[-1] != b"chunked":
            return 400, "a request's Transfer-Encoding must end with chunked"
        if any(c != b"chunked" for c in codings[:-1]) or len(codings) > 1:
            return 501, f"transfer coding {te.decode(errors='replace')!r} is not supported"
    if facts.content_length > limits.max_body_size:
        return 413, f"request body is over the limit of {limits.max_body_size} bytes"
    return None
