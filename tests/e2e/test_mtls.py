"""Mutual TLS between the gateway and replicas, with real processes and clients we did not
write (curl, requests, openssl): a replica takes only clients with a certificate of the
deployment's CA; the gateway takes only a replica whose certificate names the service it
meant to reach; nothing readable crosses the loopback between them."""

from __future__ import annotations

import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
import urllib3

from crosscloud.domain import identity
from tests.e2e.mtls_kit import TD, Pki, Procs, probe_kit

pytestmark = pytest.mark.timeout(120)
ECHO_ID = identity.workload(TD, "demo", "echo")


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[tuple[Pki, Procs]]:
    with probe_kit(tmp_path) as both:
        yield both


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def _echo_count(pki: Pki, port: int) -> int:
    text = httpx.get(
        f"https://127.0.0.1:{port}/metrics", verify=pki.client_context("probe"), timeout=5
    ).text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("crosscloud_requests_total{") and 'endpoint="echo"' in line
    )


def test_replica_refuses_plaintext_and_other_cas(kit: tuple[Pki, Procs], tmp_path: Path) -> None:
    pki, procs = kit
    port = procs.replica(pki, pki.issue("echo", ECHO_ID))
    url = f"https://127.0.0.1:{port}/echo"
    body = ["-H", "content-type: application/json", "-d", '{"text": "hi"}']
    mine = ["--cert", str(pki.root / "probe.crt"), "--key", str(pki.root / "probe.key")]
    # A client with a certificate of the deployment's CA is served (the refusals below
    # are about the certificates, not a broken server).
    ok = _curl("-k", *mine, *body, url)
    assert ok.returncode == 0 and ok.stdout == '"hi"', ok.stderr
    # plaintext HTTP to the TLS port
    plain = _curl(*body, f"http://127.0.0.1:{port}/echo")
    assert plain.returncode != 0 and "hi" not in plain.stdout
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"http://127.0.0.1:{port}/echo", json={"text": "hi"}, timeout=5)
    # TLS without a client certificate
    bare = _curl("-k", *body, url)
    assert bare.returncode != 0 and "hi" not in bare.stdout
    # a client certificate from another CA (same SPIFFE ID even)
    other = Pki(tmp_path / "other")
    other.issue("probe", identity.gateway(TD))
    theirs = ["--cert", str(other.root / "probe.crt"), "--key", str(other.root / "probe.key")]
    foreign = _curl("-k", *theirs, *body, url)
    assert foreign.returncode != 0 and "hi" not in foreign.stdout
    # (the server is not checked here, so urllib3 warns: the point is the client's cert)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.post(
                url,
                json={"text": "hi"},
                cert=(str(other.root / "probe.crt"), str(other.root / "probe.key")),
                verify=False,
                timeout=5,
            )
    # openssl s_client: the connection ends before any answer
    shown = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *theirs, "-quiet"],
        input="GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n",
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert "HTTP/1.1" not in shown.stdout, shown.stdout
    assert _echo_count(pki, port) == 1  # only the trusted client's request ran


def test_gateway_refuses_replica_of_another_service(kit: tuple[Pki, Procs]) -> None:
    pki, procs = kit
    impostor = procs.replica(pki, pki.issue("other", identity.workload(TD, "demo", "other")))
    genuine = procs.replica(pki, pki.issue("echo", ECHO_ID))
    gateway_cert = pki.issue("gateway", identity.gateway(TD))
    tls = {"cert": str(gateway_cert), "ca": str(pki.bundle)}

    def service(port: int) -> dict[str, object]:
        return {
            "name": "echo",
            "identity": ECHO_ID,
            "retries": {"attempts": 0},
            "healthCheck": {"enabled": False},
            "upstreams": [{"id": "r", "host": "127.0.0.1", "port": port}],
        }

    bad = procs.gateway({"upstreamTls": tls, "services": [service(impostor)]})
    answer = httpx.post(f"http://127.0.0.1:{bad}/echo/echo", json={"text": "hi"}, timeout=10)
    assert answer.status_code == 502, answer.text
    assert "not the service" in answer.text
    assert _echo_count(pki, impostor) == 0  # not one request reached it
    good = procs.gateway({"upstreamTls": tls, "services": [service(genuine)]})
    answer = httpx.post(f"http://127.0.0.1:{good}/echo/echo", json={"text": "hi"}, timeout=10)
    assert answer.status_code == 200 and answer.json() == "hi", answer.text
