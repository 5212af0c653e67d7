"""`crosscloud gateway` in front of real backend processes on 127.0.0.1.

Backends are tests/e2e/apps/backend.py under uvicorn; every process a test starts is
stopped by pid when it ends.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from crosscloud.domain import tokens
from tests.conftest import CROSSCLOUD, free_port, stop, wait_ready

pytestmark = pytest.mark.timeout(120)
APPS = Path(__file__).parent / "apps"


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Cluster:
    """Starts backends and gateways for one test; stops exactly those pids."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, args: list[str], *, port: int, env: dict[str, str], name: str) -> Proc:
        log = self.tmp / f"{name}-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}
            )
        self.procs.append(proc)
        started = Proc(proc, port, log)
        wait_ready(started.url, proc, log, timeout=30)
        return started

    def backend(self, name: str, *, mode: str = "ok", port: int | None = None) -> Proc:
        port = port or free_port()
        args = [sys.executable, "-m", "uvicorn", "--app-dir", str(APPS), "backend:app"]
        args += ["--port", str(port), "--log-level", "warning"]
        return self._spawn(args, port=port, env={"NAME": name, "MODE": mode}, name=name)

    def gateway(self, services: list[dict[str, Any]], **extra: Any) -> Proc:
        port = free_port()
        config = self.tmp / f"gateway-{port}.yaml"
        config.write_text(yaml.safe_dump({"listen": {"port": port}, "services": services, **extra}))
        args = [*CROSSCLOUD, "gateway", "--config", str(config)]
        return self._spawn(args, port=port, env={"PYTHONUNBUFFERED": "1"}, name="gateway")

    def stop_all(self) -> None:
        for proc in self.procs:
            stop(proc)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop_all()


def upstream(uid: str, proc: Proc, placement: str = "local/a") -> dict[str, Any]:
    return {"id": uid, "port": proc.port, "placement": placement}


def metric(gateway: Proc, name: str, **labels: str) -> float:
    """Sum of a gateway metric's samples matching `labels`."""
    text = httpx.get(f"{gateway.url}/metrics").text
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
            total += float(m.group(2))
    return total


def test_routes_by_path_and_host_and_reuses_upstream_connections(cluster: Cluster) -> None:
    a, b = cluster.backend("a"), cluster.backend("b")
    svc = {"name": "echo", "hosts": ["echo.test"], "policy": "round-robin"}
    gw = cluster.gateway([{**svc, "upstreams": [upstream("a", a), upstream("b", b)]}])
    with httpx.Client(base_url=gw.url) as client:
        r = client.get("/echo/whoami?x=1")
        assert r.status_code == 200
        assert r.json()["path"] == "/whoami"
        assert r.json()["query"] == {"x": "1"}
        assert r.headers["x-crosscloud-upstream"] in {"a", "b"}
        assert client.post("/echo/echo", content=b"hello").content == b"hello"
        by_host = client.get("/whoami", headers={"host": "echo.test"})
        assert by_host.json()["path"] == "/whoami"
        names = {client.get("/echo/whoami").json()["name"] for _ in range(60)}
        assert names == {"a", "b"}
        missing = client.get("/nope/x")
        assert missing.status_code == 404
        assert "echo" in missing.json()["detail"]
    # 63 proxied requests, one client connection at a time: a handful of upstream
    # connections at most, not one per request.
    connections = [httpx.get(f"{p.url}/stats").json()["connections"] for p in (a, b)]
    assert sum(connections) <= 4, connections


def test_streams_both_ways_and_a_client_disconnect_cancels_upstream(cluster: Cluster) -> None:
    a = cluster.backend("a")
    gw = cluster.gateway([{"name": "s", "upstreams": [upstream("a", a)]}])

    def chunks() -> Iterator[bytes]:
        for i in range(50):
            yield b"%d," % i

    echoed = httpx.post(f"{gw.url}/s/echo", content=chunks())  # chunked request body
    assert echoed.content == b"".join(b"%d," % i for i in range(50))
    # an endless event stream: a gateway that buffered whole bodies would never answer
    with httpx.Client() as client, client.stream("GET", f"{gw.url}/s/sse?n=0") as r:
        assert r.headers["content-type"] == "text/event-stream"
        events = []
        for line in r.iter_lines():
            if line.startswith("data:"):
                events.append(line)
            if len(events) == 3:
                break
    assert events == ["data: 0", "data: 1", "data: 2"]
    deadline = time.monotonic() + 10
    stats: dict[str, int] = {}
    while time.monotonic() < deadline:
        stats = httpx.get(f"{a.url}/stats").json()
        if stats["streams_cancelled"] == 1 and stats["streams_open"] == 0:
            break
        time.sleep(0.05)
    assert (stats["streams_cancelled"], stats["streams_open"]) == (1, 0)


def test_body_and_header_limits(cluster: Cluster) -> None:
    a = cluster.backend("a")
    gw = cluster.gateway(
        [{"name": "s", "upstreams": [upstream("a", a)]}], limits={"maxBodySize": 1000}
    )
    assert httpx.post(f"{gw.url}/s/echo", content=b"x" * 1000).status_code == 200
    too_big = httpx.post(f"{gw.url}/s/echo", content=b"x" * 1001)
    assert too_big.status_code == 413
    assert "1000" in too_big.json()["detail"]
    streamed = httpx.post(f"{gw.url}/s/echo", content=iter([b"x" * 600, b"y" * 600]))
    assert streamed.status_code == 413
    huge = httpx.get(f"{gw.url}/s/whoami", headers={"x-big": "v" * 70_000})
    assert huge.status_code == 431
    assert httpx.get(f"{gw.url}/s/whoami").status_code == 200  # still serving


def _load(url: str, count: int, workers: int, on_progress: Callable[[int], None]) -> list[int]:
    done = [0]

    def one(_: int) -> int:
        with httpx.Client(timeout=30) as client:
            status = client.post(url, content=b"x").status_code
        done[0] += 1
        on_progress(done[0])
        return status

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(count)))


def test_sigkilled_backend_costs_no_request_and_gets_none_after_ejection(
    cluster: Cluster,
) -> None:
    a, b = cluster.backend("a"), cluster.backend("b")
    svc = {"name": "s", "policy": "round-robin", "healthCheck": {"interval": "300ms"}}
    ups = [upstream("a", a, "local/a"), upstream("b", b, "local/b")]
    gw = cluster.gateway([{**svc, "upstreams": ups}])
    killed = [False]

    def kill_a_midway(done: int) -> None:
        if done >= 100 and not killed[0]:
            killed[0] = True
            a.proc.send_signal(signal.SIGKILL)  # the pid this test started

    statuses = _load(f"{gw.url}/s/echo", 600, 6, kill_a_midway)
    assert killed[0]
    assert statuses.count(200) == len(statuses), {s: statuses.count(s) for s in set(statuses)}
    assert metric(gw, "crosscloud_gateway_retries_total", service="s") >= 1
    errors_after_load = metric(gw, "crosscloud_gateway_upstream_connect_errors_total", upstream="a")
    # a refused connection ejects at once: the requests in flight when it died and the
    # first that tried it, not one per request sent afterwards
    assert errors_after_load <= 8
    statuses = _load(f"{gw.url}/s/echo", 100, 4, lambda _: None)
    assert set(statuses) == {200}
    assert metric(gw, "crosscloud_gateway_upstream_connect_errors_total", upstream="a") == (
        errors_after_load
    )
    assert metric(gw, "crosscloud_gateway_upstream_available", upstream="a") == 0
    # it comes back on the same port: health checks pass and traffic returns
    cluster.backend("a", port=a.port)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if metric(gw, "crosscloud_gateway_upstream_available", upstream="a") == 1:
            break
        time.sleep(0.1)
    names = {httpx.get(f"{gw.url}/s/whoami").json()["name"] for _ in range(20)}
    assert names == {"a", "b"}


def test_backend_answering_500_is_ejected_after_5_and_returns_after_ejection_time(
    cluster: Cluster,
) -> None:
    good, bad = cluster.backend("good"), cluster.backend("bad", mode="fail500")
    svc = {
        "name": "s",
        "policy": "round-robin",
        "healthCheck": {"enabled": False},
        # long enough that the 40 requests below never outlast it on a loaded machine
        "outlierDetection": {"interval": "100ms", "baseEjectionTime": "3s"},
    }
    gw = cluster.gateway([{**svc, "upstreams": [upstream("good", good), upstream("bad", bad)]}])
    with httpx.Client(base_url=gw.url) as client:
        first = [client.get("/s/whoami").status_code for _ in range(40)]
        assert first.count(500) == 5  # 500 is not retried; the 5th ejects
        assert set(first[10:]) == {200}
        assert metric(gw, "crosscloud_gateway_upstream_ejections_total", upstream="bad") == 1
        time.sleep(3.5)
        later = [client.get("/s/whoami").status_code for _ in range(10)]
        assert 500 in later  # back in rotation after the ejection time
    assert httpx.get(f"{bad.url}/stats").json()["requests"] >= 6


def _http10(sock: socket.socket, path: str, *, keep_alive: bool) -> tuple[bytes, bytes]:
    """One HTTP/1.0 exchange on `sock`: the response head (lowered) and its body. A body
    without content-length is read to EOF, as an HTTP/1.0 client reads it."""
    extra = b"Connection: keep-alive\r\n" if keep_alive else b""
    sock.sendall(b"GET %b HTTP/1.0\r\nHost: gw\r\n%b\r\n" % (path.encode(), extra))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    head = head.lower()
    length = re.search(rb"\r\ncontent-length: (\d+)", head)
    while (len(body) < int(length.group(1))) if length else True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def test_http10_clients_get_bodies_they_can_read(cluster: Cluster) -> None:
    a = cluster.backend("a")
    gw = cluster.gateway([{"name": "s", "upstreams": [upstream("a", a)]}])
    events = b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        # A streamed answer (no length) is sent as is and ended by closing: no chunking,
        # which an HTTP/1.0 client would hand to its user as part of the body.
        head, body = _http10(sock, "/s/sse?n=3", keep_alive=False)
        assert head.startswith(b"http/1.1 200")
        assert b"transfer-encoding" not in head
        assert b"connection: close" in head
        assert body == events
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        # keep-alive asked for: granted in so many words, or the client waits for a close
        for _ in range(2):
            head, body = _http10(sock, "/s/whoami", keep_alive=True)
            assert b"connection: keep-alive" in head, head
            assert json.loads(body)["path"] == "/whoami"
        head, body = _http10(sock, "/nope/x", keep_alive=True)
        assert head.startswith(b"http/1.1 404")
        assert b"connection: keep-alive" in head
        assert "s" in json.loads(body)["detail"]
        # a stream on a kept-alive connection still ends with the close
        head, body = _http10(sock, "/s/sse?n=3", keep_alive=True)
        assert (b"transfer-encoding" in head, b"connection: close" in head) == (False, True)
        assert body == events
        assert sock.recv(1) == b""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        head, body = _http10(sock, "/healthz", keep_alive=True)
        assert head.startswith(b"http/1.1 200")
        assert b"connection: close" in head
        assert json.loads(body) == {"status": "ok"}


def test_a_checked_token_stays_with_the_gateway(cluster: Cluster) -> None:
    a = cluster.backend("a")
    token_id, token = tokens.new_token(b"\x01" * tokens.ID_BYTES, b"\x02" * tokens.SECRET_BYTES)
    sha = tokens.digest(token.encode()).hex()
    locked = {"name": "locked", "upstreams": [upstream("a", a)]}
    locked["auth"] = {"tokens": [{"id": token_id, "sha256": sha}]}
    gw = cluster.gateway([locked, {"name": "open", "upstreams": [upstream("a", a)]}])
    bearer = {"authorization": f"Bearer {token}"}
    assert httpx.get(f"{gw.url}/locked/whoami").status_code == 401
    seen = httpx.get(f"{gw.url}/locked/whoami", headers=bearer).json()
    assert seen["path"] == "/whoami" and seen["authorization"] is None
    # a service the gateway does not guard gets the header as sent (its own auth, say)
    own = {"authorization": "Basic dXNlcjpwdw=="}
    assert httpx.get(f"{gw.url}/open/whoami", headers=own).json()["authorization"] == (
        "Basic dXNlcjpwdw=="
    )
