"""The control plane's side of the CA: it issues and renews the certificate files of every
process of the state directory, and writes the trust bundle they all read.

    $CROSSCLOUD_HOME/tls/bundle.pem               the roots trusted now (0600, like the rest)
    $CROSSCLOUD_HOME/tls/gateway.pem              spiffe://<td>/gateway (key + certificate)
    $CROSSCLOUD_HOME/tls/controlplane.pem         spiffe://<td>/controlplane (its probes)
    $CROSSCLOUD_HOME/tls/<deployment>/<service>.pem   spiffe://<td>/<deployment>/<service>

Each pass (`step`) writes the bundle first, then replaces the leaves that planning/certs.py
says are due. Processes re-read files that change (adapters/security/tls.py), so a renewal
or a root rotation never restarts anything. Nothing is issued while no deployment has
mutual TLS on."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from crosscloud.adapters.kubernetes import model
from crosscloud.adapters.security import ca as camod
from crosscloud.adapters.security import files, tls
from crosscloud.controlplane import records
from crosscloud.domain import identity
from crosscloud.planning import certs

log = logging.getLogger("crosscloud.controlplane")
_Stamp = tuple[int, int]


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


class Certificates:
    """Keeps every process's certificate file issued, fresh and trusted."""

    def __init__(self, home: Path) -> None:
        self.ca_dir = home / "ca"
        self.dir = home / "tls"
        self._ca: camod.Authority | None = None
        self._ca_stamp: _Stamp | None = None
        self._leaves: dict[Path, tuple[_Stamp | None, certs.LeafInfo | None]] = {}

    @property
    def bundle(self) -> Path:
        return self.dir / "bundle.pem"

    @property
    def trust_domain(self) -> str:
        return identity.DEFAULT_TRUST_DOMAIN if self._ca is None else self._ca.trust_domain

    def gateway_files(self) -> tls.TlsFiles:
        return tls.TlsFiles(self.dir / "gateway.pem", None, self.bundle)

    def controlplane_files(self) -> tls.TlsFiles:
        return tls.TlsFiles(self.dir / "controlplane.pem", None, self.bundle)

    def service_files(self, deployment: str, service: str) -> tls.TlsFiles:
        return tls.TlsFiles(self.dir / deployment / f"{service}.pem", None, self.bundle)

    def service_identity(self, deployment: str, service: str) -> str:
        return identity.workload(self.trust_domain, deployment, service)

    def material(self, deployment: str, service: str) -> model.TlsMaterial | None:
        """A service's issued certificate, key and the trust bundle, for its pods' Secret
        (None until `step` has issued it)."""
        try:
            pem = self.service_files(deployment, service).cert.read_bytes()
            bundle = self.bundle.read_bytes()
        except OSError:
            return None
        key, cert = camod.split_pem(pem)
        return model.TlsMaterial(cert_pem=cert, key_pem=key, ca_pem=bundle)

    def step(self, deps: Sequence[records.Deployed], *, now: float) -> bool:
        """Issue what is missing or due for every deployment with mutual TLS on; True when
        any file changed (the gateway is told at once)."""
        secured = [d for d in deps if d.spec.spec.security.enabled]
        if not secured:
            return False
        ca = self._authority(now)
        changed = files.write_if_changed(self.bundle, ca.bundle_pem(now=now))
        lifetime = min(d.spec.spec.security.certificate_lifetime for d in secured)
        td = ca.trust_domain
        wanted = [
            (self.gateway_files().cert, identity.gateway(td), lifetime),
            (self.controlplane_files().cert, identity.controlplane(td), lifetime),
        ]
        for dep in secured:
            life = dep.spec.spec.security.certificate_lifetime
            for service in dep.spec.spec.services:
                path = self.service_files(dep.name, service.name).cert
                wanted.append((path, identity.workload(td, dep.name, service.name), life))
        for path, uri, life in wanted:
            changed = self._ensure(ca, path, uri, life, now=now) or changed
        return changed

    def _authority(self, now: float) -> camod.Authority:
        """The CA, read again when `ca rotate`/`import` changed it; created on first use."""
        stamp = _stamp(self.ca_dir / camod.STATE)
        if self._ca is None or stamp != self._ca_stamp:
            self._ca = camod.Authority.open(self.ca_dir, now=now)
            self._ca_stamp = _stamp(self.ca_dir / camod.STATE)
        return self._ca

    def _ensure(
        self, ca: camod.Authority, path: Path, uri: str, lifetime: float, *, now: float
    ) -> bool:
        if not certs.needs_leaf(self._leaf(path), identity=uri, roots=ca.roots, now=now):
            return False
        leaf = ca.issue(uri, now=now, lifetime=lifetime)
        files.write_private(path, leaf.pem)
        self._leaves[path] = (_stamp(path), leaf.info)
        log.info("issued %s for %s (until %s)", path.name, uri, camod.iso(leaf.info.not_after))
        return True

    def _leaf(self, path: Path) -> certs.LeafInfo | None:
        stamp = _stamp(path)
        cached = self._leaves.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            info = camod.leaf_info(path.read_bytes())
        except OSError:
            info = None
        self._leaves[path] = (stamp, info)
        return info
