"""A replica that hangs (SIGSTOP) rather than dies, under concurrent load: every request
still succeeds, none waits longer than its per-try timeout plus one retry, and the gateway
ejects the hung replica after consecutive gateway failures (per-try timeouts count, as in
Envoy's outlier detection). The stopped processes always get SIGCONT."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.deploy import Deployer, Load, app_folder, isolated

pytestmark = pytest.mark.timeout(240)

PER_TRY = 1.0  # seconds: `perTryTimeout` below
ATTEMPTS = 2
CONSECUTIVE = 3
CLIENTS = 8
MANIFEST = f"""\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: hung
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - {{provider: local, region: region-a, services: [{{name: echo, replicas: 2}}]}}
    - {{provider: local, region: region-b, services: [{{name: echo, replicas: 1}}]}}
  traffic:
    policy: round-robin
    timeout: 30s
    retries: {{attempts: {ATTEMPTS}, perTryTimeout: {PER_TRY:g}s}}
    outlierDetection: {{consecutive5xxErrors: {CONSECUTIVE}, interval: 1s, baseEjectionTime: 60s}}
"""


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Deployer]:
    with isolated(tmp_path) as d:
        d.run("up", str(app_folder(tmp_path, MANIFEST) / "crosscloud.yaml"))
        d.wait(lambda: sum(r["state"] == "Ready" for r in d.replicas()) == 3, what="3 ready")
        yield d


def _start_time(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()[19]


@contextlib.contextmanager
def stopped(pids: list[int]) -> Iterator[None]:
    """SIGSTOP `pids`; SIGCONT whichever of them is still the same process, always."""
    marks = {pid: _start_time(pid) for pid in pids}
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        for pid, mark in marks.items():
            if mark is not None and _start_time(pid) == mark:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


def _ejections(gateway: str, upstream: str) -> int:
    text = httpx.get(f"{gateway}/metrics", trust_env=False, timeout=5).text
    for line in text.splitlines():
        if line.startswith("crosscloud_gateway_upstream_ejections") and (
            f'upstream="{upstream}"' in line
        ):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def _wait_ejected(gateway: str, upstream: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _ejections(gateway, upstream) > 0:
            return True
        time.sleep(0.2)
    return False


def test_a_hung_replica_costs_one_per_try_timeout_and_is_ejected(deployed: Deployer) -> None:
    d = deployed
    gateway = d.gateway()
    victim = next(r for r in d.replicas() if r["placement"] == "local/region-a")
    # The control plane is frozen too: its readiness probe would otherwise pull the hung
    # replica out of the gateway's endpoints within a second or two, and this test is about
    # what the gateway itself does with a replica that accepts connections but never answers.
    frozen = [*d.processes()["controlplane"], *d.processes()[victim["id"]]]
    # The clients' own timeout is past the service's 30 s: the gateway must answer.
    with Load(f"{gateway}/echo/echo", threads=CLIENTS, timeout=60) as load:
        d.wait(lambda: load.count() > 200, what="steady load")
        with stopped(frozen):
            hung = time.monotonic()
            ejected = _wait_ejected(gateway, victim["id"], timeout=20)
            after = time.monotonic()
            d.wait(lambda: len(load.since(after)) > 200, timeout=30, what="load after")
    answers = load.since(hung - 0.5)  # the requests already in flight when it stopped count
    failed = [(round(a.seconds, 2), a.status, a.body) for a in answers if a.status != 200]
    # The first try gives up after the per-try timeout; the one retry is bounded by it too.
    bound = PER_TRY * 2
    slow = sorted(round(a.seconds, 2) for a in answers if a.seconds > bound)
    waited = sum(1 for a in answers if a.seconds > PER_TRY)
    summary = (
        f"{len(answers)} requests from {CLIENTS} clients while replica {victim['id']} was"
        f" stopped; {waited} paid the {PER_TRY:g} s per-try timeout; failed {len(failed)};"
        f" slower than {bound:g} s: {len(slow)}; slowest {max(a.seconds for a in answers):.2f} s;"
        f" ejected: {ejected}"
    )
    print(f"\n{summary}")
    assert not failed, f"{summary}\nfailed (seconds, status, body): {failed[:20]}"
    assert not slow, f"{summary}\nslower than per-try timeout + one retry: {slow[:20]}"
    assert ejected, f"{summary}\nthe gateway never ejected the hung replica"
