"""The front door's certificate from the deployment's CA: issued once, kept while fresh,
renewed at half its life and when its root is rotated out, checked by a real client for
the address it dialled (127.0.0.1) against the bundle written beside it."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path

from cryptography import x509

from crosscloud.adapters import frontdoor
from crosscloud.adapters.security import ca
from crosscloud.controlplane import frontdoor_cert

NOW = 1_800_000_000.0


def _serial(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def test_issued_once_then_renewed_at_half_life(tmp_path: Path) -> None:
    cert = frontdoor_cert.FrontDoorCert(tmp_path, host="127.0.0.1")
    path = cert.ensure(now=NOW)
    assert path == tmp_path / "frontdoor" / "gateway.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    first = _serial(path)
    assert _serial(cert.ensure(now=NOW + 11 * 3600)) == first  # fresh: kept
    again = frontdoor_cert.FrontDoorCert(tmp_path, host="127.0.0.1")  # a restarted plane
    assert _serial(again.ensure(now=NOW + 11 * 3600)) == first
    assert _serial(again.ensure(now=NOW + 12 * 3600 + 1)) != first  # half of 24 h: renewed


def test_a_rotated_out_root_gets_a_new_certificate(tmp_path: Path) -> None:
    cert = frontdoor_cert.FrontDoorCert(tmp_path, host="127.0.0.1")
    first = _serial(cert.ensure(now=NOW))
    authority = ca.Authority.open(tmp_path / "ca", now=NOW)
    authority.rotate(now=NOW + 10, propagation=5, overlap=60)
    assert _serial(cert.ensure(now=NOW + 20)) == first  # the old root is still trusted
    assert _serial(cert.ensure(now=NOW + 80)) != first  # retired: re-issued by the new one
    assert cert.bundle.read_bytes() == authority.bundle_pem(now=NOW + 80)


def test_a_client_checks_it_against_the_bundle(tmp_path: Path) -> None:
    cert = frontdoor_cert.FrontDoorCert(tmp_path, host="127.0.0.1")
    path = cert.ensure(now=time.time())
    server = frontdoor.server_context(frontdoor.TlsConfig(cert_file=str(path), key_file=str(path)))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def accept() -> None:
            conn, _ = listener.accept()
            with server.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")

        thread = threading.Thread(target=accept)
        thread.start()
        client = ssl.create_default_context(cafile=str(cert.bundle))
        with client.wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="127.0.0.1"
        ) as tls:
            assert tls.recv(2) == b"ok"
        thread.join(timeout=10)
