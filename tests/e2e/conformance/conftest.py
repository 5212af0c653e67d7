"""The processes the conformance cases run against, started once per session on free
ports and always stopped (only the pids started here): the controllable backend
(backend.py), a real replica (`crosscloud serve` of the echo example), and the two
proxies in front of both, crosscloud's gateway and nginx."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import CROSSCLOUD, EXAMPLES, ROOT, free_port, stop, wait_ready
from tests.e2e.conformance import nginx

BACKEND = Path(__file__).with_name("backend.py")
START_TIMEOUT = 30.0


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def _wait_accepting(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"not listening on {port} after {START_TIMEOUT}s:\n{log.read_text()}")


def _wait_routed(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until /svc/echo through the proxy on `port` is answered 200 (health checks done).
    Keep-alive: whether a proxy answers `Connection: close` is for the cases to find out."""
    request = b"GET /svc/echo HTTP/1.1\r\nHost: gw.test\r\n\r\n"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(request)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"/svc/echo not routed after {START_TIMEOUT}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def conformance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conformance")


@pytest.fixture(scope="session")
def backend_port(conformance_dir: Path) -> Iterator[int]:
    port = free_port()
    log = conformance_dir / "backend.log"
    proc = _spawn([sys.executable, str(BACKEND), str(port)], log)
    try:
        _wait_accepting(port, proc, log)
        yield port
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def serve_port(conformance_dir: Path) -> Iterator[int]:
    port = free_port()
    log = conformance_dir / "serve.log"
    source = str(EXAMPLES / "echo" / "service.py") + ":Echo"
    proc = _spawn([*CROSSCLOUD, "serve", source, "--port", str(port)], log)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc, log, timeout=START_TIMEOUT)
        yield port
    finally:
        stop(proc)


def gateway_config(port: int, services: dict[str, int]) -> dict[str, object]:
    """A `crosscloud gateway --config` file: one upstream per service; no ejection, so
    that the cases where a backend fails on purpose cannot change the later ones."""
    return {
        "listen": {"host": "127.0.0.1", "port": port},
        "services": [
            {
                "name": name,
                "outlierDetection": {"consecutive5xxErrors": 1_000_000},
                "upstreams": [{"id": f"{name}-1", "host": "127.0.0.1", "port": upstream}],
            }
            for name, upstream in services.items()
        ],
    }


@pytest.fixture(scope="session")
def gateway_port(conformance_dir: Path, backend_port: int, serve_port: int) -> Iterator[int]:
    port = free_port()
    config = conformance_dir / "gateway.yaml"
    services = {"svc": backend_port, "echo": serve_port}
    config.write_text(yaml.safe_dump(gateway_config(port, services)))
    log = conformance_dir / "gateway.log"
    proc = _spawn([*CROSSCLOUD, "gateway", "--config", str(config), "--port", str(port)], log)
    try:
        _wait_routed(port, proc, log)
        yield port
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def nginx_port(conformance_dir: Path, backend_port: int, serve_port: int) -> Iterator[int]:
    services = {"svc": backend_port, "echo": serve_port}
    proxy = nginx.start(conformance_dir / "nginx", services, port=free_port())
    try:
        _wait_routed(proxy.port, proxy.proc, proxy.dir / "error.log")
        yield proxy.port
    finally:
        proxy.stop()


@pytest.fixture
def proxy_port(request: pytest.FixtureRequest, target: str) -> int:
    """The port of the proxy named by the test's `target` parameter (started on demand)."""
    return int(request.getfixturevalue({"gateway": "gateway_port", "nginx": "nginx_port"}[target]))
