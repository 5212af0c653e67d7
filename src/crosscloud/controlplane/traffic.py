"""Traffic share and error rate per placement over the last minute, for `status`.

The gateway's /metrics has cumulative counters (`crosscloud_gateway_requests` by
service, placement and status). The control plane scrapes them every few seconds and
keeps about a minute of samples; `status` subtracts the sample from a minute ago from a
fresh one (Prometheus `increase` semantics: a counter that went down means the gateway
restarted, so its new value is the increase).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
from prometheus_client import parser

from crosscloud.controlplane import local_http

WINDOW = 60.0
EVERY = 5.0
FAMILY = "crosscloud_gateway_requests"
Key = tuple[str, str, int]  # service, placement ("" when no replica answered), status
Counts = dict[Key, float]
K = TypeVar("K", bound=tuple[Any, ...])


def scrape(gateway_url: str, *, timeout: float = 1.0) -> Counts | None:
    """The gateway's request counters; {} when no gateway listens (it served nothing
    since it will start from zero), None when it could not be read (keep no sample)."""
    text = metrics_text(gateway_url, timeout=timeout)
    return None if text is None else parse(text)


def metrics_text(gateway_url: str, *, timeout: float = 1.0) -> str | None:
    """The gateway's /metrics; "" when no gateway listens, None when unreadable."""
    try:
        response = local_http.client().get(f"{gateway_url}/metrics", timeout=timeout)
    except httpx.ConnectError:
        return ""
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def parse(text: str) -> Counts:
    counts: Counts = {}
    for family in parser.text_string_to_metric_families(text):
        if family.name != FAMILY:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            labels = sample.labels
            key = (labels["service"], labels["placement"], int(labels["status"]))
            counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def increase(old: Mapping[K, float], new: Mapping[K, float]) -> dict[K, float]:
    """Per key, how much each counter grew (a reset counts from zero)."""
    out: dict[K, float] = {}
    for key, value in new.items():
        before = old.get(key, 0.0)
        grew = value - before if value >= before else value
        if grew > 0:
            out[key] = grew
    return out


def summarize(grown: Mapping[Key, float]) -> list[dict[str, Any]]:
    """One row per (service, placement): requests, share of the service's requests,
    server errors (5xx, the gateway's own included) and their rate."""
    totals: dict[str, float] = {}
    rows: dict[tuple[str, str], list[float]] = {}
    for (service, placement, status), n in grown.items():
        totals[service] = totals.get(service, 0.0) + n
        row = rows.setdefault((service, placement), [0.0, 0.0])
        row[0] += n
        if status >= 500:
            row[1] += n
    return [
        {
            "service": service,
            "placement": placement,
            "requests": int(n),
            "share": n / totals[service],
            "errors": int(bad),
            "error_rate": bad / n,
        }
        for (service, placement), (n, bad) in sorted(rows.items())
    ]


class TrafficWindow:
    """Samples of the gateway's counters, about `window` seconds of them; thread-safe."""

    def __init__(self, *, window: float = WINDOW, every: float = EVERY) -> None:
        self.window = window
        self.every = every
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._counts: list[Counts] = []

    def due(self, now: float) -> bool:
        with self._lock:
            return not self._times or now - self._times[-1] >= self.every

    def add(self, now: float, counts: Counts) -> None:
        """Keep a sample; older than needed for one window are dropped."""
        with self._lock:
            self._times.append(now)
            self._counts.append(counts)
            # keep the newest sample at or before now - window (the next baseline)
            cut = bisect.bisect_right(self._times, now - self.window) - 1
            if cut > 0:
                del self._times[:cut], self._counts[:cut]

    def report(self, now: float, current: Counts) -> dict[str, Any]:
        """Rows over the last window ending with `current`, and the span they cover."""
        with self._lock:
            at = bisect.bisect_right(self._times, now - self.window) - 1
            if not self._times:
                start, base = now, current
            else:
                start, base = self._times[max(at, 0)], self._counts[max(at, 0)]
        return {"window_s": round(now - start, 1), "rows": summarize(increase(base, current))}


def sample(window: TrafficWindow, gateway_url: str, *, now: float) -> None:
    """Add a sample when one is due (the control loop calls this every pass)."""
    if window.due(now):
        counts = scrape(gateway_url)
        if counts is not None:
            window.add(now, counts)


def current(window: TrafficWindow, gateway_url: str, *, now: float) -> dict[str, Any]:
    """The report for `status`, from a fresh scrape (kept as a sample when one is due)."""
    counts = scrape(gateway_url)
    if counts is None:
        return {"window_s": 0.0, "rows": [], "error": "the gateway's /metrics did not answer"}
    found = window.report(now, counts)
    if window.due(now):
        window.add(now, counts)
    return found
