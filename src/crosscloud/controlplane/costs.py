"""The cost ledger kept up to date: each pass prices the recorded replicas and writes the
billing intervals that `planning.ledger.step` opens and closes, in the state store (so a
restarted control plane, or one that takes over, carries on the same ledger).

Prices come from the shipped catalog (read once) extended by the user's (`up --catalog`,
kept with the deployment) and each placement's `pricePerHour`
(`planning.replica_price`); a spot replica is billed at the spot price. Every replica the
store records counts, whatever its state, until its record is gone: a stopping replica
still holds its machine, and a crashed one waits on it for its restart.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from crosscloud.adapters.clouds import catalog as catalog_files
from crosscloud.controlplane import records
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import catalog, cost, state
from crosscloud.planning import ledger, replica_price


@functools.cache
def shipped_rows() -> tuple[catalog.CatalogRow, ...]:
    return tuple(catalog_files.shipped())


@functools.lru_cache(maxsize=16)
def user_rows(text: str) -> tuple[catalog.CatalogRow, ...]:
    """A user's catalog CSV (`up --catalog`) as rows; ManifestError naming bad lines."""
    return tuple(catalog.parse_catalog(text, "--catalog"))


@functools.lru_cache(maxsize=16)
def rows_for(text: str) -> tuple[catalog.CatalogRow, ...]:
    """The shipped catalog extended by a user's (its rows win), as `plan --catalog`."""
    if not text:
        return shipped_rows()
    return tuple(catalog.merge(shipped_rows(), user_rows(text)))


def billed(
    replicas: Sequence[state.ReplicaRecord],
    deps: Sequence[records.Deployed],
    *,
    now: float,
) -> list[cost.Interval]:
    """The recorded replicas with their prices (those of unknown deployments are free)."""
    specs = {d.name: d.spec for d in deps}
    prices = {d.name: rows_for(d.submitted.catalog) for d in deps}
    out = []
    for r in replicas:
        if r.state is state.ReplicaState.STOPPED:
            continue
        capacity = cost.SPOT if r.capacity == cost.SPOT else cost.ON_DEMAND
        spec = specs.get(r.deployment)
        price = 0.0
        if spec is not None and any(s.name == r.service for s in spec.spec.services):
            found = replica_price.price_of(
                spec, service=r.service, placement=r.placement, rows=prices[r.deployment]
            )
            price = found.billed(spot=capacity == cost.SPOT)
        started = r.started_at if r.started_at is not None else now
        out.append(
            cost.Interval(
                replica_id=r.id,
                deployment=r.deployment,
                service=r.service,
                placement=r.placement,
                capacity=capacity,
                price_hour=price,
                start=started,
            )
        )
    return out


def _changes(shared: Shared, deps: Sequence[records.Deployed] | None, now: float) -> ledger.Changes:
    store = shared.store
    found = billed(
        store.list_replicas(),
        shared.deployments() if deps is None else deps,
        now=now,
    )
    return ledger.step(store.list_intervals(), found, now=now)


def settle(shared: Shared, deps: Sequence[records.Deployed] | None = None) -> ledger.Changes:
    """Bring the stored ledger in line with the recorded replicas at the clock's now (the
    caller holds `shared.lock`: one pass or one API call at a time)."""
    changes = _changes(shared, deps, shared.clock())
    if changes:
        shared.store.record_intervals(closed=changes.closed, opened=changes.opened)
    return changes


def current(shared: Shared, *, since: float, now: float) -> list[cost.Interval]:
    """The intervals overlapping [since, now] as `settle` would leave them, without writing
    (a read: a standby control plane answers it too)."""
    changes = _changes(shared, None, now)
    closed = {(i.replica_id, i.start): i for i in changes.closed}
    kept = [
        closed.get((i.replica_id, i.start), i) for i in shared.store.list_intervals(since=since)
    ]
    return kept + list(changes.opened)
