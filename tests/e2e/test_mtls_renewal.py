"""Certificates renewed, and the root rotated, under steady load through the gateway:
not one request fails. Certificates live 10 s here (renewed every 5 s) so that every
process reloads its files several times during the test, and `crosscloud ca rotate`
moves them all to a new root and then drops the old one from the trust bundle."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography import x509

from crosscloud.adapters.security import ca as camod
from tests.e2e.deploy import Load, app_folder, isolated

pytestmark = pytest.mark.timeout(240)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: renew}
spec:
  services: [{name: echo, source: service.py:Echo}]
  placements:
    - {provider: local, region: region-a, services: [{name: echo, replicas: 2}]}
  security: {certificateLifetime: 10s}
"""


def _issuer(path: Path) -> str:
    info = camod.leaf_info(path.read_bytes())
    assert info is not None
    return info.issuer


def _reloads(log: Path) -> int:
    return log.read_text(errors="replace").count("reloaded TLS files")


def test_renewal_and_root_rotation_under_load(tmp_path: Path) -> None:
    app = app_folder(tmp_path, MANIFEST)
    with isolated(tmp_path) as d:
        d.run("up", str(app / "crosscloud.yaml"))
        tls = d.home / "tls"
        first_root = _issuer(tls / "gateway.pem")
        with Load(f"{d.gateway()}/echo/echo", threads=4) as load:
            time.sleep(6)  # one renewal of every certificate (half of 10 s) under load
            d.run("ca", "rotate", "--propagation", "5s", "--overlap", "8s")
            roots = camod.Authority.read(d.home / "ca")
            assert roots is not None
            new_root = roots.roots[-1].id

            def moved() -> bool:
                leaves = [tls / "gateway.pem", tls / "renew" / "echo.pem"]
                bundle = x509.load_pem_x509_certificates((tls / "bundle.pem").read_bytes())
                return len(bundle) == 1 and all(_issuer(p) == new_root for p in leaves)

            d.wait(moved, timeout=60, what="every leaf re-issued and the old root dropped")
            time.sleep(6)  # and traffic goes on with only the new root trusted
        statuses = load.statuses()
    assert new_root != first_root
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 100, statuses
    logs = d.home / "logs"
    assert _reloads(logs / "gateway.log") >= 3
    replica_logs = list((logs / "renew").rglob("*.log"))
    assert len(replica_logs) == 2
    for log in replica_logs:  # each replica reloaded its files without restarting
        assert _reloads(log) >= 3, log.read_text()[-2000:]
        assert log.read_text().count("starting replica") == 1
