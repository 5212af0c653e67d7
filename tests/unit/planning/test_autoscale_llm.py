"""Table tests for the autoscaler's LLM targets: `targetTokensPerSecond` (from the
gateway's token counters) and `targetQueueLength` (vLLM's num_requests_waiting), beside
the request targets; the largest recommendation wins."""

from __future__ import annotations

import pytest

from crosscloud.domain import manifest
from crosscloud.planning import autoscale
from crosscloud.planning.autoscale import Sample, Settings, Window

TOK = Settings(max_replicas=10, target_tokens_per_second=1000)
QUEUE = Settings(max_replicas=10, target_queue_length=4)
BOTH = Settings(max_replicas=10, target_tokens_per_second=1000, target_queue_length=4)
ALL = Settings(max_replicas=10, target_concurrency=2, target_tokens_per_second=1000)


def window(*, tps: float = 0, waiting: int = -1, in_flight: int = 0) -> Window:
    """Samples every second for 10 s with steady load."""
    w = Window(since=-1000)
    for t in range(11):
        sample = Sample(ts=t, in_flight=in_flight, tokens=int(tps * t), waiting=waiting)
        w = autoscale.observe(w, sample, keep=600)
    return Window(since=-1000, samples=w.samples, last_active=10)


@pytest.mark.parametrize(
    ("settings", "tps", "waiting", "in_flight", "current", "expected"),
    [
        (TOK, 3500, -1, 0, 1, 4),  # ceil(3500 / 1000)
        (TOK, 2050, -1, 0, 2, 2),  # 1.025 of target: inside the 10% tolerance
        (TOK, 20_000, -1, 0, 2, 6),  # wants 20: +4 per 15 s from 2
        (QUEUE, 0, 10, 0, 1, 3),  # ceil(10 / 4)
        (QUEUE, 0, -1, 0, 2, 2),  # no replica exports its queue: no recommendation
        (BOTH, 1500, 17, 0, 1, 5),  # queue 5 beats tokens 2: the largest wins
        (BOTH, 4500, 2, 0, 1, 5),  # tokens 5 beats queue 1
        (ALL, 900, -1, 8, 1, 4),  # concurrency 8/2 = 4 beats tokens 1
        (ALL, 9000, -1, 2, 1, 5),  # tokens 9, held to +4 from 1
    ],
)
def test_llm_targets(
    settings: Settings, tps: float, waiting: int, in_flight: int, current: int, expected: int
) -> None:
    w = window(tps=tps, waiting=waiting, in_flight=in_flight)
    history = autoscale.Window(
        since=-1000, samples=w.samples, last_active=10, recommendations=((5.0, current),)
    )
    decision, _ = autoscale.decide("llm", history, current=current, settings=settings, now=10)
    assert decision.desired_total == expected, decision.reason


def test_reason_names_the_target_that_won() -> None:
    decision, _ = autoscale.decide(
        "llm", window(tps=1500, waiting=17), current=1, settings=BOTH, now=10
    )
    assert "17.0 requests waiting for a target of 4 each" in decision.reason


@pytest.mark.parametrize(
    ("tokens", "expected_rate"),
    [
        ([0, 100, 200, 300], 100.0),
        ([500, 600, 0, 100], 100.0),  # the gateway restarted: counted from the reset
        ([7, 7, 7, 7], 0.0),
    ],
)
def test_token_rate_survives_a_counter_reset(tokens: list[int], expected_rate: float) -> None:
    w = Window(since=0)
    for t, n in enumerate(tokens):
        w = autoscale.observe(w, Sample(ts=t, tokens=n, waiting=3), keep=600)
    rate, waiting = autoscale.llm_load(w, now=3, span=10)
    assert rate == pytest.approx(expected_rate)
    assert waiting == 3


def test_llm_targets_make_a_service_autoscaled() -> None:
    scaling = manifest.Scaling.model_validate(
        {"maxReplicas": 4, "targetTokensPerSecond": 500, "targetQueueLength": 2}
    )
    settings = autoscale.settings_of(scaling)
    assert settings.autoscaled
    assert settings.target_tokens_per_second == 500
    assert settings.target_queue_length == 2
