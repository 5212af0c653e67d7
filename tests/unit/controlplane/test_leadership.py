"""Two control planes' Leadership over one in-memory lease and a simulated clock: one
acts at a time, a frozen holder stops acting before anyone else can start, and a
standby's refusal names the leader."""

from __future__ import annotations

import pytest

from crosscloud import errors
from crosscloud.adapters.store import lease as store_lease
from crosscloud.controlplane import leadership
from crosscloud.domain.lease import Holder, Lease

pytestmark = pytest.mark.timeout(30)


class Clock:
    """One clock for the database and both processes (rates agree; offsets don't matter)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Flaky(store_lease.MemoryLease):
    """A lease whose database can be taken down."""

    down = False

    def acquire(self, holder: Holder, *, ttl: float) -> Lease | None:
        if self.down:
            raise errors.TransientError("state database db is unavailable: connection refused")
        return super().acquire(holder, ttl=ttl)

    def read(self) -> Lease | None:
        if self.down:
            raise errors.TransientError("state database db is unavailable: connection refused")
        return super().read()


def pair() -> tuple[Clock, Flaky, leadership.Leadership, leadership.Leadership]:
    clock = Clock()
    lease = Flaky(clock)
    a = leadership.Leadership(
        lease, Holder("a", url="http://a", pid=11, host="ha"), monotonic=clock
    )
    b = leadership.Leadership(
        lease, Holder("b", url="http://b", pid=22, host="hb"), monotonic=clock
    )
    return clock, lease, a, b


def test_one_leads_and_the_standby_names_it() -> None:
    _clock, _lease, a, b = pair()
    a.step()
    b.step()
    assert (a.epoch(), b.epoch()) == (1, None)
    with pytest.raises(errors.NotLeader) as refused:
        b.require()
    assert "control plane pid 22 is a standby; the leader is control plane pid 11 on ha" in str(
        refused.value
    )
    assert "http://a" in str(refused.value) and "nothing was changed" in str(refused.value)
    assert b.describe()["leader"] == {"pid": 11, "url": "http://a", "host": "ha"}
    assert (a.describe()["role"], b.describe()["role"]) == ("leader", "standby")


def test_a_frozen_leader_stops_acting_before_a_standby_can_start() -> None:
    """SIGSTOP: the leader's renewals stop. It may act for ttl - margin after its last
    renewal was sent; the standby may take the lease only after ttl: never both."""
    clock, _lease, a, b = pair()
    a.step()
    for _ in range(60):  # 6 s in steps of 0.1: a is frozen, b polls
        clock.now += 0.1
        b.step()
        assert not (a.may_act() and b.may_act()), f"both act at {clock.now}"
    assert (a.epoch(), b.epoch()) == (None, 2)
    a.step()  # a resumes: it reads that b leads
    assert a.epoch() is None and "pid 22" in a.refusal()


def test_a_leader_that_cannot_reach_the_database_acts_until_its_deadline_only() -> None:
    clock, lease, a, b = pair()
    a.step()
    lease.down = True
    clock.now += 1.0
    a.step()
    assert a.may_act()  # 3 s left of its 4
    assert a.describe()["error"].endswith("connection refused")
    clock.now += 3.0
    assert not a.may_act()
    assert "cannot hold the leader lease: state database db is unavailable" in a.refusal()
    lease.down = False
    clock.now += 0.5
    a.step()  # the database is back and nobody took the lease meanwhile: the same epoch
    assert a.epoch() == 1
    b.step()
    assert b.epoch() is None


def test_stop_hands_the_lease_over_at_once() -> None:
    _clock, _lease, a, b = pair()
    a.step()
    b.step()
    a.stop()
    assert not a.may_act()
    b.step()  # no wait for the TTL
    assert b.epoch() == 2


def test_with_sqlite_the_one_control_plane_always_leads() -> None:
    alone = leadership.alone()
    assert alone.epoch() == 1 and alone.may_act()
    alone.require()
    assert alone.describe()["role"] == "leader" and alone.describe()["shared"] is False


@pytest.mark.parametrize(
    ("raw", "ok"), [("5", True), ("0.5", True), ("30", True), ("0.1", False), ("x", False)]
)
def test_lease_ttl_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, ok: bool
) -> None:
    monkeypatch.setenv(leadership.TTL_ENV, raw)
    if ok:
        assert leadership.policy_from_env().ttl == float(raw)
    else:
        with pytest.raises(errors.UserError, match=leadership.TTL_ENV):
            leadership.policy_from_env()


def test_start_makes_its_first_attempt_before_it_returns() -> None:
    """The daemon publishes its address after start(): a sole control plane already
    leads when the CLI finds it (its first write is not refused)."""
    _clock, lease, a, b = pair()
    a.start()
    try:
        assert a.epoch() == 1
    finally:
        a.stop()
    assert lease.read() is not None and lease.read().remaining <= 0  # given up at stop
    b.step()
    assert b.epoch() == 2
