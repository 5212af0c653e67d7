"""Requests per service and API token, read from the gateway's counters into the store's
usage buckets (for cost per 1,000 requests and cost by token), and the last rates seen
(for `GET /v1/quotas`).

Every few seconds the control plane scrapes the gateway's /metrics: requests by service
(`crosscloud_gateway_requests`) and by token (`crosscloud_gateway_token_requests`), and
model tokens (`usage` in OpenAI answers) by service and by token; what grew since the
previous scrape is added to the current 5-minute bucket. A service's requests and model
tokens that no token accounts for are kept under token "" (an open service): what grew
of the service's counters and not of its tokens', so a token's counters that the gateway
drops (a minute after the token was revoked) add nothing to anyone. The first
scrape after a control-plane start is a baseline only: the requests since the previous
control plane's last scrape (a few seconds' worth) are not counted, never counted twice.
Once an hour, buckets older than `cost.USAGE_KEEP` are dropped from the store, so that
it holds a bounded number of them per service and token.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from prometheus_client import parser

from crosscloud.controlplane import local_http, traffic
from crosscloud.domain import cost

EVERY = 5.0
PRUNE_EVERY = 3600.0
TOKEN_FAMILY = "crosscloud_gateway_token_requests"  # noqa: S105 (a metric's name)
THROTTLED_FAMILY = "crosscloud_gateway_token_throttled"
#: model tokens from answers' `usage`, per service and upstream (gateway/llm.py)
MODEL_FAMILIES = ("crosscloud_gateway_prompt_tokens", "crosscloud_gateway_completion_tokens")
#: model tokens per API token (gateway/auth.py)
TOKEN_MODEL_FAMILIES = (
    "crosscloud_gateway_token_prompt_tokens",
    "crosscloud_gateway_token_completion_tokens",
)
Key = tuple[str, str]  # service, token ("": requests no token accounts for)
Counts = dict[Key, float]


@dataclasses.dataclass
class Seen:
    """One scrape: requests by (service, placement, status), requests and 429s by
    (service, token), model tokens by (service, upstream) and by (service, token)."""

    totals: dict[traffic.Key, float] = dataclasses.field(default_factory=dict)
    requests: Counts = dataclasses.field(default_factory=dict)
    throttled: Counts = dataclasses.field(default_factory=dict)
    model: Counts = dataclasses.field(default_factory=dict)
    token_model: Counts = dataclasses.field(default_factory=dict)


def parse(text: str) -> Seen:
    """What the gateway's /metrics text counts, by service and token."""
    seen = Seen()
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            labels = sample.labels
            if family.name == traffic.FAMILY:
                key = (labels["service"], labels["placement"], int(labels["status"]))
                seen.totals[key] = seen.totals.get(key, 0.0) + sample.value
            elif family.name == TOKEN_FAMILY:
                seen.requests[(labels["service"], labels["token"])] = sample.value
            elif family.name == THROTTLED_FAMILY:
                seen.throttled[(labels["service"], labels["token"])] = sample.value
            elif family.name in MODEL_FAMILIES:
                _add(seen.model, (labels["service"], labels["upstream"]), sample.value)
            elif family.name in TOKEN_MODEL_FAMILIES:
                _add(seen.token_model, (labels["service"], labels["token"]), sample.value)
    return seen


def _add(counts: Counts, key: Key, value: float) -> None:
    counts[key] = counts.get(key, 0.0) + value


def grown_by_token(
    services: Mapping[tuple[Any, ...], float], tokens: Mapping[Key, float]
) -> Counts:
    """What grew by (service, token), from what grew of each service's counters (keyed
    by service first) and of its tokens': the rest of a service's under token ""."""
    by_service: dict[str, float] = {}
    for key, n in services.items():  # per replica or placement: one gone is no reset
        by_service[key[0]] = by_service.get(key[0], 0.0) + n
    out = dict(tokens)
    for service, n in by_service.items():
        by_tokens = sum(v for (s, _), v in tokens.items() if s == service)
        if n > by_tokens:
            out[(service, "")] = n - by_tokens
    return out


def model_tokens(before: Seen, seen: Seen) -> Counts:
    """Model tokens that grew between two scrapes by (service, token)."""
    return grown_by_token(
        traffic.increase(before.model, seen.model),
        traffic.increase(before.token_model, seen.token_model),
    )


class UsageMeter:
    """The previous scrape, and the rates between the last two; thread-safe."""

    def __init__(self, *, every: float = EVERY) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._at: float | None = None
        self._last: Seen | None = None
        self._rates: dict[Key, dict[str, float]] = {}
        self._pruned_at: float | None = None

    def due(self, now: float) -> bool:
        with self._lock:
            return self._at is None or now - self._at >= self.every

    def prune_due(self, now: float) -> bool:
        """Whether old buckets should be dropped now (at the first call, then hourly)."""
        with self._lock:
            if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
                return False
            self._pruned_at = now
            return True

    def add(
        self,
        now: float,
        seen: Seen,
        *,
        deployment_of: Mapping[str, str],
    ) -> list[cost.Usage]:
        """Keep the sample; the usage rows it adds to the store (none for the first)."""
        with self._lock:
            before, at = self._last, self._at
            self._last, self._at = seen, now
            if before is None or at is None or now <= at:
                return []
            grown = grown_by_token(
                traffic.increase(before.totals, seen.totals),
                traffic.increase(before.requests, seen.requests),
            )
            dropped = traffic.increase(before.throttled, seen.throttled)
            model = model_tokens(before, seen)
            span = now - at
            self._rates = {
                key: {
                    "rps": grown.get(key, 0.0) / span,
                    "throttled_rps": dropped.get(key, 0.0) / span,
                    "tokens_per_minute": model.get(key, 0.0) / span * 60.0,
                }
                for key in set(grown) | set(dropped) | set(model)
            }
        for key in model:
            grown.setdefault(key, 0.0)
        bucket = cost.bucket_of(now)
        rows = [
            cost.Usage(
                bucket,
                deployment_of[service],
                service,
                token,
                requests=round(n),
                tokens=round(model.get((service, token), 0.0)),
            )
            for (service, token), n in sorted(grown.items())
            if service in deployment_of
        ]
        return [r for r in rows if r.requests > 0 or r.tokens > 0]

    def rates(self) -> dict[Key, dict[str, float]]:
        with self._lock:
            return dict(self._rates)


def scrape(gateway_url: str, *, timeout: float = 1.0) -> Seen | None:
    try:
        response = local_http.client().get(f"{gateway_url}/metrics", timeout=timeout)
    except httpx.HTTPError:
        return None
    return parse(response.text) if response.status_code == 200 else None


def sample(
    meter: UsageMeter,
    gateway_url: str,
    *,
    now: float,
    deployment_of: Callable[[], Mapping[str, str]],
    store_usage: Callable[[list[cost.Usage]], Any],
    prune_usage: Callable[..., Any] | None = None,
) -> None:
    """Scrape when due and store what grew (the daemon's loop calls this every pass);
    drop buckets past `cost.USAGE_KEEP` once an hour."""
    if prune_usage is not None and meter.prune_due(now):
        prune_usage(before=cost.bucket_of(now - cost.USAGE_KEEP))
    if not meter.due(now):
        return
    seen = scrape(gateway_url)
    if seen is None:
        return
    rows = meter.add(now, seen, deployment_of=deployment_of())
    if rows:
        store_usage(rows)
