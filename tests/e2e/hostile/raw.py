"""A raw HTTP/1.1 client for hostile tests: send exact bytes, read answers byte-exact.

Blocking sockets with a timeout: a test that waits for an answer or a close never hangs
past `timeout`. A reset from the peer reads as a close (`Conn.reset` says which).
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, field


class Closed(Exception):
    """The peer closed (or reset) the connection before a whole answer arrived."""


@dataclass
class Response:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: bytes) -> bytes | None:
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return None

    @property
    def closes(self) -> bool:
        value = self.header(b"connection") or b""
        return b"close" in value.lower()


class Conn:
    """One client connection to 127.0.0.1:port."""

    def __init__(self, port: int, *, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.reset = False

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data, self.reset = b"", True
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _take_until(self, sep: bytes) -> bytes:
        while (at := self.buf.find(sep)) < 0:
            if not self._fill():
                raise Closed(f"closed before {sep!r}; had {self.buf[:200]!r}")
        found, self.buf = self.buf[:at], self.buf[at + len(sep) :]
        return found

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise Closed(f"closed after {len(self.buf)} of {n} body bytes")
        found, self.buf = self.buf[:n], self.buf[n:]
        return found

    def response(self, *, head: bool = False) -> Response:
        """The next answer (1xx included); Closed if the connection ends first."""
        lines = self._take_until(b"\r\n\r\n").split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        code, _, reason = rest.partition(b" ")
        if not version.startswith(b"HTTP/1.") or not code.isdigit():
            raise AssertionError(f"not an HTTP status line: {lines[0][:200]!r}")
        resp = Response(int(code), reason)
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            resp.headers.append((name.strip(), value.strip()))
        if head or resp.status < 200 or resp.status in (204, 304):
            return resp
        te = resp.header(b"transfer-encoding")
        length = resp.header(b"content-length")
        if te is not None and b"chunked" in te.lower():
            resp.body = self._chunked()
        elif length is not None:
            resp.body = self._take(int(length))
        else:
            resp.body = self.read_to_close()
        return resp

    def _chunked(self) -> bytes:
        body = b""
        while size := int(self._take_until(b"\r\n").split(b";")[0], 16):
            body += self._take(size)
            self._take(2)
        while self._take_until(b"\r\n"):
            pass
        return body

    def read_to_close(self) -> bytes:
        """Everything until the peer closes; socket.timeout if it does not in time."""
        while self._fill():
            pass
        found, self.buf = self.buf, b""
        return found

    def closed_within(self, seconds: float) -> tuple[bool, bytes]:
        """(whether the peer closed within `seconds`, the bytes that came before it)."""
        deadline = time.monotonic() + seconds
        old = self.sock.gettimeout()
        try:
            while not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False, self.buf
                self.sock.settimeout(left)
                try:
                    self._fill()
                except TimeoutError:
                    return False, self.buf
            return True, self.buf
        finally:
            self.sock.settimeout(old)


def request(port: int, data: bytes, *, timeout: float = 5.0) -> tuple[Response | None, bytes, bool]:
    """Send `data` on a fresh connection: (first answer or None, bytes after it, closed?).

    Waits for the close for up to `timeout` after the answer."""
    with Conn(port, timeout=timeout) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.send(data)  # the gateway may answer and close before reading it all
        try:
            resp: Response | None = conn.response()
        except Closed:
            resp = None
        closed, rest = conn.closed_within(timeout)
        return resp, rest, closed


def get(
    port: int, path: bytes, *, host: bytes = b"x", extra: bytes = b"", close: bool = True
) -> Response:
    """One GET on a fresh connection (asking the gateway to close it, unless `close` is
    False: then this side closes it after the answer)."""
    if close:
        extra = b"Connection: close\r\n" + extra
    data = b"GET %b HTTP/1.1\r\nHost: %b\r\n%b\r\n" % (path, host, extra)
    with Conn(port) as conn:
        conn.send(data)
        return conn.response()
