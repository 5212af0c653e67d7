"""The SQL store's cost ledger and usage rows (schema 5), kept apart from sql_store.py so
each file stays small; `SqlStore` inherits these methods."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from contextlib import AbstractContextManager

import sqlalchemy as sa

from crosscloud.adapters.store import schema
from crosscloud.domain import cost


def _interval(row: sa.RowMapping) -> cost.Interval:
    return cost.Interval(**{f.name: row[f.name] for f in dataclasses.fields(cost.Interval)})


class LedgerMethods:
    """Billing intervals and usage buckets over the store's transactions."""

    def _write(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def list_intervals(self, *, since: float | None = None) -> list[cost.Interval]:
        table = schema.cost_intervals
        query = sa.select(table).order_by(table.c.start, table.c.replica_id)
        if since is None:
            query = query.where(table.c.end.is_(None))
        else:
            query = query.where(sa.or_(table.c.end.is_(None), table.c.end > since))
        with self._read() as conn:
            return [_interval(row) for row in conn.execute(query).mappings()]

    def record_intervals(
        self, *, closed: Iterable[cost.Interval], opened: Iterable[cost.Interval]
    ) -> None:
        table = schema.cost_intervals
        with self._write() as conn:
            for item in closed:  # only an open one closes: a second pass changes nothing
                key = (table.c.replica_id == item.replica_id) & (table.c.start == item.start)
                still_open = table.c.end.is_(None)
                conn.execute(sa.update(table).where(key, still_open).values(end=item.end))
            for item in opened:
                key = (table.c.replica_id == item.replica_id) & (table.c.start == item.start)
                if conn.execute(sa.select(table.c.start).where(key)).first() is None:
                    conn.execute(sa.insert(table).values(**dataclasses.asdict(item)))

    def add_usage(self, rows: Iterable[cost.Usage]) -> None:
        """Add each row's counts to its bucket's (created at zero)."""
        table = schema.usage
        with self._write() as conn:
            for item in rows:
                key = (
                    (table.c.bucket == item.bucket)
                    & (table.c.deployment == item.deployment)
                    & (table.c.service == item.service)
                    & (table.c.token == item.token)
                )
                grown = {
                    "requests": table.c.requests + item.requests,
                    "tokens": table.c.tokens + item.tokens,
                }
                if conn.execute(sa.update(table).where(key).values(**grown)).rowcount == 0:
                    conn.execute(sa.insert(table).values(**dataclasses.asdict(item)))

    def list_usage(self, *, since: float) -> list[cost.Usage]:
        """Buckets that end after `since`."""
        table = schema.usage
        query = sa.select(table).where(table.c.bucket > since - cost.BUCKET)
        with self._read() as conn:
            rows = conn.execute(query.order_by(table.c.bucket)).mappings()
            return [cost.Usage(**dict(row)) for row in rows]

    def prune_usage(self, *, before: float) -> int:
        """Drop buckets that start before `before` (the bucket leads the primary key)."""
        table = schema.usage
        with self._write() as conn:
            return int(conn.execute(sa.delete(table).where(table.c.bucket < before)).rowcount)
