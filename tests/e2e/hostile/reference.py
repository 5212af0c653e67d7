"""A strict reference parser for one HTTP/1.1 request (RFC 9112, no leniency at all): what
a client "sent as one request", to compare with what a backend behind the gateway got.

`parse(data)` returns the first request and the bytes after it, or raises `Invalid` or
`Incomplete`. It accepts less than a gateway may (the fuzz test allows for that); it
never accepts a message that two careful parsers could frame differently.
"""

from __future__ import annotations

from dataclasses import dataclass

TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
HEX = frozenset(b"0123456789abcdefABCDEF")
_CTL = frozenset(range(0x20)) - {0x09} | {0x7F}


class Invalid(Exception):
    """The bytes are not a valid request: a gateway must not forward them."""


class Incomplete(Exception):
    """The bytes so far are a valid beginning of a request, but not a whole one."""


@dataclass(frozen=True)
class Request:
    method: bytes
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


def _field(line: bytes) -> tuple[bytes, bytes]:
    if line[:1] in (b" ", b"\t"):
        raise Invalid("obs-fold or whitespace before a field line")
    name, colon, value = line.partition(b":")
    if not colon or not name or not set(name) <= TCHAR:
        raise Invalid(f"bad field line {line[:60]!r}")
    value = value.strip(b" \t")
    if set(value) & _CTL:
        raise Invalid("control character in a field value")
    return name.lower(), value


def _request_line(line: bytes) -> tuple[bytes, bytes]:
    parts = line.split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1":
        raise Invalid(f"bad request line {line[:60]!r}")
    method, target, _ = parts
    if not method or not set(method) <= TCHAR:
        raise Invalid("bad method")
    if not target.startswith(b"/") or any(b <= 0x20 or b >= 0x7F for b in target):
        raise Invalid("bad target")
    return method, target


def _chunked(data: bytes) -> tuple[bytes, bytes]:
    body, at = b"", 0
    while True:
        end = data.find(b"\r\n", at)
        if end < 0:
            raise Incomplete("chunk size line")
        size_text, _, ext = data[at:end].partition(b";")
        if not size_text or not set(size_text) <= HEX or set(ext) & _CTL:
            raise Invalid(f"bad chunk size line {data[at:end][:40]!r}")
        size, at = int(size_text, 16), end + 2
        if size == 0:
            break
        if len(data) < at + size + 2:
            raise Incomplete("chunk data")
        if data[at + size : at + size + 2] != b"\r\n":
            raise Invalid("chunk data longer than its size")
        body, at = body + data[at : at + size], at + size + 2
    while True:  # trailer section
        end = data.find(b"\r\n", at)
        if end < 0:
            raise Incomplete("trailers")
        if end == at:
            return body, data[at + 2 :]
        _field(data[at:end])
        at = end + 2


def parse(data: bytes) -> tuple[Request, bytes]:
    """The first request in `data` and the bytes after it."""
    # Empty lines before a request line are ignored (RFC 9112 2.2); nginx and llhttp skip
    # any CR or LF there, bare ones included, and so may we: the gateway rebuilds the head
    # it forwards, so no byte before the method reaches a backend.
    data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    if end < 0 and head.endswith(b"\r"):
        head = head[:-1]  # the start of a CRLF yet to come
    lone = head.replace(b"\r\n", b"")
    if b"\x00" in head or b"\n" in lone or b"\r" in lone:
        raise Invalid("NUL, bare CR or bare LF in the head")
    if end < 0:
        raise Incomplete("head")
    lines = head.split(b"\r\n")
    method, target = _request_line(lines[0])
    headers = tuple(_field(line) for line in lines[1:])
    rest = data[end + 4 :]
    values = {name: [v for n, v in headers if n == name] for name, _ in headers}
    if len(values.get(b"host", [])) != 1:
        raise Invalid("not exactly one Host")
    lengths, codings = values.get(b"content-length", []), values.get(b"transfer-encoding", [])
    if codings:
        if lengths or len(codings) != 1 or codings[0].lower() != b"chunked":
            raise Invalid("Transfer-Encoding other than one chunked, or with Content-Length")
        body, rest = _chunked(rest)
    elif lengths:
        if len(lengths) != 1 or not lengths[0].isdigit():
            raise Invalid("bad or repeated Content-Length")
        n = int(lengths[0])
        if len(rest) < n:
            raise Incomplete("body")
        body, rest = rest[:n], rest[n:]
    else:
        body = b""
    return Request(method, target, headers, body), rest
