"""Pure load-balancing decisions for the gateway: which replica takes the next request.

Policies (round-robin, least-request, latency), weighted splits for canaries and Envoy's
locality/priority arithmetic. Nothing here reads a clock or a random source: the caller
passes `rng` (anything with `.random()`) and the observed load of each host, and gets an
index back. The gateway calls these on its hot path, so they take plain sequences of its
own host objects (see `HostLoad`) rather than building new ones per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from crosscloud.domain import policies

#: Envoy's overprovisioning factor: a level with 72% healthy hosts still takes all traffic.
OVERPROVISIONING = 1.4
#: Istio/Envoy least-request defaults.
CHOICE_COUNT = 2
ACTIVE_REQUEST_BIAS = 1.0
#: Weight of a new latency sample in the moving average (about the last ten requests).
EWMA_ALPHA = 0.1
#: Share of latency picks that go to a random host, to re-measure stale averages.
LATENCY_PROBE = 0.03

#: The policies' names (declared in domain/policies.py, below the manifest that needs them).
POLICIES = policies.POLICIES


class Rng(Protocol):
    """The part of `random.Random` the policies use."""

    def random(self) -> float: ...


class HostLoad(Protocol):
    """What a policy needs to know about one host."""

    weight: float
    active: int
    ewma: float


def smooth_weighted_schedule(weights: Sequence[int]) -> list[int]:
    """nginx's smooth weighted round-robin as a precomputed cycle of host indices.

    Weights 5,1,1 give a,a,b,a,c,a,a: heavy hosts are interleaved, never bunched.
    The cycle is sum(weights) long; the gateway walks it with a counter.
    """
    if not weights or any(w <= 0 for w in weights):
        raise ValueError(f"weights must be positive integers, got {list(weights)}")
    total = sum(weights)
    current = [0] * len(weights)
    order: list[int] = []
    for _ in range(total):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=current.__getitem__)
        current[best] -= total
        order.append(best)
    return order


def pick_round_robin(schedule: Sequence[int], counter: int) -> int:
    """The host index at position `counter` of a schedule from `smooth_weighted_schedule`."""
    return schedule[counter % len(schedule)]


def pick_weighted(weights: Sequence[float], rng: Rng) -> int:
    """An index drawn with probability proportional to its weight (0 if all are zero)."""
    total = sum(weights)
    if total <= 0:
        return 0
    point = rng.random() * total
    for i, w in enumerate(weights):
        point -= w
        if point < 0:
            return i
    return len(weights) - 1


def pick_least_request(
    hosts: Sequence[HostLoad],
    rng: Rng,
    *,
    choice_count: int = CHOICE_COUNT,
    bias: float = ACTIVE_REQUEST_BIAS,
) -> int:
    """Envoy's least-request: power of `choice_count` choices when all weights are equal,
    otherwise a weighted pick with weight / (active + 1) ** bias as each host's weight.

    Envoy walks an EDF schedule for the weighted case; a weighted random draw with the same
    dynamic weights gives the same expected shares without state between calls.
    """
    n = len(hosts)
    if n == 1:
        return 0
    first_weight = hosts[0].weight
    if all(h.weight == first_weight for h in hosts):
        best = int(rng.random() * n)
        for _ in range(choice_count - 1):
            other = int(rng.random() * n)
            if hosts[other].active < hosts[best].active:
                best = other
        return best
    return pick_weighted([h.weight / (h.active + 1) ** bias for h in hosts], rng)


def pick_latency(hosts: Sequence[HostLoad], rng: Rng, *, probe: float = LATENCY_PROBE) -> int:
    """Power of two choices on expected wait: latency EWMA x (in-flight + 1), between two
    different hosts (as Finagle and Linkerd do: with both draws free, a host 80 ms away
    still won whenever both landed on it, 1 pick in 9 among three hosts).

    A host with no sample yet (ewma 0) looks fastest, so new hosts get probed at once; and
    a `probe` share of picks goes to any host at random, so one whose average went stale
    (its link got faster again) is measured again.
    """
    n = len(hosts)
    if n == 1:
        return 0
    if rng.random() < probe:
        return int(rng.random() * n)
    a = int(rng.random() * n)
    b = (a + 1 + int(rng.random() * (n - 1))) % n
    ha, hb = hosts[a], hosts[b]
    return a if ha.ewma * (ha.active + 1) <= hb.ewma * (hb.active + 1) else b


def ewma(previous: float, sample: float, alpha: float = EWMA_ALPHA) -> float:
    """The moving average after one more sample; the first sample is taken as it is."""
    if previous <= 0:
        return sample
    return previous + alpha * (sample - previous)


def level_health(healthy: int, total: int, overprovisioning: float = OVERPROVISIONING) -> float:
    """Envoy's health of a priority level in percent: min(100, healthy% x 1.4)."""
    if total <= 0:
        return 0.0
    return min(100.0, 100.0 * healthy / total * overprovisioning)


def priority_loads(
    levels: Sequence[tuple[int, int]], overprovisioning: float = OVERPROVISIONING
) -> list[float]:
    """Share of traffic (percent) per level, from (healthy, total) hosts per level in order.

    Envoy's arithmetic: a level keeps all traffic while healthy% x 1.4 >= 100 and spills
    the rest to the next level; when the levels together have less than 100% health, the
    shares are scaled up to add to 100. With no healthy host anywhere, all goes to level 0
    (the caller then answers 503).
    """
    health = [level_health(h, t, overprovisioning) for h, t in levels]
    total = min(100.0, sum(health))
    loads = [0.0] * len(levels)
    if total <= 0:
        if loads:
            loads[0] = 100.0
        return loads
    remaining = 100.0
    for i, level in enumerate(health):
        share = min(remaining, level * 100.0 / total)
        loads[i] = share
        remaining -= share
    return loads


def pick_level(loads: Sequence[float], rng: Rng) -> int:
    """A level index drawn by the shares from `priority_loads` (0 when one level has it all)."""
    if loads and loads[0] >= 100.0:
        return 0
    return pick_weighted(loads, rng)


def failover_rank(placement: str, order: Sequence[str]) -> int:
    """A placement's priority level: its index in `spec.traffic.failover`, or after the
    last listed one when it is not listed (unlisted placements share the lowest level)."""
    try:
        return order.index(placement)
    except ValueError:
        return len(order)
