"""The leader lease on a real PostgreSQL (and its in-memory fake, by the same rules): who
gets it, when the epoch grows, and the fence that refuses an old leader's writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from crosscloud import errors
from crosscloud.adapters.store import lease as store_lease
from crosscloud.adapters.store import sql_store as store
from crosscloud.domain import state
from crosscloud.domain.lease import Holder

pytestmark = pytest.mark.timeout(60)

A = Holder("a" * 32, url="http://127.0.0.1:1", pid=11, host="host-a", home="/h")
B = Holder("b" * 32, url="http://127.0.0.1:2", pid=22, host="host-b", home="/h")
TTL = 0.6  # seconds: short, so that the tests can wait it out


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "postgresql"])
def lease_and_wait(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[store_lease.SqlLease | store_lease.MemoryLease, Callable[[float], None]]]:
    """A lease table and a way to let time pass (the fake clock, or real sleep)."""
    if request.param == "memory":
        clock = _Clock()

        def advance(seconds: float) -> None:
            clock.now += seconds

        yield store_lease.MemoryLease(clock), advance
        return
    url = request.getfixturevalue("pg_url")
    store.SqlStore(url).close()  # the schema, with its leases table
    lease = store_lease.SqlLease(store.resolve_url(url))
    yield lease, time.sleep
    lease.close()


def test_one_holder_at_a_time_and_the_epoch_grows_with_each_new_one(
    lease_and_wait: tuple[store_lease.SqlLease | store_lease.MemoryLease, Callable[[float], None]],
) -> None:
    lease, wait = lease_and_wait
    assert lease.read() is None
    first = lease.acquire(A, ttl=TTL)
    assert first is not None and first.holder == A and first.epoch == 1
    assert 0 < first.remaining <= TTL + 1e-6
    refused = lease.acquire(B, ttl=TTL)  # A holds it: B gets to see who leads
    assert refused is not None and refused.holder == A and refused.epoch == 1
    renewed = lease.acquire(A, ttl=TTL)
    assert renewed is not None and renewed.epoch == 1  # a renewal keeps the epoch
    wait(TTL + 0.2)  # A stops renewing (killed): its lease runs out
    expired = lease.read()
    assert expired is not None and expired.remaining <= 0
    taken = lease.acquire(B, ttl=TTL)
    assert taken is not None and taken.holder == B and taken.epoch == 2
    back = lease.acquire(A, ttl=TTL)  # the old leader resumes and tries to renew
    assert back is not None and back.holder == B and back.epoch == 2


def test_release_hands_over_at_once_and_only_by_the_holder(
    lease_and_wait: tuple[store_lease.SqlLease | store_lease.MemoryLease, Callable[[float], None]],
) -> None:
    lease, _wait = lease_and_wait
    lease.acquire(A, ttl=60)
    lease.release(B.id)  # not B's to give up
    held = lease.read()
    assert held is not None and held.holder == A and held.remaining > 50
    lease.release(A.id)
    taken = lease.acquire(B, ttl=60)
    assert taken is not None and taken.holder == B and taken.epoch == 2


def _fenced(url: str, holder: Holder, epoch: Callable[[], int | None]) -> store.SqlStore:
    opened = store.SqlStore(url)
    opened.fence = lambda conn: store_lease.fence(conn, holder_id=holder.id, epoch=epoch())
    return opened


def _deployment(name: str) -> state.DeploymentRecord:
    return state.DeploymentRecord(name=name, manifest_json="{}", manifest_hash="h", version=1)


def test_the_fence_refuses_an_old_leaders_writes_and_changes_nothing(pg_url: str) -> None:
    lease = store_lease.SqlLease(store.resolve_url(pg_url))
    old = _fenced(pg_url, A, lambda: 1)
    new = _fenced(pg_url, B, lambda: 2)
    try:
        assert lease.acquire(A, ttl=TTL) is not None
        old.put_deployment(_deployment("before"))  # A leads: its write lands
        time.sleep(TTL + 0.2)
        assert lease.acquire(B, ttl=60) is not None  # B took over: epoch 2
        with pytest.raises(errors.NotLeader, match=r"lost the lease \(its epoch 1\) to control"):
            old.put_deployment(_deployment("stale"))
        with pytest.raises(errors.NotLeader, match="pid 22 on host-b"):
            old.delete_deployment("before")
        new.put_deployment(_deployment("after"))
        assert [d.name for d in new.list_deployments()] == ["after", "before"]
        assert [d.name for d in old.list_deployments()] == ["after", "before"]  # reads serve
    finally:
        old.close()
        new.close()
        lease.close()


def test_no_epoch_no_write(pg_url: str) -> None:
    standby = _fenced(pg_url, B, lambda: None)
    try:
        with pytest.raises(errors.NotLeader, match="does not hold the lease"):
            standby.put_deployment(_deployment("x"))
        assert standby.list_deployments() == []
    finally:
        standby.close()


def test_a_takeover_waits_for_the_old_leaders_write_in_flight(pg_url: str) -> None:
    """The fence share-locks the lease row: a write that passed it commits before a new
    leader can take the lease (and then read the state), never after."""
    lease = store_lease.SqlLease(store.resolve_url(pg_url))
    old = _fenced(pg_url, A, lambda: 1)
    hold = threading.Event()
    old_done: list[float] = []
    real_fence = old.fence
    assert real_fence is not None

    def slow_fence(conn: object) -> None:
        real_fence(conn)  # type: ignore[arg-type]
        hold.set()
        time.sleep(1.0)  # the write is in flight, past its check

    try:
        assert lease.acquire(A, ttl=0.3) is not None
        time.sleep(0.4)  # expired: B may take it
        old.fence = slow_fence
        writer = threading.Thread(
            target=lambda: (
                old.put_deployment(_deployment("late")),
                old_done.append(time.monotonic()),
            )
        )
        writer.start()
        assert hold.wait(10)
        taken = lease.acquire(B, ttl=60)
        took = time.monotonic()
        writer.join(10)
        assert taken is not None and taken.holder == B and taken.epoch == 2
        assert old_done and old_done[0] <= took  # the old write landed first
    finally:
        old.close()
        lease.close()


def test_an_unreachable_database_is_one_transient_line() -> None:
    lease = store_lease.SqlLease("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(errors.TransientError, match="is unavailable: ") as caught:
            lease.acquire(A, ttl=TTL)
        assert "\n" not in str(caught.value)
    finally:
        lease.close()
