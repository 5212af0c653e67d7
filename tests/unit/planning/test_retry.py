"""Table tests for the gateway's pure retry decisions (Istio/Envoy defaults)."""

from __future__ import annotations

import random

import pytest

from crosscloud.planning import retry
from crosscloud.planning.retry import Failure

POLICY = retry.RetryPolicy()


@pytest.mark.parametrize(
    ("failure", "idempotent", "done", "expected"),
    [
        (Failure.CONNECT, False, 0, True),  # nothing reached the replica: always safe
        (Failure.CONNECT, True, 1, True),
        (Failure.CONNECT, True, 2, False),  # 2 retries is the default
        (Failure.STATUS, True, 0, True),
        (Failure.STATUS, False, 0, False),  # a POST that got 503 may have run
        (Failure.RESET, False, 0, False),
        (Failure.RESET, True, 0, True),
        (Failure.TIMEOUT, True, 0, True),
    ],
)
def test_should_retry(failure: Failure, idempotent: bool, done: int, expected: bool) -> None:
    assert retry.should_retry(failure, idempotent=idempotent, retries_done=done, policy=POLICY) is (
        expected
    )


@pytest.mark.parametrize(
    ("active", "retrying", "allowed"),
    [(0, 0, True), (1, 2, True), (1, 3, False), (100, 19, True), (100, 20, False)],
)
def test_retry_budget_20_percent_min_3(active: int, retrying: int, allowed: bool) -> None:
    assert (
        retry.budget_allows(active_requests=active, active_retries=retrying, policy=POLICY)
        is allowed
    )


@pytest.mark.parametrize(("n", "ceiling"), [(1, 0.025), (2, 0.075), (3, 0.175), (4, 0.25)])
def test_backoff_is_jittered_exponential_from_25ms(n: int, ceiling: float) -> None:
    rng = random.Random(9)
    delays = [retry.backoff(n, rng, POLICY) for _ in range(500)]
    assert min(delays) >= 0
    assert max(delays) <= ceiling
    assert max(delays) > ceiling * 0.9


@pytest.mark.parametrize(
    ("method", "service_idempotent", "expected"),
    [(b"GET", False, True), (b"POST", False, False), (b"POST", True, True), (b"PUT", False, True)],
)
def test_is_idempotent(method: bytes, service_idempotent: bool, expected: bool) -> None:
    assert retry.is_idempotent(method, service_idempotent=service_idempotent) is expected


@pytest.mark.parametrize(
    ("failure", "budgeted"),
    [
        (retry.Failure.STATUS, True),
        (retry.Failure.TIMEOUT, True),
        (retry.Failure.CONNECT, False),
        (retry.Failure.RESET, False),
    ],
)
def test_only_overload_failures_count_against_the_budget(
    failure: retry.Failure, budgeted: bool
) -> None:
    assert retry.budget_applies(failure) is budgeted
