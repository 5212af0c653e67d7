"""`spec.traffic.tls` and `spec.traffic.residency` in manifests: what is accepted, and each
mistake refused with its own file:line:column, field path and what would be valid."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crosscloud import errors
from crosscloud.domain import manifest
from tests.conftest import CROSSCLOUD

HEAD = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: demo}
spec:
  services:
    - {name: echo, source: ./service.py:Echo}
    - {name: summary, source: ./service.py:Echo}
  placements:
    - {provider: local, region: eu-west-1}
    - {provider: local, region: eu-central-1, services: [{name: echo}]}
    - {provider: local, region: us-east-1}
  traffic:
"""


def _load(traffic: str) -> manifest.Manifest:
    return manifest.load_manifest(HEAD + traffic, "crosscloud.yaml")


def _problems(traffic: str) -> list[str]:
    with pytest.raises(errors.ManifestError) as caught:
        _load(traffic)
    return [str(p) for p in caught.value.problems]


def test_tls_and_zones_are_read() -> None:
    spec = _load(
        "    tls: {certFile: gw.pem, keyFile: gw-key.pem, clientCerts: optional,"
        " clientCaFile: clients.pem, handshakeTimeout: 3s}\n"
        "    residency:\n"
        "      eu: [local/eu-west-1, local/eu-central-1]\n"
        "      us: [LOCAL/us-east-1]\n"
    ).spec.traffic
    assert spec.tls is not None
    assert (spec.tls.cert_file, spec.tls.key_file) == ("gw.pem", "gw-key.pem")
    assert (spec.tls.client_certs, spec.tls.client_ca_file) == ("optional", "clients.pem")
    assert spec.tls.handshake_timeout == 3.0
    assert spec.residency == {
        "eu": ("local/eu-west-1", "local/eu-central-1"),
        "us": ("local/us-east-1",),
    }


def test_no_tls_and_no_zones_by_default() -> None:
    spec = _load("    policy: round-robin\n").spec.traffic
    assert spec.tls is None and spec.residency == {}


@pytest.mark.parametrize(
    ("traffic", "expected"),
    [
        (
            "    tls: {certFile: gw.pem}\n",
            "crosscloud.yaml:13:21 spec.traffic.tls.certFile: certFile needs keyFile too",
        ),
        (
            "    tls: {keyFile: k.pem}\n",
            "crosscloud.yaml:13:20 spec.traffic.tls.keyFile: keyFile needs certFile too",
        ),
        (
            "    tls: {certFile: a, keyFile: b, clientCerts: required}\n",
            "spec.traffic.tls.clientCerts: clientCerts 'required' needs clientCaFile",
        ),
        (
            "    tls: {certFile: a, keyFile: b, clientCerts: always}\n",
            "spec.traffic.tls.clientCerts",
        ),
        (
            "    tls: {certFile: a, keyFile: b, handshakeTimeout: 0s}\n",
            "spec.traffic.tls.handshakeTimeout: must be more than 0",
        ),
        (
            "    residency: {eu: [local/eu-west-1, aws/eu-west-1]}\n",
            "crosscloud.yaml:13:39 spec.traffic.residency.eu[1]: no placement is named"
            " 'aws/eu-west-1'",
        ),
        (
            "    residency: {eu: [local/eu-west-1, local/eu-west-1]}\n",
            "spec.traffic.residency.eu[1]: placement 'local/eu-west-1' is listed more than once",
        ),
        (
            "    residency: {eu: []}\n",
            "spec.traffic.residency.eu: zone 'eu' lists no placement",
        ),
        (
            "    residency: {EU: [local/eu-west-1]}\n",
            "spec.traffic.residency.EU: 'EU' is not a valid name",
        ),
        (
            "    residency: {eu: [eu-west-1]}\n",
            "spec.traffic.residency.eu[0]: 'eu-west-1' is not provider/region",
        ),
    ],
)
def test_mistakes_are_refused_where_they_are(traffic: str, expected: str) -> None:
    found = _problems(traffic)
    assert any(expected in line for line in found), found


def test_a_zone_without_a_placement_for_a_service_is_refused() -> None:
    # local/eu-central-1 runs echo only: a zone of it alone could never serve summary.
    found = _problems("    residency:\n      eu: [local/eu-central-1]\n")
    assert found == [
        "crosscloud.yaml:14:11 spec.traffic.residency.eu: zone 'eu' (local/eu-central-1) has no"
        " placement for service(s) summary: a request in the zone could never be served; add"
        " them to a placement of the zone"
    ]


def test_residency_needs_declared_placements() -> None:
    text = HEAD.split("  placements:")[0] + "  placements: auto\n  traffic:\n"
    text += "    residency: {eu: [aws/eu-west-1]}\n"
    with pytest.raises(errors.ManifestError) as caught:
        manifest.load_manifest(text, "crosscloud.yaml")
    assert "`placements: auto` has none" in str(caught.value)


def test_plan_refuses_a_zone_without_a_placement_for_a_service(tmp_path: Path) -> None:
    path = tmp_path / "crosscloud.yaml"
    path.write_text(HEAD + "    residency:\n      eu: [local/eu-central-1]\n")
    result = subprocess.run(
        [*CROSSCLOUD, "plan", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    where = f"error: {path}:14:11 spec.traffic.residency.eu: zone 'eu' (local/eu-central-1) has no"
    assert result.stderr.startswith(where), result.stderr
