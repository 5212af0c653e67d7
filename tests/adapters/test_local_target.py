"""The local target with real replica processes (the echo example) on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from crosscloud.adapters.local import procs
from crosscloud.adapters.local import target as local
from crosscloud.domain import state, targets

ROOT = Path(__file__).resolve().parents[2]
ECHO = str(ROOT / "examples" / "echo" / "service.py") + ":Echo"
SLEEPY = str(Path(__file__).parent / "data" / "sleepy.py") + ":Sleepy"
Running = state.Liveness.RUNNING
Start = Callable[..., state.ReplicaRecord]


@pytest.fixture
def target(tmp_path: Path) -> Iterator[local.LocalTarget]:
    made = local.LocalTarget(home=tmp_path / "home", drain_grace=5.0, stop_grace=10.0)
    yield made
    made.close()


@pytest.fixture
def start(target: local.LocalTarget) -> Iterator[Start]:
    """Start replicas; afterwards SIGKILL exactly the ones that are still those processes."""
    started: list[state.ReplicaRecord] = []

    def launch(
        replica_id: str = "r-1",
        *,
        placement: str = "local/region-a",
        source: str = ECHO,
        cpus: float = 1.0,
    ) -> state.ReplicaRecord:
        spec = targets.LaunchSpec(
            replica_id=replica_id,
            deployment="shop",
            service="echo",
            placement=placement,
            version=1,
            source=source,
            cpus=cpus,
        )
        record = target.start(spec)
        started.append(record)
        return record

    yield launch
    for record in started:
        assert record.pid is not None
        if procs.identity(record.pid, record.process_start_time) is procs.Identity.ALIVE:
            os.killpg(record.pid, signal.SIGKILL)
        target.stop(record, grace=5.0)  # reaps our child


def _ready(target: local.LocalTarget, record: state.ReplicaRecord) -> None:
    seen = target.wait_ready(record, timeout=60)
    log = target.record_log_path(record)
    assert seen.ready, f"{seen}\n{''.join(procs.last_lines(log, 30))}"


def _wait_in_flight(record: state.ReplicaRecord) -> None:
    wanted = 'crosscloud_requests_in_flight{endpoint="nap"} 1.0'
    for _ in range(600):
        if wanted in httpx.get(f"{record.url}/metrics", timeout=10).text:
            return
        threading.Event().wait(0.05)
    pytest.fail("the /nap request never arrived")


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_replicas_in_two_regions_serve_with_their_own_port_log_and_env(
    target: local.LocalTarget, start: Start
) -> None:
    a = start("r-a", placement="local/region-a", cpus=2)
    b = start("r-b", placement="local/region-b")
    for record in (a, b):
        _ready(target, record)
        reply = httpx.post(f"{record.url}/echo", json={"text": f"hi {record.id}"}, timeout=10)
        assert reply.json() == f"hi {record.id}"
    assert a.port != b.port
    assert a.state is state.ReplicaState.STARTING
    assert a.pid is not None
    assert a.process_start_time == procs.process_start_time(a.pid)
    env = _environ(a.pid)
    assert (env["CROSSCLOUD_REPLICA_ID"], env["CROSSCLOUD_PLACEMENT"]) == ("r-a", "local/region-a")
    assert env["CROSSCLOUD_CPUS"] == "2"
    log_a = target.home / "logs" / "shop" / "echo" / "region-a" / "r-a.log"
    assert target.record_log_path(a) == log_a
    assert any("Echo is ready" in line for line in procs.last_lines(log_a))
    assert (target.home / "logs" / "shop" / "echo" / "region-b" / "r-b.log").exists()


def test_a_replica_outlives_its_starter_in_its_own_session(
    target: local.LocalTarget, start: Start
) -> None:
    record = start()
    assert record.pid is not None
    assert os.getsid(record.pid) == record.pid
    assert os.getsid(record.pid) != os.getsid(0)


def test_sigkill_is_seen_as_a_crash_with_its_signal(
    target: local.LocalTarget, start: Start
) -> None:
    record = start()
    _ready(target, record)
    assert record.pid is not None
    os.kill(record.pid, signal.SIGKILL)
    seen = target.wait_ready(record, timeout=30)
    assert seen.liveness is state.Liveness.EXITED
    assert seen.exit_code == -signal.SIGKILL
    assert "SIGKILL" in seen.detail


def test_a_fresh_target_adopts_a_live_replica_and_sees_its_death(
    target: local.LocalTarget, start: Start, tmp_path: Path
) -> None:
    record = start()
    _ready(target, record)
    restarted = local.LocalTarget(home=target.home)  # as after a control-plane restart
    try:
        adopted = restarted.wait_ready(record, timeout=30)
        assert (adopted.liveness, adopted.ready) == (Running, True)
        assert record.pid is not None
        os.kill(record.pid, signal.SIGKILL)
        seen = restarted.wait_ready(record, timeout=30)
        assert seen.liveness is state.Liveness.EXITED  # even while still an unreaped zombie
        assert seen.exit_code is None
    finally:
        restarted.close()


def test_stop_drains_and_leaves_no_process(target: local.LocalTarget, start: Start) -> None:
    record = start()
    _ready(target, record)
    assert record.pid is not None
    assert target.stop(record) == 0
    assert procs.process_start_time(record.pid) is None
    assert target.observe_one(record).liveness is state.Liveness.EXITED
    assert target.stop(record) is None  # stopping again is a no-op


def test_stop_kills_a_replica_that_does_not_drain_in_time(
    target: local.LocalTarget, start: Start
) -> None:
    record = start(source=SLEEPY)
    _ready(target, record)
    answers: list[str] = []

    def nap() -> None:
        try:
            httpx.post(f"{record.url}/nap", json={"seconds": 60}, timeout=90)
        except httpx.HTTPError as exc:  # the replica is killed mid-request
            answers.append(type(exc).__name__)

    pending = threading.Thread(target=nap, daemon=True)
    pending.start()
    _wait_in_flight(record)
    assert record.pid is not None
    assert target.stop(record, grace=1.0) == -signal.SIGKILL
    assert procs.process_start_time(record.pid) is None
    pending.join(timeout=30)
    assert answers == ["RemoteProtocolError"]


def test_a_reused_pid_is_never_adopted_nor_killed(target: local.LocalTarget) -> None:
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        real = procs.process_start_time(stranger.pid)
        assert real is not None
        record = state.ReplicaRecord(
            "r-old",
            "shop",
            "echo",
            "local/region-a",
            1,
            pid=stranger.pid,
            port=1,
            process_start_time=real - 1,
        )
        seen = target.observe_one(record)
        assert seen.liveness is state.Liveness.GONE
        assert "another process" in seen.detail
        assert target.stop(record, grace=0.5) is None
        assert stranger.poll() is None  # still running: not ours to kill
    finally:
        stranger.kill()
        stranger.wait()


def test_a_replica_whose_source_is_broken_exits_and_says_why(
    target: local.LocalTarget, start: Start, tmp_path: Path
) -> None:
    record = start(source=str(tmp_path / "missing.py") + ":Nope")
    seen = target.wait_ready(record, timeout=60)
    assert seen.liveness is state.Liveness.EXITED
    assert seen.exit_code == 2
    assert any("missing.py" in line for line in procs.last_lines(target.record_log_path(record)))
