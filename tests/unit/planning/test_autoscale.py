"""Table tests for the pure autoscaler: HPA arithmetic, tolerance, the scale-down window,
scale to zero after idle and back to one when a request is held."""

from __future__ import annotations

import pytest

from crosscloud.domain import manifest
from crosscloud.planning import autoscale
from crosscloud.planning.autoscale import Sample, Settings, Window

CONC = Settings(min_replicas=1, max_replicas=10, target_concurrency=2)
QPS = Settings(min_replicas=1, max_replicas=10, target_qps=50)
ZERO = Settings(min_replicas=0, max_replicas=3, target_concurrency=2, scale_to_zero_after=3)


def steady(*, in_flight: int = 0, qps: float = 0, start: float = 0, end: float = 10) -> Window:
    """A window of samples every second from `start` to `end` with steady load."""
    window = Window(since=-1000)
    t = start
    while t <= end:
        n = int(qps * (t - start))
        sample = Sample(ts=t, in_flight=in_flight, requests=n)
        window = autoscale.observe(window, sample, keep=600)
        t += 1
    return window


@pytest.mark.parametrize(
    ("settings", "in_flight", "qps", "current", "expected"),
    [
        (CONC, 8, 0, 1, 4),  # ceil(8 / 2): up at once, no window
        (CONC, 9, 0, 1, 5),
        (CONC, 40, 0, 2, 6),  # wants 10 (maxReplicas); +4 per 15 s is the most from 2
        (CONC, 40, 0, 5, 10),  # +100% from 5: maxReplicas
        (CONC, 4, 0, 2, 2),  # exactly on target
        (CONC, 4, 0, 4, 4),  # down is held by the 300 s window (history says 4)
        (CONC, 0, 0, 1, 1),  # never under max(minReplicas, 1) by load
        (QPS, 0, 260, 2, 6),  # ceil(260 / 50)
        (QPS, 0, 105, 2, 2),  # 105 / (2 * 50) = 1.05: inside the 10% tolerance
        (QPS, 0, 115, 2, 3),  # 1.15: outside it
        (Settings(max_replicas=5, target_concurrency=2, target_qps=50), 2, 230, 1, 5),
    ],
)
def test_recommendation(
    settings: Settings, in_flight: int, qps: float, current: int, expected: int
) -> None:
    window = steady(in_flight=in_flight, qps=qps)
    window = autoscale.Window(since=-1000, samples=window.samples, last_active=10)
    history = autoscale.Window(
        since=-1000, samples=window.samples, last_active=10, recommendations=((5.0, current),)
    )
    decision, _ = autoscale.decide("svc", history, current=current, settings=settings, now=10)
    assert decision.desired_total == expected, decision.reason
    assert decision.service == "svc" and decision.current == current


def test_scale_up_is_held_to_the_hpa_rate_per_15_seconds() -> None:
    settings = Settings(max_replicas=50, target_concurrency=1)
    window, current, totals = Window(since=0), 1, []
    for t in (0, 5, 10, 16, 20, 31, 46):
        window = autoscale.observe(window, Sample(ts=t, in_flight=40), keep=20)
        decision, window = autoscale.decide(
            "svc", window, current=current, settings=settings, now=t
        )
        current = decision.desired_total
        totals.append(current)
        if current < 40:
            assert "at most +100% or +4 replicas per 15s" in decision.reason
    # 1 -> 5 (+4); nothing more until that step is 15 s old; 5 -> 10 (+100%) at t=16;
    # 10 -> 20 at t=31, once the t=16 step is 15 s old; then 40, all the load asks for
    assert totals == [5, 5, 5, 10, 10, 20, 40]


def test_scale_down_waits_for_the_window_then_follows_the_highest_recommendation() -> None:
    settings = Settings(max_replicas=10, target_concurrency=2, down_window=300)
    window = Window(since=0)
    totals = []
    current = 5
    for t, load in [(0, 10), (100, 4), (200, 2), (301, 2), (401, 2), (501, 2)]:
        window = autoscale.observe(window, Sample(ts=t, in_flight=load), keep=20)
        decision, window = autoscale.decide(
            "svc", window, current=current, settings=settings, now=t
        )
        current = decision.desired_total
        totals.append(current)
    # 10/2=5 at t=0 is in the window until t=300; then 4/2=2 (t=100) until 400; then 1.
    assert totals == [5, 5, 5, 2, 1, 1]


def test_no_scale_down_before_one_window_of_history() -> None:
    window = autoscale.observe(Window(since=100), Sample(ts=110, in_flight=0), keep=20)
    decision, _ = autoscale.decide("svc", window, current=4, settings=CONC, now=110)
    assert decision.desired_total == 4
    assert "300s scale-down window" in decision.reason


def test_scale_up_is_immediate_even_after_a_recent_higher_history() -> None:
    window = Window(since=0, recommendations=((50.0, 2),))
    window = autoscale.observe(window, Sample(ts=60, in_flight=12), keep=20)
    decision, _ = autoscale.decide("svc", window, current=2, settings=CONC, now=60)
    assert decision.desired_total == 6 and decision.changed


@pytest.mark.parametrize(
    ("samples", "current", "now", "expected", "why"),
    [
        # last request at t=1; scaleToZeroAfter 3 s
        ([(0, 1, 0, 1), (1, 0, 0, 2), (2, 0, 0, 2), (3, 0, 0, 2)], 1, 3, 1, ""),
        ([(0, 1, 0, 1), (1, 0, 0, 2), (2, 0, 0, 2), (4, 0, 0, 2)], 1, 4, 0, "no request for 3s"),
        ([(0, 1, 0, 1), (4, 0, 0, 1), (8, 0, 0, 1)], 2, 8, 0, "scaleToZeroAfter 3s"),
        ([(0, 0, 0, 0), (9, 0, 0, 0)], 0, 9, 0, "no request for 9s"),
        ([(0, 0, 0, 0), (2, 0, 0, 0)], 0, 2, 0, "idle at zero"),
        ([(0, 0, 0, 0), (9, 1, 1, 0)], 0, 9, 1, "1 request(s) held"),
        ([(0, 0, 0, 0), (9, 9, 9, 0)], 0, 9, 3, "9 request(s) held"),  # up to max at once
        ([(0, 0, 0, 0), (1, 9, 9, 0), (2, 9, 9, 0), (3, 9, 9, 0)], 0, 3, 3, "held"),
    ],
)
def test_scale_to_zero_and_back(
    samples: list[tuple[float, int, int, int]], current: int, now: float, expected: int, why: str
) -> None:
    window = Window(since=0)
    for ts, in_flight, held, requests in samples:
        sample = Sample(ts=ts, in_flight=in_flight, held=held, requests=requests)
        window = autoscale.observe(window, sample, keep=600)
    decision, _ = autoscale.decide("svc", window, current=current, settings=ZERO, now=now)
    assert decision.desired_total == expected, decision.reason
    assert why in decision.reason


def test_min_replicas_above_zero_never_goes_to_zero() -> None:
    settings = Settings(min_replicas=1, max_replicas=3, scale_to_zero_after=3)
    window = autoscale.observe(Window(since=0), Sample(ts=1000), keep=600)
    decision, _ = autoscale.decide("svc", window, current=1, settings=settings, now=1000)
    assert decision.desired_total == 1 and not decision.changed


def test_min_zero_without_scale_to_zero_after_uses_the_down_window() -> None:
    settings = Settings(min_replicas=0, max_replicas=3)
    assert settings.autoscaled and settings.zero_after == autoscale.DOWN_WINDOW


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([], (0.0, 0.0)),
        ([Sample(ts=10, in_flight=3)], (3.0, 0.0)),
        ([Sample(ts=0, requests=0), Sample(ts=10, requests=100)], (0.0, 10.0)),
        # 100 requests of 50 ms each in 10 s: Little's law says 0.5 in flight on average
        ([Sample(ts=0), Sample(ts=10, requests=100, busy_seconds=5.0)], (0.5, 10.0)),
        # the gateway restarted at t=5 (counters went down): the window restarts there
        (
            [Sample(ts=0, requests=500), Sample(ts=5, requests=10), Sample(ts=10, requests=60)],
            (0.0, 10.0),
        ),
    ],
)
def test_load(samples: list[Sample], expected: tuple[float, float]) -> None:
    window = Window(since=0, samples=tuple(samples))
    assert autoscale.load(window, now=10, span=10) == pytest.approx(expected)


def test_observe_drops_old_samples_and_notes_activity() -> None:
    window = Window(since=0)
    for ts, requests in [(0, 5), (1, 5), (2, 7), (3, 7)]:
        window = autoscale.observe(window, Sample(ts=ts, requests=requests), keep=1.5)
    assert [s.ts for s in window.samples] == [2, 3]
    assert window.last_active == 2


def test_settings_from_the_manifest() -> None:
    scaling = manifest.Scaling.model_validate(
        {"minReplicas": 0, "maxReplicas": 4, "targetConcurrency": 2, "scaleToZeroAfter": "30s"}
    )
    settings = autoscale.settings_of(scaling)
    assert (settings.min_replicas, settings.max_replicas) == (0, 4)
    assert (settings.target_concurrency, settings.zero_after) == (2, 30)
    assert not autoscale.settings_of(manifest.Scaling()).autoscaled
