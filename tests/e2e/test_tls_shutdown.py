"""SIGTERM to a replica serving mutual TLS: requests in flight finish, and a client that
keeps an idle connection in its pool without reading (as the control plane's health checks
and any synchronous HTTP pool do) does not hold the replica until its grace period ends,
which `crosscloud down` used to wait out for every replica."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crosscloud.domain import identity
from tests.e2e.mtls_kit import TD, Pki, Procs

pytestmark = pytest.mark.timeout(120)
GRACE = 60  # seconds a replica may drain
# Unanswered, a TLS close gives up after the event loop's SSL shutdown timeout (30 s): a
# replica that waits on its idle connections exits only then. It must exit well before.
EXIT_WITHIN = 20

SLOW_SERVICE = """
import time
from crosscloud import Service, endpoint

class Slow(Service):
    @endpoint
    def wait(self, seconds: float) -> str:
        time.sleep(seconds)
        return "done"

    @endpoint
    def big(self, size: int) -> str:
        return "x" * size
"""
BIG = 24 * 2**20  # more than the socket buffers on both sides hold


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[tuple[Pki, Procs]]:
    pki = Pki(tmp_path / "pki")
    pki.issue("probe", identity.gateway(TD))
    procs = Procs(tmp_path)
    try:
        yield pki, procs
    finally:
        procs.stop_all()


def test_sigterm_finishes_in_flight_and_does_not_wait_on_idle_pooled_connections(
    kit: tuple[Pki, Procs], tmp_path: Path
) -> None:
    pki, procs = kit
    source = tmp_path / "slow.py"
    source.write_text(SLOW_SERVICE)
    cert = pki.issue("slow", identity.workload(TD, "demo", "slow"))
    port = procs.replica(pki, cert, source=f"{source}:Slow", extra=("--grace", str(GRACE)))
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
