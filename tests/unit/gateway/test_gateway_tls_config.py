"""The gateway file's mutual TLS keys and `--tls-*` flags: refused with one clear message
when incomplete, parsed into the values the gateway runs on when whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosscloud import errors
from crosscloud.adapters.security import tls
from crosscloud.gateway import config as gwconfig

ID = "spiffe://crosscloud.local/demo/echo"


def test_identity_and_mesh_need_the_gateway_certificate() -> None:
    with pytest.raises(errors.UserError, match="need `upstreamTls`"):
        gwconfig.parse({"services": [{"name": "echo", "identity": ID}]})
    with pytest.raises(errors.UserError, match="need `upstreamTls`"):
        gwconfig.parse({"mesh": {"port": 0}})
    with pytest.raises(errors.UserError, match="identity"):
        gwconfig.parse(
            {
                "upstreamTls": {"cert": "g.pem", "ca": "b.pem"},
                "services": [{"name": "echo", "identity": "https://not-spiffe"}],
            }
        )


def test_tls_config_parsed() -> None:
    found = gwconfig.parse(
        {
            "upstreamTls": {"cert": "/t/g.pem", "ca": "/t/b.pem"},
            "mesh": {"port": 0},
            "services": [{"name": "echo", "identity": ID}, {"name": "plain"}],
        }
    )
    assert found.upstream_tls == tls.TlsFiles(Path("/t/g.pem"), None, Path("/t/b.pem"))
    assert found.mesh == ("127.0.0.1", 0)
    echo, plain = found.services
    assert (echo.identity, echo.deployment) == (ID, "demo")
    assert (plain.identity, plain.deployment) == (None, None)  # plaintext to its replicas


def test_tls_flags(tmp_path: Path) -> None:
    cert, ca = tmp_path / "c.pem", tmp_path / "ca.pem"
    cert.write_text("x")
    ca.write_text("x")
    assert tls.files_from(cert=None, key=None, ca=None) is None
    assert tls.files_from(cert=str(cert), key=None, ca=str(ca)) == tls.TlsFiles(cert, None, ca)
    with pytest.raises(errors.UserError, match="--tls-ca too"):
        tls.files_from(cert=str(cert), key=None, ca=None)
    with pytest.raises(errors.UserError, match="--tls-key: no such file"):
        tls.files_from(cert=str(cert), key=str(tmp_path / "missing"), ca=str(ca))
    with pytest.raises(errors.UserError, match="cannot load TLS files"):
        tls.build(tls.TlsFiles(cert, None, ca), server=True)  # not PEM: one clear line


@pytest.mark.parametrize(
    ("peer", "deployment"),
    [
        ({"subjectAltName": (("URI", ID),)}, "demo"),
        ({"subjectAltName": (("URI", "spiffe://crosscloud.local/gateway"),)}, None),
        ({"subjectAltName": (("DNS", "demo"),)}, None),
        (None, None),
    ],
)
def test_peer_deployment(peer: object, deployment: str | None) -> None:
    assert tls.peer_deployment(peer) == deployment
