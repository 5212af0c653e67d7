"""The SQL store's API-token rows (schema 3; quotas since 5, zones since 6): kept apart
from store.py so each file stays small; `SqlStore` inherits these methods."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa

from crosscloud.adapters.store import schema
from crosscloud.domain import tokens


def _row(record: tokens.TokenRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "deployment": record.deployment,
        "name": record.name,
        "sha256": record.sha256,
        "last4": record.last4,
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
        "services": list(record.services),
        "quota": record.quota.as_dict() or None,
        "residency": record.residency,
    }


def _record(row: sa.RowMapping) -> tokens.TokenRecord:
    return tokens.TokenRecord(
        id=row["id"],
        deployment=row["deployment"],
        name=row["name"],
        sha256=row["sha256"],
        last4=row["last4"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        services=tuple(row["services"] or ()),
        quota=tokens.Quota.from_dict(row["quota"]),
        residency=row["residency"],
    )


class TokenMethods:
    """add/get/list/revoke of API tokens over the store's transactions."""

    def _write(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[sa.Connection]:
        raise NotImplementedError

    def add_token(self, record: tokens.TokenRecord) -> None:
        with self._write() as conn:
            conn.execute(sa.insert(schema.tokens).values(**_row(record)))

    def get_token(self, token_id: str) -> tokens.TokenRecord | None:
        query = sa.select(schema.tokens).where(schema.tokens.c.id == token_id)
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _record(row)

    def list_tokens(self, *, deployment: str | None = None) -> list[tokens.TokenRecord]:
        table = schema.tokens
        query = sa.select(table).order_by(table.c.deployment, table.c.created_at, table.c.id)
        if deployment is not None:
            query = query.where(table.c.deployment == deployment)
        with self._read() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    def set_quota(self, token_id: str, quota: tokens.Quota) -> bool:
        table = schema.tokens
        query = sa.update(table).where(table.c.id == token_id).values(quota=quota.as_dict() or None)
        with self._write() as conn:
            return conn.execute(query).rowcount > 0

    def revoke_token(self, token_id: str, *, at: float) -> bool:
        table = schema.tokens
        query = (
            sa.update(table)
            .where(table.c.id == token_id, table.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        with self._write() as conn:
            return conn.execute(query).rowcount > 0
