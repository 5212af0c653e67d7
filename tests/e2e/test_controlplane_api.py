"""The control plane's HTTP API against clients that are not the CLI, with raw sockets and
curl: the token is checked before any body is read, bodies need a sane Content-Length,
and slow or idle connections are cut off (CROSSCLOUD_API_TIMEOUT, 1 s here)."""

from __future__ import annotations

import contextlib
import json
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.deploy import Deployer, app_folder

pytestmark = pytest.mark.timeout(180)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: api}
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - provider: local
      region: region-a
      services: [{name: echo, replicas: 1}]
"""
TIMEOUT = 1.0  # the control plane's, for this test
MB = 2**20


class _Deployer(Deployer):
    def env(self) -> dict[str, str]:
        return {**super().env(), "CROSSCLOUD_API_TIMEOUT": str(TIMEOUT)}


@dataclass
class Api:
    deployer: Deployer
    port: int
    token: str
    pid: int

    def rss(self) -> int:
        """The control plane's resident memory, bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.settimeout(10)  # a server that waits for more than we send fails the test
        return sock


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp_path = tmp_path_factory.mktemp("api")
    deployer = _Deployer(tmp_path / "home")
    try:
        deployer.run("up", str(app_folder(tmp_path, MANIFEST) / "crosscloud.yaml"))
        info = json.loads((deployer.home / "controlplane.json").read_text())
        token = (deployer.home / "controlplane.token").read_text().strip()
        yield Api(deployer, int(info["url"].rsplit(":", 1)[1]), token, int(info["pid"]))
    finally:
        deployer.kill_everything()


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    """Read until the server closes: (status, whole answer). A server that keeps the
    connection open, waiting for a body, makes this time out."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    assert data, "closed without an answer"
    return int(data.split(b" ", 2)[1]), data


def _head(method: str, path: str, *lines: str) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\n" + "".join(f"{x}\r\n" for x in lines)
    ).encode()


def test_no_token_and_content_length_minus_one_is_refused_unread(api: Api) -> None:
    with api.connect() as sock:
        sock.sendall(_head("POST", "/v1/down", "Content-Length: -1") + b"\r\n")
        status, data = _answer(sock)  # not read to EOF: we never close our side
    assert status == 401
    assert b"connection: close" in data.lower()


def test_200_mb_without_a_token_is_refused_before_it_is_read(api: Api) -> None:
    before = api.rss()
    with api.connect() as sock:
        sock.sendall(_head("POST", "/v1/apply", f"Content-Length: {200 * MB}") + b"\r\n")
        sent = 0
        try:
            for _ in range(200):
                sock.sendall(b"x" * MB)
                sent += 1
        except OSError:
            pass  # the server closed: it was not reading
        status, _data = _answer(sock)
    assert status == 401
    assert sent < 200  # the server stopped taking it
    assert api.rss() - before < 16 * MB  # it grew by 200 MB when the body was read first


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("POST", ["Content-Length: -1"], 400),
        ("POST", ["Content-Length: abc"], 400),
        ("POST", ["Content-Length: 2", "Content-Length: 2"], 400),
        ("POST", ["Transfer-Encoding: chunked"], 411),
        ("POST", [f"Content-Length: {5 * MB}"], 413),
        ("GET", ["Content-Length: 10"], 400),
    ],
)
def test_bad_framing_with_the_token_is_refused_and_closed(
    api: Api, method: str, headers: list[str], status: int
) -> None:
    path = "/v1/apply" if method == "POST" else "/v1/status"
    with api.connect() as sock:
        sock.sendall(_head(method, path, f"Authorization: Bearer {api.token}", *headers) + b"\r\n")
        got, data = _answer(sock)
    assert got == status, data
    assert data.rstrip().endswith(b"}")  # a JSON body, {error, detail}


def test_curl(api: Api, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (scripts/system-deps.sh installs it)")
    big = tmp_path / "big"
    big.write_bytes(b"x" * (50 * MB))
    url = f"http://127.0.0.1:{api.port}"
    before = api.rss()

    def curl(*args: str) -> str:
        done = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout

    assert curl("-X", "POST", f"{url}/v1/apply", "--data-binary", f"@{big}") == "401"
    wrong = ["-H", "Authorization: Bearer " + "x" * len(api.token)]
    assert curl(*wrong, "-X", "POST", f"{url}/v1/apply", "--data-binary", f"@{big}") == "401"
    right = ["-H", f"Authorization: Bearer {api.token}"]
    assert curl(*right, "-X", "POST", f"{url}/v1/apply", "--data-binary", f"@{big}") == "413"
    assert curl(*right, f"{url}/v1/status") == "200"
    assert api.rss() - before < 16 * MB


def test_a_slow_client_is_cut_off_and_the_cli_is_served_meanwhile(api: Api) -> None:
    head = _head("GET", "/v1/status", f"Authorization: Bearer {api.token}") + b"\r\n"
    outcome: list[bool] = []

    def drip() -> None:
        """One byte every 0.2 s, never the last one, until the server closes."""
        with api.connect() as sock:
            for byte in head[:-1]:
                try:
                    sock.sendall(bytes([byte]))
                    if select.select([sock], [], [], 0.2)[0] and sock.recv(1) == b"":
                        break
                except OSError:
                    break
            else:
                outcome.append(False)
                return
        outcome.append(True)

    dripping = threading.Thread(target=drip)
    started = time.monotonic()
    dripping.start()
    assert api.deployer.run("status", timeout=30).returncode == 0
    dripping.join(timeout=60)
    assert outcome == [True], "a client dripping its request was never cut off"
    assert time.monotonic() - started < len(head) * 0.2 / 2  # before half the head was sent


def test_idle_connections_are_closed_and_do_not_lock_the_cli_out(api: Api) -> None:
    idle = [api.connect() for _ in range(100)]  # more than the API keeps open
    try:
        for sock in idle:
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1) == b""  # closed by the server: at once, or after TIMEOUT
        assert api.deployer.run("status", timeout=30).returncode == 0
    finally:
        for sock in idle:
            sock.close()
