"""Workload identities as SPIFFE IDs, the names written in certificates' URI SANs.

A replica of service `S` of deployment `D` is `spiffe://<trust-domain>/D/S`; the gateway
is `spiffe://<trust-domain>/gateway` and the control plane `.../controlplane` (one path
segment, so no deployment/service pair can take their names). Pure: parsing and naming.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_TRUST_DOMAIN = "crosscloud.local"
SCHEME = "spiffe://"
GATEWAY = "gateway"
CONTROLPLANE = "controlplane"
# SPIFFE: a trust domain is lowercase letters, digits, dots, dashes and underscores.
_TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]{1,255}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Identity:
    """A parsed SPIFFE ID: its trust domain and its path segments."""

    trust_domain: str
    path: tuple[str, ...]

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.trust_domain}/{'/'.join(self.path)}"

    @property
    def deployment(self) -> str | None:
        """The deployment of a workload identity (two segments), else None."""
        return self.path[0] if len(self.path) == 2 else None


def check_trust_domain(value: str) -> str:
    """`value` when it is a valid SPIFFE trust domain; ValueError saying what is allowed."""
    if not _TRUST_DOMAIN.match(value) or value.startswith(".") or ".." in value:
        raise ValueError(
            f"trust domain {value!r} is not valid: lowercase letters, digits, '.', '-', '_'"
        )
    return value


def workload(trust_domain: str, deployment: str, service: str) -> str:
    """The SPIFFE ID of service `service` of deployment `deployment`."""
    return f"{SCHEME}{trust_domain}/{deployment}/{service}"


def gateway(trust_domain: str) -> str:
    return f"{SCHEME}{trust_domain}/{GATEWAY}"


def controlplane(trust_domain: str) -> str:
    return f"{SCHEME}{trust_domain}/{CONTROLPLANE}"


def parse(uri: str) -> Identity | None:
    """The identity named by `uri`, or None when it is not a well-formed SPIFFE ID."""
    if not uri.startswith(SCHEME):
        return None
    domain, _, rest = uri[len(SCHEME) :].partition("/")
    segments = tuple(rest.split("/")) if rest else ()
    if not _TRUST_DOMAIN.match(domain) or not segments:
        return None
    if not all(_SEGMENT.match(s) and s not in (".", "..") for s in segments):
        return None
    return Identity(domain, segments)


def uris_of(peercert: object) -> tuple[str, ...]:
    """The URI SANs of a certificate as `ssl.SSLSocket.getpeercert()` returns it."""
    if not isinstance(peercert, dict):
        return ()
    sans = peercert.get("subjectAltName", ())
    return tuple(value for kind, value in sans if kind == "URI")
