"""The front door's certificate from the deployment's own CA, for local use: when
`spec.traffic.tls` names no certFile/keyFile, the control plane issues the gateway one
(SANs 127.0.0.1, localhost and the gateway's host; 24 h; renewed at half its life, or as
soon as its root leaves the trust bundle) and writes, in `$CROSSCLOUD_HOME/frontdoor/`
(0700): `gateway.pem` (key and certificate in one 0600 file, replaced in one rename) and
`ca.pem`, the trust bundle clients use (`curl --cacert`). The gateway is told through
its config file; a renewed file is noticed there (gatewaylink.py) and sent a SIGHUP."""

from __future__ import annotations

from pathlib import Path

from crosscloud.adapters.security import ca, files
from crosscloud.planning import certs

#: The front door's identity in the CA's URI SAN (the replicas' are per service).
IDENTITY = "gateway-frontdoor"


class FrontDoorCert:
    """The issued certificate of one state directory's gateway, kept fresh."""

    def __init__(self, home: Path, *, host: str) -> None:
        self.ca_dir = home / "ca"
        self.folder = home / "frontdoor"
        self.pem = self.folder / "gateway.pem"
        self.bundle = self.folder / "ca.pem"
        self.hosts = tuple(dict.fromkeys((host, "127.0.0.1", "localhost")))
        self._info: certs.LeafInfo | None = None

    def ensure(self, *, now: float) -> Path:
        """The certificate file, issued or renewed first when it is due."""
        authority = ca.Authority.open(self.ca_dir, now=now)
        info = self._info or self._read()
        trusted = {r.id for r in certs.trusted(authority.roots, now=now)}
        if info is None or certs.renewal_due(info, now=now) or info.issuer not in trusted:
            uri = f"spiffe://{authority.trust_domain}/{IDENTITY}"
            leaf = authority.issue(uri, now=now, hosts=self.hosts)
            files.write_private(self.pem, leaf.pem)
            info = leaf.info
        self._info = info
        files.write_if_changed(self.bundle, authority.bundle_pem(now=now))
        return self.pem

    def _read(self) -> certs.LeafInfo | None:
        try:
            return ca.leaf_info(self.pem.read_bytes())
        except OSError:
            return None
