"""Rows <-> records for the SQL store: key columns for queries, the rest as JSON `data`.

Decoding ignores keys it does not know and defaults keys that are missing, so rows
written by an older or newer crosscloud of the same schema still read.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import sqlalchemy as sa

from crosscloud.domain import state

_REPLICA_KEYS = ("id", "deployment", "service", "placement", "version", "state")
_REPLICA_FIELDS = {f.name for f in dataclasses.fields(state.ReplicaRecord)}
_S = TypeVar("_S", bound=sa.Select[Any])


def replica_row(record: state.ReplicaRecord) -> dict[str, Any]:
    """The row for a replica: key columns plus every other field in `data`."""
    values = dataclasses.asdict(record)
    row = {key: values.pop(key) for key in _REPLICA_KEYS}
    row["state"] = record.state.value
    row["data"] = values
    return row


def replica_from_row(row: sa.RowMapping) -> state.ReplicaRecord:
    data = row["data"] or {}
    extra = {k: v for k, v in data.items() if k in _REPLICA_FIELDS and k not in _REPLICA_KEYS}
    return state.ReplicaRecord(
        id=row["id"],
        deployment=row["deployment"],
        service=row["service"],
        placement=row["placement"],
        version=row["version"],
        state=state.ReplicaState(row["state"]),
        **extra,
    )


def event_from_row(row: sa.RowMapping) -> state.Event:
    return state.Event(
        id=int(row["id"]),
        ts=row["ts"],
        deployment=row["deployment"],
        kind=row["kind"],
        message=row["message"],
        fields=dict(row["fields"] or {}),
    )


def where_equal(query: _S, table: sa.Table, **filters: str | None) -> _S:
    """`query` narrowed to rows whose columns equal the filters that are not None."""
    for column, value in filters.items():
        if value is not None:
            query = query.where(table.c[column] == value)
    return query
