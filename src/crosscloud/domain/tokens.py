"""Per-deployment API tokens as data: the token text format, its stored hash, and the
record a StateStore keeps. Pure: the random bytes of a new token are an argument.

A token reads `cc_<id>_<secret>`: `id` (12 hex digits) is public, names the token in
`token list` and `token revoke`, and lets the gateway find the one hash to compare;
`secret` is 32 random bytes in base64url. Only the SHA-256 of the whole text is stored
(a 256-bit random secret needs no slow password hash), plus its last 4 characters so a
user can tell tokens apart.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

PREFIX = "cc"
ID_BYTES = 6
SECRET_BYTES = 32
_ID = re.compile(rb"^cc_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class Quota:
    """What one token may send (None: no limit): requests per second with a burst (a token
    bucket, planning/quota.py), requests in flight at once, and model tokens per minute
    (counted by the gateway from answers' `usage`, where it counts them)."""

    rps: float | None = None
    burst: int | None = None
    concurrency: int | None = None
    tokens_per_minute: int | None = None

    @property
    def limited(self) -> bool:
        return any(v is not None for v in (self.rps, self.concurrency, self.tokens_per_minute))

    def as_dict(self) -> dict[str, float | int]:
        """The limits that are set, with the names the API and the gateway file use."""
        found = {
            "rps": self.rps,
            "burst": self.burst,
            "concurrency": self.concurrency,
            "tokensPerMinute": self.tokens_per_minute,
        }
        return {k: v for k, v in found.items() if v is not None}

    def problems(self) -> list[str]:
        """What is wrong with these limits, as messages naming the CLI flag."""
        found = []
        if self.rps is not None and not (0 < self.rps < float("inf")):
            found.append(f"--rps must be a number above 0, got {self.rps}")
        checks = (
            ("--burst", self.burst),
            ("--concurrency", self.concurrency),
            ("--tokens-per-minute", self.tokens_per_minute),
        )
        for flag, value in checks:
            if value is not None and value < 1:
                found.append(f"{flag} must be 1 or more, got {value}")
        if self.burst is not None and self.rps is None:
            found.append("--burst needs --rps (it is the requests a token may send at once)")
        return found

    @classmethod
    def from_dict(cls, data: dict[str, float | int] | None) -> Quota:
        data = data or {}
        rps, burst = data.get("rps"), data.get("burst")
        concurrency, tpm = data.get("concurrency"), data.get("tokensPerMinute")
        return cls(
            rps=None if rps is None else float(rps),
            burst=None if burst is None else int(burst),
            concurrency=None if concurrency is None else int(concurrency),
            tokens_per_minute=None if tpm is None else int(tpm),
        )


@dataclass(frozen=True)
class TokenRecord:
    """One API token of a deployment, as stored (never the token itself).

    `services` empty means every service of the deployment, present and future."""

    id: str
    deployment: str
    name: str
    sha256: str
    last4: str
    created_at: float
    services: tuple[str, ...] = ()
    revoked_at: float | None = None
    quota: Quota = Quota()
    #: The residency zone every request with this token is kept in (None: any).
    residency: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, service: str) -> bool:
        return not self.services or service in self.services


def new_token(id_bytes: bytes, secret: bytes) -> tuple[str, str]:
    """(token id, token text) from `ID_BYTES` and `SECRET_BYTES` random bytes."""
    if len(id_bytes) != ID_BYTES or len(secret) != SECRET_BYTES:
        raise ValueError(f"a token needs {ID_BYTES} id bytes and {SECRET_BYTES} secret bytes")
    token_id = id_bytes.hex()
    text = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    return token_id, f"{PREFIX}_{token_id}_{text}"


def digest(token: bytes) -> bytes:
    """The SHA-256 of a token's text (what is stored, hex-encoded)."""
    return hashlib.sha256(token).digest()


def record_for(
    token: str,
    *,
    token_id: str,
    deployment: str,
    name: str,
    services: tuple[str, ...],
    now: float,
    quota: Quota = Quota(),
    residency: str | None = None,
) -> TokenRecord:
    """The stored form of a freshly made token."""
    return TokenRecord(
        id=token_id,
        deployment=deployment,
        name=name,
        sha256=digest(token.encode()).hex(),
        last4=token[-4:],
        created_at=now,
        services=services,
        quota=quota,
        residency=residency,
    )


def token_id(token: bytes) -> str | None:
    """The id inside a well-formed token, else None (no hashing for malformed input)."""
    found = _ID.match(token)
    return None if found is None else found.group(1).decode()
