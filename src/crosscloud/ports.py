"""Protocols for every I/O boundary; each has a real adapter and an in-memory fake."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from crosscloud.domain import cost, lease, state, targets, tokens

Where = TypeVar("Where", contravariant=True)


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

    def set_quota(self, token_id: str, quota: tokens.Quota) -> bool:
        """Replace a token's quota; False when there is no such token."""
        ...

    def list_intervals(self, *, since: float | None = None) -> list[cost.Interval]:
        """The open billing intervals, and with `since` those that ended after it too,
        ordered by start and replica id."""
        ...

    def record_intervals(
        self, *, closed: Iterable[cost.Interval], opened: Iterable[cost.Interval]
    ) -> None:
        """In one transaction: set the `end` of each of `closed` (by replica id and start)
        that is still open, and add each of `opened` not already there (idempotent)."""
        ...

    def add_usage(self, rows: Iterable[cost.Usage]) -> None:
        """Add each row's requests and tokens to its bucket (one transaction)."""
        ...

    def list_usage(self, *, since: float) -> list[cost.Usage]:
        """The usage buckets that end after `since`, oldest first."""
        ...

    def prune_usage(self, *, before: float) -> int:
        """Drop the usage buckets that start before `before`; how many were dropped."""
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


class ProcessTarget(Protocol):
    """Replicas as processes on this machine (the local target, adapters/local/target.py): each
    started, observed and stopped on its own; they outlive the control plane that started
    them, which adopts them again by their records. `targets.target_of` says which
    placements it runs."""

    def start(self, spec: targets.LaunchSpec) -> state.ReplicaRecord:
        """Launch one replica; returns its record in state Starting."""
        ...

    def observe(self, records: Iterable[state.ReplicaRecord]) -> list[state.ReplicaObservation]:
        """The live state of each recorded replica: running (and ready?), exited, or gone."""
        ...

    def stop(self, record: state.ReplicaRecord, *, grace: float | None = None) -> int | None:
        """Drain and stop the replica (killed after `grace` seconds); its exit code when
        known. A process that is not the recorded one is left alone."""
        ...

    def use_health_paths(self, paths: Mapping[str, str]) -> None:
        """The readiness path of each service (`targets.health_key`) whose replicas do not
        answer crosscloud's /readyz; the rest keep it. Given again before each observe,
        so replicas adopted after a restart are probed where they answer."""
        ...

    def record_log_path(self, record: state.ReplicaRecord) -> Path:
        """Where the replica's output goes."""
        ...

    def close(self) -> None:
        """Release what the target holds; the replicas keep running."""
        ...


class ClusterTarget(Protocol[Where]):
    """Placements on Kubernetes clusters (EKS, AKS, GKE: adapters/kubernetes/client.py,
    loaded through adapters/extras.py, as the `k8s` extra is optional): each placement's
    objects applied, observed and deleted as a whole. `Where` is the adapter's name for
    one placement (its context, namespace, cloud: kubernetes.model.RenderPlacement)."""

    def apply(self, where: Where, objects: Sequence[Mapping[str, Any]]) -> list[str]:
        """Server-side apply each object in order; `Kind ns/name` of each applied."""
        ...

    def report(self, where: Where, *, deployment: str, version: int = 0) -> targets.PlacementReport:
        """The deployment's pods (as replica records), shortfalls and endpoints there."""
        ...

    def rollout(self, where: Where, *, services: Iterable[str]) -> list[targets.ServiceRollout]:
        """One look at each service's progress."""
        ...

    def delete_pods(self, where: Where, names: Iterable[str]) -> list[str]:
        """Delete pods gracefully (drained; their Deployment replaces them); the names
        deleted."""
        ...

    def delete(self, where: Where, *, deployment: str) -> list[str]:
        """Delete what is labelled as the deployment's; `Kind ns/name` of each deleted."""
        ...

    def pod_log(
        self, where: Where, pod: str, *, tail: int | None = None, since: str | None = None
    ) -> list[targets.LogLine]:
        """A pod's log lines: the last `tail`, or those at or after `since`, or all."""
        ...
