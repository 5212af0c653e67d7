"""A replica's LLM metrics under vLLM's names, so that routers and autoscalers written for
vLLM (and crosscloud's own) read a crosscloud replica the same way.

`vllm:prefix_cache_queries_total` counts prompt tokens looked up in the prefix cache and
`vllm:prefix_cache_hits_total` those found there (vLLM v1's meaning); the hit rate is their
ratio. Updated on the event loop thread only, so plain integers suffice (see metrics.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from crosscloud.runtime import metrics

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LLMMetrics(Collector):
    """Requests running and waiting, tokens in and out, prefix cache use, time to first token."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.running = 0
        self.waiting = 0
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.cache_queries = 0
        self.cache_hits = 0
        self.finished: dict[str, int] = {}
        self.ttft = metrics.Histogram(TTFT_BUCKETS)

    def prompt(self, tokens: int, cached: int) -> None:
        self.prompt_tokens += tokens
        self.cache_queries += tokens
        self.cache_hits += cached

    def finish(self, reason: str) -> None:
        self.finished[reason] = self.finished.get(reason, 0) + 1

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        labels = ["model_name"]
        value = [self.model]

        def gauge(name: str, doc: str, number: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=labels)
            family.add_metric(value, number)
            return family

        def counter(name: str, doc: str, number: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=labels)
            family.add_metric(value, number)
            return family

        yield gauge("vllm:num_requests_running", "Requests generating now.", self.running)
        yield gauge("vllm:num_requests_waiting", "Requests waiting for a slot.", self.waiting)
        yield counter("vllm:prompt_tokens", "Prompt tokens processed.", self.prompt_tokens)
        yield counter("vllm:generation_tokens", "Tokens generated.", self.generation_tokens)
        yield counter(
            "vllm:prefix_cache_queries", "Prompt tokens looked up in the cache.", self.cache_queries
        )
        yield counter(
            "vllm:prefix_cache_hits", "Prompt tokens found in the cache.", self.cache_hits
        )
        success = CounterMetricFamily(
            "vllm:request_success",
            "Finished requests by finish reason.",
            labels=["model_name", "finished_reason"],
        )
        for reason, count in sorted(self.finished.items()):
            success.add_metric([self.model, reason], count)
        yield success
        ttft = HistogramMetricFamily(
            "vllm:time_to_first_token_seconds", "Time to the first token.", labels=labels
        )
        ttft.add_metric(value, self.ttft.buckets(), self.ttft.sum)
        yield ttft
