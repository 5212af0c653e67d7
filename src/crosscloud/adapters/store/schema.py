"""The state database's tables and their versioned upgrade (schema N -> N+1, in order).

`schema_version` holds one row with the version the file was last upgraded to. A newer
crosscloud upgrades an older file in one transaction when it opens it; an older crosscloud
refuses a newer file rather than misreading it. Never edit a shipped migration: add one.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from crosscloud import errors

metadata = sa.MetaData()

# The current shape (what queries use). Each migration below writes its own DDL, so these
# definitions may change without changing what an old migration did.
deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("name", sa.String(253), primary_key=True),
    sa.Column("manifest_json", sa.Text, nullable=False),
    sa.Column("manifest_hash", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)
replicas = sa.Table(
    "replicas",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("deployment", sa.String(253), nullable=False, index=True),
    sa.Column("service", sa.String(253), nullable=False),
    sa.Column("placement", sa.String(253), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
)
endpoints = sa.Table(
    "endpoints",
    metadata,
    sa.Column("deployment", sa.String(253), primary_key=True),
    sa.Column("service", sa.String(253), primary_key=True),
    sa.Column("placement", sa.String(253), primary_key=True),
    sa.Column("url", sa.String(2048), primary_key=True),
    sa.Column("replica_id", sa.String(128), nullable=True),
)
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("deployment", sa.String(253), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("fields", sa.JSON, nullable=True),
)
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("deployment", sa.String(253), nullable=False, index=True),
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("last4", sa.String(8), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("revoked_at", sa.Double, nullable=True),
    sa.Column("services", sa.JSON, nullable=False),
    sa.Column("quota", sa.JSON, nullable=True),
    sa.Column("residency", sa.String(63), nullable=True),
)
cost_intervals = sa.Table(
    "cost_intervals",
    metadata,
    sa.Column("replica_id", sa.String(128), primary_key=True),
    sa.Column("start", sa.Double, primary_key=True),
    sa.Column("deployment", sa.String(253), nullable=False),
    sa.Column("service", sa.String(253), nullable=False),
    sa.Column("placement", sa.String(253), nullable=False),
    sa.Column("capacity", sa.String(16), nullable=False),
    sa.Column("price_hour", sa.Double, nullable=False),
    sa.Column("end", sa.Double, nullable=True, index=True),
)
usage = sa.Table(
    "usage",
    metadata,
    sa.Column("bucket", sa.Double, primary_key=True),
    sa.Column("deployment", sa.String(253), primary_key=True),
    sa.Column("service", sa.String(253), primary_key=True),
    sa.Column("token", sa.String(32), primary_key=True),
    sa.Column("requests", sa.BigInteger, nullable=False),
    sa.Column("tokens", sa.BigInteger, nullable=False),
)
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
)
schema_version = sa.Table(
    "schema_version",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


def _v0_to_v1(conn: sa.Connection) -> None:
    """The first schema: deployments, replicas (JSON data), endpoints, events."""
    v1 = sa.MetaData()
    name, text, double = sa.String(253), sa.Text, sa.Double
    sa.Table(
        "deployments",
        v1,
        sa.Column("name", name, primary_key=True),
        sa.Column("manifest_json", text, nullable=False),
        sa.Column("manifest_hash", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", double, nullable=False),
        sa.Column("updated_at", double, nullable=False),
    )
    sa.Table(
        "replicas",
        v1,
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("deployment", name, nullable=False, index=True),
        sa.Column("service", name, nullable=False),
        sa.Column("placement", name, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    sa.Table(
        "endpoints",
        v1,
        sa.Column("deployment", name, primary_key=True),
        sa.Column("service", name, primary_key=True),
        sa.Column("placement", name, primary_key=True),
        sa.Column("url", sa.String(2048), primary_key=True),
        sa.Column("replica_id", sa.String(128), nullable=True),
    )
    sa.Table(
        "events",
        v1,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("ts", double, nullable=False),
        sa.Column("deployment", name, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("message", text, nullable=False),
    )
    v1.create_all(conn)


def _v1_to_v2(conn: sa.Connection) -> None:
    """Events get structured `fields` (JSON) and an index for `status --events`."""
    json_type = sa.JSON().compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE events ADD COLUMN fields {json_type}")
    conn.exec_driver_sql("CREATE INDEX ix_events_deployment_ts ON events (deployment, ts)")


def _v2_to_v3(conn: sa.Connection) -> None:
    """Per-deployment API tokens: their SHA-256 and last 4 characters, never the token."""
    v3 = sa.MetaData()
    sa.Table(
        "tokens",
        v3,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("deployment", sa.String(253), nullable=False, index=True),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("last4", sa.String(8), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("revoked_at", sa.Double, nullable=True),
        sa.Column("services", sa.JSON, nullable=False),
    )
    v3.create_all(conn)


def _v3_to_v4(conn: sa.Connection) -> None:
    """The leader lease of control planes sharing a PostgreSQL database (store_lease.py):
    its holder, its fencing epoch and its expiry by the database's clock. An older
    crosscloud, which would act without holding it, refuses the upgraded database."""
    v4 = sa.MetaData()
    sa.Table(
        "leases",
        v4,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    v4.create_all(conn)


def _v4_to_v5(conn: sa.Connection) -> None:
    """The cost ledger (a billing interval per replica and price), usage per service and
    API token in 5-minute buckets, and each token's quota (JSON, NULL: unlimited)."""
    json_type = sa.JSON().compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE tokens ADD COLUMN quota {json_type}")
    v5 = sa.MetaData()
    name = sa.String(253)
    sa.Table(
        "cost_intervals",
        v5,
        sa.Column("replica_id", sa.String(128), primary_key=True),
        sa.Column("start", sa.Double, primary_key=True),
        sa.Column("deployment", name, nullable=False),
        sa.Column("service", name, nullable=False),
        sa.Column("placement", name, nullable=False),
        sa.Column("capacity", sa.String(16), nullable=False),
        sa.Column("price_hour", sa.Double, nullable=False),
        sa.Column("end", sa.Double, nullable=True, index=True),
    )
    sa.Table(
        "usage",
        v5,
        sa.Column("bucket", sa.Double, primary_key=True),
        sa.Column("deployment", name, primary_key=True),
        sa.Column("service", name, primary_key=True),
        sa.Column("token", sa.String(32), primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
    )
    v5.create_all(conn)


def _v5_to_v6(conn: sa.Connection) -> None:
    """An API token may be bound to a residency zone (`token create --residency`)."""
    conn.exec_driver_sql("ALTER TABLE tokens ADD COLUMN residency VARCHAR(63)")


# MIGRATIONS[n] upgrades schema n to n + 1.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [
    _v0_to_v1,
    _v1_to_v2,
    _v2_to_v3,
    _v3_to_v4,
    _v4_to_v5,
    _v5_to_v6,
]
LATEST = len(MIGRATIONS)


def current_version(conn: sa.Connection) -> int:
    """The file's schema version; 0 for an empty database."""
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    found = conn.execute(sa.select(schema_version.c.version)).scalar()
    return int(found or 0)


def upgrade(conn: sa.Connection, *, target: int = LATEST) -> int:
    """Run the migrations from the stored version up to `target` in the caller's
    transaction; returns the version before. UserError for a file newer than this code."""
    found = current_version(conn)
    if found > LATEST:
        raise errors.UserError(
            f"the state database has schema version {found}, newer than this crosscloud "
            f"understands ({LATEST}); upgrade crosscloud or point CROSSCLOUD_HOME elsewhere"
        )
    if found == 0:
        schema_version.create(conn, checkfirst=True)
        conn.execute(sa.insert(schema_version).values(id=1, version=0))
    for step in range(found, target):
        MIGRATIONS[step](conn)
    if target > found:
        conn.execute(
            sa.update(schema_version).where(schema_version.c.id == 1).values(version=target)
        )
    return found
