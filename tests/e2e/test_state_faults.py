"""The state directory under faults, as a careless operator meets them, with real
processes: state.db corrupted or deleted under a running deployment, a state directory
that already existed world-readable, and a disk that fills up (a small tmpfs mounted as
the state directory). Each gets one clear line and a safe outcome."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.deploy import Deployer, app_folder, isolated, post

pytestmark = pytest.mark.timeout(300)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: hello}
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - provider: local
      region: region-a
      services: [{name: echo, replicas: 1}]
"""


def _up(deployer: Deployer, tmp_path: Path) -> str:
    deployer.run("up", str(app_folder(tmp_path, MANIFEST) / "crosscloud.yaml"))
    return deployer.gateway()


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def _gone(deployer: Deployer, gateway: str) -> None:
    assert deployer.processes() == {}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{gateway}/healthz", timeout=5)


def _corrupt(home: Path) -> None:
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        path = home / name
        if path.exists():
            path.write_bytes(os.urandom(path.stat().st_size))


def test_a_corrupt_store_is_named_and_down_force_stops_everything(tmp_path: Path) -> None:
    with isolated(tmp_path) as deployer:
        gateway = _up(deployer, tmp_path)
        _corrupt(deployer.home)
        for command in ("status", "down"):
            result = deployer.run(command, check=False, timeout=60)
            assert result.returncode == 1
            line = _one_error_line(result)
            assert f"{deployer.home / 'state.db'} is corrupt" in line
            assert "crosscloud down --force" in line
        assert {"gateway", "controlplane"} <= set(deployer.processes())  # still running
        forced = deployer.run("down", "--force", timeout=120)
        assert "stopped by their marks" in forced.stdout
        assert "moved aside" in forced.stdout
        _gone(deployer, gateway)
        assert list(deployer.home.glob("state.db.corrupt-*"))  # kept, for whoever looks
        fresh = _up(deployer, tmp_path)  # and the next `up` starts afresh
        assert post(f"{fresh}/echo/echo", {"text": "again"}).json() == "again"


def test_a_deleted_store_never_reopens_a_deployment_that_had_tokens(tmp_path: Path) -> None:
    with isolated(tmp_path) as deployer:
        gateway = _up(deployer, tmp_path)
        deployer.run("token", "create", "hello")
        for path in deployer.home.glob("state.db*"):
            path.unlink()
        line = _one_error_line(deployer.run("status", check=False, timeout=60))
        assert "was deleted or replaced" in line and "down --force" in line
        (pid,) = deployer.processes()["controlplane"]
        os.kill(pid, signal.SIGKILL)  # a control plane restart does not forget it either
        deployer.wait(lambda: "controlplane" not in deployer.processes(), timeout=30)
        result = deployer.run("down", check=False, timeout=60)
        assert "was deleted or replaced" in _one_error_line(result)
        assert {"gateway"} <= set(deployer.processes())  # nothing was stopped blindly
        forced = deployer.run("down", "--force", timeout=120)
        assert "hello had API tokens" in forced.stdout
        _gone(deployer, gateway)
        again = deployer.run("up", str(tmp_path / "app" / "crosscloud.yaml"))
        assert "refuses every request (401)" in again.stderr
        fresh = deployer.gateway()
        assert post(f"{fresh}/echo/echo", {"text": "x"}).status_code == 401
        token = deployer.run("token", "create", "hello").stdout.split()[0]
        answer = httpx.post(
            f"{fresh}/echo/echo",
            json={"text": "with a new token"},
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
            trust_env=False,
        )
        assert answer.json() == "with a new token"


def test_state_files_are_private_in_a_directory_that_was_not(tmp_path: Path) -> None:
    with isolated(tmp_path) as deployer:
        deployer.home.mkdir(mode=0o755)
        deployer.home.chmod(0o755)
        result = deployer.run("up", str(app_folder(tmp_path, MANIFEST) / "crosscloud.yaml"))
        assert f"state directory {deployer.home} is mode 0755" in result.stderr
        for name in ("state.db", "state.db-wal", "state.db-shm", ".state.db.guard"):
            assert stat.S_IMODE((deployer.home / name).stat().st_mode) == 0o600, name
        assert deployer.home.joinpath("controlplane.token").stat().st_mode & 0o077 == 0


@contextlib.contextmanager
def _small_disk(path: Path) -> Iterator[None]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root needed): {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], timeout=30, check=False)


def _fill(disk: Path) -> None:
    """Write until the disk is full (ENOSPC), as a runaway log would."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError, match="No space left") as full:  # noqa: PT012
            while True:
                os.write(fd, b"\0" * 65536)
    finally:
        os.close(fd)
    assert full.value.errno == errno.ENOSPC


def test_a_full_disk_makes_status_say_the_loop_cannot_act(tmp_path: Path) -> None:
    deployer = Deployer(tmp_path / "disk")
    with _small_disk(deployer.home):
        try:
            gateway = _up(deployer, tmp_path)
            (replica,) = deployer.replicas()
            _fill(deployer.home)
            os.kill(replica["pid"], signal.SIGKILL)
            status = deployer.wait(
                lambda: (s := deployer.status())["loop"]["stale"] and s, what="a stale status"
            )
            assert "database or disk is full" in status["loop"]["error"]
            (seen,) = status["deployments"][0]["replicas"]
            assert seen["state"] == "Unknown"  # not "Ready": it died, and nothing recorded it
            table = deployer.run("status").stdout
            assert "the control loop has failed" in table and "?/1 unknown" in table
            old = json.loads((deployer.home / "gateway.pid.json").read_text())["pid"]
            os.kill(old, signal.SIGKILL)
            deployer.wait(lambda: _answers(gateway), what="the gateway restarted")
            (deployer.home / "filler").unlink()
            deployer.wait(
                lambda: [r["state"] for r in deployer.replicas()] == ["Ready"],
                what="the replica back",
            )
            kinds = deployer.wait(lambda: _kinds(deployer) >= {"GatewayRestarted", "Restarted"})
            assert kinds
            assert deployer.status()["loop"]["ok"]
            assert post(f"{gateway}/echo/echo", {"text": "after"}).json() == "after"
        finally:
            deployer.kill_everything()


def _answers(gateway: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{gateway}/-/stats", timeout=2, trust_env=False).status_code < 500
    return False


def _kinds(deployer: Deployer) -> set[str]:
    out = json.loads(deployer.run("status", "-o", "json", "--events", "50").stdout)
    return {e["kind"] for e in out.get("events", [])}
