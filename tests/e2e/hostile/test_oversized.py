"""Oversized request heads: a long request line gets 414, too many or too large headers
431 (or 400), decided while the head is being read. Sent fast (100 MB) or slowly, the
gateway answers once the limit is crossed, does not buffer what follows, and keeps
serving other clients meanwhile.

The limits are the documented defaults (maxUrlBytes 8Ki, maxHeaderBytes 32Ki, maxHeaders
100): this module's gateway has no `limits:` block.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.hostile import raw
from tests.e2e.hostile.conftest import Backend, Gateway

pytestmark = pytest.mark.timeout(60)

URL_LIMIT = 8 * 1024
HEAD_LIMIT = 32 * 1024
MAX_HEADERS = 100
HUGE = 100 * 1024 * 1024
#: What the gateway's peak RSS may grow by while refusing a huge head: 32x the head limit
#: (its read buffers and the allocator's granularity), against the 100 MB it is sent.
RSS_SLACK = 32 * HEAD_LIMIT
#: Loopback sockets buffer a few MiB between the client and the gateway; an answer that
#: comes within this many bytes came when the limit was crossed, not at the end.
FAST_SLACK = 16 * 1024 * 1024
HEAD = b"GET /open/big HTTP/1.1\r\nHost: open.test\r\n"


def _refused(gateway: Gateway, backend: Backend, data: bytes, statuses: tuple[int, ...]) -> None:
    mark = backend.mark()
    resp, _, closed = raw.request(gateway.port, data)
    assert backend.between(mark, gateway.port) == []
    assert resp is not None, "no answer"
    assert resp.status in statuses, (resp.status, resp.body[:200])
    assert closed, "the connection stayed open after the refusal"


def test_long_request_line_gets_414(gateway: Gateway, backend: Backend) -> None:
    target = b"/open/" + b"a" * (URL_LIMIT + 100)
    _refused(gateway, backend, b"GET %b HTTP/1.1\r\nHost: open.test\r\n\r\n" % target, (414,))


def test_request_line_just_under_the_limit_is_served(gateway: Gateway, backend: Backend) -> None:
    target = b"/open/" + b"a" * (URL_LIMIT - 200)
    resp = raw.get(gateway.port, target)
    assert resp.status == 200 and resp.body == target[len(b"/open") :]


@pytest.mark.parametrize(
    "headers",
    [
        b"".join(b"X-Filler-%04d: %b\r\n" % (i, b"v" * 1000) for i in range(40)),
        b"X-Big: " + b"v" * (HEAD_LIMIT + 100) + b"\r\n",
        b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS + 1)),
    ],
    ids=["many-large-headers", "one-huge-value", "too-many-headers"],
)
def test_large_heads_get_431(gateway: Gateway, backend: Backend, headers: bytes) -> None:
    _refused(gateway, backend, HEAD + headers + b"\r\n", (400, 431))


@dataclass
class Stream:
    """What streaming a huge head showed: bytes sent when the answer came, and the answer."""

    sent: int = 0
    sent_at_answer: int | None = None
    answer: bytes = b""
    got_answer: threading.Event = field(default_factory=threading.Event)


def _read_answer(sock: socket.socket, stream: Stream) -> None:
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in stream.answer:
            data = sock.recv(65536)
            if not data:
                break
            stream.answer += data
    stream.sent_at_answer = stream.sent
    stream.got_answer.set()


def _stream(port: int, prefix: bytes, filler: bytes, *, total: int, delay: float) -> Stream:
    """Send `prefix`, then `filler` over and over up to `total` bytes (pausing `delay`
    between writes) until the gateway answers or closes."""
    stream = Stream()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 256 * 1024)
    reader = threading.Thread(target=_read_answer, args=(sock, stream), daemon=True)
    reader.start()
    try:
        sock.sendall(prefix)
        stream.sent = len(prefix)
        while stream.sent < total and not stream.got_answer.is_set():
            sock.sendall(filler)
            stream.sent += len(filler)
            if delay:
                time.sleep(delay)
    except OSError:
        pass  # closed or reset by the gateway: the answer, if any, is read already
    stream.got_answer.wait(10)
    sock.close()
    reader.join(5)
    return stream


class RssWatch:
    """Peak RSS of a process over a block: VmHWM reset first where the kernel allows it
    (/proc/PID/clear_refs), plus VmRSS sampled every 5 ms."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.before = gateway.rss()
        self.peak = self.before
        self._stop = threading.Event()
        self._hwm = False

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            with contextlib.suppress(OSError, AssertionError):
                self.peak = max(self.peak, self.gateway.rss())

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.gateway.pid}/clear_refs").write_text("5")
            self._hwm = True
        self.before = self.gateway.rss()
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        try:
            yield
        finally:
            self._stop.set()
            sampler.join(5)
            if self._hwm:
                self.peak = max(self.peak, self.gateway.status("VmHWM"))

    @property
    def growth(self) -> int:
        return self.peak - self.before


class SideClient:
    """Another client's requests while an attack runs: each must be answered 200."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._started = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                self.statuses.append(raw.get(self.port, b"/open/side-%d" % n).status)
            except (OSError, raw.Closed) as exc:
                self.errors.append(repr(exc))
            time.sleep(0.01)

    def _wait_for(self, count: int) -> None:
        end = time.monotonic() + 10
        while len(self.statuses) + len(self.errors) < count and time.monotonic() < end:
            time.sleep(0.005)

    def __enter__(self) -> SideClient:
        self._thread.start()
        self._wait_for(1)  # running before the attack starts
        self._started = len(self.statuses) + len(self.errors)
        return self

    def __exit__(self, *exc: object) -> None:
        self._wait_for(self._started + 3)  # and some during or right after it
        self._stop.set()
        self._thread.join(10)


HUGE_CASES = [
    # (prefix, filler, the limit crossed, what may answer)
    (HEAD, b"X-Filler: " + b"v" * 8180 + b"\r\n", HEAD_LIMIT, (400, 431)),
    (HEAD + b"X-Big: ", b"v" * 65536, HEAD_LIMIT, (400, 431)),
    (b"GET /open/", b"a" * 65536, URL_LIMIT, (414,)),
]
HUGE_IDS = ["100MB-of-headers", "one-100MB-header", "100MB-url"]


def _warm_up(gateway: Gateway) -> None:
    """One refused head of each kind first, so that the measured one allocates nothing
    that the first refusal of its kind would (code paths, the allocator's pools)."""
    for prefix, filler, limit, _ in HUGE_CASES:
        _stream(gateway.port, prefix, filler, total=limit * 3, delay=0)


@pytest.mark.parametrize(("prefix", "filler", "limit", "statuses"), HUGE_CASES, ids=HUGE_IDS)
def test_huge_head_is_refused_early_without_buffering(
    gateway: Gateway,
    backend: Backend,
    prefix: bytes,
    filler: bytes,
    limit: int,
    statuses: tuple[int, ...],
) -> None:
    _warm_up(gateway)
    mark = backend.mark()
    watch = RssWatch(gateway)
    with SideClient(gateway.port) as side, watch.watching():
        stream = _stream(gateway.port, prefix, filler, total=HUGE, delay=0)
    assert stream.answer.split(b" ", 2)[1:2] in ([b"%d" % s] for s in statuses), (
        f"no refusal after {stream.sent} bytes: {stream.answer[:200]!r}"
    )
    assert stream.sent_at_answer is not None and stream.sent_at_answer < FAST_SLACK, (
        f"answered only after {stream.sent_at_answer} of {HUGE} bytes"
    )
    print(f"sent {stream.sent_at_answer} bytes before the answer; RSS +{watch.growth}")
    assert watch.growth < RSS_SLACK, f"RSS grew by {watch.growth} bytes (limit {limit})"
    assert side.errors == [] and side.statuses and set(side.statuses) == {200}, (
        side.statuses[-5:],
        side.errors[:3],
    )
    assert gateway.alive() and gateway.healthy()
    side_targets = {f"/side-{n + 1}" for n in range(len(side.statuses))}
    seen = [e for e in backend.between(mark, gateway.port) if e["target"] not in side_targets]
    assert seen == []


@pytest.mark.parametrize(
    ("prefix", "filler", "limit", "statuses"),
    [
        (HEAD, b"X-Slow: " + b"v" * 1014 + b"\r\n", HEAD_LIMIT, (400, 431)),
        (b"GET /open/", b"a" * 512, URL_LIMIT, (414,)),
    ],
    ids=["slow-headers", "slow-url"],
)
def test_slow_huge_head_is_refused_once_over_the_limit(
    gateway: Gateway, prefix: bytes, filler: bytes, limit: int, statuses: tuple[int, ...]
) -> None:
    """Sent slowly (a small write every 5 ms), the answer comes within a few writes of the
    limit: the gateway checks as it reads, not once the head is complete."""
    with SideClient(gateway.port) as side:
        stream = _stream(gateway.port, prefix, filler, total=HUGE, delay=0.005)
    assert side.errors == [] and set(side.statuses) == {200}, side.errors[:3]
    assert stream.answer.split(b" ", 2)[1:2] in ([b"%d" % s] for s in statuses), (
        f"no refusal after {stream.sent} bytes: {stream.answer[:200]!r}"
    )
    assert stream.sent_at_answer is not None and stream.sent_at_answer < 4 * limit, (
        f"answered after {stream.sent_at_answer} bytes; the limit is {limit}"
    )
