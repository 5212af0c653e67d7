"""HTTPS at the gateway's front door: the server's `ssl.SSLContext`, built once per
certificate (and again when its files change), handed to the listener; the request path
never sees TLS (uvloop's transport decrypts before `Downstream.data_received`).

A client pays the full handshake once: connections are kept alive (`limits.idleTimeout`)
and sessions resume, with TLS 1.3 tickets (OpenSSL sends 2 after each full handshake, its
ticket key lives as long as the context) and TLS 1.2 session ids (the context's cache).
Client certificates are asked for only when `clientCerts` says so; with `required` a
client without one gets 403 for every request, one from another CA fails the handshake:
neither reaches a route. Renegotiation is off (a client could make the gateway pay for
handshakes at will)."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass

from crosscloud import errors

#: What `clientCerts` maps to. `required` asks as `optional` does, and the gateway answers
#: each request of a connection without a certificate 403 (as nginx answers 400): refused
#: in the handshake, the client would see only a closed connection (uvloop sends no alert).
#: A certificate that does not chain to `clientCaFile` fails the handshake either way.
_VERIFY = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_OPTIONAL,
}


@dataclass(frozen=True)
class TlsConfig:
    """The front door's certificate and what it asks of clients (`listen.tls`)."""

    cert_file: str
    key_file: str
    client_certs: str = "none"
    client_ca_file: str | None = None
    handshake_timeout: float = 10.0

    @property
    def files(self) -> tuple[str, ...]:
        extra = (self.client_ca_file,) if self.client_ca_file else ()
        return (self.cert_file, self.key_file, *extra)


def server_context(tls: TlsConfig) -> ssl.SSLContext:
    """A server context for `tls`; UserError naming the file when one cannot be used."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.set_alpn_protocols(["http/1.1"])  # an h2-first client is told to speak HTTP/1.1
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except FileNotFoundError as exc:
        raise errors.UserError(f"listen.tls: no such file {exc.filename!r}") from None
    except (ssl.SSLError, OSError) as exc:
        raise errors.UserError(
            f"listen.tls: cannot use certFile {tls.cert_file!r} with keyFile"
            f" {tls.key_file!r}: {_reason(exc)} (PEM certificate chain and its private key)"
        ) from None
    ctx.verify_mode = _VERIFY[tls.client_certs]
    if tls.client_ca_file:
        try:
            ctx.load_verify_locations(cafile=tls.client_ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise errors.UserError(
                f"listen.tls: cannot use clientCaFile {tls.client_ca_file!r}: {_reason(exc)}"
            ) from None
    return ctx


def fingerprint(tls: TlsConfig | None) -> tuple[object, ...]:
    """What decides the context: the settings and each file's size and change time, so a
    reload builds a new context when a certificate was renewed in place."""
    if tls is None:
        return ()
    stamps = []
    for path in tls.files:
        try:
            found = os.stat(path)
            stamps.append((path, found.st_size, found.st_mtime_ns, found.st_ino))
        except OSError:
            stamps.append((path, -1, -1, -1))
    return (tls, tuple(stamps))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
