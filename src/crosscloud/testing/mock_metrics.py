"""The mock engine's counters and their Prometheus text, under vLLM's metric names
(`vllm:num_requests_running`, `vllm:num_requests_waiting`, `vllm:prompt_tokens_total`,
`vllm:generation_tokens_total`, `vllm:prefix_cache_queries_total`,
`vllm:prefix_cache_hits_total`), the requests it refused (4xx, `mock_refused_requests_total`),
plus the time integral of sequences in flight, which the benchmark divides by the round's
length for each replica's mean load."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Stats:
    """Counters since the start (or the last reset) at `since`."""

    since: float
    running: int = 0
    waiting: int = 0
    requests: int = 0
    refused: int = 0
    prompt_tokens: int = 0
    generation_tokens: int = 0
    cache_queries: int = 0
    cache_hits: int = 0
    inflight_seconds: float = 0.0
    max_inflight: int = 0
    last_change: float = 0.0

    def change(self, now: float, *, waiting: int = 0, running: int = 0) -> None:
        """Account the time since the last change at the old load, then apply the change."""
        start = max(self.last_change, self.since)
        self.inflight_seconds += (self.running + self.waiting) * max(0.0, now - start)
        self.last_change = now
        self.waiting += waiting
        self.running += running
        self.max_inflight = max(self.max_inflight, self.running + self.waiting)


def render(stats: Stats, now: float) -> bytes:
    stats.change(now)
    lines = [
        ("vllm:num_requests_running", "gauge", stats.running),
        ("vllm:num_requests_waiting", "gauge", stats.waiting),
        ("vllm:request_success_total", "counter", stats.requests),
        ("vllm:prompt_tokens_total", "counter", stats.prompt_tokens),
        ("vllm:generation_tokens_total", "counter", stats.generation_tokens),
        ("vllm:prefix_cache_queries_total", "counter", stats.cache_queries),
        ("vllm:prefix_cache_hits_total", "counter", stats.cache_hits),
        ("mock_refused_requests_total", "counter", stats.refused),
        ("mock_inflight_seconds_total", "counter", stats.inflight_seconds),
        ("mock_max_inflight", "gauge", stats.max_inflight),
        ("mock_uptime_seconds", "gauge", now - stats.since),
    ]
    out = []
    for name, kind, value in lines:
        out.append(f'# TYPE {name} {kind}\n{name}{{model_name="mock"}} {value}\n')
    return "".join(out).encode()
