"""Table tests for per-token quotas: token buckets, concurrency slots, tokens per minute."""

from __future__ import annotations

import pytest

from crosscloud.domain.tokens import Quota
from crosscloud.planning import quota


def run(limiter: quota.Limiter, times: list[float]) -> list[str]:
    """'ok' or the refused limit for a request at each time (admitted ones end at once)."""
    out = []
    for now in times:
        refused = limiter.admit(now)
        out.append("ok" if refused is None else refused[0])
        if refused is None:
            limiter.release()
    return out


@pytest.mark.parametrize(
    ("q", "times", "expected"),
    [
        # 2/s with a burst of 2: two at once, then one every 0.5 s
        (
            Quota(rps=2, burst=2),
            [0, 0, 0, 0.5, 0.6, 1.0],
            ["ok", "ok", quota.RPS, "ok", quota.RPS, "ok"],
        ),
        # default burst: one second's worth (at least 1)
        (Quota(rps=3), [0, 0, 0, 0], ["ok", "ok", "ok", quota.RPS]),
        (Quota(rps=0.5), [0, 0, 1.9, 2.0], ["ok", quota.RPS, quota.RPS, "ok"]),
        # an idle token does not bank more than its burst
        (Quota(rps=1, burst=2), [0, 100, 100, 100], ["ok", "ok", "ok", quota.RPS]),
        # no rate limit at all: everything goes
        (Quota(concurrency=5), [0, 0, 0], ["ok", "ok", "ok"]),
    ],
)
def test_requests_per_second(q: Quota, times: list[float], expected: list[str]) -> None:
    assert run(quota.Limiter(q, now=0.0), times) == expected


def test_a_refusal_takes_nothing_and_says_when_to_retry() -> None:
    limiter = quota.Limiter(Quota(rps=4, burst=1), now=0.0)
    assert limiter.admit(0.0) is None
    for _ in range(100):  # hammering past the quota does not push the next slot back
        assert limiter.admit(0.1) == (quota.RPS, pytest.approx(0.15))
    assert limiter.admit(0.25) is None


def test_the_admitted_rate_is_the_quota_whatever_is_sent() -> None:
    limiter = quota.Limiter(Quota(rps=10, burst=1), now=0.0)
    sent = [i / 100 for i in range(1, 1001)]  # 100/s for 10 s: 10x the quota
    assert run(limiter, sent).count("ok") == 100


def test_concurrency_slots_are_held_until_released() -> None:
    limiter = quota.Limiter(Quota(concurrency=2), now=0.0)
    assert limiter.admit(0.0) is None
    assert limiter.admit(0.0) is None
    assert limiter.admit(0.0) == (quota.CONCURRENCY, 1.0)
    limiter.release()
    assert limiter.admit(0.0) is None
    assert limiter.in_flight == 2


def test_tokens_per_minute_are_spent_after_the_fact() -> None:
    limiter = quota.Limiter(Quota(tokens_per_minute=600), now=0.0)  # 10 tokens/s
    assert limiter.admit(0.0) is None
    limiter.spend_tokens(0.0, 700)  # one answer used more than the minute's worth
    refused = limiter.admit(1.0)
    assert refused is not None and refused[0] == quota.TPM
    assert refused[1] == pytest.approx(9.0)  # 90 tokens short, at 10/s
    assert limiter.admit(10.5) is None


def test_a_new_quota_keeps_what_the_old_buckets_had_used() -> None:
    old = quota.Limiter(Quota(rps=1, burst=5), now=0.0)
    for _ in range(5):
        assert old.admit(0.0) is None
    new = quota.Limiter(Quota(rps=2, burst=5), now=0.0)
    new.carry(old)
    assert new.admit(0.0) is not None  # not refilled by the reload
    assert new.in_flight == 0  # the old one's slots are released on the old one


@pytest.mark.parametrize(("seconds", "header"), [(0.001, 1), (1.0, 1), (1.01, 2), (59.5, 60)])
def test_retry_after_is_whole_seconds_rounded_up(seconds: float, header: int) -> None:
    assert quota.retry_after(seconds) == header


@pytest.mark.parametrize(
    ("q", "problem"),
    [
        (Quota(rps=0), "--rps must be a number above 0"),
        (Quota(rps=1, burst=0), "--burst must be 1 or more"),
        (Quota(burst=3), "--burst needs --rps"),
        (Quota(concurrency=0), "--concurrency must be 1 or more"),
        (Quota(tokens_per_minute=0), "--tokens-per-minute must be 1 or more"),
    ],
)
def test_bad_quotas_are_named_by_their_flag(q: Quota, problem: str) -> None:
    assert any(problem in p for p in q.problems())


@pytest.mark.parametrize(
    ("q", "spent", "in_flight", "now", "idle"),
    [
        (Quota(rps=2, burst=4), 0, 0, 0.0, True),  # never used: a fresh one
        (Quota(rps=2, burst=4), 0, 1, 100.0, False),  # a request in flight holds it
        (Quota(rps=2, burst=4), 3, 0, 1.0, False),  # 2 of the 3 back after 1 s
        (Quota(rps=2, burst=4), 3, 0, 1.5, True),  # full again
        (Quota(tokens_per_minute=600), 900, 0, 89.0, False),  # 900 over: 90 s to refill
        (Quota(tokens_per_minute=600), 900, 0, 90.0, True),
        (Quota(concurrency=2), 0, 0, 0.0, True),
    ],
)
def test_a_limiter_is_idle_when_it_equals_a_fresh_one(
    q: Quota, spent: int, in_flight: int, now: float, idle: bool
) -> None:
    limiter = quota.Limiter(q, now=0.0)
    for _ in range(spent if limiter.requests is not None else 0):
        limiter.requests.take(0.0)  # type: ignore[union-attr]
    limiter.spend_tokens(0.0, spent if limiter.tokens is not None else 0)
    limiter.in_flight = in_flight
    assert limiter.idle(now) is idle
    assert quota.idle_tokens({"t": limiter}, now) == (["t"] if idle else [])


@pytest.mark.parametrize(
    ("gone_since", "now", "still", "drop"),
    [
        ({}, 100.0, {"old": 100.0}, []),  # first seen gone now
        ({"old": 50.0}, 100.0, {"old": 50.0}, []),  # within the grace
        ({"old": 30.0}, 100.0, {}, ["old"]),  # past it: dropped
        ({"old": 30.0, "live": 10.0}, 100.0, {}, ["old"]),  # live again: not gone
    ],
)
def test_counters_of_keys_gone_past_a_grace_are_forgotten(
    gone_since: dict[str, float], now: float, still: dict[str, float], drop: list[str]
) -> None:
    got = quota.forgotten(gone_since, ["live", "old"], {"live"}, now=now, grace=60.0)
    assert got == (still, drop)
