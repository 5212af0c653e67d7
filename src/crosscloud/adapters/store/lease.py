"""The leader lease of control planes that share a state database.

PostgreSQL (`SqlLease`): one row of `leases`, taken when free or expired and renewed by its
holder, with expiry times from the database's clock. Its `epoch` grows each time the
holder changes and is the fencing token: `fence` runs inside every write transaction of
the leader's store and refuses the write unless that epoch still holds; it takes a share
lock on the row, so a takeover waits for a write in flight, and no write of an old leader
can land after a new one read the state. A kill -9 ends the old leader's sessions (and
their locks) at once; a partition or a database restart is bounded by the connect and
idle-transaction timeouts below.

SQLite has one control plane per state directory (a file lock), which always leads; it
needs no lease. `MemoryLease` keeps the same rules in memory with an injected clock, for
unit tests of the election.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from crosscloud import errors
from crosscloud.adapters.store import schema
from crosscloud.domain import lease

NAME = "controlplane"
TIMEOUT = 2.0  # seconds for a connect, a lock wait or a statement of the lease itself
PG_SESSION = {  # libpq options for every session of a control plane (psycopg connect args)
    "connect_timeout": 3,
    "keepalives": 1,
    "keepalives_idle": 2,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 5000,  # ms: a write to a dead peer fails instead of hanging
    # a leader cut off in a transaction would hold the lease row's share lock forever
    "options": "-c idle_in_transaction_session_timeout=5000",
}
_t = schema.leases


def _db_now() -> sa.ColumnElement[float]:
    """Seconds since 1970 by the database's clock (not the transaction's start time)."""
    return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Double)


def _holder(row: Any) -> lease.Holder:
    data = dict(row.data or {})
    return lease.Holder(
        id=row.holder,
        url=str(data.get("url", "")),
        pid=int(data.get("pid", 0)),
        host=str(data.get("host", "")),
        home=str(data.get("home", "")),
    )


def _data(holder: lease.Holder) -> dict[str, Any]:
    return {"url": holder.url, "pid": holder.pid, "host": holder.host, "home": holder.home}


def redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


class SqlLease:
    """The lease row in PostgreSQL, through a small pool of its own (a renewal never waits
    for the store's connections)."""

    def __init__(self, url: str, *, name: str = NAME) -> None:
        self.url = url
        self.name = name
        self._engine = sa.create_engine(
            url, pool_pre_ping=True, pool_size=1, max_overflow=1, connect_args=PG_SESSION
        )

    @contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        ms = int(TIMEOUT * 1000)
        try:
            with self._engine.connect() as conn, conn.begin():
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
                yield conn
        except sa.exc.DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise errors.TransientError(
                f"state database {redact(self.url)} is unavailable: {reason}", delay=1.0
            ) from exc

    def _current(self, conn: sa.Connection) -> lease.Lease | None:
        query = sa.select(_t, (_t.c.expires_at - _db_now()).label("remaining")).where(
            _t.c.name == self.name
        )
        row = conn.execute(query).first()
        if row is None:
            return None
        return lease.Lease(_holder(row), int(row.epoch), float(row.remaining))

    def read(self) -> lease.Lease | None:
        with self._transaction() as conn:
            return self._current(conn)

    def acquire(self, holder: lease.Holder, *, ttl: float) -> lease.Lease | None:
        insert = postgresql.insert(_t).values(
            name=self.name,
            holder=holder.id,
            epoch=1,
            expires_at=_db_now() + ttl,
            data=_data(holder),
        )
        new = insert.excluded
        upsert = insert.on_conflict_do_update(
            index_elements=[_t.c.name],
            set_={
                "holder": new.holder,
                "epoch": sa.case((_t.c.holder == new.holder, _t.c.epoch), else_=_t.c.epoch + 1),
                "expires_at": new.expires_at,
                "data": new.data,
            },
            where=sa.or_(_t.c.holder == new.holder, _t.c.expires_at <= _db_now()),
        )
        with self._transaction() as conn:
            conn.execute(upsert)
            return self._current(conn)

    def release(self, holder_id: str) -> None:
        query = (
            sa.update(_t)
            .where(_t.c.name == self.name, _t.c.holder == holder_id)
            .values(expires_at=0.0)
        )
        with self._transaction() as conn:
            conn.execute(query)

    def close(self) -> None:
        self._engine.dispose()


def fence(conn: sa.Connection, *, name: str = NAME, holder_id: str, epoch: int | None) -> None:
    """Inside a write transaction: NotLeader unless `holder_id` still holds `epoch` (the
    row stays share-locked until the transaction ends)."""
    if epoch is None:
        raise errors.NotLeader("this control plane does not hold the lease; nothing was changed")
    query = sa.select(_t).where(_t.c.name == name).with_for_update(read=True)
    row = conn.execute(query).first()
    if row is None or row.holder != holder_id or int(row.epoch) != epoch:
        who = "no one" if row is None else f"{_holder(row).describe()} (epoch {row.epoch})"
        raise errors.NotLeader(
            f"this control plane lost the lease (its epoch {epoch}) to {who}; nothing was changed"
        )


class MemoryLease:
    """The lease rules in memory; `clock` stands for the database's."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._row: tuple[lease.Holder, int, float] | None = None  # holder, epoch, expires_at
        self._mutex = threading.Lock()

    def _current(self) -> lease.Lease | None:
        if self._row is None:
            return None
        holder, epoch, expires_at = self._row
        return lease.Lease(holder, epoch, expires_at - self._clock())

    def read(self) -> lease.Lease | None:
        with self._mutex:
            return self._current()

    def acquire(self, holder: lease.Holder, *, ttl: float) -> lease.Lease | None:
        with self._mutex:
            now = self._clock()
            if self._row is None:
                self._row = (holder, 1, now + ttl)
            else:
                old, epoch, expires_at = self._row
                if old.id == holder.id or expires_at <= now:
                    self._row = (holder, epoch if old.id == holder.id else epoch + 1, now + ttl)
            return self._current()

    def release(self, holder_id: str) -> None:
        with self._mutex:
            if self._row is not None and self._row[0].id == holder_id:
                self._row = (self._row[0], self._row[1], 0.0)

    def close(self) -> None:
        pass
