"""Table tests for the gateway's pure load-balancing decisions."""

from __future__ import annotations

import collections
import random
from dataclasses import dataclass

import pytest

from crosscloud.planning import routing


@dataclass
class H:
    weight: float = 1.0
    active: int = 0
    ewma: float = 0.0


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([1], [0]),
        ([1, 1, 1], [0, 1, 2]),
        ([5, 1, 1], [0, 0, 1, 0, 2, 0, 0]),  # nginx's documented smooth order a a b a c a a
        ([2, 1], [0, 1, 0]),
    ],
)
def test_smooth_weighted_schedule(weights: list[int], expected: list[int]) -> None:
    assert routing.smooth_weighted_schedule(weights) == expected


@pytest.mark.parametrize("weights", [[], [0], [1, -1]])
def test_schedule_rejects_bad_weights(weights: list[int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        routing.smooth_weighted_schedule(weights)


def test_round_robin_cycles_through_schedule() -> None:
    schedule = routing.smooth_weighted_schedule([1, 1, 1])
    assert [routing.pick_round_robin(schedule, i) for i in range(6)] == [0, 1, 2, 0, 1, 2]


@pytest.mark.parametrize(
    ("actives", "busiest_share_at_most"),
    [
        ([0, 0], 0.6),  # equal load: about even
        ([10, 0, 0, 0], 0.1),  # P2C: the busy host wins only when drawn twice (1/16)
        ([5, 5, 0], 0.5),
    ],
)
def test_least_request_p2c_avoids_busy_hosts(
    actives: list[int], busiest_share_at_most: float
) -> None:
    hosts = [H(active=a) for a in actives]
    rng = random.Random(7)
    picks = collections.Counter(routing.pick_least_request(hosts, rng) for _ in range(4000))
    busiest = max(range(len(hosts)), key=lambda i: actives[i])
    assert picks[busiest] / 4000 <= busiest_share_at_most


def test_least_request_weighted_variant_divides_weight_by_active() -> None:
    # weights 3:1, host 0 has 2 in flight -> effective 1 vs 1: about even.
    hosts = [H(weight=3, active=2), H(weight=1, active=0)]
    rng = random.Random(1)
    picks = collections.Counter(routing.pick_least_request(hosts, rng) for _ in range(4000))
    assert abs(picks[0] / 4000 - 0.5) < 0.04
    idle = [H(weight=3), H(weight=1)]
    picks = collections.Counter(routing.pick_least_request(idle, rng) for _ in range(4000))
    assert abs(picks[0] / 4000 - 0.75) < 0.03


@pytest.mark.parametrize(
    ("hosts", "slow", "share_at_most"),
    [
        ([H(ewma=0.010), H(ewma=0.001)], 0, 0.03),
        # a region 80 ms away among two near ones: only the random probes reach it
        ([H(ewma=0.002), H(ewma=0.082), H(ewma=0.002)], 1, 0.02),
        ([H(ewma=0.002, active=3), H(ewma=0.082), H(ewma=0.003, active=3)], 1, 0.02),
    ],
)
def test_latency_prefers_faster_hosts(hosts: list[H], slow: int, share_at_most: float) -> None:
    rng = random.Random(3)
    picks = collections.Counter(routing.pick_latency(hosts, rng) for _ in range(4000))
    assert 0 < picks[slow] / 4000 <= share_at_most  # re-measured now and then, never more
    assert routing.pick_latency([H()], rng) == 0


def test_latency_weighs_in_flight_requests() -> None:
    # 1 ms with 9 in flight (10 ms expected) loses to 5 ms idle
    hosts = [H(ewma=0.001, active=9), H(ewma=0.005)]
    picks = collections.Counter(
        routing.pick_latency(hosts, random.Random(5), probe=0.0) for _ in range(500)
    )
    assert picks == {1: 500}


def test_a_host_without_samples_is_tried_first() -> None:
    hosts = [H(ewma=0.002), H(ewma=0.0)]
    assert routing.pick_latency(hosts, random.Random(7), probe=0.0) == 1


@pytest.mark.parametrize(
    ("previous", "sample", "expected"),
    [(0.0, 0.5, 0.5), (1.0, 2.0, 1.1), (1.0, 1.0, 1.0)],
)
def test_ewma(previous: float, sample: float, expected: float) -> None:
    assert routing.ewma(previous, sample) == pytest.approx(expected)


def test_canary_split_90_10_within_3_percent_over_2000() -> None:
    rng = random.Random(42)
    picks = collections.Counter(routing.pick_weighted([90, 10], rng) for _ in range(2000))
    assert abs(picks[0] / 2000 - 0.90) <= 0.03
    assert abs(picks[1] / 2000 - 0.10) <= 0.03


def test_weighted_pick_with_zero_weights() -> None:
    rng = random.Random(0)
    assert {routing.pick_weighted([0, 5], rng) for _ in range(100)} == {1}
    assert routing.pick_weighted([0, 0], rng) == 0


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([(10, 10)], [100.0]),
        ([(10, 10), (10, 10)], [100.0, 0.0]),
        ([(72, 100), (10, 10)], [100.0, 0.0]),  # 72% x 1.4 = 100.8: keeps everything
        ([(71, 100), (10, 10)], [99.4, 0.6]),  # spills what 71% x 1.4 cannot carry
        ([(50, 100), (10, 10)], [70.0, 30.0]),
        ([(25, 100), (10, 10)], [35.0, 65.0]),
        ([(0, 4), (2, 4), (4, 4)], [0.0, 70.0, 30.0]),
        ([(25, 100), (25, 100)], [50.0, 50.0]),  # total health 70 < 100: normalised
        ([(0, 3), (0, 3)], [100.0, 0.0]),  # nothing healthy: level 0 (caller answers 503)
        ([(0, 0), (3, 3)], [0.0, 100.0]),
    ],
)
def test_priority_loads_follow_envoy(levels: list[tuple[int, int]], expected: list[float]) -> None:
    assert routing.priority_loads(levels) == pytest.approx(expected)


def test_pick_level_spills_by_load() -> None:
    rng = random.Random(5)
    assert {routing.pick_level([100.0, 0.0], rng) for _ in range(50)} == {0}
    picks = collections.Counter(routing.pick_level([70.0, 30.0], rng) for _ in range(2000))
    assert abs(picks[1] / 2000 - 0.30) <= 0.03


@pytest.mark.parametrize(
    ("placement", "order", "rank"),
    [
        ("aws/us-west-2", ["aws/us-west-2", "gcp/us-central1"], 0),
        ("gcp/us-central1", ["aws/us-west-2", "gcp/us-central1"], 1),
        ("azure/eastus", ["aws/us-west-2", "gcp/us-central1"], 2),
        ("local/a", [], 0),
    ],
)
def test_failover_rank(placement: str, order: list[str], rank: int) -> None:
    assert routing.failover_rank(placement, order) == rank
