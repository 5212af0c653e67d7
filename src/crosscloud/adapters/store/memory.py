"""In-memory StateStore: the fake for tests of the control plane (same contract as SqlStore)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable

from crosscloud.domain import cost, state, tokens


class MemoryStore:
    """A StateStore in dictionaries; thread-safe, forgets everything on exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deployments: dict[str, state.DeploymentRecord] = {}
        self._replicas: dict[str, state.ReplicaRecord] = {}
        self._endpoints: dict[str, list[state.EndpointRecord]] = {}
        self._events: list[state.Event] = []
        self._tokens: dict[str, tokens.TokenRecord] = {}
        self._intervals: dict[tuple[str, float], cost.Interval] = {}
        self._usage: dict[tuple[float, str, str, str], cost.Usage] = {}

    def put_deployment(self, record: state.DeploymentRecord) -> None:
        with self._lock:
            self._deployments[record.name] = record

    def get_deployment(self, name: str) -> state.DeploymentRecord | None:
        with self._lock:
            return self._deployments.get(name)

    def list_deployments(self) -> list[state.DeploymentRecord]:
        with self._lock:
            return [self._deployments[name] for name in sorted(self._deployments)]

    def delete_deployment(self, name: str) -> bool:
        with self._lock:
            existed = self._deployments.pop(name, None) is not None
            self._endpoints.pop(name, None)
            for replica_id in [r.id for r in self._replicas.values() if r.deployment == name]:
                del self._replicas[replica_id]
            return existed

    def upsert_replica(self, record: state.ReplicaRecord) -> None:
        with self._lock:
            self._replicas[record.id] = record

    def get_replica(self, replica_id: str) -> state.ReplicaRecord | None:
        with self._lock:
            return self._replicas.get(replica_id)

    def list_replicas(
        self,
        *,
        deployment: str | None = None,
        service: str | None = None,
        placement: str | None = None,
    ) -> list[state.ReplicaRecord]:
        with self._lock:
            return [
                r
                for _, r in sorted(self._replicas.items())
                if deployment in (None, r.deployment)
                and service in (None, r.service)
                and placement in (None, r.placement)
            ]

    def delete_replica(self, replica_id: str) -> bool:
        with self._lock:
            return self._replicas.pop(replica_id, None) is not None

    def set_endpoints(self, deployment: str, endpoints: list[state.EndpointRecord]) -> None:
        with self._lock:
            self._endpoints[deployment] = [
                dataclasses.replace(e, deployment=deployment) for e in endpoints
            ]

    def list_endpoints(
        self, *, deployment: str | None = None, service: str | None = None
    ) -> list[state.EndpointRecord]:
        with self._lock:
            found = [
                e
                for name in sorted(self._endpoints)
                if deployment in (None, name)
                for e in self._endpoints[name]
                if service in (None, e.service)
            ]
        return sorted(found, key=_endpoint_key)

    def add_event(self, event: state.Event) -> state.Event:
        with self._lock:
            stored = dataclasses.replace(event, id=len(self._events) + 1, fields=dict(event.fields))
            self._events.append(stored)
            return stored

    def list_events(
        self, *, deployment: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[state.Event]:
        with self._lock:
            found = [
                e
                for e in self._events
                if deployment in (None, e.deployment) and (since is None or e.ts > since)
            ]
        found.sort(key=lambda e: (e.ts, e.id or 0))
        return found[-limit:] if limit > 0 else []

    def add_token(self, record: tokens.TokenRecord) -> None:
        with self._lock:
            self._tokens[record.id] = record

    def get_token(self, token_id: str) -> tokens.TokenRecord | None:
        with self._lock:
            return self._tokens.get(token_id)

    def list_tokens(self, *, deployment: str | None = None) -> list[tokens.TokenRecord]:
        with self._lock:
            found = [t for t in self._tokens.values() if deployment in (None, t.deployment)]
        return sorted(found, key=lambda t: (t.deployment, t.created_at, t.id))

    def revoke_token(self, token_id: str, *, at: float) -> bool:
        with self._lock:
            found = self._tokens.get(token_id)
            if found is None or not found.active:
                return False
            self._tokens[token_id] = dataclasses.replace(found, revoked_at=at)
            return True

    def set_quota(self, token_id: str, quota: tokens.Quota) -> bool:
        with self._lock:
            found = self._tokens.get(token_id)
            if found is None:
                return False
            self._tokens[token_id] = dataclasses.replace(found, quota=quota)
            return True

    def list_intervals(self, *, since: float | None = None) -> list[cost.Interval]:
        with self._lock:
            found = [
                i
                for i in self._intervals.values()
                if i.end is None or (since is not None and i.end > since)
            ]
        return sorted(found, key=lambda i: (i.start, i.replica_id))

    def record_intervals(
        self, *, closed: Iterable[cost.Interval], opened: Iterable[cost.Interval]
    ) -> None:
        with self._lock:
            for item in closed:
                old = self._intervals.get((item.replica_id, item.start))
                if old is not None and old.end is None:
                    self._intervals[(item.replica_id, item.start)] = item
            for item in opened:
                self._intervals.setdefault((item.replica_id, item.start), item)

    def add_usage(self, rows: Iterable[cost.Usage]) -> None:
        with self._lock:
            for item in rows:
                key = (item.bucket, item.deployment, item.service, item.token)
                old = self._usage.get(key)
                if old is not None:
                    item = dataclasses.replace(
                        old, requests=old.requests + item.requests, tokens=old.tokens + item.tokens
                    )
                self._usage[key] = item

    def list_usage(self, *, since: float) -> list[cost.Usage]:
        with self._lock:
            found = [u for u in self._usage.values() if u.bucket > since - cost.BUCKET]
        return sorted(found, key=lambda u: u.bucket)

    def prune_usage(self, *, before: float) -> int:
        with self._lock:
            old = [key for key in self._usage if key[0] < before]
            for key in old:
                del self._usage[key]
        return len(old)

    def close(self) -> None:
        """Nothing to release."""


def _endpoint_key(e: state.EndpointRecord) -> tuple[str, str, str, str]:
    return (e.deployment, e.service, e.placement, e.url)
