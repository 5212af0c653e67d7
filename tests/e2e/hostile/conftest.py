"""Fixtures for the hostile-input and limit tests: a recording backend (recorder.py) and
real `crosscloud gateway` processes in front of it, with an `open` service and a
`guarded` one (API token, routed by Host too). Only the pids started here are stopped."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from crosscloud.domain import tokens
from tests.conftest import ROOT, free_port, stop
from tests.e2e.hostile import raw

HERE = Path(__file__).resolve().parent
OPEN_HOST = b"open.test"
GUARDED_HOST = b"guarded.test"
_sentinels = itertools.count(1)


@dataclass
class Backend:
    """The recording backend: port 0 is the `open` service's, port 1 the `guarded` one's."""

    proc: subprocess.Popen[bytes]
    ports: list[int]
    log: Path

    @property
    def open_port(self) -> int:
        return self.ports[0]

    @property
    def guarded_port(self) -> int:
        return self.ports[1]

    def entries(self) -> list[dict[str, Any]]:
        text = self.log.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def mark(self) -> int:
        """A position in the log; `since(mark)` gives what was logged after it."""
        return len(self.entries())

    def since(self, mark: int) -> list[dict[str, Any]]:
        return self.entries()[mark:]

    def settle(self, gateway_port: int, *, timeout: float = 10.0) -> int:
        """Send a sentinel request through the gateway and wait until it is logged, so
        that whatever the gateway forwarded before is in the log; the sentinel's index."""
        name = b"/open/__sentinel-%d" % next(_sentinels)
        resp = raw.get(gateway_port, name, close=False)
        assert resp.status == 200, f"sentinel through the gateway got {resp.status}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.entries()
            for i, entry in enumerate(found):
                if entry.get("target") == name[5:].decode():
                    return i
            time.sleep(0.01)
        raise AssertionError(f"sentinel {name!r} never reached the backend")

    def between(self, mark: int, gateway_port: int) -> list[dict[str, Any]]:
        """Everything logged from `mark` up to a fresh sentinel (excluded)."""
        end = self.settle(gateway_port)
        return self.entries()[mark:end]


@dataclass
class Gateway:
    """A `crosscloud gateway` process started by these fixtures."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def status(self, field: str) -> int:
        """A `kB` field of /proc/PID/status in bytes (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"{field} not in /proc/{self.pid}/status")

    def rss(self) -> int:
        return self.status("VmRSS")

    def cpu(self) -> float:
        """User + system CPU seconds used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def nofile(self) -> tuple[int, int]:
        """The gateway's (soft, hard) open-file limits from /proc/PID/limits."""
        for line in Path(f"/proc/{self.pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
        raise AssertionError("no 'Max open files' line")

    def healthy(self) -> bool:
        try:
            return raw.get(self.port, b"/healthz", close=False).status == 200
        except (OSError, raw.Closed):
            return False


def make_token() -> tuple[str, str, str]:
    """(token id, token text, sha256 hex) of a fresh API token."""
    token_id, text = tokens.new_token(os.urandom(tokens.ID_BYTES), os.urandom(tokens.SECRET_BYTES))
    return token_id, text, tokens.digest(text.encode()).hex()


TOKEN_ID, TOKEN, TOKEN_SHA = make_token()


def gateway_config(backend: Backend, limits: dict[str, Any] | None = None) -> dict[str, Any]:
    """Two services on the recording backend; no retries (a retried request would be two
    requests in the backend's log) and no health checks (they would be logged too)."""
    common = {"healthCheck": {"enabled": False}, "retries": {"attempts": 0}}
    config: dict[str, Any] = {
        "services": [
            {
                "name": "open",
                "hosts": [OPEN_HOST.decode()],
                **common,
                "upstreams": [{"id": "o1", "host": "127.0.0.1", "port": backend.open_port}],
            },
            {
                "name": "guarded",
                "hosts": [GUARDED_HOST.decode()],
                **common,
                "auth": {"tokens": [{"id": TOKEN_ID, "sha256": TOKEN_SHA}]},
                "upstreams": [{"id": "g1", "host": "127.0.0.1", "port": backend.guarded_port}],
            },
        ]
    }
    if limits is not None:
        config["limits"] = limits
    return config


def _start_backend(folder: Path) -> Backend:
    log, ready = folder / "backend.jsonl", folder / "backend.ready"
    log.touch()
    out = (folder / "backend.out").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "recorder.py"),
            "--ports",
            "2",
            "--log",
            str(log),
            "--ready",
            str(ready),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    deadline = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise AssertionError(f"recorder did not start: {(folder / 'backend.out').read_text()}")
        time.sleep(0.02)
    return Backend(proc, json.loads(ready.read_text())["ports"], log)


#: Sets the open-file limits, then execs the gateway in the same process (same pid): no
#: preexec_fn, which is unsafe in a test process that runs threads.
_WITH_NOFILE = (
    "import os, resource, sys;"
    "soft, hard = int(sys.argv[1]), int(sys.argv[2]);"
    "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1] if hard < 0 else hard;"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard));"
    "os.execv(sys.executable, [sys.executable, *sys.argv[3:]])"
)


def start_gateway(
    folder: Path, config: dict[str, Any], *, nofile: tuple[int, int | None] | None = None
) -> Gateway:
    """Start a gateway on a free port with `config`; `nofile` = (soft, hard or None to keep
    the hard limit) sets its open-file limits before it starts."""
    port = free_port()
    path = folder / f"gateway-{port}.yaml"
    path.write_text(yaml.safe_dump(config))
    log = folder / f"gateway-{port}.log"
    command = ["-m", "crosscloud.cli.main", "gateway", "--config", str(path), "--port", str(port)]
    if nofile is not None:
        soft, hard = nofile
        command = ["-c", _WITH_NOFILE, str(soft), str(-1 if hard is None else hard), *command]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *command], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    gw = Gateway(proc, port, log)
    deadline = time.monotonic() + 30
    while not gw.healthy():
        if not gw.alive() or time.monotonic() > deadline:
            stop(proc)
            raise AssertionError(f"gateway did not start ({path}):\n{gw.output()}")
        time.sleep(0.05)
    return gw


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    found = _start_backend(tmp_path_factory.mktemp("backend"))
    yield found
    stop(found.proc)


@pytest.fixture(scope="module")
def gateways(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Gateway]]:
    """Start gateways (stopped at the end of the module): `gateways(config, nofile=...)`."""
    folder = tmp_path_factory.mktemp("gateway")
    started: list[Gateway] = []

    def start(config: dict[str, Any], **kwargs: Any) -> Gateway:
        gw = start_gateway(folder, config, **kwargs)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        stop(gw.proc)


@pytest.fixture(scope="module")
def gateway(backend: Backend, gateways: Callable[..., Gateway]) -> Gateway:
    """A gateway with the default limits in front of the recording backend."""
    return gateways(gateway_config(backend))


@contextlib.contextmanager
def raised_nofile(wanted: int) -> Iterator[None]:
    """This process's open-file soft limit raised to at least `wanted` (skip if the hard
    limit is lower), restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"open-file hard limit is {hard}; this test needs {wanted} descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
