"""Pure data for the control plane's desired and observed state (stored by a StateStore).

Records are frozen dataclasses with plain JSON-able fields, so a store can keep them as
rows with JSON columns and tests can compare them with `==`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from crosscloud.domain import cost


class ReplicaState(enum.StrEnum):
    """Where one replica is in its life; the values are what `status` shows."""

    PENDING = "Pending"  # recorded, no process or pod yet
    STARTING = "Starting"  # running, not ready yet
    READY = "Ready"  # answers /readyz
    FAILED = "Failed"  # exited or lost; waits for its restart
    CRASH_LOOP = "CrashLoop"  # failed quickly too many times in a row; restarts slowly
    STOPPING = "Stopping"  # asked to stop
    STOPPED = "Stopped"  # gone on purpose


ACTIVE_STATES = frozenset({ReplicaState.PENDING, ReplicaState.STARTING, ReplicaState.READY})
FAILED_STATES = frozenset({ReplicaState.FAILED, ReplicaState.CRASH_LOOP})


@dataclass(frozen=True)
class DeploymentRecord:
    """A submitted manifest: its text as submitted, a hash of it and its version (1, 2, ...)."""

    name: str
    manifest_json: str
    manifest_hash: str
    version: int
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class ReplicaRecord:
    """One replica of a service in one placement ("provider/region"), as last recorded.

    `pid` and `process_start_time` (clock ticks since boot, /proc/<pid>/stat field 22)
    identify a local process, so a reused pid is never mistaken for ours; `pod` names a
    Kubernetes pod instead. `crash_count` counts consecutive quick failures (reset when a
    run lasts long enough); `restarts` counts every restart, for `status`.
    `capacity` is what it runs on (`spot` or `on-demand`, for the cost ledger and
    `status`); `preempt_at` is set from a preemption notice on: the gateway sends it no new
    request, and it is killed then (epoch seconds).
    """

    id: str
    deployment: str
    service: str
    placement: str
    version: int
    state: ReplicaState = ReplicaState.PENDING
    pid: int | None = None
    pod: str | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    restarts: int = 0
    crash_count: int = 0
    started_at: float | None = None
    exited_at: float | None = None
    process_start_time: int | None = None
    last_exit_code: int | None = None
    message: str = ""
    capacity: str = cost.ON_DEMAND
    preempt_at: float | None = None
    scheme: str = "http"  # https: it serves mutual TLS only

    @property
    def url(self) -> str | None:
        """scheme://host:port, or None before the replica has a port."""
        return None if self.port is None else f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True)
class EndpointRecord:
    """Where a service can be reached in one placement (what the gateway routes to)."""

    deployment: str
    service: str
    placement: str
    url: str
    replica_id: str | None = None


@dataclass(frozen=True)
class Event:
    """Something that happened, for `status --events`; `id` is set by the store."""

    ts: float
    deployment: str
    kind: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class DesiredService:
    """What should run: `replicas` replicas of `service` at `version` in `placement`, on
    `capacity` (spot or on-demand)."""

    deployment: str
    service: str
    placement: str
    replicas: int
    version: int
    capacity: str = cost.ON_DEMAND


class Liveness(enum.StrEnum):
    """What a target saw of a recorded replica."""

    RUNNING = "running"  # the recorded process or pod is alive
    EXITED = "exited"  # it ended (exit code known when we were its parent)
    GONE = "gone"  # no trace of it, or the pid now belongs to another process


@dataclass(frozen=True)
class ReplicaObservation:
    """A target's view of one recorded replica at one moment."""

    replica_id: str
    liveness: Liveness
    ready: bool = False
    exit_code: int | None = None
    detail: str = ""
