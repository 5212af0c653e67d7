"""Protocols for every I/O boundary; each has a real adapter and an in-memory fake."""

from __future__ import annotations

from typing import Protocol

from crosscloud.domain import lease, state, tokens


class Clock(Protocol):
    """Wall and monotonic time, so decisions can be tested with a simulated clock."""

    def now(self) -> float: ...

    def monotonic(self) -> float: ...


class StateStore(Protocol):
    """The control plane's durable state: deployments, replicas, endpoints and events.

    Synchronous: every call is one short transaction. `put_*`/`upsert_*` replace the row
    with the same key; `delete_*` of a missing key is a no-op that returns False.
    """

    def put_deployment(self, record: state.DeploymentRecord) -> None: ...

    def get_deployment(self, name: str) -> state.DeploymentRecord | None: ...

    def list_deployments(self) -> list[state.DeploymentRecord]: ...

    def delete_deployment(self, name: str) -> bool:
        """Remove the deployment with its replica and endpoint rows. Events stay, and so do
        its tokens: a later deployment of the same name is guarded by them again."""
        ...

    def upsert_replica(self, record: state.ReplicaRecord) -> None: ...

    def get_replica(self, replica_id: str) -> state.ReplicaRecord | None: ...

    def list_replicas(
        self,
        *,
        deployment: str | None = None,
        service: str | None = None,
        placement: str | None = None,
    ) -> list[state.ReplicaRecord]:
        """Matching replicas ordered by id."""
        ...

    def delete_replica(self, replica_id: str) -> bool: ...

    def set_endpoints(self, deployment: str, endpoints: list[state.EndpointRecord]) -> None:
        """Replace every endpoint of `deployment` with `endpoints`, atomically."""
        ...

    def list_endpoints(
        self, *, deployment: str | None = None, service: str | None = None
    ) -> list[state.EndpointRecord]: ...

    def add_event(self, event: state.Event) -> state.Event:
        """Store the event; returns it with its `id` set (ids increase)."""
        ...

    def list_events(
        self, *, deployment: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[state.Event]:
        """The newest `limit` events with ts > since, oldest first."""
        ...

    def add_token(self, record: tokens.TokenRecord) -> None:
        """Store a new API token record (its hash; never the token)."""
        ...

    def get_token(self, token_id: str) -> tokens.TokenRecord | None: ...

    def list_tokens(self, *, deployment: str | None = None) -> list[tokens.TokenRecord]:
        """Tokens, revoked ones included, ordered by deployment, creation time and id."""
        ...

    def revoke_token(self, token_id: str, *, at: float) -> bool:
        """Mark an active token revoked at `at`; False when missing or already revoked."""
        ...

    def close(self) -> None: ...


class LeaderLease(Protocol):
    """The one lease that lets a control plane act when several share a state database.

    Times are the database's (a lease's `remaining`); each call is one short transaction.
    """

    def read(self) -> lease.Lease | None:
        """The lease as it is now; None when no control plane ever took it."""
        ...

    def acquire(self, holder: lease.Holder, *, ttl: float) -> lease.Lease | None:
        """Take the lease when it is free, expired or `holder`'s already, for `ttl` seconds
        from now by the database's clock (the epoch grows by one when the holder changes).
        Returns the lease as it is afterwards, whoever holds it."""
        ...

    def release(self, holder_id: str) -> None:
        """End the lease now if `holder_id` holds it, so a standby need not wait out the
        TTL (a clean exit)."""
        ...

    def close(self) -> None: ...
