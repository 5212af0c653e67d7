"""Prometheus metrics of one replica, in a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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


class Metrics:
    """Requests by endpoint and status, latency, in-flight, batch sizes and queue length."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "crosscloud_requests",
            "Requests by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "crosscloud_request_duration_seconds",
            "Time from request to response.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "crosscloud_requests_in_flight",
            "Requests being handled now.",
            ["endpoint"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "crosscloud_batch_size",
            "Items per batch handed to a batch endpoint.",
            ["endpoint"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_length = Gauge(
            "crosscloud_batch_queue_items",
            "Items waiting for a batch.",
            ["endpoint"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "crosscloud_ready", "1 once setup() has finished.", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class EndpointMetrics:
    """The label children of one endpoint, resolved once so the hot path skips lookups."""

    def __init__(self, metrics: Metrics, endpoint: str) -> None:
        self._requests = metrics.requests
        self._endpoint = endpoint
        self._by_status: dict[int, Counter] = {}
        self.latency = metrics.latency.labels(endpoint)
        self.in_flight = metrics.in_flight.labels(endpoint)
        self.batch_size = metrics.batch_size.labels(endpoint)
        self.queue_length = metrics.queue_length.labels(endpoint)

    def done(self, status: int, seconds: float) -> None:
        counter = self._by_status.get(status)
        if counter is None:
            counter = self._by_status[status] = self._requests.labels(self._endpoint, str(status))
        counter.inc()
        self.latency.observe(seconds)
