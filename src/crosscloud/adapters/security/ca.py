"""The deployment's own certificate authority, with the `cryptography` library.

Its files live in `$CROSSCLOUD_HOME/ca/` (0700): `roots.json` (the trust domain and each
root's schedule, see planning/certs.py), and per root `<id>.crt` and `<id>.key` (0600).
A root is created on first use (EC P-256, 10 years); `rotate` adds a new one, `import_root`
adds one given (a company CA, or an intermediate of it). Leaves are EC P-256 keys with one
URI SAN (the SPIFFE ID), for both server and client authentication, 24 h by default.

Mutations take an exclusive lock on `ca/.lock`, so the CLI and a running control plane
never write over each other; readers reload `roots.json` when it changes.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crosscloud import errors
from crosscloud.adapters.security import files
from crosscloud.domain import identity
from crosscloud.planning import certs

STATE = "roots.json"
ROOT_LIFETIME = 10 * 365 * 24 * 3600.0
#: Leaves start up to a minute in the past, so a peer whose clock is a little behind
#: accepts them: a tenth of their life at most, so half-life renewal stays near half-life.
BACKDATE = 60.0
SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class Leaf:
    """An issued certificate with its private key, and the facts renewal looks at."""

    key_pem: bytes
    cert_pem: bytes
    info: certs.LeafInfo

    @property
    def pem(self) -> bytes:
        """Key and certificate in one file: replaced in one rename, never out of step."""
        return self.key_pem + self.cert_pem


def _time(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC)


def split_pem(pem: bytes) -> tuple[bytes, bytes]:
    """A `Leaf.pem` file's (key, certificates) parts."""
    marker = b"-----BEGIN CERTIFICATE-----"
    at = pem.find(marker)
    return (pem, b"") if at < 0 else (pem[:at], pem[at:])


def iso(epoch: float) -> str:
    """`epoch` as an ISO 8601 UTC time, for messages."""
    return _time(epoch).isoformat()


def key_id(cert: x509.Certificate) -> str:
    """A root's id: its subject key identifier (SHA-1 of the public key), 16 hex digits."""
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest.hex()[:16]


def leaf_info(pem: bytes) -> certs.LeafInfo | None:
    """The renewal facts of the first certificate in `pem`, or None if it has none."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    uris = sans.get_values_for_type(x509.UniformResourceIdentifier)
    return certs.LeafInfo(
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        issuer=(aki.key_identifier or b"").hex()[:16],
        identity=uris[0] if uris else "",
    )


class Authority:
    """The CA of one state directory: its trust domain and roots."""

    def __init__(self, directory: Path, trust_domain: str, roots: list[certs.RootInfo]) -> None:
        self.directory = directory
        self.trust_domain = trust_domain
        self.roots = roots
        self._certs: dict[str, x509.Certificate] = {}
        self._keys: dict[str, SigningKey] = {}

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, *, now: float, trust_domain: str | None = None) -> Authority:
        """The CA in `directory`, created (with a first root) when there is none."""
        with files.locked(directory / ".lock"):
            found = cls.read(directory)
            if found is not None:
                return found
            domain = identity.check_trust_domain(trust_domain or identity.DEFAULT_TRUST_DOMAIN)
            ca = cls(directory, domain, [])
            ca._add_root(*_new_root(domain, now), now=now, propagation=0.0, overlap=0.0)
            return ca

    @classmethod
    def read(cls, directory: Path) -> Authority | None:
        """The CA in `directory`, or None when none was created there."""
        try:
            data = json.loads((directory / STATE).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise errors.UserError(f"cannot read the CA's {directory / STATE}: {exc}") from None
        roots = [
            certs.RootInfo(r["id"], float(r["activateAt"]), r.get("retireAt"))
            for r in data["roots"]
        ]
        return cls(directory, str(data["trustDomain"]), roots)

    def _save(self) -> None:
        data = {
            "trustDomain": self.trust_domain,
            "roots": [
                {"id": r.id, "activateAt": r.activate_at, "retireAt": r.retire_at}
                for r in self.roots
            ],
        }
        files.write_private(self.directory / STATE, json.dumps(data, indent=2).encode())

    # -- roots -------------------------------------------------------------------------------

    def cert(self, root_id: str) -> x509.Certificate:
        found = self._certs.get(root_id)
        if found is None:
            pem = (self.directory / f"{root_id}.crt").read_bytes()
            found = self._certs[root_id] = x509.load_pem_x509_certificate(pem)
        return found

    def _key(self, root_id: str) -> SigningKey:
        found = self._keys.get(root_id)
        if found is None:
            pem = (self.directory / f"{root_id}.key").read_bytes()
            key = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise errors.UserError(f"CA key {root_id}: only EC and RSA keys can sign")
            found = self._keys[root_id] = key
        return found

    def bundle_pem(self, *, now: float) -> bytes:
        """The trust bundle: every root trusted at `now`, PEM, oldest first."""
        return b"".join(
            self.cert(r.id).public_bytes(serialization.Encoding.PEM)
            for r in certs.trusted(self.roots, now=now)
        )

    def signer(self, *, now: float) -> certs.RootInfo:
        found = certs.signer(self.roots, now=now)
        if found is None:  # every root retired: only a broken roots.json gets here
            raise errors.UserError(f"the CA in {self.directory} has no root that may sign")
        return found

    def rotate(self, *, now: float, propagation: float, overlap: float) -> certs.RootInfo:
        """Add a new root: trusted at once, signing after `propagation` seconds; the old
        ones stay trusted `overlap` seconds more."""
        with files.locked(self.directory / ".lock"):
            self._reload()
            return self._add_root(
                *_new_root(self.trust_domain, now),
                now=now,
                propagation=propagation,
                overlap=overlap,
            )

    def import_root(
        self, cert_pem: bytes, key_pem: bytes, *, now: float, propagation: float, overlap: float
    ) -> certs.RootInfo:
        """Add a given CA certificate and key (a company's CA or intermediate) as a root."""
        cert, key = _checked_import(cert_pem, key_pem, now=now)
        with files.locked(self.directory / ".lock"):
            self._reload()
            return self._add_root(cert, key, now=now, propagation=propagation, overlap=overlap)

    def _reload(self) -> None:
        found = self.read(self.directory)
        if found is not None:
            self.trust_domain, self.roots = found.trust_domain, found.roots

    def _add_root(
        self,
        cert: x509.Certificate,
        key: SigningKey,
        *,
        now: float,
        propagation: float,
        overlap: float,
    ) -> certs.RootInfo:
        root_id = key_id(cert)
        if any(r.id == root_id for r in self.roots):
            raise errors.UserError(f"root {root_id} is already one of this CA's roots")
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        files.write_private(self.directory / f"{root_id}.key", key_pem)
        files.write_private(
            self.directory / f"{root_id}.crt", cert.public_bytes(serialization.Encoding.PEM)
        )
        self.roots = certs.rotated(
            self.roots, root_id, now=now, propagation=propagation, overlap=overlap
        )
        self._save()
        return self.roots[-1]

    # -- leaves ------------------------------------------------------------------------------

    def issue(
        self,
        uri: str,
        *,
        now: float,
        lifetime: float = certs.DEFAULT_LIFETIME,
        hosts: Sequence[str] = (),
    ) -> Leaf:
        """A new key and a certificate for the SPIFFE ID `uri`, signed by the current root;
        `hosts` (IP addresses or DNS names) are added to its SANs for clients that check
        the name they dialled (the gateway's front door)."""
        root = self.signer(now=now)
        issuer, signing_key = self.cert(root.id), self._key(root.id)
        issuer_public = signing_key.public_key()  # the issuer's key, typed as one that signs
        key = ec.generate_private_key(ec.SECP256R1())
        name = uri.rsplit("/", 1)[-1]
        # whole seconds, as the certificate holds them, so `info` equals what is read back
        start = float(int(now - min(BACKDATE, lifetime / 10)))
        end = float(int(min(now + lifetime, issuer.not_valid_after_utc.timestamp())))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(issuer.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_time(start))
            .not_valid_after(_time(end))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_usage(), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName(_names(uri, hosts)), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )
        cert = builder.sign(signing_key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        info = certs.LeafInfo(start, end, root.id, uri)
        return Leaf(key_pem, cert.public_bytes(serialization.Encoding.PEM), info)

    def describe(self, *, now: float) -> list[dict[str, object]]:
        """Each root as `ca show` prints it."""
        current = certs.signer(self.roots, now=now)
        out: list[dict[str, object]] = []
        for root in self.roots:
            cert = self.cert(root.id)
            if root.retire_at is not None and now >= root.retire_at:
                status = "retired"
            elif current is not None and root.id == current.id:
                status = "signing"
            elif root.activate_at > now:
                status = "trusted, signs from " + _time(root.activate_at).isoformat()
            else:
                status = "trusted until " + _time(root.retire_at or now).isoformat()
            out.append(
                {
                    "id": root.id,
                    "subject": cert.subject.rfc4514_string(),
                    "notAfter": cert.not_valid_after_utc.isoformat(),
                    "sha256": cert.fingerprint(hashes.SHA256()).hex(),
                    "status": status,
                }
            )
        return out


def _names(uri: str, hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _new_root(trust_domain: str, now: float) -> tuple[x509.Certificate, SigningKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    stamp = _time(now).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "crosscloud"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"crosscloud root {trust_domain} {stamp}"),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_time(now - BACKDATE))
        .not_valid_after(_time(now + ROOT_LIFETIME))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _checked_import(
    cert_pem: bytes, key_pem: bytes, *, now: float
) -> tuple[x509.Certificate, SigningKey]:
    """The certificate and key of an import, refused with one clear line when they cannot
    be a CA here: not PEM, not a CA, expired, or a key that does not match."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise errors.UserError("the certificate is not a PEM X.509 certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise errors.UserError(f"the key is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise errors.UserError("the key must be an EC or RSA key")
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False
    if not ca:
        raise errors.UserError("the certificate is not a CA certificate (basicConstraints CA)")
    if cert.not_valid_after_utc.timestamp() <= now:
        raise errors.UserError(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    mine = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if mine != theirs:
        raise errors.UserError("the key does not belong to the certificate")
    return cert, key
