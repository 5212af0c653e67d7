"""HTTPS at the gateway's front door, against clients we did not write: curl, requests,
httpx, urllib and `openssl s_client`. A client pays the handshake once (keep-alive, and
sessions resume: TLS 1.3 tickets and TLS 1.2 session ids); client certificates are
required or optional as configured, and a wrong one is refused at the handshake; hostile
bytes instead of a ClientHello, or a handshake that never ends, are dropped without
hurting anyone else. A certificate renewed in place is served after SIGHUP.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import yaml

from tests.certs import Pair, TestCA
from tests.conftest import CROSSCLOUD, free_port, stop, wait_ready

pytestmark = pytest.mark.timeout(120)
APPS = Path(__file__).parent / "apps"
UVICORN = [sys.executable, "-m", "uvicorn", "--app-dir", str(APPS), "backend:app"]


@dataclass
class Front:
    """A backend and an HTTPS gateway in front of it, with the CA that signed its cert."""

    port: int
    admin: str
    ca: TestCA
    server: Pair
    config: Path
    gateway: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def context(self, client: Pair | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca.cert_file))
        if client is not None:
            ctx.load_cert_chain(str(client.cert), str(client.key))
        return ctx


def _start(tmp: Path, procs: list[subprocess.Popen[bytes]], **tls: Any) -> Front:
    ca = TestCA(tmp / "ca")
    server = ca.server()
    backend_port, port, admin = free_port(), free_port(), free_port()
    log = tmp / "backend.log"
    with log.open("wb") as out:
        backend = subprocess.Popen(
            [*UVICORN, "--port", str(backend_port), "--log-level", "warning"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"NAME": "a", "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)},
        )
    procs.append(backend)
    wait_ready(f"http://127.0.0.1:{backend_port}", backend, log, timeout=30)
    listen = {
        "port": port,
        "adminPort": admin,
        "tls": {"certFile": str(server.cert), "keyFile": str(server.key), **tls},
    }
    upstream = {"id": "a", "port": backend_port, "placement": "local/a"}
    config = tmp / "gateway.yaml"
    config.write_text(
        yaml.safe_dump({"listen": listen, "services": [{"name": "echo", "upstreams": [upstream]}]})
    )
    gw_log = tmp / "gateway.log"
    with gw_log.open("wb") as out:
        gateway = subprocess.Popen(
            [*CROSSCLOUD, "gateway", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    procs.append(gateway)
    wait_ready(f"http://127.0.0.1:{admin}", gateway, gw_log, timeout=30)
    return Front(port, f"http://127.0.0.1:{admin}", ca, server, config, gateway, gw_log)


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(**tls: Any) -> Front:
        return _start(tmp_path, procs, **tls)

    try:
        yield start
    finally:
        for proc in reversed(procs):
            stop(proc)


def _raw_get(
    front: Front, ctx: ssl.SSLContext, *, session: ssl.SSLSession | None = None
) -> tuple[ssl.SSLSocket, bytes]:
    """One GET /echo/whoami on a new TLS connection, read to its close."""
    sock = ctx.wrap_socket(
        socket.create_connection(("127.0.0.1", front.port), timeout=10),
        server_hostname="127.0.0.1",
        session=session,
    )
    sock.sendall(b"GET /echo/whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return sock, data


def test_https_for_every_client_and_plain_http_is_refused_cleanly(started: Any) -> None:
    front: Front = started()
    ca = str(front.ca.cert_file)
    url = f"{front.url}/echo/whoami"
    # curl: two requests, one connection (keep-alive): the handshake is paid once.
    out = (
        subprocess.run(
            ["curl", "-sS", "--cacert", ca, "-w", " %{http_code} %{num_connects}\\n", url, url],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        .stdout.strip()
        .splitlines()
    )
    assert [line.rsplit(" ", 2)[1:] for line in out] == [["200", "1"], ["200", "0"]]
    assert json.loads(out[0].rsplit(" ", 2)[0])["name"] == "a"
    assert requests.get(url, verify=ca, timeout=10).json()["path"] == "/whoami"
    with httpx.Client(verify=front.context(), trust_env=False) as client:
        assert client.post(f"{front.url}/echo/echo", content=b"hello").content == b"hello"
    with urllib.request.urlopen(url, context=front.context(), timeout=10) as answer:
        assert answer.status == 200
    # openssl s_client speaks HTTP/1.1 over TLS 1.3, checking the chain.
    shown = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{front.port}",
            "-CAfile",
            ca,
            "-quiet",
            "-verify_return_error",
        ],
        input=b"GET /echo/whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        capture_output=True,
        timeout=30,
    )
    assert shown.stdout.startswith(b"HTTP/1.1 200 OK"), shown.stderr
    # A client that does not trust the certificate, and one that speaks plain HTTP, fail
    # at once, with nothing from the service.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=10)
    with socket.create_connection(("127.0.0.1", front.port), timeout=10) as plain:
        plain.sendall(b"GET /echo/whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        assert b"HTTP/1.1 200" not in _read_all(plain)
    assert requests.get(url, verify=ca, timeout=10).status_code == 200
    # The plain admin port answers the gateway's own paths only: never a route around TLS.
    assert httpx.get(f"{front.admin}/metrics", timeout=10).status_code == 200
    walked = httpx.get(f"{front.admin}/echo/whoami", timeout=10)
    assert walked.status_code == 404 and '"name"' not in walked.text


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
def test_a_second_connection_resumes_the_session(started: Any, version: ssl.TLSVersion) -> None:
    front: Front = started()
    ctx = front.context()
    ctx.maximum_version = version
    first, answer = _raw_get(front, ctx)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert first.version() == ("TLSv1.3" if version is ssl.TLSVersion.TLSv1_3 else "TLSv1.2")
    assert not first.session_reused
    session = first.session
    first.close()
    assert session is not None
    for _ in range(3):
        again, answer = _raw_get(front, ctx, session=session)
        assert answer.startswith(b"HTTP/1.1 200 OK")
        assert again.session_reused, "the gateway made the client pay a full handshake again"
        session = again.session or session
        again.close()


def test_openssl_s_client_resumes_with_a_stored_session(started: Any, tmp_path: Path) -> None:
    front: Front = started()
    sess, ca = tmp_path / "session.pem", str(front.ca.cert_file)
    base = ["openssl", "s_client", "-connect", f"127.0.0.1:{front.port}", "-CAfile", ca]
    request = b"GET /echo/whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    # The TLS 1.3 ticket comes after the handshake: keep stdin open until the answer is in.
    first = subprocess.run(
        [*base, "-sess_out", str(sess), "-ign_eof"], input=request, capture_output=True, timeout=30
    )
    assert b"HTTP/1.1 200 OK" in first.stdout and b"\nNew, TLSv1.3" in first.stdout
    second = subprocess.run(
        [*base, "-sess_in", str(sess), "-ign_eof"], input=request, capture_output=True, timeout=30
    )
    assert b"HTTP/1.1 200 OK" in second.stdout
    assert b"\nReused, TLSv1.3" in second.stdout, second.stdout[-2000:]


def test_client_certificates_required(started: Any, tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "clients", "clients-ca")
    front: Front = started(clientCerts="required", clientCaFile=str(ca.cert_file))
    good, stranger = ca.client("alice"), TestCA(tmp_path / "other", "other-ca").client("mallory")
    url = f"{front.url}/echo/whoami"
    trust = str(front.ca.cert_file)
    answer = requests.get(url, verify=trust, cert=(str(good.cert), str(good.key)), timeout=10)
    assert answer.status_code == 200
    # No certificate: every request is answered 403 (as nginx answers 400), never routed.
    refused = requests.get(url, verify=trust, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this gateway requires a client certificate; none was sent"
    curl = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", trust, url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert curl.stdout == "403"
    # A certificate from another CA fails the handshake: the client gets no answer at all.
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url, verify=trust, cert=(str(stranger.cert), str(stranger.key)), timeout=10)
    # Still serving the client with a certificate after the refusals.
    assert requests.get(url, verify=trust, cert=(str(good.cert), str(good.key)), timeout=10).ok


def test_client_certificates_optional(started: Any, tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "clients", "clients-ca")
    front: Front = started(clientCerts="optional", clientCaFile=str(ca.cert_file))
    url, trust = f"{front.url}/echo/whoami", str(front.ca.cert_file)
    good, stranger = ca.client("alice"), TestCA(tmp_path / "other", "other-ca").client("mallory")
    assert requests.get(url, verify=trust, timeout=10).status_code == 200
    assert requests.get(url, verify=trust, cert=(str(good.cert), str(good.key)), timeout=10).ok
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url, verify=trust, cert=(str(stranger.cert), str(stranger.key)), timeout=10)


def test_garbage_and_stalled_handshakes_are_dropped(started: Any) -> None:
    front: Front = started(handshakeTimeout="1s")
    url, trust = f"{front.url}/echo/whoami", str(front.ca.cert_file)
    # Garbage where the ClientHello should be: closed, nothing answered.
    for junk in (b"\x00" * 4096, b"\x16\x03\x01\xff\xff" + b"A" * 600, b"GET / HTTP/1.1\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", front.port), timeout=10) as sock:
            sock.sendall(junk)
            assert _read_all(sock)[:4] != b"HTTP"
    # A handshake that never ends (a ClientHello's first byte, then nothing; and nothing
    # at all) is dropped at handshakeTimeout, while other clients are served meanwhile.
    stalled = [socket.create_connection(("127.0.0.1", front.port), timeout=10) for _ in range(20)]
    stalled[0].sendall(b"\x16\x03\x01")
    began = time.monotonic()
    assert requests.get(url, verify=trust, timeout=10).status_code == 200
    for sock in stalled:
        assert _read_all(sock)[:4] != b"HTTP"  # EOF (or a reset) once the timeout passes
        sock.close()
    assert time.monotonic() - began < 8, "stalled handshakes were not dropped at 1 s"
    assert front.gateway.poll() is None
    assert requests.get(url, verify=trust, timeout=10).status_code == 200
    assert "Traceback" not in front.log.read_text()


def test_a_renewed_certificate_is_served_after_sighup(started: Any) -> None:
    front: Front = started()
    ctx = front.context()
    keep = ctx.wrap_socket(
        socket.create_connection(("127.0.0.1", front.port), timeout=10), server_hostname="127.0.0.1"
    )
    before = keep.getpeercert()
    renewed = front.ca.server("server")  # new key and serial, written over the same files
    assert renewed.cert == front.server.cert
    front.gateway.send_signal(1)  # SIGHUP
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sock, answer = _raw_get(front, ctx)
        serial = sock.getpeercert()["serialNumber"]
        sock.close()
        if serial != before["serialNumber"]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the renewed certificate was not served after SIGHUP")
    assert answer.startswith(b"HTTP/1.1 200 OK")
    # A connection opened before the renewal keeps working.
    keep.sendall(b"GET /echo/whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert _read_all(keep).startswith(b"HTTP/1.1 200 OK")
    keep.close()
