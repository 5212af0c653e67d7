"""Mutual TLS as `crosscloud up` sets it up by default: replicas serve TLS only, the
gateway and `crosscloud.call` authenticate with certificates of the deployment's CA (so a
deployment with API tokens still reaches its own services), key files are 0600, and a
capture of the loopback between the gateway and the replicas holds nothing readable."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import EXAMPLES
from tests.e2e.capture import Capture
from tests.e2e.deploy import Deployer, isolated

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def wordcount(tmp_path: Path) -> Iterator[Deployer]:
    with isolated(tmp_path) as d:
        d.run("up", str(EXAMPLES / "multiservice" / "crosscloud.yaml"))
        yield d


def _modes(home: Path) -> list[tuple[str, int]]:
    out = []
    for folder in (home / "ca", home / "tls"):
        for path in [folder, *folder.rglob("*")]:
            out.append((str(path.relative_to(home)), stat.S_IMODE(path.stat().st_mode)))
    return out


def test_services_call_each_other_with_tokens_over_mtls(
    wordcount: Deployer, tmp_path: Path
) -> None:
    d = wordcount
    status = d.status()
    gateway = status["gateway"]["url"]
    dep = status["deployments"][0]
    assert dep["mtls"] == "enabled" and dep["plaintext_services"] == []
    assert "mutual TLS to replicas" in d.run("status").stdout
    replicas = dep["replicas"]
    assert replicas and all(r["url"].startswith("https://") for r in replicas)
    # keys and certificates: files 0600, folders 0700
    for name, mode in _modes(d.home):
        assert mode == (0o700 if (d.home / name).is_dir() else 0o600), (name, oct(mode))
    # a replica's port takes no plaintext, and no TLS client without a certificate
    for replica in replicas:
        with pytest.raises(httpx.HTTPError):
            httpx.get(replica["url"].replace("https", "http") + "/readyz", timeout=5)
        with pytest.raises(httpx.HTTPError):
            httpx.get(replica["url"] + "/readyz", verify=False, timeout=5)
    token = d.run("token", "create", "wordcount").stdout.strip()
    url = f"{gateway}/summary/count"
    secret = f"words-{uuid.uuid4().hex}"
    body = {"text": f"{secret} b {secret}"}
    d.wait(lambda: httpx.post(url, json=body, timeout=10).status_code == 401, what="tokens on")
    ports = [r["port"] for r in replicas]
    mesh = orjson.loads((d.home / "gateway.pid.json").read_bytes())["mesh_port"]
    inner = Capture(tmp_path, [*ports, mesh], name="inner")
    front = Capture(tmp_path, [int(gateway.rsplit(":", 1)[1])], name="front")
    try:
        for _ in range(5):
            answer = httpx.post(
                url, json=body, headers={"authorization": f"Bearer {token}"}, timeout=30
            )
            # summary -> tokenizer through crosscloud.call: with its workload certificate
            assert answer.status_code == 200, answer.text
            assert answer.json() == {secret.lower(): 2, "b": 1}
    finally:
        inner_bytes, front_bytes = inner.stop(), front.stop()
    # The front door (plaintext HTTP here) shows the request: the capture works ...
    assert secret.encode() in front_bytes and b"HTTP/1.1" in front_bytes
    # ... and between the gateway and the replicas (and service to service) nothing of it.
    packets = inner.packets()
    assert sum(len(p) > 100 for p in packets) >= 10, (  # TLS records, not just handshakes
        f"the capture saw little traffic to the replicas: {len(packets)} packets on ports"
        f" {[*ports, mesh]}; {inner.log.read_text()}"
    )
    assert b"HTTP/1.1" not in inner_bytes
    assert secret.encode() not in inner_bytes
    assert orjson.dumps(body) not in inner_bytes
    assert b"words-" not in inner_bytes
    # no key material in any log (the control plane's, the gateway's, the replicas')
    key_lines = [ln for p in (d.home / "tls").rglob("*.pem") for ln in p.read_text().splitlines()]
    secret_lines = {ln for ln in key_lines if "-----" not in ln and len(ln) > 40}
    for log in (d.home / "logs").rglob("*.log"):
        text = log.read_text(errors="replace")
        assert "PRIVATE KEY" not in text, log
        assert not any(line in text for line in secret_lines), log


def test_plaintext_only_when_the_manifest_says_so(tmp_path: Path) -> None:
    manifest = (EXAMPLES / "multiservice" / "crosscloud.yaml").read_text()
    manifest += "  security:\n    mtls: disabled\n"
    app = tmp_path / "app"
    app.mkdir()
    (app / "crosscloud.yaml").write_text(manifest)
    (app / "services.py").write_text((EXAMPLES / "multiservice" / "services.py").read_text())
    with isolated(tmp_path) as d:
        d.run("up", str(app / "crosscloud.yaml"))
        dep = d.status()["deployments"][0]
        assert dep["mtls"] == "disabled"
        assert "PLAINTEXT to replicas" in d.run("status").stdout
        assert all(r["url"].startswith("http://") for r in dep["replicas"])
        gateway = d.gateway()
        answer = httpx.post(f"{gateway}/summary/count", json={"text": "a a"}, timeout=30)
        assert answer.status_code == 200 and answer.json() == {"a": 2}
