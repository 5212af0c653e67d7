"""The raw answer reader (wire.py) on canned bytes: the suite is only as right as the way
it frames what comes back, a broken body above all."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.e2e.conformance import wire

pytestmark = pytest.mark.timeout(10)

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.fixture
def canned() -> Iterator[socket.socket]:
    """A listening socket; `_answer` makes its next connection get some bytes, then EOF."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener


def _answer(listener: socket.socket, data: bytes) -> wire.Conn:
    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
            conn.recv(1)

    threading.Thread(target=run, daemon=True).start()
    return wire.Conn(listener.getsockname()[1], timeout=2)


@pytest.mark.parametrize(
    ("data", "head", "framing", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", False, "length", b"hello"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", False, "broken", b"hel"),
        (CHUNKED + b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n", False, "chunked", b"abcde"),
        (CHUNKED + b"3\r\nabc\r\n2\r\nde\r\n", False, "broken", b"abcde"),
        (CHUNKED + b"3\r\nabc\r\n0\r\nX-T: 1\r\n", False, "broken", b"abc"),
        (CHUNKED + b"3\r\nab", False, "broken", b"ab"),
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", False, "close", b"until the end"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", True, "none", b""),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", False, "none", b""),
        (b"HTTP/1.1 204 No Content\r\n\r\n", False, "none", b""),
    ],
    ids=[
        "length",
        "length-cut",
        "chunked-ext-trailers",
        "chunked-no-last-chunk",
        "chunked-cut-in-trailers",
        "chunked-cut-in-data",
        "close-delimited",
        "head",
        "304",
        "204",
    ],
)
def test_framing(canned: socket.socket, data: bytes, head: bool, framing: str, body: bytes) -> None:
    with _answer(canned, data) as conn:
        answer = conn.read_response(head=head)
    assert (answer.framing, answer.body) == (framing, body)


def test_interim_answers_are_recorded_before_the_final_one(canned: socket.socket) -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: <x>\r\n\r\n"
    with _answer(canned, data + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") as conn:
        answer = conn.read_response()
    assert (answer.interim, answer.status, answer.body) == ([100, 103], 200, b"ok")


def test_chunked_trailers_are_read(canned: socket.socket) -> None:
    with _answer(canned, CHUNKED + b"1\r\na\r\n0\r\nX-Sum: 42\r\n\r\n") as conn:
        assert conn.read_response().trailers == [("x-sum", "42")]


def test_an_empty_reply_is_no_answer(canned: socket.socket) -> None:
    with _answer(canned, b"") as conn, pytest.raises(wire.NoAnswer):
        conn.read_response()


def test_two_lengths_are_refused(canned: socket.socket) -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"
    with _answer(canned, data) as conn, pytest.raises(wire.WireError, match="Content-Length"):
        conn.read_response()


def test_the_probe_finds_a_closed_connection(canned: socket.socket) -> None:
    with _answer(canned, b"") as conn:
        assert conn.probe(b"GET / HTTP/1.1\r\n\r\n", b"marker") == "closed"


def test_the_probe_finds_a_stray_answer(canned: socket.socket) -> None:
    with _answer(canned, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") as conn:
        assert conn.probe(b"GET / HTTP/1.1\r\n\r\n", b"marker").startswith("extra answer: 400")
