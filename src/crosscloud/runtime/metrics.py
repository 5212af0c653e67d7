"""Prometheus metrics of one replica, in a registry of its own (no global state).

The hot path updates plain integers and lists, and a custom collector turns them into
Prometheus families at scrape time. Measured in-process, prometheus_client's
`Counter.inc()`/`Histogram.observe()` (a lock each) took ~40% of a trivial request's time
in the app; every update here happens on the event loop thread, so no lock is needed.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    """Bucket counts and a sum; `observe` is one bisect and two additions."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
        return out


class EndpointMetrics:
    """The counters of one endpoint."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.by_status: dict[int, int] = {}
        self.in_flight = 0
        self.queue_items = 0
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_size = Histogram(BATCH_BUCKETS)

    def done(self, status: int, seconds: float) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.latency.observe(seconds)


class Metrics(Collector):
    """Every endpoint's counters, exposed in Prometheus text format."""

    def __init__(self) -> None:
        self.endpoints: dict[str, EndpointMetrics] = {}
        self.ready = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def endpoint(self, name: str) -> EndpointMetrics:
        return self.endpoints.setdefault(name, EndpointMetrics(name))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        eps = list(self.endpoints.values())
        requests = CounterMetricFamily(
            "crosscloud_requests",
            "Requests by endpoint and status code.",
            labels=["endpoint", "status"],
        )
        in_flight = GaugeMetricFamily(
            "crosscloud_requests_in_flight", "Requests being handled now.", labels=["endpoint"]
        )
        queue = GaugeMetricFamily(
            "crosscloud_batch_queue_items", "Items waiting for a batch.", labels=["endpoint"]
        )
        latency = HistogramMetricFamily(
            "crosscloud_request_duration_seconds",
            "Time from request to response.",
            labels=["endpoint"],
        )
        batch = HistogramMetricFamily(
            "crosscloud_batch_size",
            "Items per batch handed to a batch endpoint.",
            labels=["endpoint"],
        )
        for ep in eps:
            for status, count in sorted(ep.by_status.items()):
                requests.add_metric([ep.endpoint, str(status)], count)
            in_flight.add_metric([ep.endpoint], ep.in_flight)
            queue.add_metric([ep.endpoint], ep.queue_items)
            latency.add_metric([ep.endpoint], ep.latency.buckets(), ep.latency.sum)
            batch.add_metric([ep.endpoint], ep.batch_size.buckets(), ep.batch_size.sum)
        yield from (requests, latency, in_flight, batch, queue)
        yield GaugeMetricFamily("crosscloud_ready", "1 once setup() has finished.", self.ready)
