"""Fuzzing the gateway's client side with hypothesis: valid requests (GET/POST/PUT,
Content-Length or chunked with random chunk sizes, bodies that contain request-like
bytes) mutated (CR, LF, NUL, spaces, colons, commas, digits inserted; header lines
repeated or dropped; the stream cut short) and sent in random pieces.

After every example has been sent: the gateway is alive and healthy; every connection was
closed within the configured timeouts (small ones here) of its last byte; and the
backend got from each example only requests that a strict parser (reference.py) finds in
the bytes sent, in order, with the open service's prefix stripped (or, where the gateway
is more lenient than the reference, the one request the example was built as), never the
guarded service's (no example has its token). Every example carries a unique marker in
its target, a header and any request-like bytes in its body, so whatever reaches the
backend is traced to the example that sent it.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.hostile import reference
from tests.e2e.hostile.conftest import Backend, Gateway, gateway_config

pytestmark = pytest.mark.timeout(90)

TIMEOUT = 1.0
LIMITS = {"headerTimeout": "1s", "bodyTimeout": "1s", "idleTimeout": "1s"}
#: How late past its timeout a connection may close: the gateway sweeps every 0.2 s
#: with these limits, and this machine is shared.
CLOSE_SLACK = 3.0
EXAMPLES = 250

BODY_PIECES = [
    b"hello",
    b"\r\n",
    b"0\r\n\r\n",
    b"5\r\nhello\r\n",
    b"GET /open/smuggled-{M} HTTP/1.1\r\nHost: fuzz.test\r\n\r\n",
    b"POST /guarded/smuggled-{M} HTTP/1.1\r\nHost: fuzz.test\r\nContent-Length: 3\r\n\r\nabc",
    b"Transfer-Encoding: chunked\r\n",
]
EXTRA_HEADERS = [
    b"Accept: */*",
    b"User-Agent: fuzz/1.0",
    b"X-Pad: " + b"p" * 64,
    b"Content-Type: application/json",
    b"Expect: 100-continue",
    b"Content-Length: 0",
    b"Transfer-Encoding: chunked",
]
INSERTS = [b"\r", b"\n", b"\r\n", b"\x00", b" ", b"\t", b":", b",", b"0", b";", b"\r\n\r\n"]


@dataclass(frozen=True)
class Recipe:
    """How to build one example's bytes around its marker (fractions place the edits)."""

    service: str
    method: bytes
    body: tuple[bytes, ...]
    framing: str
    chunk_cuts: tuple[int, ...]
    extras: tuple[bytes, ...]
    close: bool
    edits: tuple[tuple[str, float, bytes], ...]
    truncate: float | None
    splits: tuple[float, ...]
    pause: float


recipes = st.builds(
    Recipe,
    service=st.sampled_from(["open", "open", "open", "guarded"]),
    method=st.sampled_from([b"GET", b"POST", b"PUT"]),
    body=st.lists(st.sampled_from(BODY_PIECES), max_size=4).map(tuple),
    framing=st.sampled_from(["length", "chunked", "none"]),
    chunk_cuts=st.lists(st.integers(1, 60), max_size=4).map(tuple),
    extras=st.lists(st.sampled_from(EXTRA_HEADERS), max_size=3).map(tuple),
    close=st.booleans(),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["insert", "insert", "insert", "repeat", "drop"]),
            st.floats(0, 1, exclude_max=True),
            st.sampled_from(INSERTS),
        ),
        max_size=3,
    ).map(tuple),
    truncate=st.none() | st.floats(0, 1, exclude_max=True),
    splits=st.lists(st.floats(0, 1), max_size=4).map(tuple),
    pause=st.sampled_from([0.0, 0.0, 0.001, 0.003]),
)


def _chunked(body: bytes, cuts: tuple[int, ...]) -> bytes:
    out, at = b"", 0
    for size in [*cuts, len(body)]:
        piece = body[at : at + size]
        if piece:
            out += b"%x\r\n%b\r\n" % (len(piece), piece)
        at += len(piece)
    return out + b"0\r\n\r\n"


def build(recipe: Recipe, marker: bytes) -> tuple[bytes, reference.Request]:
    """The example's bytes, and the request it was built as (before the edits)."""
    body = b"".join(recipe.body).replace(b"{M}", marker)
    if recipe.method != b"GET" and recipe.framing == "none":
        body = b""
    target = b"/%b/fz-%b" % (recipe.service.encode(), marker)
    lines = [
        b"%b %b HTTP/1.1" % (recipe.method, target),
        b"Host: fuzz.test",
        b"X-Fuzz: %b" % marker,
        *recipe.extras,
    ]
    if recipe.close:
        lines.append(b"Connection: close")
    if recipe.framing == "length":
        lines.append(b"Content-Length: %d" % len(body))
        payload = body
    elif recipe.framing == "chunked":
        lines.append(b"Transfer-Encoding: chunked")
        payload = _chunked(body, recipe.chunk_cuts)
    else:
        payload = b""
    lines = _edit_lines(lines, recipe.edits)
    data = b"\r\n".join(lines) + b"\r\n\r\n" + payload
    data = _insert(data, recipe.edits, marker)
    if recipe.truncate is not None:
        data = data[: int(recipe.truncate * len(data))]
    return data, reference.Request(recipe.method, target, (), body)


def _edit_lines(lines: list[bytes], edits: tuple[tuple[str, float, bytes], ...]) -> list[bytes]:
    for kind, where, _ in edits:
        i = 1 + int(where * (len(lines) - 1))  # never the request line
        if kind == "repeat":
            lines = [*lines[:i], lines[i], *lines[i:]]
        elif kind == "drop" and not lines[i].startswith(b"X-Fuzz"):
            lines = lines[:i] + lines[i + 1 :]
    return lines


def _insert(data: bytes, edits: tuple[tuple[str, float, bytes], ...], marker: bytes) -> bytes:
    for kind, where, byte in edits:
        if kind != "insert":
            continue
        at = int(where * (len(data) + 1))
        for found in _spans(data, marker):  # markers stay whole: they trace the example
            if found[0] < at < found[1]:
                at = found[1]
        data = data[:at] + byte + data[at:]
    return data


def _spans(data: bytes, marker: bytes) -> Iterator[tuple[int, int]]:
    at = data.find(marker)
    while at >= 0:
        yield at, at + len(marker)
        at = data.find(marker, at + 1)


def expected(data: bytes) -> list[reference.Request]:
    """The requests a strict parser finds in `data`, in order, up to the first bad one."""
    found: list[reference.Request] = []
    with contextlib.suppress(reference.Invalid, reference.Incomplete):
        while data:
            req, data = reference.parse(data)
            found.append(req)
    return found


def upstream_view(req: reference.Request) -> tuple[str, str, str] | None:
    """(method, target, body) as the open service's backend should log it, None for any
    other service."""
    if not req.target.startswith(b"/open/"):
        return None
    return req.method.decode(), req.target[5:].decode("latin-1"), req.body.decode("latin-1")


class CloseWatch:
    """Watches client sockets in a thread until the peer closes them (EOF or reset), and
    records each one that is still open past its deadline."""

    def __init__(self) -> None:
        self.incoming: queue.Queue[tuple[socket.socket, float, bytes]] = queue.Queue()
        self.late: list[bytes] = []
        self.pending = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def add(self, sock: socket.socket, deadline: float, label: bytes) -> None:
        with self._lock:
            self.pending += 1
        self.incoming.put((sock, deadline, label))

    def _done(self, sel: selectors.BaseSelector, sock: socket.socket) -> None:
        sel.unregister(sock)
        sock.close()
        with self._lock:
            self.pending -= 1

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        while not self._stop.is_set():
            while not self.incoming.empty():
                sock, deadline, label = self.incoming.get()
                sock.setblocking(False)
                sel.register(sock, selectors.EVENT_READ, (deadline, label))
            for key, _ in sel.select(0.02):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self._done(sel, sock)
            now = time.monotonic()
            for key in list(sel.get_map().values()):
                deadline, label = key.data
                if now > deadline:
                    self.late.append(label)
                    assert isinstance(key.fileobj, socket.socket)
                    self._done(sel, key.fileobj)
        sel.close()

    def finish(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if self.pending == 0 and self.incoming.empty():
                    break
            time.sleep(0.05)
        self._stop.set()
        self._thread.join(5)


@dataclass
class Sent:
    marker: str
    data: bytes
    built_as: reference.Request


def _send(port: int, recipe: Recipe, data: bytes, watch: CloseWatch, label: bytes) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cuts = sorted({int(f * len(data)) for f in recipe.splits} | {0, len(data)})
    try:
        for a, b in itertools.pairwise(cuts):
            sock.sendall(data[a:b])
            if recipe.pause:
                time.sleep(recipe.pause)
    except OSError:
        pass  # refused and closed early: the close is what the watch waits for anyway
    watch.add(sock, time.monotonic() + TIMEOUT + CLOSE_SLACK, label)


@pytest.fixture(scope="module")
def fuzz_gateway(backend: Backend, gateways: Callable[..., Gateway]) -> Gateway:
    return gateways(gateway_config(backend, LIMITS))


def _settled_fds(gateway: Gateway, most: int) -> int:
    end = time.monotonic() + TIMEOUT + CLOSE_SLACK
    while (fds := gateway.fds()) > most and time.monotonic() < end:
        time.sleep(0.05)
    return fds


def test_fuzzed_requests(fuzz_gateway: Gateway, backend: Backend) -> None:
    gw = fuzz_gateway
    backend.settle(gw.port)
    fds_before = gw.fds()
    mark = backend.mark()
    watch = CloseWatch()
    sent: dict[str, Sent] = {}
    counter = itertools.count()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(recipes)
    def send_one(recipe: Recipe) -> None:
        marker = b"m%06dx" % next(counter)
        data, built_as = build(recipe, marker)
        sent[marker.decode()] = Sent(marker.decode(), data, built_as)
        _send(gw.port, recipe, data, watch, marker)

    send_one()
    watch.finish(TIMEOUT + CLOSE_SLACK + 5)
    assert gw.alive(), f"the gateway died:\n{gw.output()[-3000:]}"
    assert gw.healthy()
    late = [sent[m.decode()].data[:300] for m in watch.late]
    assert late == [], f"{len(late)} connections outlived their timeouts, e.g. {late[:3]}"
    entries = backend.between(mark, gw.port)
    guarded = [e for e in entries if e["port"] == backend.guarded_port]
    assert guarded == [], f"the guarded service was reached without a token: {guarded[:3]}"
    _check_backend(entries, sent)
    reached = sum(1 for e in entries if "method" in e)
    print(f"{len(sent)} examples; {reached} requests reached the backend")
    fds = _settled_fds(gw, fds_before + 8)
    assert fds <= fds_before + 8, f"gateway holds {fds} descriptors, {fds_before} before"


def _check_backend(entries: list[dict[str, Any]], sent: dict[str, Sent]) -> None:
    by_marker: dict[str, list[tuple[str, str, str]]] = {}
    for entry in entries:
        if "incomplete" in entry:
            continue  # cut off when the gateway refused a body: not a request
        text = repr(entry)
        owners = [m for m in _markers(text) if m in sent]
        assert len(owners) == 1, f"the backend got a request no example sent as one: {entry}"
        assert "error" not in entry, f"the backend got bytes it could not parse: {entry}"
        by_marker.setdefault(owners[0], []).append(
            (entry["method"], entry["target"], entry["body"])
        )
    for marker, got in by_marker.items():
        example = sent[marker]
        strict = [upstream_view(r) for r in expected(example.data)]
        allowed_prefix = strict[: len(got)]
        built = upstream_view(example.built_as)
        assert got == allowed_prefix or (built is not None and got == [built]), (
            f"example {example.data!r}\nreached the backend as {got}\n"
            f"a strict parser finds {strict}"
        )


def _markers(text: str) -> set[str]:
    found, at = set(), text.find("m0")
    while at >= 0:
        found.add(text[at : at + 8])
        at = text.find("m0", at + 1)
    return {m for m in found if len(m) == 8 and m[1:7].isdigit() and m[7] == "x"}
