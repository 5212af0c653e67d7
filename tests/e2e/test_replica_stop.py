"""SIGTERM to a replica (as `crosscloud down` sends it), serving mutual TLS: requests in
flight finish, and the replica then exits promptly. A client that keeps an idle connection
in its pool without reading (the control plane's health checks, any synchronous HTTP pool)
does not hold it until its grace period ends, nor does a slow teardown of the modules it
imported (torch's took seconds); its atexit handlers and threads still finish."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crosscloud.domain import identity
from tests.conftest import ROOT
from tests.e2e.mtls_kit import TD, Pki, Procs, probe_kit

pytestmark = pytest.mark.timeout(120)
GRACE = 60  # seconds a replica may drain
# Unanswered, a TLS close gives up after the event loop's SSL shutdown timeout (30 s): a
# replica that waits on its idle connections exits only then. It must exit well before.
EXIT_WITHIN = 20
BIG = 24 * 2**20  # more than the socket buffers on both sides hold
SLOW = str(ROOT / "tests" / "e2e" / "apps" / "slow.py") + ":Slow"
TIDY = str(ROOT / "tests" / "e2e" / "apps" / "tidy.py") + ":Tidy"


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[tuple[Pki, Procs]]:
    with probe_kit(tmp_path) as both:
        yield both


def test_sigterm_finishes_in_flight_and_does_not_wait_on_idle_pooled_connections(
    kit: tuple[Pki, Procs], tmp_path: Path
) -> None:
    pki, procs = kit
    cert = pki.issue("slow", identity.workload(TD, "demo", "slow"))
    port = procs.replica(pki, cert, source=SLOW, extra=("--grace", str(GRACE)))
    replica = procs.procs[-1]
    url = f"https://127.0.0.1:{port}"
    tls = pki.client_context("probe")
    with (
        httpx.Client(verify=tls, timeout=30) as idle,
        httpx.Client(verify=tls, timeout=30) as busy,
        # A large answer, read slowly: all that the replica still has to send when SIGTERM
        # arrives must arrive (its close waits behind it).
        busy.stream("POST", f"{url}/big", json={"size": BIG}) as large,
    ):
        chunks = large.iter_raw(2**20)
        received = len(next(chunks))
        # Pooled keep-alive connections that nobody reads from while the replica stops.
        assert [idle.get(f"{url}/healthz").status_code for _ in range(3)] == [200] * 3
        answers: list[httpx.Response] = []
        worker = threading.Thread(
            target=lambda: answers.append(busy.post(f"{url}/wait", json={"seconds": 2}))
        )
        worker.start()
        in_flight = 'crosscloud_requests_in_flight{endpoint="wait"} 1.0'
        while in_flight not in idle.get(f"{url}/metrics").text:
            assert worker.is_alive(), answers
            time.sleep(0.02)
        replica.send_signal(signal.SIGTERM)
        for chunk in chunks:
            received += len(chunk)
            time.sleep(0.02)
        assert received == BIG + 2  # the JSON string's quotes
        worker.join(timeout=30)
        assert [(a.status_code, a.json()) for a in answers] == [(200, "done")]
        # Before the fix the replica sat in uvicorn's "Waiting for connections to close"
        # for 30 s (or its grace, if shorter), the pooled connections never answering.
        assert replica.wait(timeout=EXIT_WITHIN) == 0
        with pytest.raises(httpx.TransportError):  # the pooled connection is gone too
            idle.get(f"{url}/healthz")


def test_sigterm_exits_without_the_module_teardown_but_runs_atexit_and_joins_threads(
    kit: tuple[Pki, Procs], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki, procs = kit
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("CROSSCLOUD_TEST_MARKS", str(marks))
    cert = pki.issue("tidy", identity.workload(TD, "demo", "tidy"))
    port = procs.replica(pki, cert, source=TIDY)
    replica = procs.procs[-1]
    answer = httpx.post(
        f"https://127.0.0.1:{port}/later", json={}, verify=pki.client_context("probe")
    )
    assert (answer.status_code, answer.json()) == (200, "started")
    replica.send_signal(signal.SIGTERM)
    assert replica.wait(timeout=EXIT_WITHIN) == 0  # the teardown would sleep 60 s
    assert (marks / "atexit").read_text() == "ran"
    assert (marks / "thread").read_text() == "done"
