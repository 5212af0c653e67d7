"""Per-region traffic for the dashboard, live: requests/s, p50 and p99, 5xx, ejections,
refused connections and model tokens/s (OpenAI services) over the last few seconds, from
the gateway's /metrics.

Scraped when a dashboard asks (at most once every `MIN_GAP` seconds, however many pages
are open) and kept for `WINDOW` seconds: the figures are the growth between the newest
sample and the oldest one in the window (`status`'s one-minute shares are traffic.py's).
Nothing is scraped while no one watches."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import parser

from crosscloud.controlplane import traffic
from crosscloud.planning import regions

WINDOW = 10.0
MIN_GAP = 1.0
STALE = 3  # windows: an older baseline is dropped
PREFIX = "crosscloud_gateway_"
Key = tuple[str, str]  # service, placement ("" for requests no replica answered)


@dataclass
class Snapshot:
    """The gateway's counters per (service, placement) at one moment."""

    requests: dict[Key, float] = field(default_factory=dict)
    errors: dict[Key, float] = field(default_factory=dict)  # 5xx
    latency: dict[Key, dict[float, float]] = field(default_factory=dict)  # le: cumulative
    ejections: dict[Key, float] = field(default_factory=dict)
    connect_errors: dict[Key, float] = field(default_factory=dict)
    upstreams: dict[Key, int] = field(default_factory=dict)
    available: dict[Key, int] = field(default_factory=dict)
    tokens: dict[Key, float] = field(default_factory=dict)  # prompt + completion


def _add(into: dict[Key, Any], key: Key, value: float) -> None:
    into[key] = into.get(key, 0) + value


def parse(text: str) -> Snapshot:
    """The families the dashboard shows, out of the gateway's /metrics text."""
    snap = Snapshot()
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            key = (labels.get("service", ""), labels.get("placement", ""))
            name = sample.name.removeprefix(PREFIX)
            if name == "requests_total":
                _add(snap.requests, key, sample.value)
                if int(labels["status"]) >= 500:
                    _add(snap.errors, key, sample.value)
            elif name == "request_duration_seconds_bucket":
                snap.latency.setdefault(key, {})[float(labels["le"])] = sample.value
            elif name == "upstream_ejections_total":
                _add(snap.ejections, key, sample.value)
            elif name == "upstream_connect_errors_total":
                _add(snap.connect_errors, key, sample.value)
            elif name in ("prompt_tokens_total", "completion_tokens_total"):
                _add(snap.tokens, key, sample.value)
            elif name == "upstream_available":
                _add(snap.upstreams, key, 1)
                _add(snap.available, key, int(sample.value))
    return snap


def _latency_growth(old: dict[float, float], new: dict[float, float]) -> list[float]:
    """Cumulative counts per bound (+Inf last) grown from `old` to `new` (a gateway that
    restarted counts from zero)."""
    bounds = sorted(new)
    restarted = new.get(float("inf"), 0.0) < old.get(float("inf"), 0.0)
    return [new[b] - (0.0 if restarted else old.get(b, 0.0)) for b in bounds]


def rows(old: Snapshot, new: Snapshot, seconds: float) -> list[dict[str, Any]]:
    """One row per (service, placement) the gateway knows: what grew over `seconds`."""
    requests = traffic.increase(old.requests, new.requests)
    errors = traffic.increase(old.errors, new.errors)
    ejections = traffic.increase(old.ejections, new.ejections)
    refused = traffic.increase(old.connect_errors, new.connect_errors)
    tokens = traffic.increase(old.tokens, new.tokens)
    out = []
    for key in sorted({*new.requests, *new.upstreams}):
        cumulative = _latency_growth(old.latency.get(key, {}), new.latency.get(key, {}))
        bounds = sorted(new.latency.get(key, {}))[:-1]
        p50 = regions.quantile(bounds, cumulative, 0.5) if cumulative else None
        p99 = regions.quantile(bounds, cumulative, 0.99) if cumulative else None
        n = requests.get(key, 0.0)
        out.append(
            {
                "service": key[0],
                "placement": key[1],
                "requests": int(n),
                "rps": n / seconds if seconds > 0 else None,
                # None where the gateway counts no token (not an OpenAI service)
                "tokens_per_s": (
                    tokens.get(key, 0.0) / seconds if seconds > 0 and key in new.tokens else None
                ),
                "p50_ms": None if p50 is None else p50 * 1000,
                "p99_ms": None if p99 is None else p99 * 1000,
                "errors": int(errors.get(key, 0.0)),
                "ejections": int(ejections.get(key, 0.0)),
                "connect_errors": int(refused.get(key, 0.0)),
                "upstreams": new.upstreams.get(key, 0),
                "available": new.available.get(key, 0),
            }
        )
    return out


class LiveTraffic:
    """Recent snapshots of one gateway's counters; thread-safe (API threads share it)."""

    def __init__(self, *, window: float = WINDOW, min_gap: float = MIN_GAP) -> None:
        self.window = window
        self.min_gap = min_gap
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._snaps: list[Snapshot] = []

    def report(self, gateway_url: str, *, now: float) -> dict[str, Any]:
        """Rows over the last window (rates are None until a second sample exists)."""
        with self._lock:  # one scrape at a time; the others use it
            if not self._times or now - self._times[-1] >= self.min_gap:
                text = traffic.metrics_text(gateway_url)
                if text is None:
                    return {"window_s": 0.0, "rows": [], "error": "the gateway did not answer"}
                self._keep(now, parse(text))
            at = max(bisect.bisect_right(self._times, self._times[-1] - self.window) - 1, 0)
            base, newest = self._snaps[at], self._snaps[-1]
            seconds = self._times[-1] - self._times[at]
        return {"window_s": round(seconds, 1), "rows": rows(base, newest, seconds)}

    def _keep(self, now: float, snap: Snapshot) -> None:
        """Keep the newest sample from before the window (the baseline), unless no one
        looked for a while: a page opened after an hour shows the last seconds, not the
        hour's average."""
        self._times.append(now)
        self._snaps.append(snap)
        cut = bisect.bisect_right(self._times, now - self.window) - 1
        if cut >= 0 and self._times[cut] < now - STALE * self.window:
            cut += 1
        if cut > 0:
            del self._times[:cut], self._snaps[:cut]
