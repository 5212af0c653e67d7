"""The StateStore on SQLAlchemy: SQLite by default ($CROSSCLOUD_HOME/state.db, WAL mode,
busy timeout), PostgreSQL through psycopg 3 for postgresql:// URLs (Aurora included)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite

from crosscloud import errors
from crosscloud.adapters import extras, paths
from crosscloud.adapters.store import lease as store_lease
from crosscloud.adapters.store import ledger as store_ledger
from crosscloud.adapters.store import rows as store_sql
from crosscloud.adapters.store import schema
from crosscloud.adapters.store import sqlite_file as store_file
from crosscloud.adapters.store import tokens as store_tokens
from crosscloud.domain import state, tokens

BUSY_TIMEOUT_MS = 10_000
_PG_MIGRATION_LOCK = 0x63C0  # pg_advisory_xact_lock key: one upgrade at a time


def resolve_url(url: str | None = None) -> str:
    """The SQLAlchemy URL for `url`, else $CROSSCLOUD_STATE_URL, else the SQLite file in
    the state directory. `~` expands; postgres[ql]:// selects the psycopg 3 driver."""
    raw = url or os.environ.get(paths.STATE_URL_ENV) or ""
    if not raw:
        return f"sqlite:///{paths.home() / 'state.db'}"
    scheme, sep, rest = raw.partition("://")
    if not sep:
        raise errors.UserError(f"state URL {_redact(raw)!r} has no scheme; {_ALLOWED}")
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme == "sqlite":
        if rest.startswith("/~"):
            return f"sqlite:///{Path(rest[1:]).expanduser()}"
        return raw
    raise errors.UserError(f"state URL scheme {scheme!r} is not supported; {_ALLOWED}")


_ALLOWED = "use sqlite:///path/state.db or postgresql://user@host:5432/db"


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def database_file(url: str) -> Path | None:
    """The SQLite file a resolved URL names (None: PostgreSQL, or in memory)."""
    if not url.startswith("sqlite"):
        return None
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _state_file(url: str) -> store_file.StateFile | None:
    db = database_file(url)
    return None if db is None else store_file.StateFile(db)


def create_engine(url: str) -> sa.Engine:
    """An engine for a resolved URL; SQLite gets WAL, a busy timeout and real BEGINs."""
    if not url.startswith("sqlite"):
        extras.raise_if(extras.state_needs(url))
        # timeouts and keepalives: a partition or a restart fails fast (store_lease.py)
        return sa.create_engine(url, pool_pre_ping=True, connect_args=store_lease.PG_SESSION)
    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = sa.create_engine(url)

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's is lazy)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: survives kill -9; fsync at checkpoints
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front, so a read-then-write transaction
        # waits (busy timeout) instead of failing when another writer got there first.
        mode = conn.get_execution_options().get("crosscloud_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class SqlStore(store_tokens.TokenMethods, store_ledger.LedgerMethods):
    """A StateStore in a SQL database; opening it upgrades an older schema."""

    def __init__(self, url: str | None = None, *, upgrade: bool = True) -> None:
        self.url = resolve_url(url)
        self.fence: Callable[[sa.Connection], None] | None = None  # store_lease.fence
        self._file = _state_file(self.url)  # a SQLite file: guarded (store_file.py)
        if self._file is not None:
            self._file.open()
        self._engine = create_engine(self.url)
        self._pg = self._engine.dialect.name == "postgresql"
        if upgrade:
            with self._write() as conn:
                if self._pg:
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
                schema.upgrade(conn)
            self._close_lost()

    def _close_lost(self) -> None:
        """Deployments whose tokens were lost with an earlier database get a revoked
        placeholder token (closed, not open); those with tokens here are remembered."""
        if self._file is None:
            return
        had = {t.deployment for t in self.list_tokens()}
        self._file.protect(had)
        guarded = self._file.guard.guarded if self._file.guard else {}
        for name in sorted(set(guarded) - had):
            now = time.time()
            self.add_token(store_file.lost_token(name, now=now))
            message = "its API tokens were lost with an earlier state database: it stays closed"
            self.add_event(state.Event(now, name, "TokensLost", message))

    def add_token(self, record: tokens.TokenRecord) -> None:
        if self._file is not None:
            self._file.protect([record.deployment])  # first: a lost database keeps it closed
        super().add_token(record)

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._translated(), self._engine.connect() as conn:
            conn = conn.execution_options(crosscloud_begin="IMMEDIATE")
            with conn.begin():
                if self.fence is not None:
                    self.fence(conn)  # several control planes: the leader's epoch still holds
                yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._translated(), self._engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """SQL errors as ours: unavailable (retry), or a damaged SQLite file (say so)."""
        if self._file is not None:
            self._file.check()
        try:
            yield
        except sa.exc.OperationalError as exc:
            raise self._unavailable(exc) from exc
        except sa.exc.DatabaseError as exc:
            if self._file is None or type(exc) is not sa.exc.DatabaseError:
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise errors.StateCorrupt(self._file.corrupt_message(reason)) from exc

    def _unavailable(self, exc: sa.exc.OperationalError) -> errors.TransientError:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        return errors.TransientError(
            f"state database {_redact(self.url)} is unavailable: {reason}", delay=1.0
        )

    def schema_version(self) -> int:
        with self._read() as conn:
            return schema.current_version(conn)

    def put_deployment(self, record: state.DeploymentRecord) -> None:
        with self._write() as conn:
            self._upsert(conn, schema.deployments, dataclasses.asdict(record), ["name"])

    def get_deployment(self, name: str) -> state.DeploymentRecord | None:
        query = sa.select(schema.deployments).where(schema.deployments.c.name == name)
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else state.DeploymentRecord(**row)

    def list_deployments(self) -> list[state.DeploymentRecord]:
        query = sa.select(schema.deployments).order_by(schema.deployments.c.name)
        with self._read() as conn:
            return [state.DeploymentRecord(**row) for row in conn.execute(query).mappings()]

    def delete_deployment(self, name: str) -> bool:
        with self._write() as conn:
            for table in (schema.replicas, schema.endpoints):  # tokens stay (ports.py)
                conn.execute(sa.delete(table).where(table.c.deployment == name))
            table = schema.deployments
            return conn.execute(sa.delete(table).where(table.c.name == name)).rowcount > 0

    def upsert_replica(self, record: state.ReplicaRecord) -> None:
        with self._write() as conn:
            self._upsert(conn, schema.replicas, store_sql.replica_row(record), ["id"])

    def get_replica(self, replica_id: str) -> state.ReplicaRecord | None:
        query = sa.select(schema.replicas).where(schema.replicas.c.id == replica_id)
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else store_sql.replica_from_row(row)

    def list_replicas(
        self,
        *,
        deployment: str | None = None,
        service: str | None = None,
        placement: str | None = None,
    ) -> list[state.ReplicaRecord]:
        table = schema.replicas
        query = store_sql.where_equal(
            sa.select(table).order_by(table.c.id),
            table,
            deployment=deployment,
            service=service,
            placement=placement,
        )
        with self._read() as conn:
            return [store_sql.replica_from_row(row) for row in conn.execute(query).mappings()]

    def delete_replica(self, replica_id: str) -> bool:
        table = schema.replicas
        with self._write() as conn:
            return conn.execute(sa.delete(table).where(table.c.id == replica_id)).rowcount > 0

    def set_endpoints(self, deployment: str, endpoints: list[state.EndpointRecord]) -> None:
        table = schema.endpoints
        rows = {
            (e.service, e.placement, e.url): {**dataclasses.asdict(e), "deployment": deployment}
            for e in endpoints
        }
        with self._write() as conn:
            conn.execute(sa.delete(table).where(table.c.deployment == deployment))
            if rows:
                conn.execute(sa.insert(table), list(rows.values()))

    def list_endpoints(
        self, *, deployment: str | None = None, service: str | None = None
    ) -> list[state.EndpointRecord]:
        table = schema.endpoints
        order = [table.c.deployment, table.c.service, table.c.placement, table.c.url]
        query = store_sql.where_equal(
            sa.select(table).order_by(*order), table, deployment=deployment, service=service
        )
        with self._read() as conn:
            return [state.EndpointRecord(**row) for row in conn.execute(query).mappings()]

    def add_event(self, event: state.Event) -> state.Event:
        values = dataclasses.asdict(event)
        values.pop("id")
        with self._write() as conn:
            query = sa.insert(schema.events).values(**values).returning(schema.events.c.id)
            new_id = conn.execute(query).scalar_one()
        return dataclasses.replace(event, id=int(new_id), fields=dict(event.fields))

    def list_events(
        self, *, deployment: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[state.Event]:
        if limit <= 0:
            return []
        table = schema.events
        query = store_sql.where_equal(sa.select(table), table, deployment=deployment)
        if since is not None:
            query = query.where(table.c.ts > since)
        query = query.order_by(table.c.ts.desc(), table.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = list(conn.execute(query).mappings())
        return [store_sql.event_from_row(row) for row in reversed(rows)]

    def close(self) -> None:
        self._engine.dispose()

    def _upsert(
        self, conn: sa.Connection, table: sa.Table, values: dict[str, Any], keys: list[str]
    ) -> None:
        dialect: Any = postgresql if self._pg else sqlite
        insert = dialect.insert(table).values(**values)
        changed = {k: v for k, v in values.items() if k not in keys}
        conn.execute(insert.on_conflict_do_update(index_elements=keys, set_=changed))
