"""Per-service API tokens on the request path: `Authorization: Bearer cc_<id>_<secret>`.

The gateway only ever holds SHA-256 hashes (from its config file, per service). One
request costs a regex match, a dict lookup by the token's public id, one SHA-256 of
~60 bytes and a constant-time compare: no I/O, no allocation beyond the digest.

A service without `auth` in its config is open (the control plane leaves it out until
its deployment has a token). Answers: no or malformed header -> 401; a token the gateway
does not know (wrong, revoked) -> 401; a known token that does not cover the service
-> 403. /healthz, /readyz and /metrics never get here (see Gateway.own_route). A token
the gateway checked stays with the gateway: the replicas never see it (as Istio's
RequestAuthentication does unless told to forward it); an open service's requests keep
their Authorization header.
"""

from __future__ import annotations

import hmac

from crosscloud.domain import tokens
from crosscloud.gateway import config as gwconfig

MISSING = (
    401,
    "this service needs an API token: send `Authorization: Bearer <token>`"
    " (create one with `crosscloud token create DEPLOYMENT`)",
)
INVALID = (401, "the bearer token is not valid (unknown, revoked or mistyped)")


class TokenAuth:
    """The `Gateway.authorizer` built from one config; replaced whole on each reload."""

    __slots__ = ("_digests", "_protected")

    def __init__(self, config: gwconfig.GatewayConfig) -> None:
        self._protected: dict[str, frozenset[str]] = {}
        self._digests: dict[str, bytes] = {}
        for service in config.services:
            if service.auth is None:
                continue
            self._protected[service.name] = frozenset(t.id for t in service.auth)
            for t in service.auth:
                self._digests[t.id] = bytes.fromhex(t.sha256)

    @property
    def protected(self) -> frozenset[str]:
        """The services that need a token."""
        return frozenset(self._protected)

    def guards(self, service: str) -> bool:
        """Whether `service` needs a token (then the token is not passed on to replicas)."""
        return service in self._protected

    def __call__(self, service: str, authorization: bytes | None) -> tuple[int, str] | None:
        allowed = self._protected.get(service)
        if allowed is None:
            return None
        if not authorization:
            return MISSING
        scheme, _, given = authorization.partition(b" ")
        if scheme.lower() != b"bearer":
            return MISSING
        given = given.strip()
        token_id = tokens.token_id(given)
        expected = self._digests.get(token_id) if token_id is not None else None
        if expected is None or not hmac.compare_digest(tokens.digest(given), expected):
            return INVALID
        if token_id not in allowed:
            return 403, f"this token may not call service {service!r}"
        return None


def for_config(config: gwconfig.GatewayConfig) -> TokenAuth | None:
    """The authorizer for `config`, or None when every service is open (no cost at all)."""
    found = TokenAuth(config)
    return found if found.protected else None
