"""A raw HTTP/1.x client for the conformance cases: send bytes as they are, read each
answer by its framing (interim 1xx, content-length, chunked with trailers,
close-delimited, HEAD and the statuses that have no body), and probe whether the
connection still carries requests.

A body whose connection ends before its framing says it is complete is read as
`framing == "broken"`: an outcome of its own, never a short body that looks whole.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

#: No answer head is this large; past it the reader gives up rather than grow forever.
MAX_HEAD = 1024 * 1024


class WireError(Exception):
    """What came back is not an HTTP/1.x answer this reader can frame."""


class NoAnswer(WireError):
    """The connection ended before any byte of an answer."""


class Timeout(WireError):
    """Nothing arrived within the read timeout."""


@dataclass
class Response:
    """One final answer, its body decoded by its framing."""

    status: int
    headers: list[tuple[str, str]]
    framing: str  # "length" | "chunked" | "close" | "none" | "broken"
    body: bytes = b""
    interim: list[int] = field(default_factory=list)
    trailers: list[tuple[str, str]] = field(default_factory=list)
    version: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        return ", ".join(values) if values else None


def parse_head(raw: bytes) -> tuple[str, int, list[tuple[str, str]]]:
    """(version, status, headers with lower-case names) of one answer head."""
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise WireError(f"not an HTTP/1.x status line: {lines[0][:200]!r}")
    headers = []
    for line in lines[1:]:
        if line:
            name, colon, value = line.partition(":")
            if not colon:
                raise WireError(f"header line without a colon: {line[:200]!r}")
            headers.append((name.strip().lower(), value.strip()))
    return version, int(code), headers


class Conn:
    """One client connection to 127.0.0.1:`port`; every read waits at most `timeout`."""

    def __init__(self, port: int, *, timeout: float = 5.0, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:  # before connect, so the window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False
        #: Bytes asked for per recv and the pause after each: a slow reader.
        self.recv_size = 256 * 1024
        self.pause = 0.0

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def set_timeout(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        self.timeout = timeout

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    # -- reading --------------------------------------------------------------------------

    def _fill(self) -> None:
        try:
            data = self.sock.recv(self.recv_size)
        except TimeoutError:
            have = bytes(self.buf[:300])
            raise Timeout(
                f"nothing more within {self.timeout}s (unread so far: {have!r})"
            ) from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
        self.buf += data
        if self.pause:
            time.sleep(self.pause)

    def _take(self, n: int) -> bytes:
        """Up to `n` bytes: fewer only when the connection ended first."""
        while len(self.buf) < n and not self.eof:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _line(self) -> bytes | None:
        """One CRLF-ended line without its CRLF, or None when the connection ended first."""
        while (end := self.buf.find(b"\r\n")) < 0:
            if self.eof or len(self.buf) > MAX_HEAD:
                return None
            self._fill()
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    def read_head(self) -> tuple[str, int, list[tuple[str, str]]]:
        """The next answer head, interim (1xx) or final."""
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            if self.eof:
                if not self.buf:
                    raise NoAnswer("the connection closed with no answer")
                raise WireError(f"the connection closed inside a head: {bytes(self.buf[:300])!r}")
            if len(self.buf) > MAX_HEAD:
                raise WireError("an answer head over 1 MiB")
            self._fill()
        raw = bytes(self.buf[: end + 4])
        del self.buf[: end + 4]
        return parse_head(raw)

    def wait_for(self, marker: bytes) -> None:
        """Read until `marker` has arrived (consuming nothing)."""
        while marker not in self.buf:
            if self.eof:
                raise NoAnswer(f"the connection closed before {marker!r} came")
            self._fill()

    def read_interim(self) -> int | None:
        """An interim (1xx) answer's status if one comes next within the read timeout;
        None if nothing or a final answer comes (which is left to `read_response`)."""
        try:
            self.wait_for(b"\r\n\r\n")
        except WireError:
            return None
        if self.buf[9:10] != b"1":  # "HTTP/1.1 1xx": the status code's first digit
            return None
        return self.read_head()[1]

    def read_response(self, *, head: bool = False) -> Response:
        """The next final answer (interim 1xx answers before it are recorded);
        `head`: it answers a HEAD request, so it has no body whatever its headers say."""
        interim = []
        while True:
            version, status, headers = self.read_head()
            if 100 <= status < 200 and status != 101:
                interim.append(status)
                continue
            response = Response(status, headers, "none", interim=interim, version=version)
            if not (head or status in (101, 204, 304)):
                self._read_body(response)
            return response

    def _read_body(self, r: Response) -> None:
        codings = [c.strip().lower() for c in (r.header("transfer-encoding") or "").split(",")]
        lengths = {v.strip() for k, v in r.headers if k == "content-length"}
        if codings[-1] == "chunked":
            self._read_chunked(r)
        elif r.header("transfer-encoding") is not None:
            r.framing, r.body = "close", self._take(1 << 62)
        elif lengths:
            if len(lengths) > 1 or not next(iter(lengths)).isdigit():
                raise WireError(f"invalid Content-Length {sorted(lengths)}")
            n = int(next(iter(lengths)))
            r.body = self._take(n)
            r.framing = "length" if len(r.body) == n else "broken"
        else:
            r.framing, r.body = "close", self._take(1 << 62)

    def _read_chunked(self, r: Response) -> None:
        parts, r.framing = [], "broken"
        while (line := self._line()) is not None:
            size_text = line.split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise WireError(f"bad chunk size line {line[:100]!r}") from None
            if size == 0:
                r.body = b"".join(parts)
                self._read_trailers(r)
                return
            data = self._take(size + 2)
            parts.append(data[:size])
            if len(data) < size + 2:
                break
            if data[size:] != b"\r\n":
                raise WireError(f"chunk of {size} bytes not followed by CRLF")
        r.body = b"".join(parts)

    def _read_trailers(self, r: Response) -> None:
        while (line := self._line()) is not None:
            if not line:
                r.framing = "chunked"
                return
            name, _, value = line.decode("latin-1").partition(":")
            r.trailers.append((name.strip().lower(), value.strip()))

    # -- after the answers ------------------------------------------------------------------

    def probe(self, request: bytes, marker: bytes, *, timeout: float = 2.0) -> str:
        """Whether the connection still carries requests: "open" (`request` was answered
        200 with `marker` in the body), "closed", "hung" (no answer within `timeout`),
        or "extra ..." (some other answer came first: one the server should not have sent)."""
        self.set_timeout(timeout)
        try:
            self.sock.sendall(request)
        except OSError:
            if not self.buf:
                return "closed"
        try:
            r = self.read_response()
        except NoAnswer:
            return "closed"
        except Timeout:
            return "hung"
        except (WireError, OSError) as exc:
            return f"extra bytes: {exc}"
        if r.status == 200 and marker in r.body and r.framing != "broken":
            return "open"
        return f"extra answer: {r.status} {r.framing} {r.body[:120]!r}"
