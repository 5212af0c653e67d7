"""Per-service API tokens on the request path: `Authorization: Bearer cc_<id>_<secret>`.

The gateway only ever holds SHA-256 hashes (from its config file, per service). One
request costs a regex match, a dict lookup by the token's public id, one SHA-256 of
~60 bytes and a constant-time compare: no I/O, no allocation beyond the digest.

A token with a quota (planning/quota.py: requests per second with a burst, concurrent
requests, tokens per minute) is also rate-limited here: past it, 429 with Retry-After and
nothing is taken from its buckets. A token without one costs two dict lookups more.
Per-token counters (admitted, throttled, and the model tokens of OpenAI answers, which
gateway/llm.py adds) feed `crosscloud cost --by token` and the control plane's
`/v1/quotas`; they and the buckets carry over a config reload. Memory is bounded by the
tokens in the config: a quota's buckets exist only while they are in use (the gateway's
`prune` drops those as full as fresh ones), and a token's counters go GRACE seconds after
the token left the config (revoked, or its service removed).

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
import time

from crosscloud.domain import tokens
from crosscloud.gateway import config as gwconfig
from crosscloud.planning import quota as quota_mod

#: How long a token's counters outlive it in the config: the control plane reads them
#: every 5 s, so the requests it made before it was revoked are all counted.
GRACE = 60.0

MISSING = (
    401,
    "this service needs an API token: send `Authorization: Bearer <token>`"
    " (create one with `crosscloud token create DEPLOYMENT`)",
)
INVALID = (401, "the bearer token is not valid (unknown, revoked or mistyped)")
#: A refusal: (status, message), and for a 429 the seconds to wait before retrying.
Refusal = tuple[int, str] | tuple[int, str, int]


class TokenAuth:
    """The `Gateway.authorizer` built from one config; replaced whole on each reload."""

    __slots__ = (
        "_digests",
        "_gone",
        "_live",
        "_protected",
        "_quotas",
        "_zones",
        "admitted",
        "completion",
        "holding",
        "holding_key",
        "limiters",
        "prompt",
        "throttled",
    )

    def __init__(self, config: gwconfig.GatewayConfig, previous: TokenAuth | None = None) -> None:
        self._protected: dict[str, frozenset[str]] = {}
        self._digests: dict[str, bytes] = {}
        #: token id -> its quota (only tokens with one)
        self._quotas: dict[str, tokens.Quota] = {}
        #: token id -> its quota's state, while in use (made at its first request)
        self.limiters: dict[str, quota_mod.Limiter] = {}
        #: Tokens bound to a residency zone (`token create --residency`): id -> zone.
        self._zones: dict[str, str] = {}
        #: the (service, token id) counter keys this config allows, and since when the
        #: others (a previous config's) have been gone
        self._live: set[tuple[str, str]] = set()
        self._gone: dict[tuple[str, str], float] = {}
        for service in config.services:
            if service.auth is None:
                continue
            self._protected[service.name] = frozenset(t.id for t in service.auth)
            for t in service.auth:
                self._live.add((service.name, t.id))
                self._digests[t.id] = bytes.fromhex(t.sha256)
                if t.quota is not None and t.quota.limited:
                    self._quotas.setdefault(t.id, t.quota)
                if t.residency is not None:
                    self._zones[t.id] = t.residency
        #: (service, token id) -> requests let through, and refused by a quota
        self.admitted: dict[tuple[str, str], int] = {}
        self.throttled: dict[tuple[str, str], int] = {}
        #: (service, token id) -> model tokens of its answers (`usage`, gateway/llm.py)
        self.prompt: dict[tuple[str, str], int] = {}
        self.completion: dict[tuple[str, str], int] = {}
        #: (service, token id) of the request just admitted, for its answer's model tokens
        self.holding_key: tuple[str, str] | None = None
        #: the limiter of the request just admitted (its slot is released at its end, and
        #: the model tokens its answer used are spent from it)
        self.holding: quota_mod.Limiter | None = None
        if previous is not None:
            self._carry(previous)

    def _carry(self, previous: TokenAuth) -> None:
        self.admitted = previous.admitted  # counters only grow, across reloads too
        self.throttled = previous.throttled
        self.prompt, self.completion = previous.prompt, previous.completion
        self._gone = previous._gone
        now = time.monotonic()
        for token_id, old in previous.limiters.items():
            quota = self._quotas.get(token_id)
            if quota is None:
                continue
            if old.quota == quota:  # the same object: requests in flight release it
                self.limiters[token_id] = old
            else:  # a new quota: what the buckets had used carries over, the slots do not
                limiter = self.limiters[token_id] = quota_mod.Limiter(quota, now=now)
                limiter.carry(old)

    def prune(self, now: float) -> None:
        """Drop what memory need not hold (the gateway calls this every few seconds): the
        limiters a fresh one would equal, and counters of tokens gone for over GRACE."""
        for token_id in quota_mod.idle_tokens(self.limiters, now):
            del self.limiters[token_id]
        keys = set(self.admitted) | set(self.throttled) | set(self.prompt) | set(self.completion)
        self._gone, drop = quota_mod.forgotten(self._gone, keys, self._live, now=now, grace=GRACE)
        for key in drop:
            for counts in (self.admitted, self.throttled, self.prompt, self.completion):
                counts.pop(key, None)

    @property
    def zoned(self) -> bool:
        """Whether any token is bound to a residency zone (else `zone_of` is never asked)."""
        return bool(self._zones)

    def zone_of(self, authorization: bytes | None) -> str | None:
        """The residency zone of the bearer token in `authorization` (one `__call__`
        accepted), or None when it has none."""
        if not authorization:
            return None
        found = tokens.token_id(authorization.partition(b" ")[2].strip())
        return None if found is None else self._zones.get(found)

    @property
    def protected(self) -> frozenset[str]:
        """The services that need a token."""
        return frozenset(self._protected)

    def guards(self, service: str) -> bool:
        """Whether `service` needs a token (then the token is not passed on to replicas)."""
        return service in self._protected

    def __call__(self, service: str, authorization: bytes | None) -> Refusal | None:
        self.holding = self.holding_key = None
        allowed = self._protected.get(service)
        if allowed is None:
            return None
        token_id = self._identify(authorization)
        if not isinstance(token_id, str):
            return token_id
        if token_id not in allowed:
            return 403, f"this token may not call service {service!r}"
        key = (service, token_id)
        limiter = self.limiters.get(token_id)
        if limiter is None and token_id in self._quotas:
            limiter = self.limiters[token_id] = quota_mod.Limiter(
                self._quotas[token_id], now=time.monotonic()
            )
        if limiter is not None:
            refused = limiter.admit(time.monotonic())
            if refused is not None:
                self.throttled[key] = self.throttled.get(key, 0) + 1
                return _too_many(*refused)
            self.holding = limiter  # released when the answer ends; it spends tokens
        self.admitted[key] = self.admitted.get(key, 0) + 1
        self.holding_key = key
        return None

    def count_model(self, key: tuple[str, str], prompt: int, completion: int) -> None:
        """Model tokens of an answer to the request admitted under `key`."""
        self.prompt[key] = self.prompt.get(key, 0) + prompt
        self.completion[key] = self.completion.get(key, 0) + completion

    def _identify(self, authorization: bytes | None) -> str | Refusal:
        """The id of a valid bearer token, or why there is none (MISSING, INVALID)."""
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
        assert token_id is not None
        return token_id

    def allows(self, service: str, authorization: bytes | None) -> bool:
        """Whether this header may call `service`, admitting and spending nothing (the
        gateway's `GET /v1/models` lists only what the caller may use)."""
        allowed = self._protected.get(service)
        if allowed is None:
            return True
        token_id = self._identify(authorization)
        return isinstance(token_id, str) and token_id in allowed


def _too_many(limit: str, wait: float) -> tuple[int, str, int]:
    seconds = quota_mod.retry_after(wait)
    return 429, f"this token's quota of {limit} is used up; retry in {seconds} s", seconds


def for_config(config: gwconfig.GatewayConfig, previous: object = None) -> TokenAuth | None:
    """The authorizer for `config`, or None when every service is open (no cost at all).
    `previous` (the running gateway's authorizer) passes on its counters and buckets."""
    found = TokenAuth(config, previous if isinstance(previous, TokenAuth) else None)
    return found if found.protected else None
