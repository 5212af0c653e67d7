"""Latency quantiles from histogram buckets, and a region's health level (pure tables)."""

from __future__ import annotations

import pytest

from crosscloud.planning import regions
from crosscloud.planning.regions import Health, Seen

BOUNDS = (0.001, 0.01, 0.1, 1.0)


@pytest.mark.parametrize(
    ("cumulative", "q", "expected"),
    [
        ((0, 0, 0, 0, 0), 0.5, None),  # no request
        ((10, 10, 10, 10, 10), 0.5, 0.0005),  # all under 1 ms: halfway into the first bucket
        ((0, 100, 100, 100, 100), 0.5, 0.0055),  # 1..10 ms, linear within it
        ((0, 100, 100, 100, 100), 0.99, 0.001 + 0.009 * 0.99),
        ((0, 50, 100, 100, 100), 0.5, 0.01),  # exactly at a bound
        ((0, 98, 98, 99, 100), 0.99, 1.0),  # the 99th request took 0.1..1 s: its top
        ((0, 0, 0, 0, 10), 0.5, 1.0),  # all past the last bound: the last bound
    ],
)
def test_quantile_as_prometheus_histogram_quantile(
    cumulative: tuple[float, ...], q: float, expected: float | None
) -> None:
    got = regions.quantile(BOUNDS, cumulative, q)
    assert got == (None if expected is None else pytest.approx(expected))


def test_quantile_needs_one_count_per_bound_and_inf() -> None:
    with pytest.raises(ValueError, match="one cumulative count per bound"):
        regions.quantile(BOUNDS, (1, 2), 0.5)


@pytest.mark.parametrize(
    ("seen", "level", "reason"),
    [
        (Seen(desired=2, ready=2, upstreams=2, available=2), Health.OK, "2/2 replicas ready"),
        (Seen(desired=0, ready=0, upstreams=0, available=0), Health.OK, "scaled to zero"),
        (Seen(desired=1, ready=0, upstreams=0, available=0), Health.DOWN, "0/1 replicas ready"),
        # replicas killed: the record may still say Ready for a pass, the gateway knows
        (
            Seen(desired=2, ready=2, upstreams=2, available=0),
            Health.DOWN,
            "the gateway takes none of its 2 upstream(s)",
        ),
        (Seen(desired=2, ready=1, upstreams=1, available=1), Health.DEGRADED, "1/2 replicas ready"),
        (
            Seen(desired=1, ready=1, upstreams=1, available=1, requests=200, errors=5),
            Health.DEGRADED,
            "2.5% 5xx",
        ),
        (
            Seen(desired=1, ready=1, upstreams=1, available=1, ejections=1, connect_errors=3),
            Health.DEGRADED,
            "1 ejection(s), 3 refused connection(s)",
        ),
        # the gateway not known (no upstream row): the replica counts decide
        (Seen(desired=1, ready=1, upstreams=0, available=0), Health.OK, "1/1 replicas ready"),
    ],
)
def test_health(seen: Seen, level: Health, reason: str) -> None:
    assert regions.health(seen) == (level, reason)
