"""Which control plane acts when several share a PostgreSQL state database.

A thread of its own renews the lease (or, on a standby, reads it and takes it once it
expires), so a long pass or a slow `down` never delays a renewal. Whatever acts asks
first: the loop (`epoch`), each launch, stop and gateway push (`require`), the gateway's
watcher (`may_act`), and every store write, whose transaction checks the epoch again
(store_lease.fence). The decisions are planning/leadership.py's; with SQLite (no lease)
the one control plane of the state directory leads from the start.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crosscloud import errors, ports
from crosscloud.adapters.store import lease as store_lease
from crosscloud.adapters.store.sql_store import SqlStore
from crosscloud.domain import lease
from crosscloud.planning import leadership as plan

log = logging.getLogger("crosscloud.controlplane")
TTL_ENV = "CROSSCLOUD_LEASE_TTL"


class Leadership:
    """This process's standing: leader or standby, and the lease as last seen."""

    def __init__(
        self,
        lease_store: ports.LeaderLease | None,
        me: lease.Holder,
        *,
        policy: plan.LeasePolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lease = lease_store
        self.me = me
        self.policy = policy or plan.LeasePolicy()
        self._monotonic = monotonic
        self._view = plan.View()
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first = 0.0  # when the attempt after start()'s own is due
        self.on_change: Callable[[], None] = lambda: None  # wakes the loop

    @property
    def shared(self) -> bool:
        """Whether other control planes may share the database (there is a lease)."""
        return self._lease is not None

    # -- asked by whatever acts -------------------------------------------------------------

    def epoch(self) -> int | None:
        """The epoch this process may act under now; None when it may not act."""
        if self._lease is None:
            return 1
        with self._mutex:
            view, change = plan.lapse(self._view, now=self._monotonic())
            self._view = view
        if change is plan.Change.LOST:
            log.warning("the lease lapsed before it was renewed; this control plane stops acting")
        return view.epoch if plan.may_act(view, now=self._monotonic()) else None

    def may_act(self) -> bool:
        return self.epoch() is not None

    def require(self) -> int:
        """The epoch to act under, or NotLeader with a line naming the leader."""
        epoch = self.epoch()
        if epoch is None:
            raise errors.NotLeader(self.refusal())
        return epoch

    def refusal(self) -> str:
        with self._mutex:
            view = self._view
        me = f"control plane pid {self.me.pid}"
        if view.error:
            return f"{me} cannot hold the leader lease: {view.error}; nothing was changed"
        seen = view.seen
        if seen is not None and seen.remaining > 0 and seen.holder.id != self.me.id:
            return (
                f"{me} is a standby; the leader is {seen.holder.describe()} (epoch {seen.epoch});"
                " nothing was changed"
            )
        return f"{me} is a standby and no control plane leads at the moment; nothing was changed"

    def describe(self) -> dict[str, Any]:
        """For `status` and /v1/health: this process's role and the leader it knows."""
        epoch = self.epoch()
        with self._mutex:
            view = self._view
        seen = view.seen
        leader = None
        if epoch is not None:
            leader = {"pid": self.me.pid, "url": self.me.url, "host": self.me.host}
        elif seen is not None and seen.remaining > 0:
            holder = seen.holder
            leader = {"pid": holder.pid, "url": holder.url, "host": holder.host}
        return {
            "role": "leader" if epoch is not None else "standby",
            "pid": self.me.pid,
            "url": self.me.url,
            "shared": self.shared,
            "epoch": epoch if self.shared else None,
            "leader": leader,
            "error": view.error,
        }

    # -- the lease itself --------------------------------------------------------------------

    def step(self) -> float:
        """One read or renewal of the lease; returns (monotonic) when to make the next."""
        assert self._lease is not None
        sent = self._monotonic()
        seen: lease.Lease | None = None
        error = ""
        try:
            with self._mutex:
                holding = self._view.epoch is not None
            seen = None if holding else self._lease.read()
            if holding or plan.wants(seen, me=self.me.id):
                seen = self._lease.acquire(self.me, ttl=self.policy.ttl)
        except errors.CrossCloudError as exc:
            error = str(exc)
        now = self._monotonic()
        with self._mutex:
            before = self._view
            view, change = plan.after_attempt(
                before,
                me=self.me.id,
                seen=seen,
                error=error,
                sent_at=sent,
                now=now,
                policy=self.policy,
            )
            self._view = view
        self._report(before, view, change)
        return plan.next_attempt(view, sent_at=sent, now=now, policy=self.policy)

    def _report(self, before: plan.View, view: plan.View, change: plan.Change) -> None:
        if change is plan.Change.ELECTED:
            log.info("this control plane leads now (epoch %s)", view.epoch)
        elif change is plan.Change.LOST:
            taker = view.seen.holder if view.seen and view.seen.remaining > 0 else None
            why = view.error or (f"{taker.describe()} took it" if taker else "not renewed")
            log.warning("this control plane lost the lease (%s); it stands by", why)
        elif view.error and view.error != before.error:
            log.error("lease: %s", view.error)
        if change is not plan.Change.NONE:
            self.on_change()

    def start(self) -> None:
        """The first attempt now, then a thread of its own."""
        if self._lease is None:
            return
        self._first = self.step()
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        at = self._first
        while not self._stop.wait(max(0.0, at - self._monotonic())):
            try:
                at = self.step()
            except Exception:  # the thread must outlive anything; the deadline still holds
                log.exception("lease attempt failed")
                at = self._monotonic() + self.policy.renew_every

    def stop(self) -> None:
        """Stop renewing; a held lease is given up at once, so a standby need not wait
        for it to expire."""
        if self._lease is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._mutex:
            held = self._view.epoch is not None
            self._view = plan.View(seen=self._view.seen)  # acts no more, from now on
        if held:
            try:
                self._lease.release(self.me.id)
            except errors.CrossCloudError as exc:
                log.warning("could not give up the lease (it expires by itself): %s", exc)
        self._lease.close()


def alone() -> Leadership:
    """The only control plane of its state directory (SQLite): it always leads."""
    return Leadership(None, lease.Holder(id="alone", pid=os.getpid()))


def is_shared(store: SqlStore) -> bool:
    """Whether other control planes may share `store` (PostgreSQL; SQLite is one file of
    one state directory)."""
    return store.url.startswith("postgresql")


def for_store(store: SqlStore, *, home: Path) -> Leadership:
    """This process's leadership over `store`: a lease (and every write of the store
    fenced by its epoch) when the store is shared; else it leads alone."""
    if not is_shared(store):
        return alone()
    me = lease.Holder(
        id=uuid.uuid4().hex, pid=os.getpid(), host=socket.gethostname(), home=str(home)
    )
    leader = Leadership(store_lease.SqlLease(store.url), me, policy=policy_from_env())
    store.fence = lambda conn: store_lease.fence(conn, holder_id=me.id, epoch=leader.require())
    return leader


def policy_from_env() -> plan.LeasePolicy:
    """$CROSSCLOUD_LEASE_TTL seconds (default 5): renewed, polled and kept clear of its
    expiry by a fifth of that each."""
    raw = os.environ.get(TTL_ENV) or "5"
    try:
        ttl = float(raw)
    except ValueError:
        raise errors.UserError(f"{TTL_ENV} must be a number of seconds, got {raw!r}") from None
    if not 0.5 <= ttl <= 600:
        raise errors.UserError(f"{TTL_ENV} must be between 0.5 and 600 seconds, got {raw!r}")
    return plan.LeasePolicy(ttl=ttl, renew_every=ttl / 5, margin=ttl / 5, poll_every=ttl / 5)
