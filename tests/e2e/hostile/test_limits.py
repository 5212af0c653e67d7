"""The gateway's client limits (`limits:` in its config file, `spec.traffic.limits` in a
manifest), with small values so that the tests are quick: header, body and idle
timeouts; head, target, header-count and body sizes; pipelining with back-pressure; the
connection cap (503 and close, no spinning accept loop) with a low open-file limit too;
the open-file limit raised at start (2,000 idle keep-alive clients held); and slowloris
clients that must not slow the others down (p99 ratio, measured in the same test).

`Host: open.test` routes by Host, which keeps the whole path: the backend sees `/open/...`.
"""

from __future__ import annotations

import contextlib
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from tests.e2e.hostile import raw
from tests.e2e.hostile.conftest import HERE, Backend, Gateway, gateway_config, raised_nofile

pytestmark = pytest.mark.timeout(60)

T = 1.0  # header, body and idle timeout of the `small` gateway
#: How late past its timeout a connection may close: the gateway sweeps its connections
#: on a tick, and this machine is shared.
SLACK = 3.0
SMALL = {
    "headerTimeout": "1s",
    "bodyTimeout": "1s",
    "idleTimeout": "1s",
    "maxHeaderBytes": "4Ki",
    "maxUrlBytes": "1Ki",
    "maxHeaders": 20,
    "maxBodySize": "1Ki",
    "maxPipelined": 4,
}
CAP = 20


@pytest.fixture(scope="module")
def small(backend: Backend, gateways: Callable[..., Gateway]) -> Gateway:
    return gateways(gateway_config(backend, SMALL))


def _timed_close(conn: raw.Conn, within: float) -> tuple[float, bytes]:
    """(seconds until the gateway closed `conn`, what it sent before); fails if it did not
    close within `within`."""
    start = time.monotonic()
    closed, data = conn.closed_within(within)
    assert closed, f"still open after {within} s (got {data[:200]!r})"
    return time.monotonic() - start, data


def _only_408(data: bytes) -> None:
    """A timed-out client gets a 408 or nothing at all before the close."""
    assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data[:200]


# -- timeouts ---------------------------------------------------------------------------


@pytest.mark.parametrize("trickle", [False, True], ids=["half-head", "trickled-head"])
def test_header_timeout_closes_a_late_head(small: Gateway, backend: Backend, trickle: bool) -> None:
    """Half a head, then nothing (or a header line every 0.2 s: a slowloris): 408 or a
    close at the header timeout, which counts from the first byte, not the last."""
    mark = backend.mark()
    stop = threading.Event()
    with raw.Conn(small.port, timeout=T + SLACK) as conn:
        conn.send(b"GET /open/late-head HTTP/1.1\r\nHost: open.test\r\n")

        def drip() -> None:
            while not stop.wait(0.2):
                with contextlib.suppress(OSError):
                    conn.sock.send(b"X-Drip: 1\r\n")

        if trickle:
            threading.Thread(target=drip, daemon=True).start()
        try:
            waited, data = _timed_close(conn, T + SLACK)
        finally:
            stop.set()
    _only_408(data)
    assert waited >= T / 2, f"closed after {waited:.2f} s, before its {T} s timeout"
    assert backend.between(mark, small.port) == []


def test_idle_timeout_closes_an_idle_keepalive_connection(small: Gateway) -> None:
    with raw.Conn(small.port) as conn:
        conn.send(b"GET /open/idle HTTP/1.1\r\nHost: open.test\r\n\r\n")
        assert conn.response().status == 200
        waited, data = _timed_close(conn, T + SLACK)
    _only_408(data)
    assert waited >= T / 2, f"closed after {waited:.2f} s, before its {T} s timeout"


def test_idle_timeout_closes_a_connection_that_never_sends(small: Gateway) -> None:
    with raw.Conn(small.port) as conn:
        waited, data = _timed_close(conn, T + SLACK)
    _only_408(data)
    assert waited >= T / 2, f"closed after {waited:.2f} s, before its {T} s timeout"


def test_empty_lines_do_not_keep_an_idle_connection_open(small: Gateway) -> None:
    """CRLF every T/5 after a request: the parser skips empty lines between requests, and
    they must not restart the idle time (they did: such a client was never closed)."""
    with raw.Conn(small.port) as conn:
        conn.send(b"GET /open/idle HTTP/1.1\r\nHost: open.test\r\n\r\n")
        assert conn.response().status == 200
        stop = threading.Event()

        def dribble() -> None:
            while not stop.wait(T / 5):
                try:
                    conn.send(b"\r\n")
                except OSError:
                    return

        sender = threading.Thread(target=dribble, daemon=True)
        sender.start()
        try:
            waited, data = _timed_close(conn, T + SLACK)
        finally:
            stop.set()
            sender.join(timeout=5)
    _only_408(data)
    assert waited >= T / 2, f"closed after {waited:.2f} s, before its {T} s timeout"


def test_a_busy_keepalive_connection_stays_open(small: Gateway) -> None:
    """A request every T/4 for 2.5 T on one connection: the idle timeout never fires."""
    with raw.Conn(small.port) as conn:
        end = time.monotonic() + 2.5 * T
        n = 0
        while time.monotonic() < end:
            n += 1
            conn.send(b"GET /open/busy-%d HTTP/1.1\r\nHost: open.test\r\n\r\n" % n)
            resp = conn.response()
            assert resp.status == 200 and resp.body == b"/open/busy-%d" % n
            time.sleep(T / 4)
    assert n >= 5


def test_body_timeout_closes_a_stalled_body(small: Gateway, backend: Backend) -> None:
    mark = backend.mark()
    with raw.Conn(small.port) as conn:
        conn.send(b"POST /open/stalled HTTP/1.1\r\nHost: open.test\r\nContent-Length: 100\r\n\r\n")
        conn.send(b"0123456789")
        waited, data = _timed_close(conn, T + SLACK)
    _only_408(data)
    assert waited >= T / 2, f"closed after {waited:.2f} s, before its {T} s timeout"
    complete = [e for e in backend.between(mark, small.port) if "incomplete" not in e]
    assert complete == [], "a body cut off by its timeout reached the backend whole"


def test_body_timeout_is_a_gap_not_a_total(small: Gateway, backend: Backend) -> None:
    """Six bytes, one every 0.35 T: over 2 T in all, but no gap reaches T."""
    mark = backend.mark()
    with raw.Conn(small.port, timeout=T + SLACK) as conn:
        conn.send(b"POST /open/dripped HTTP/1.1\r\nHost: open.test\r\nContent-Length: 6\r\n\r\n")
        for byte in b"abcdef":
            time.sleep(0.35 * T)
            conn.send(bytes([byte]))
        assert conn.response().status == 200
    seen = backend.between(mark, small.port)
    assert [(e["target"], e["body"]) for e in seen] == [("/open/dripped", "abcdef")]


# -- sizes ------------------------------------------------------------------------------


def _head(target: bytes = b"/open/size", headers: bytes = b"", body: bytes = b"") -> bytes:
    return b"POST %b HTTP/1.1\r\nHost: open.test\r\n%bContent-Length: %d\r\n\r\n%b" % (
        target,
        headers,
        len(body),
        body,
    )


SIZE_CASES = [
    # (request, the answer)
    ("body-over", _head(body=b"b" * 1025), (413,)),
    ("body-at-limit", _head(body=b"b" * 1024), (200,)),
    (
        "chunked-body-over",
        b"POST /open/size HTTP/1.1\r\nHost: open.test\r\nTransfer-Encoding: "
        b"chunked\r\n\r\n400\r\n" + b"c" * 1024 + b"\r\n2\r\ncc\r\n0\r\n\r\n",
        (413,),
    ),
    ("headers-over", _head(headers=b"".join(b"X-H%d: v\r\n" % i for i in range(25))), (431,)),
    ("headers-under", _head(headers=b"".join(b"X-H%d: v\r\n" % i for i in range(10))), (200,)),
    ("head-bytes-over", _head(headers=b"X-Big: " + b"v" * 5000 + b"\r\n"), (431,)),
    ("head-bytes-under", _head(headers=b"X-Big: " + b"v" * 3000 + b"\r\n"), (200,)),
    ("url-over", _head(target=b"/open/" + b"u" * 2048), (414,)),
    ("url-under", _head(target=b"/open/" + b"u" * 900), (200,)),
]


@pytest.mark.parametrize(
    ("data", "statuses"), [c[1:] for c in SIZE_CASES], ids=[c[0] for c in SIZE_CASES]
)
def test_size_limits(
    small: Gateway, backend: Backend, data: bytes, statuses: tuple[int, ...]
) -> None:
    mark = backend.mark()
    resp, _, closed = raw.request(small.port, data, timeout=T + SLACK)
    seen = [e for e in backend.between(mark, small.port) if "incomplete" not in e]
    assert resp is not None, "no answer"
    assert resp.status in statuses, (resp.status, resp.body[:200])
    if resp.status == 200:
        assert len(seen) == 1
    else:
        assert closed, "the connection stayed open after the refusal"
        assert seen == [], f"a refused request reached the backend: {seen}"


# -- pipelining -------------------------------------------------------------------------


def _pipeline(n: int, *, bodies: bool) -> bytes:
    out = []
    for i in range(n):
        close = b"Connection: close\r\n" if i == n - 1 else b""
        if bodies and i % 2:
            body = b"body-%d" % i
            out.append(
                b"POST /open/p-%d HTTP/1.1\r\nHost: open.test\r\n%bContent-Length: %d\r\n"
                b"\r\n%b" % (i, close, len(body), body)
            )
        elif bodies:
            out.append(
                b"POST /open/p-%d HTTP/1.1\r\nHost: open.test\r\n%bTransfer-Encoding: "
                b"chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" % (i, close)
            )
        else:
            out.append(b"GET /open/p-%d HTTP/1.1\r\nHost: open.test\r\n%b\r\n" % (i, close))
    return b"".join(out)


@pytest.mark.parametrize("bodies", [False, True], ids=["gets", "posts-with-bodies"])
def test_50_pipelined_requests_answered_in_order(
    small: Gateway, backend: Backend, bodies: bool
) -> None:
    """maxPipelined is 4: the gateway stops reading past it and resumes as answers go
    out, so all 50 are answered, in order, each once."""
    mark = backend.mark()
    with raw.Conn(small.port) as conn:
        conn.send(_pipeline(50, bodies=bodies))
        answers = [conn.response() for _ in range(50)]
        closed, rest = conn.closed_within(T + SLACK)
    assert [(a.status, a.body) for a in answers] == [(200, b"/open/p-%d" % i) for i in range(50)]
    assert closed and rest == b""
    seen = backend.between(mark, small.port)
    assert [e["target"] for e in seen] == [f"/open/p-{i}" for i in range(50)]


def test_pipelined_flood_from_a_client_that_reads_late(small: Gateway) -> None:
    """1,000 pipelined requests sent while the client reads nothing for a while: none lost,
    none answered out of order, none cut off by a timeout while the gateway held back."""
    data = _pipeline(1000, bodies=False)
    with raw.Conn(small.port, timeout=30) as conn:
        writer = threading.Thread(target=conn.sock.sendall, args=(data,), daemon=True)
        writer.start()
        time.sleep(2 * T)  # past every timeout: held back by the gateway, not idle
        answers = [conn.response() for _ in range(1000)]
        writer.join(10)
    assert [(a.status, a.body) for a in answers] == [(200, b"/open/p-%d" % i) for i in range(1000)]


# -- connection caps --------------------------------------------------------------------


def _hold(port: int, n: int, *, tag: bytes) -> tuple[list[raw.Conn], list[int]]:
    """n keep-alive connections, one request each; (those answered 200, every status)."""
    held, statuses = [], []
    for i in range(n):
        conn = raw.Conn(port)
        conn.send(b"GET /open/%b-%d HTTP/1.1\r\nHost: open.test\r\n\r\n" % (tag, i))
        try:
            status = conn.response().status
        except raw.Closed:
            status = 0  # an empty reply
        statuses.append(status)
        if status == 200:
            held.append(conn)
        else:
            conn.close()
    return held, statuses


def _over_cap_answer(port: int) -> tuple[int, bool]:
    """(status, closed after it) for one more client."""
    with raw.Conn(port) as conn:
        conn.send(b"GET /open/one-more HTTP/1.1\r\nHost: open.test\r\n\r\n")
        try:
            status = conn.response().status
        except raw.Closed:
            return 0, True
        closed, _ = conn.closed_within(SLACK)
        return status, closed


def _cpu_share(gateway: Gateway, seconds: float, port: int) -> float:
    """The gateway's CPU (cores) over `seconds` while a new client arrives every 20 ms and
    10 more connect and send nothing."""
    silent = [raw.Conn(port) for _ in range(10)]
    cpu0, t0 = gateway.cpu(), time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            with contextlib.suppress(OSError, raw.Closed):
                _over_cap_answer(port)
            time.sleep(0.02)
        return (gateway.cpu() - cpu0) / (time.monotonic() - t0)
    finally:
        for conn in silent:
            conn.close()


def _served_again(port: int) -> bool:
    end = time.monotonic() + SLACK
    while time.monotonic() < end:
        with contextlib.suppress(OSError, raw.Closed):
            if raw.get(port, b"/open/again").status == 200:
                return True
        time.sleep(0.1)
    return False


def test_connection_cap_503_then_close_without_spinning(
    backend: Backend, gateways: Callable[..., Gateway]
) -> None:
    gw = gateways(gateway_config(backend, {"maxConnections": CAP}))
    held, statuses = _hold(gw.port, CAP, tag=b"cap")
    try:
        assert statuses == [200] * CAP
        assert _over_cap_answer(gw.port) == (503, True)
        share = _cpu_share(gw, 1.0, gw.port)
        assert share < 0.5, f"the gateway used {share:.2f} of a core while over its cap"
        for conn in held[:2]:
            conn.close()
        assert _served_again(gw.port), "not served again after clients left"
    finally:
        for conn in held:
            conn.close()


def test_low_open_file_limit_gives_clean_answers_without_spinning(
    backend: Backend, gateways: Callable[..., Gateway]
) -> None:
    """An open-file limit of 256 that the gateway cannot raise: 300 keep-alive clients
    each get an answer (200 or 503), never an empty reply; a new client too; no spinning
    accept loop; served again once they leave."""
    gw = gateways(gateway_config(backend), nofile=(256, 256))
    assert gw.nofile() == (256, 256)
    held, statuses = _hold(gw.port, 300, tag=b"lowfd")
    try:
        assert set(statuses) <= {200, 503}, f"empty replies: {statuses.count(0)}"
        assert held, "no client was served at all"
        status, closed = _over_cap_answer(gw.port)
        assert status in (200, 503) and (status == 200 or closed)
        share = _cpu_share(gw, 1.0, gw.port)
        assert share < 0.5, f"the gateway used {share:.2f} of a core at its fd limit"
        for conn in held:
            conn.close()
        assert _served_again(gw.port)
    finally:
        for conn in held:
            conn.close()


# -- many clients -----------------------------------------------------------------------

MANY = {"headerTimeout": "60s", "idleTimeout": "60s"}
IDLE_CLIENTS = 2000


@pytest.fixture(scope="module")
def many(backend: Backend, gateways: Callable[..., Gateway]) -> Gateway:
    """Started with a soft open-file limit of 1024 (the hard one as it is): the gateway
    must raise it itself."""
    return gateways(gateway_config(backend, MANY), nofile=(1024, None))


def test_open_file_limit_raised_at_start(many: Gateway) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip(f"the hard open-file limit is {hard}: nothing to raise")
    soft, gw_hard = many.nofile()
    assert soft == gw_hard, f"soft limit {soft}, hard {gw_hard}"


def test_2000_idle_keepalive_connections_are_held(many: Gateway) -> None:
    with raised_nofile(2 * IDLE_CLIENTS + 100):
        held, statuses = _hold(many.port, IDLE_CLIENTS, tag=b"idle")
        try:
            assert statuses.count(200) == IDLE_CLIENTS, {s: statuses.count(s) for s in statuses}
            assert raw.get(many.port, b"/open/newcomer").status == 200
            for i, conn in enumerate(held):
                conn.send(b"GET /open/again-%d HTTP/1.1\r\nHost: open.test\r\n\r\n" % i)
                assert conn.response().status == 200, f"connection {i} was not kept"
        finally:
            for conn in held:
                conn.close()


def _latencies(port: int, n: int, tag: str) -> list[float]:
    """Seconds per request, each on a new connection (Connection: close)."""
    out = []
    for i in range(n):
        start = time.perf_counter()
        resp = raw.get(port, f"/open/{tag}-{i}".encode())
        out.append(time.perf_counter() - start)
        assert resp.status == 200
    return out


class Slowloris:
    """A slowloris.py process whose `count` half-sent heads are opened and closed on
    demand; each switch waits until the gateway holds (or has let go of) them all."""

    def __init__(self, gateway: Gateway, count: int) -> None:
        self.gateway, self.count = gateway, count
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "slowloris.py"), str(gateway.port), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.base = self._settled_fds()

    def _say(self, word: str, answer: bytes) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(word.encode() + b"\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == answer

    def _wait_fds(self, done: Callable[[int], bool], what: str) -> None:
        end = time.monotonic() + SLACK
        while not done(self.gateway.fds()) and time.monotonic() < end:
            time.sleep(0.02)
        assert done(self.gateway.fds()), what

    def _settled_fds(self) -> int:
        """The gateway's descriptor count once it has stopped changing (connections
        closed by an earlier test are let go of)."""
        last, same, end = -1, 0, time.monotonic() + SLACK
        while same < 3 and time.monotonic() < end:
            now = self.gateway.fds()
            same, last = (same + 1 if now == last else 0), now
            time.sleep(0.05)
        return last

    def open(self) -> None:
        self.base = self._settled_fds()
        self._say("open", b"open")
        # A client connection or two counted in `base` may have closed since.
        self._wait_fds(lambda n: n >= self.base + self.count - 10, "not all accepted")

    def close(self) -> None:
        self._say("close", b"closed")
        self._wait_fds(lambda n: n <= self.base + 10, "not all let go")

    def stop(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc.stdout.close()


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


#: 960 requests per condition, in rounds that alternate ABBA.
ROUNDS, PER_ROUND = 6, 160


def _measure(gateway: Gateway, attacker: Slowloris, samples: dict[bool, list[float]]) -> None:
    for round_ in range(ROUNDS):
        for attacked in (False, True) if round_ % 2 == 0 else (True, False):
            if attacked:
                attacker.open()
            tag = f"r{len(samples[attacked])}-{attacked:d}"
            samples[attacked] += _latencies(gateway.port, PER_ROUND, tag)
            if attacked:
                attacker.close()


def _p99_ratio(samples: dict[bool, list[float]]) -> float:
    base, attacked = _p99(samples[False]), _p99(samples[True])
    print(
        f"{len(samples[False])} requests each: p99 without slowloris {base * 1e3:.2f} ms,"
        f" with 500 {attacked * 1e3:.2f} ms (medians {statistics.median(samples[False]) * 1e3:.2f}"
        f" and {statistics.median(samples[True]) * 1e3:.2f} ms): ratio {attacked / base:.2f}"
    )
    return attacked / base


def test_slowloris_does_not_slow_other_clients(many: Gateway) -> None:
    """500 connections that sent half a head and wait: the p99 latency of other clients
    (a new connection per request) at most 2x the p99 without them.

    Both are measured in short alternating rounds (ABBA) so that the load of a shared
    machine falls on both alike. There, a p99 from 960 requests can still swing by 2x
    between identical runs (a few scheduler stalls land on one side): when the first
    measurement is over 2x, as many requests again are measured and the verdict is on
    all of them. A real slowdown shows in both."""
    samples: dict[bool, list[float]] = {False: [], True: []}
    with raised_nofile(1200):
        attacker = Slowloris(many, 500)
        try:
            _latencies(many.port, 50, "warm")
            _measure(many, attacker, samples)
            ratio = _p99_ratio(samples)
            if ratio > 2.0:
                _measure(many, attacker, samples)
                ratio = _p99_ratio(samples)
        finally:
            attacker.stop()
    assert ratio <= 2.0
