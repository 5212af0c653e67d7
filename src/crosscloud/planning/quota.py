"""Per-token quotas as token buckets and a concurrency count: whether a request may go
now, and if not, how long until it could. Pure: `now` is an argument (the gateway passes
its monotonic clock); the state is these small objects, owned by the gateway's one thread.

- Requests per second with a burst: a bucket of `burst` requests (default: one second's
  worth, at least 1) refilled at `rps` per second; each request takes one.
- Concurrent requests: at most `concurrency` in flight; each admitted request holds one
  until its answer ends (`release`).
- Tokens per minute: a bucket of `tokens_per_minute` refilled at a minute's rate; the
  tokens an answer used are spent once counted, after the fact, so the bucket can go below
  zero: requests are refused until it refills above zero (as OpenAI's limits behave).

A refused request takes nothing from any bucket, so a client that hammers past its quota
does not starve itself further, and each refusal says when to retry.

Memory stays bounded: a limiter with nothing in flight whose buckets have refilled is what
a fresh one would be (`Limiter.idle`), so the gateway drops those (`idle_tokens`) and makes
one again at the token's next request; counters of tokens that left the gateway's config
are dropped once the control plane has had time to read them (`forgotten`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from typing import TypeVar

from crosscloud.domain import tokens

K = TypeVar("K")

RPS = "requests per second"
CONCURRENCY = "concurrent requests"
TPM = "tokens per minute"
_EPSILON = 1e-9


class Bucket:
    """`rate` per second into a bucket of `burst`, full at first (at time `at`)."""

    __slots__ = ("at", "burst", "level", "rate")

    def __init__(self, rate: float, burst: float, *, at: float = 0.0) -> None:
        self.rate = rate
        self.burst = burst
        self.level = burst
        self.at = at

    def _refill(self, now: float) -> float:
        if now > self.at:
            self.level = min(self.burst, self.level + (now - self.at) * self.rate)
            self.at = now
        return self.level

    def wait(self, now: float, amount: float = 1.0) -> float:
        """Seconds until `amount` could be taken (0.0: now); takes nothing."""
        level = self._refill(now) + _EPSILON  # 10 refills of 0.1 make 0.9999999999999999
        return 0.0 if level >= amount else (amount - level) / self.rate

    def take(self, now: float, amount: float = 1.0) -> None:
        self._refill(now)
        self.level -= amount

    def spend(self, now: float, amount: float) -> None:
        """Take `amount` counted after the fact (the level may go below zero)."""
        self.take(now, amount)

    def full(self, now: float) -> bool:
        return self._refill(now) >= self.burst


class Limiter:
    """One API token's quota state in the gateway."""

    __slots__ = ("concurrency", "in_flight", "quota", "requests", "tokens")

    def __init__(self, quota: tokens.Quota, *, now: float) -> None:
        self.quota = quota
        self.requests: Bucket | None = None
        if quota.rps is not None:
            burst = quota.burst if quota.burst is not None else max(1.0, quota.rps)
            self.requests = Bucket(quota.rps, float(burst), at=now)
        self.tokens: Bucket | None = None
        if quota.tokens_per_minute is not None:
            tpm = float(quota.tokens_per_minute)
            self.tokens = Bucket(tpm / 60.0, tpm, at=now)
        self.concurrency = quota.concurrency
        self.in_flight = 0

    def admit(self, now: float) -> tuple[str, float] | None:
        """None: admitted (a request taken, a slot held); else (which limit, seconds to
        wait before retrying) and nothing taken."""
        if self.concurrency is not None and self.in_flight >= self.concurrency:
            return CONCURRENCY, 1.0
        if self.tokens is not None:
            wait = self.tokens.wait(now, amount=2 * _EPSILON)  # above zero: room for an answer
            if wait > 0.0:
                return TPM, wait
        if self.requests is not None:
            wait = self.requests.wait(now)
            if wait > 0.0:
                return RPS, wait
            self.requests.take(now)
        self.in_flight += 1
        return None

    def idle(self, now: float) -> bool:
        """Whether this is what a fresh limiter would be: nothing in flight, every bucket
        full again (so dropping it and making a new one later changes nothing)."""
        if self.in_flight:
            return False
        return all(b is None or b.full(now) for b in (self.requests, self.tokens))

    def release(self) -> None:
        """An admitted request's answer ended."""
        if self.in_flight > 0:
            self.in_flight -= 1

    def spend_tokens(self, now: float, count: int) -> None:
        """Model tokens an answer used (where the gateway counts them)."""
        if self.tokens is not None and count > 0:
            self.tokens.spend(now, count)

    def carry(self, old: Limiter) -> None:
        """Keep what `old` (the same token under its previous quota) had taken from its
        buckets, so that changing a quota does not refill them."""
        for mine, theirs in ((self.requests, old.requests), (self.tokens, old.tokens)):
            if mine is not None and theirs is not None:
                mine.level, mine.at = min(mine.burst, theirs.level), theirs.at


def idle_tokens(limiters: Mapping[str, Limiter], now: float) -> list[str]:
    """The tokens whose limiters can be dropped now (see `Limiter.idle`)."""
    return [token for token, limiter in limiters.items() if limiter.idle(now)]


def forgotten(
    gone_since: Mapping[K, float],
    keys: Iterable[K],
    live: Collection[K],
    *,
    now: float,
    grace: float,
) -> tuple[dict[K, float], list[K]]:
    """Counters of keys no longer `live` (a revoked token, a removed service): (when each
    was first seen gone, kept for next time; the keys gone for over `grace` seconds, to
    drop). A key that is live again is no longer gone."""
    still: dict[K, float] = {}
    drop: list[K] = []
    for key in keys:
        if key in live:
            continue
        since = gone_since.get(key, now)
        if now - since > grace:
            drop.append(key)
        else:
            still[key] = since
    return still, drop


def retry_after(seconds: float) -> int:
    """The Retry-After header's whole seconds: rounded up, at least 1."""
    return max(1, math.ceil(seconds))
