"""Prometheus /metrics for the gateway, read from counters the hot path bumps in place.

The request path only does `dict[key] += 1` and one list increment per request (see
`Exchange._finish`); this collector turns those into metric families when scraped, so
prometheus_client's locks and label lookups stay off the request path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from crosscloud.gateway import cluster as gwcluster


class TokenCounts(Protocol):
    """What the token authorizer counts (auth.TokenAuth), by (service, token id)."""

    admitted: dict[tuple[str, str], int]
    throttled: dict[tuple[str, str], int]
    prompt: dict[tuple[str, str], int]
    completion: dict[tuple[str, str], int]


class GatewayCollector:
    """A prometheus_client collector over the gateway's clusters and API tokens."""

    def __init__(
        self,
        clusters: Callable[[], Iterable[gwcluster.Cluster]],
        tokens: Callable[[], TokenCounts | None] = lambda: None,
    ) -> None:
        self._clusters = clusters
        self._tokens = tokens

    def collect(self) -> Iterator[Metric]:
        clusters = list(self._clusters())
        requests = CounterMetricFamily(
            "crosscloud_gateway_requests",
            "Requests by service, placement that answered, and status (499: client left).",
            labels=["service", "placement", "status"],
        )
        latency = HistogramMetricFamily(
            "crosscloud_gateway_request_duration_seconds",
            "Time from request to the end of the response, retries included, by the"
            " placement that answered.",
            labels=["service", "placement"],
        )
        retries = CounterMetricFamily(
            "crosscloud_gateway_retries", "Retries sent.", labels=["service"]
        )
        overflow = CounterMetricFamily(
            "crosscloud_gateway_retry_budget_exhausted",
            "Retries not sent because the retry budget was spent.",
            labels=["service"],
        )
        in_flight = GaugeMetricFamily(
            "crosscloud_gateway_requests_in_flight", "Requests in flight.", labels=["service"]
        )
        held = GaugeMetricFamily(
            "crosscloud_gateway_requests_held",
            "Requests waiting for a first replica (scale from zero).",
            labels=["service"],
        )
        for c in clusters:
            for (placement, status), n in list(c.by_key.items()):
                requests.add_metric([c.name, placement, str(status)], n)
            for placement, counts in list(c.latency.items()):
                latency.add_metric([c.name, placement], _buckets(counts), counts[-1])
            retries.add_metric([c.name], c.retries)
            overflow.add_metric([c.name], c.retries_overflow)
            in_flight.add_metric([c.name], c.active)
            held.add_metric([c.name], len(c.held))
        yield from (requests, latency, retries, overflow, in_flight, held)
        yield from _host_metrics(clusters)
        yield from _llm_metrics([c for c in clusters if c.llm])
        yield from _token_metrics(self._tokens())


def _token_metrics(counts: TokenCounts | None) -> Iterator[Metric]:
    """Requests per API token (its public id, never the token): let through, and refused
    past its quota (429); and the model tokens of its OpenAI answers."""
    labels = ["service", "token"]
    admitted = CounterMetricFamily(
        "crosscloud_gateway_token_requests", "Requests let through, by API token.", labels=labels
    )
    throttled = CounterMetricFamily(
        "crosscloud_gateway_token_throttled",
        "Requests refused (429) past the API token's quota.",
        labels=labels,
    )
    prompt = CounterMetricFamily(
        "crosscloud_gateway_token_prompt_tokens",
        "Prompt tokens of OpenAI answers (`usage`), by API token.",
        labels=labels,
    )
    completion = CounterMetricFamily(
        "crosscloud_gateway_token_completion_tokens",
        "Completion tokens of OpenAI answers (`usage`), by API token.",
        labels=labels,
    )
    if counts is not None:
        for family, found in (
            (admitted, counts.admitted),
            (throttled, counts.throttled),
            (prompt, counts.prompt),
            (completion, counts.completion),
        ):
            for (service, token), n in list(found.items()):
                family.add_metric([service, token], n)
    yield from (admitted, throttled, prompt, completion)


def _buckets(counts: list[float]) -> list[tuple[str, float]]:
    """Cumulative buckets from one placement's counts (its summed seconds last)."""
    out, total = [], 0.0
    bounds = [*map(str, gwcluster.LATENCY_BUCKETS), "+Inf"]
    for bound, count in zip(bounds, counts[:-1], strict=True):
        total += count
        out.append((bound, float(total)))
    return out


def _host_metrics(clusters: list[gwcluster.Cluster]) -> Iterator[Metric]:
    labels = ["service", "upstream", "placement"]
    ejections = CounterMetricFamily(
        "crosscloud_gateway_upstream_ejections", "Outlier ejections.", labels=labels
    )
    connect = CounterMetricFamily(
        "crosscloud_gateway_upstream_connect_errors",
        "Failed or refused connections to an upstream.",
        labels=labels,
    )
    available = GaugeMetricFamily(
        "crosscloud_gateway_upstream_available",
        "1 when the upstream takes traffic (healthy, not ejected, not draining).",
        labels=labels,
    )
    for c in clusters:
        for h in c.hosts.values():
            key = [c.name, h.id, h.placement]
            ejections.add_metric(key, h.ejections)
            connect.add_metric(key, h.connect_errors)
            available.add_metric(key, 1.0 if h.available else 0.0)
    yield from (ejections, connect, available)


def _llm_metrics(clusters: list[gwcluster.Cluster]) -> Iterator[Metric]:
    labels = ["service", "upstream", "placement"]
    prompt = CounterMetricFamily(
        "crosscloud_gateway_prompt_tokens",
        "Prompt tokens, from `usage` in OpenAI answers (JSON or the stream's last chunk).",
        labels=labels,
    )
    completion = CounterMetricFamily(
        "crosscloud_gateway_completion_tokens",
        "Completion tokens, from `usage` in OpenAI answers.",
        labels=labels,
    )
    waiting = GaugeMetricFamily(
        "crosscloud_gateway_upstream_requests_waiting",
        "The replica's queue as its /metrics last said (vllm:num_requests_waiting).",
        labels=labels,
    )
    decisions = CounterMetricFamily(
        "crosscloud_gateway_prefix_affinity_decisions",
        "Prefix-affinity choices: hit (longest match), miss, overloaded (least-loaded).",
        labels=["service", "reason"],
    )
    for c in clusters:
        for h in c.hosts.values():
            key = [c.name, h.id, h.placement]
            prompt.add_metric(key, h.prompt_tokens)
            completion.add_metric(key, h.completion_tokens)
            if h.waiting >= 0:
                waiting.add_metric(key, h.waiting)
        if c.config.policy == "prefix-affinity":
            for reason, n in c.affinity_counts.items():
                decisions.add_metric([c.name, reason.value], n)
    yield from (prompt, completion, waiting, decisions)


def _queue(c: gwcluster.Cluster, attr: str) -> int:
    """A queue figure summed over the replicas that export it (-1 when none does)."""
    seen = [getattr(h, attr) for h in c.hosts.values() if getattr(h, attr) >= 0]
    return sum(seen) if seen else -1


def stats(clusters: Iterable[gwcluster.Cluster]) -> bytes:
    """Per service: requests in flight (held ones included), held, finished requests and
    their summed seconds, upstreams. JSON for the control plane's autoscaler."""
    return orjson.dumps(
        {
            c.name: {
                "in_flight": c.active,
                "held": len(c.held),
                "requests": sum(c.by_key.values()),
                "busy_seconds": c.latency_sum,
                "upstreams": len(c.hosts),
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "waiting": _queue(c, "waiting"),
                "running": _queue(c, "running"),
            }
            for c in clusters
        }
    )


def registry_for(
    clusters: Callable[[], Iterable[gwcluster.Cluster]],
    tokens: Callable[[], TokenCounts | None] = lambda: None,
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(clusters, tokens))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return bytes(generate_latest(registry))
