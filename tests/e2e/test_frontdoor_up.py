"""`spec.traffic.tls` through `crosscloud up`: the gateway the control plane runs serves
HTTPS with the manifest's certificate (and `status` says https://), the control plane
still reads its traffic through the admin port, and a certificate the gateway could not
serve is refused by `up` (exit 2) before anything starts. Without files, the certificate
comes from the deployment's own CA, and clients trust the bundle written beside it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests

from tests.certs import TestCA
from tests.e2e.deploy import Deployer, app_folder, isolated

pytestmark = pytest.mark.timeout(180)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: secure
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - {{provider: local, region: region-a, services: [{{name: echo, replicas: 1}}]}}
  traffic:
    tls: {{certFile: {cert}, keyFile: {key}}}
"""


@pytest.fixture
def deployer(tmp_path: Path) -> Iterator[Deployer]:
    with isolated(tmp_path) as d:
        yield d


def test_up_serves_https_and_refuses_a_bad_certificate(deployer: Deployer, tmp_path: Path) -> None:
    d = deployer
    ca = TestCA(tmp_path / "pki")
    pair = ca.server("gateway")
    # A key that is not the certificate's: refused by `up`, nothing started.
    other = ca.server("other")
    folder = app_folder(tmp_path, MANIFEST.format(cert=pair.cert, key=other.key))
    refused = d.run("up", str(folder / "crosscloud.yaml"), check=False)
    assert refused.returncode == 2, refused.stderr
    assert "spec.traffic.tls: cannot use certFile" in refused.stderr
    assert not d.processes()
    # Relative paths are read from the manifest's folder.
    (folder / "gw.pem").write_bytes(pair.cert.read_bytes())
    (folder / "gw-key.pem").write_bytes(pair.key.read_bytes())
    (folder / "crosscloud.yaml").write_text(MANIFEST.format(cert="gw.pem", key="gw-key.pem"))
    d.run("up", str(folder / "crosscloud.yaml"))
    url = d.gateway()
    assert url.startswith("https://127.0.0.1:")
    trust = str(ca.cert_file)
    for _ in range(5):
        answer = requests.post(f"{url}/echo/echo", json={"text": "hi"}, verify=trust, timeout=30)
        assert answer.json() == "hi"
    with pytest.raises(httpx.HTTPError):  # plain HTTP gets no answer from the front door
        httpx.post(f"{url.replace('https', 'http')}/echo/echo", json={"text": "hi"}, timeout=10)
    # The control plane reads the gateway's counters through its admin port.
    rows = d.wait(
        lambda: [r for r in d.status()["deployments"][0]["traffic"]["rows"] if r["requests"]],
        timeout=60,
        what="traffic in status",
    )
    assert rows[0]["placement"] == "local/region-a" and rows[0]["requests"] >= 5


CA_MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: local-ca
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - {provider: local, region: region-a, services: [{name: echo, replicas: 1}]}
  traffic:
    tls: {}
"""


def test_a_certificate_from_the_deployments_ca(deployer: Deployer, tmp_path: Path) -> None:
    d = deployer
    folder = app_folder(tmp_path, CA_MANIFEST)
    d.run("up", str(folder / "crosscloud.yaml"))
    url = d.gateway()
    assert url.startswith("https://127.0.0.1:")
    bundle = d.home / "frontdoor" / "ca.pem"
    issued = d.home / "frontdoor" / "gateway.pem"
    assert oct(issued.stat().st_mode & 0o777) == "0o600"
    answer = requests.post(f"{url}/echo/echo", json={"text": "hi"}, verify=str(bundle), timeout=30)
    assert answer.json() == "hi"
    # The root in the bundle is the deployment's own, as `crosscloud ca show` lists it.
    shown = d.run("ca", "show", "-o", "json").stdout
    assert bundle.read_text().count("BEGIN CERTIFICATE") == len(json.loads(shown)["roots"])
