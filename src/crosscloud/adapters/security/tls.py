"""TLS contexts built from certificate files, that follow the files when they change.

Certificates are delivered as files that the control plane rewrites (renewal, a root
rotation); a process reloads them without dropping a connection:

- `Reloading.current` is the context built from the files' latest good content; a thread
  checks the files every `poll` seconds and builds a new one when they change. A client
  (the gateway, the control plane) passes `current` when it opens a connection, so pooled
  connections carry on with the context they were made with.
- A server's listening socket keeps the context it was created with (`base`); its SNI
  callback, which OpenSSL runs for every ClientHello, SNI or not, moves each new handshake
  onto `current`: new certificate, new key, new trusted roots, no restart.

A file caught half-written (a new certificate beside an old key) fails to load: the last
good context stays until the next check.

A client that reconnects to a peer resumes the session an earlier connection saved
(`resuming`, `saved_session`): an abbreviated handshake, without parsing and verifying the
peer's certificate chain again, which with OpenSSL 3.0 is most of a full handshake's
cost (measured here: 1.6-1.9 ms of client CPU full, 0.5-0.8 ms resumed).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from crosscloud import errors
from crosscloud.domain import identity

log = logging.getLogger("crosscloud.tls")
POLL = 1.0


@dataclass(frozen=True)
class TlsFiles:
    """Where a process finds its certificate, its key (None: in the certificate's file)
    and the roots it trusts."""

    cert: Path
    key: Path | None
    ca: Path

    def paths(self) -> tuple[Path, ...]:
        return (self.cert, self.ca) if self.key is None else (self.cert, self.key, self.ca)


def files_from(*, cert: str | None, key: str | None, ca: str | None) -> TlsFiles | None:
    """The TLS files of `--tls-cert/--tls-key/--tls-ca`: None when none is given; a
    UserError when only some are (a certificate without roots to check clients with
    would not be mutual TLS)."""
    if cert is None and key is None and ca is None:
        return None
    if cert is None or ca is None:
        missing = " and ".join(n for n, v in (("--tls-cert", cert), ("--tls-ca", ca)) if v is None)
        raise errors.UserError(
            f"TLS needs {missing} too (--tls-key is optional: the key may"
            " be in the certificate's file)"
        )
    for flag, value in (("--tls-cert", cert), ("--tls-key", key), ("--tls-ca", ca)):
        if value is not None and not Path(value).is_file():
            raise errors.UserError(f"{flag}: no such file: {value}")
    return TlsFiles(Path(cert), None if key is None else Path(key), Path(ca))


def build(tls: TlsFiles, *, server: bool) -> ssl.SSLContext:
    """A context presenting `tls.cert` that requires and verifies the peer's certificate
    against `tls.ca`. Hostnames are not checked: peers are named by URI SANs (SPIFFE IDs),
    which the caller checks (`peer_identity`)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    # A company's intermediate CA imported as a root is an anchor of its own.
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    try:
        ctx.load_cert_chain(str(tls.cert), None if tls.key is None else str(tls.key))
        ctx.load_verify_locations(cafile=str(tls.ca))
    except (OSError, ssl.SSLError) as exc:
        raise errors.UserError(f"cannot load TLS files {_names(tls)}: {exc}") from None
    return ctx


def peer_identity(peercert: object) -> str | None:
    """The SPIFFE ID of a verified peer certificate (`getpeercert()`), or None."""
    for uri in identity.uris_of(peercert):
        if identity.parse(uri) is not None:
            return uri
    return None


def peer_deployment(peercert: object) -> str | None:
    """The deployment of a peer's workload certificate (`spiffe://td/D/S`), or None."""
    uri = peer_identity(peercert)
    found = None if uri is None else identity.parse(uri)
    return None if found is None else found.deployment


#: A session to resume and the client context that made it (a session is only valid
#: with that very context: one reloaded from renewed files starts afresh).
Saved = tuple[ssl.SSLContext, ssl.SSLSession]


class _Transport(Protocol):
    def get_extra_info(self, name: str, default: object = None) -> object: ...


class _Resume:
    """Stands in for a client context to offer a saved session: uvloop's and asyncio's
    SSL transports call only `wrap_bio` on the `ssl=` they are given, and neither takes a
    session to offer, so this passes one on."""

    __slots__ = ("context", "session")

    def __init__(self, context: ssl.SSLContext, session: ssl.SSLSession) -> None:
        self.context, self.session = context, session

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return self.context.wrap_bio(
            incoming, outgoing, server_side, server_hostname, session=session or self.session
        )


def resuming(context: ssl.SSLContext, saved: Saved | None) -> ssl.SSLContext:
    """What to open a client connection with: `context`, offering `saved`'s session when
    `context` made it. A peer that no longer knows the session (restarted, another
    process at that address) answers with a full handshake, certificate checks and all."""
    if saved is None or saved[0] is not context:
        return context
    return cast(ssl.SSLContext, _Resume(context, saved[1]))


def saved_session(transport: _Transport, context: ssl.SSLContext) -> Saved | None:
    """The session of a connection opened with `context`, to resume later; read it once
    an answer came (TLS 1.3 tickets arrive after the handshake)."""
    found = transport.get_extra_info("ssl_object")
    session = found.session if isinstance(found, ssl.SSLObject) else None
    return None if session is None else (context, session)


def _names(tls: TlsFiles) -> str:
    return ", ".join(str(p) for p in tls.paths())


def _stamp(paths: tuple[Path, ...]) -> tuple[tuple[int, int, int], ...]:
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append((0, 0, 0))
        else:
            out.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)


class Reloading:
    """A context kept in step with its files (see the module's docstring)."""

    def __init__(self, tls: TlsFiles, *, server: bool, poll: float = POLL) -> None:
        self.tls = tls
        self.server = server
        self.poll = poll
        self._stamp = _stamp(tls.paths())
        self.current = build(tls, server=server)
        self.loads = 1
        #: What a listening socket is created with; each handshake moves to `current`.
        self.base = self.current
        if server:
            self.base.sni_callback = self._to_current
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _to_current(
        self, conn: ssl.SSLObject | ssl.SSLSocket, _name: str | None, ctx: ssl.SSLContext
    ) -> None:
        current = self.current
        if current is not ctx:
            conn.context = current

    def check(self) -> bool:
        """Rebuild `current` if the files changed; True when it was replaced."""
        stamp = _stamp(self.tls.paths())
        if stamp == self._stamp:
            return False
        try:
            fresh = build(self.tls, server=self.server)
        except errors.UserError as exc:
            log.warning("keeping the current TLS context: %s", exc)
            return False
        self._stamp = stamp
        if self.server:
            fresh.sni_callback = self._to_current
        self.current = fresh
        self.loads += 1
        log.info("reloaded TLS files %s", _names(self.tls))
        return True

    def start(self) -> Reloading:
        """Check the files every `poll` seconds in a daemon thread (until `stop`)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tls-reload", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.check()
            except Exception:  # the thread must outlive any one bad check
                log.exception("checking TLS files")

    def stop(self) -> None:
        self._stop.set()
