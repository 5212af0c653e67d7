"""How a case's bytes go out and its answers come back: `exchange` (one write, then every
answer read in order, then the probe) or a conversation that one write cannot express:
100-continue, large uploads, a slow reader, several connections at once.

A driver is `drive(port, case, expected) -> Outcome`; it reads as many answers as
`expected` has, so a missing answer shows as a read error and an extra one in the probe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent import futures

from tests.e2e.conformance import backend, wire
from tests.e2e.conformance.model import PROBE, PROBE_MARKER, Answer, Case, Driver, Expected, Outcome

#: How long any read waits for the next bytes.
READ_TIMEOUT = 5.0
#: How long a client waits for `100 Continue` before it sends the body anyway.
CONTINUE_WAIT = 2.0


def _connect(port: int, **kwargs: int) -> wire.Conn:
    return wire.Conn(port, timeout=READ_TIMEOUT, **kwargs)


def _send(conn: wire.Conn, data: bytes, outcome: Outcome) -> bool:
    try:
        conn.send(data)
    except OSError as exc:
        outcome.error = f"sending failed: {type(exc).__name__}: {exc}"
        return False
    return True


def _read(conn: wire.Conn, answers: tuple[Answer, ...], outcome: Outcome) -> bool:
    try:
        for answer in answers:
            outcome.answers.append(conn.read_response(head=answer.head))
    except (wire.WireError, OSError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        return False
    return True


def _probe(conn: wire.Conn, outcome: Outcome) -> Outcome:
    outcome.after = conn.probe(PROBE, PROBE_MARKER)
    return outcome


def exchange(port: int, case: Case, expected: Expected) -> Outcome:
    """Send all of `case.send` in one write; read every answer; probe."""
    outcome = Outcome()
    with _connect(port) as conn:
        if _send(conn, case.send, outcome) and _read(conn, expected.answers, outcome):
            _probe(conn, outcome)
    return outcome


def one_by_one(port: int, case: Case, expected: Expected) -> Outcome:
    """Send `case.send` once per expected answer on one connection, each after the last
    answer came: sequential keep-alive."""
    outcome = Outcome()
    with _connect(port) as conn:
        for answer in expected.answers:
            if not (_send(conn, case.send, outcome) and _read(conn, (answer,), outcome)):
                return outcome
        return _probe(conn, outcome)


def _merge(outcomes: list[Outcome]) -> Outcome:
    merged = Outcome()
    failed = [(i, one.error) for i, one in enumerate(outcomes) if one.error]
    for one in outcomes:
        merged.answers += one.answers
        merged.problems += one.problems
    if failed:
        i, error = failed[0]
        merged.error = f"{len(failed)} of {len(outcomes)} connections failed; #{i + 1}: {error}"
    found = sorted({one.after for one in outcomes})
    merged.after = found[0] if len(found) == 1 else " / ".join(found)
    return merged


def fresh_connections(port: int, case: Case, expected: Expected) -> Outcome:
    """`case.send` on a new connection per expected answer, one after the other."""
    one = Expected(expected.answers[:1], expected.after)
    return _merge([exchange(port, case, one) for _ in expected.answers])


def concurrent(port: int, case: Case, expected: Expected) -> Outcome:
    """`case.send` on a new connection per expected answer, all at once."""
    one = Expected(expected.answers[:1], expected.after)
    with futures.ThreadPoolExecutor(len(expected.answers)) as pool:
        runs = [pool.submit(exchange, port, case, one) for _ in expected.answers]
        return _merge([run.result() for run in runs])


def slow_reader(port: int, case: Case, expected: Expected) -> Outcome:
    """Let the answer back up into a small receive window, then read it in small sips."""
    outcome = Outcome()
    with _connect(port, rcvbuf=16 * 1024) as conn:
        if not _send(conn, case.send, outcome):
            return outcome
        time.sleep(0.5)
        conn.recv_size, conn.pause = 16 * 1024, 0.001
        if _read(conn, expected.answers, outcome):
            conn.recv_size, conn.pause = 256 * 1024, 0.0
            _probe(conn, outcome)
    return outcome


def streaming(marker: bytes) -> Driver:
    """Like `exchange`, and the first bytes of the body (`marker`) must arrive well before
    the rest: the proxy streams rather than collects the answer."""

    def drive(port: int, case: Case, expected: Expected) -> Outcome:
        outcome = Outcome()
        with _connect(port) as conn:
            start = time.monotonic()
            if not _send(conn, case.send, outcome):
                return outcome
            try:
                conn.wait_for(marker)
            except wire.WireError as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"
                return outcome
            first = time.monotonic() - start
            if _read(conn, expected.answers, outcome):
                whole = time.monotonic() - start
                if first > whole / 2:
                    outcome.problems.append(f"first bytes after {first:.2f}s of {whole:.2f}s")
                _probe(conn, outcome)
        return outcome

    return drive


def upload(size: int, *, chunked: bool) -> Driver:
    """Send the head in `case.send`, then `size` bytes of `backend.pattern(size)` as its
    body (in 64 KiB chunks when `chunked`), then read the answers."""

    def drive(port: int, case: Case, expected: Expected) -> Outcome:
        data = backend.pattern(size)
        if chunked:
            step = backend.CHUNK
            parts = [backend.chunk(data[i : i + step]) for i in range(0, size, step)]
            data = b"".join(parts) + b"0\r\n\r\n"
        outcome = Outcome()
        with _connect(port) as conn:
            if _send(conn, case.send + data, outcome) and _read(conn, expected.answers, outcome):
                _probe(conn, outcome)
        return outcome

    return drive


def expect_continue(body: bytes) -> Driver:
    """Send `case.send` (it ends with a head that has `Expect: 100-continue`), read the
    answers before the last, wait for `100 Continue`, then send `body` and read the last
    answer; the 100 is recorded as the last answer's interim."""

    def drive(port: int, case: Case, expected: Expected) -> Outcome:
        outcome = Outcome()
        with _connect(port) as conn:
            if not (
                _send(conn, case.send, outcome) and _read(conn, expected.answers[:-1], outcome)
            ):
                return outcome
            conn.set_timeout(CONTINUE_WAIT)
            status = conn.read_interim()
            conn.set_timeout(READ_TIMEOUT)
            if status is None:
                outcome.problems.append(f"no 100 Continue within {CONTINUE_WAIT}s")
            if _send(conn, body, outcome) and _read(conn, expected.answers[-1:], outcome):
                if status is not None:
                    outcome.answers[-1].interim.insert(0, status)
                _probe(conn, outcome)
        return outcome

    return drive


def _send_in_background(conn: wire.Conn, data: bytes, stalled: list[str]) -> threading.Thread:
    """Send `data` from another thread; a send that waits past the read timeout (the peer
    neither reads nor closes) is put in `stalled`. An error is fine: the server may close
    once it has answered."""

    def run() -> None:
        sent = 0
        try:
            while sent < len(data):
                conn.send(data[sent : sent + backend.CHUNK])
                sent += backend.CHUNK
        except TimeoutError:
            stalled.append(f"the upload stalled after {sent} bytes: nobody reads, nobody closes")
        except OSError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def answered_early(size: int) -> Driver:
    """Send the head in `case.send`, and `size` body bytes from another thread while the
    answer is read: a server may answer (413) before it has read the body; the client must
    get that answer and its upload must end (read and dropped, or refused by a close)
    rather than hang on a full send buffer."""

    def drive(port: int, case: Case, expected: Expected) -> Outcome:
        outcome = Outcome()
        with _connect(port) as conn:
            if not _send(conn, case.send, outcome):
                return outcome
            sender = _send_in_background(conn, b"x" * size, outcome.problems)
            if _read(conn, expected.answers, outcome):
                sender.join(timeout=2 * READ_TIMEOUT)
                _probe(conn, outcome)
        return outcome

    return drive


def run(port: int, case: Case, expected: Expected) -> Outcome:
    drive: Callable[[int, Case, Expected], Outcome] = case.drive or exchange
    return drive(port, case, expected)
