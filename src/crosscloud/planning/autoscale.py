"""Pure: how many replicas a service should have, from what the gateway saw, like the
Kubernetes HPA (desired = ceil(load / target per replica), 10% tolerance, scale up at
once but by at most +100% or +4 replicas, whichever is more, per 15 s, scale down only to
the highest recommendation of the last 300 s) plus scale to zero after `scaleToZeroAfter`
idle and back up as soon as a request is held.

The caller keeps a `Window` per service: `observe` adds each sample of the gateway's
counters, `decide` returns a `ScaleDecision` (data, with its reason) and the window with
this pass's recommendation remembered. Time is always the `now` passed in.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from crosscloud.domain import manifest

#: The HPA's defaults: --horizontal-pod-autoscaler-tolerance and the scale-down window.
TOLERANCE = 0.1
DOWN_WINDOW = 300.0
#: Load is averaged over this many seconds of samples (the gateway is read every ~1 s).
METRIC_WINDOW = 10.0
#: The HPA's default scale-up policies: +100% or +4 replicas per 15 s, the larger.
UP_PERCENT, UP_PODS, UP_PERIOD = 100, 4, 15.0


@dataclass(frozen=True)
class Settings:
    """A service's scaling rules (`spec.services[].scaling`) and the loop's constants."""

    min_replicas: int = 1
    max_replicas: int = 1
    target_concurrency: float | None = None
    target_qps: float | None = None
    target_tokens_per_second: float | None = None
    target_queue_length: float | None = None
    scale_to_zero_after: float | None = None
    min_domains: int = 1  # replicas kept in at least this many placements (when above 0)
    down_window: float = DOWN_WINDOW
    tolerance: float = TOLERANCE
    metric_window: float = METRIC_WINDOW

    @property
    def autoscaled(self) -> bool:
        """Whether there is anything to decide (a target, or scale to zero)."""
        targets = (
            self.target_concurrency,
            self.target_qps,
            self.target_tokens_per_second,
            self.target_queue_length,
        )
        has_target = any(t is not None for t in targets)
        return has_target or self.zero_after is not None

    @property
    def zero_after(self) -> float | None:
        """Idle seconds before zero replicas: `scaleToZeroAfter`, else the scale-down
        window; None when minReplicas is above 0 (the service never goes to zero)."""
        if self.min_replicas > 0:
            return None
        return self.down_window if self.scale_to_zero_after is None else self.scale_to_zero_after


def min_domains(scaling: manifest.Scaling, *, placements: int) -> int:
    """How many placements keep a replica: `minFailureDomains`, else 2 for a service with
    two placements or more; never more than the placements or `maxReplicas`."""
    wanted = scaling.min_failure_domains or (2 if placements >= 2 else 1)
    return max(1, min(wanted, placements, scaling.max_replicas))


def settings_of(
    scaling: manifest.Scaling, *, down_window: float = DOWN_WINDOW, placements: int = 1
) -> Settings:
    return Settings(
        min_replicas=scaling.min_replicas,
        max_replicas=scaling.max_replicas,
        target_concurrency=scaling.target_concurrency,
        target_qps=scaling.target_qps,
        target_tokens_per_second=scaling.target_tokens_per_second,
        target_queue_length=scaling.target_queue_length,
        scale_to_zero_after=scaling.scale_to_zero_after,
        min_domains=min_domains(scaling, placements=placements),
        down_window=down_window,
    )


@dataclass(frozen=True)
class Sample:
    """The gateway's counters for one service at `ts`.

    `in_flight` counts held requests too; `requests` and `busy_seconds` (the summed
    duration of finished requests) only ever grow, except when the gateway restarts; so
    does `tokens` (prompt + completion tokens of finished OpenAI requests). `waiting` is
    the requests queued in the replicas' engines (vLLM's num_requests_waiting, summed), -1
    when none exports it.
    """

    ts: float
    in_flight: int = 0
    held: int = 0
    requests: int = 0
    busy_seconds: float = 0.0
    tokens: int = 0
    waiting: int = -1


@dataclass(frozen=True)
class Window:
    """What the autoscaler remembers of one service between passes."""

    since: float
    samples: tuple[Sample, ...] = ()
    last_active: float | None = None
    recommendations: tuple[tuple[float, int], ...] = ()
    scale_ups: tuple[tuple[float, int], ...] = ()  # (when, replicas added) for the rate limit


@dataclass(frozen=True)
class ScaleDecision:
    """The replicas `service` should have in total, and why."""

    service: str
    current: int
    desired_total: int
    reason: str

    @property
    def changed(self) -> bool:
        return self.desired_total != self.current


def observe(window: Window, sample: Sample, *, keep: float) -> Window:
    """`window` with `sample` added and samples older than `keep` seconds dropped."""
    previous = window.samples[-1] if window.samples else None
    active = sample.in_flight > 0 or sample.held > 0
    if previous is not None and sample.requests != previous.requests:
        active = True  # a request came and went between the two reads
    samples = (*(s for s in window.samples if s.ts >= sample.ts - keep), sample)
    last_active = sample.ts if active else window.last_active
    return dataclasses.replace(window, samples=samples, last_active=last_active)


def load(window: Window, *, now: float, span: float) -> tuple[float, float]:
    """(concurrency, requests per second) over the last `span` seconds of samples.

    Concurrency is the larger of the sampled in-flight average and Little's law over the
    finished requests (busy seconds per second), so short requests between two reads
    still count. A counter that went down (a gateway restart) starts a new window."""
    recent = [s for s in window.samples if s.ts >= now - span]
    if not recent:
        return 0.0, 0.0
    first = recent[0]
    for i in range(1, len(recent)):
        if recent[i].requests < recent[i - 1].requests:
            first = recent[i]
    sampled = sum(s.in_flight for s in recent) / len(recent)
    last = recent[-1]
    elapsed = last.ts - first.ts
    if elapsed <= 0:
        return float(sampled), 0.0
    little = (last.busy_seconds - first.busy_seconds) / elapsed
    return max(sampled, little), (last.requests - first.requests) / elapsed


def llm_load(window: Window, *, now: float, span: float) -> tuple[float, float | None]:
    """(tokens per second, mean requests waiting in the engines or None when no replica
    exports it) over the last `span` seconds; a counter that went down starts afresh."""
    recent = [s for s in window.samples if s.ts >= now - span]
    if not recent:
        return 0.0, None
    first = recent[0]
    for i in range(1, len(recent)):
        if recent[i].tokens < recent[i - 1].tokens:
            first = recent[i]
    last = recent[-1]
    elapsed = last.ts - first.ts
    rate = (last.tokens - first.tokens) / elapsed if elapsed > 0 else 0.0
    queued = [s.waiting for s in recent if s.waiting >= 0]
    return rate, (sum(queued) / len(queued) if queued else None)


def decide(
    service: str, window: Window, *, current: int, settings: Settings, now: float
) -> tuple[ScaleDecision, Window]:
    """This pass's decision for `service`, and `window` with its recommendation kept."""
    concurrency, qps = load(window, now=now, span=settings.metric_window)
    tokens, waiting = llm_load(window, now=now, span=settings.metric_window)
    latest = window.samples[-1] if window.samples else None
    held = latest.held if latest is not None else 0
    loads = Loads(concurrency, qps, tokens, waiting)
    wanted, why = _recommend(loads, current=current, settings=settings)
    horizon = now - settings.down_window
    recommendations = (*((t, n) for t, n in window.recommendations if t >= horizon), (now, wanted))
    window = dataclasses.replace(window, recommendations=recommendations)

    def decision(total: int, reason: str) -> tuple[ScaleDecision, Window]:
        return ScaleDecision(service, current, total, reason), window

    zero_after = settings.zero_after
    idle = now - (window.last_active if window.last_active is not None else window.since)
    if current == 0 and latest is not None and window.last_active == latest.ts:
        total, window = _limit_up(window, current, max(1, wanted), now)
        return decision(
            total, f"{held} request(s) held with no replica: {why}" + _capped(total, wanted)
        )
    if zero_after is not None and idle >= zero_after:
        return decision(0, f"no request for {idle:.0f}s (scaleToZeroAfter {zero_after:g}s)")
    if current == 0 and zero_after is not None:
        return decision(0, "idle at zero replicas")
    if wanted >= current:
        total, window = _limit_up(window, current, wanted, now)
        return decision(total, why + _capped(total, wanted))
    kept = [n for t, n in recommendations]
    if now - window.since < settings.down_window:
        kept.append(current)  # too little history: act as if `current` was recommended
    total = min(current, max(kept))
    if total == wanted:
        return decision(total, why)
    return decision(
        total, f"{why}; held at {total} by the {settings.down_window:g}s scale-down window"
    )


def _limit_up(window: Window, current: int, wanted: int, now: float) -> tuple[int, Window]:
    """`wanted` held to the HPA's scale-up rate, counted from the replicas there were
    `UP_PERIOD` seconds ago; the window remembers the step taken."""
    recent = tuple((t, n) for t, n in window.scale_ups if t > now - UP_PERIOD)
    start = max(current - sum(n for _t, n in recent), 0)
    total = min(wanted, max(start * (100 + UP_PERCENT) // 100, start + UP_PODS))
    total = max(total, current)
    if total > current:
        recent = (*recent, (now, total - current))
    return total, dataclasses.replace(window, scale_ups=recent)


def _capped(total: int, wanted: int) -> str:
    if total >= wanted:
        return ""
    return (
        f"; {total} for now: at most +{UP_PERCENT}% or +{UP_PODS} replicas per"
        f" {UP_PERIOD:g}s, like the HPA"
    )


@dataclass(frozen=True)
class Loads:
    """A service's load over the metric window, one figure per kind of target."""

    concurrency: float
    qps: float
    tokens_per_second: float = 0.0
    waiting: float | None = None  # None: no replica exports its queue


def _recommend(loads: Loads, *, current: int, settings: Settings) -> tuple[int, str]:
    """The HPA's recommendation (largest over the targets), clamped, with a reason; the
    floor keeps one replica in each of `min_domains` placements."""
    floor = max(settings.min_replicas, 1, settings.min_domains)
    candidates: list[tuple[int, str]] = []
    for load_value, target, unit in (
        (loads.concurrency, settings.target_concurrency, "concurrent requests"),
        (loads.qps, settings.target_qps, "requests/s"),
        (loads.tokens_per_second, settings.target_tokens_per_second, "tokens/s"),
        (loads.waiting, settings.target_queue_length, "requests waiting"),
    ):
        if target is None or load_value is None:
            continue
        ratio = load_value / (target * current) if current > 0 else math.inf
        if current > 0 and abs(ratio - 1.0) <= settings.tolerance:
            want = current  # within tolerance: no change, like the HPA
        else:
            want = math.ceil(load_value / target - 1e-9)
        candidates.append((want, f"{load_value:.1f} {unit} for a target of {target:g} each"))
    if not candidates:
        want, why = current, "no load target"
    else:
        want, why = max(candidates, key=lambda c: c[0])
    clamped = min(max(want, floor), settings.max_replicas)
    if clamped != want:
        why += f" -> {want}, kept within [{floor}, {settings.max_replicas}]"
    return clamped, why
