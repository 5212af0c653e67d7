"""Which target runs a placement, and the pure data the control loop and its targets
exchange (the ports are in ports.py).

Two targets: the local one runs each replica as a process on this machine
(`ports.ProcessTarget`, adapters/local/target.py); EKS, AKS and GKE placements run on a Kubernetes
cluster (`ports.ClusterTarget`, adapters/kubernetes/client.py). `target_of` is the one
place that tells them apart.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from crosscloud.domain import cost, providers, state

#: Where a crosscloud replica says it is ready; `healthPath` in the manifest overrides it.
DEFAULT_HEALTH_PATH = "/readyz"


def health_key(deployment: str, service: str) -> str:
    """How `ProcessTarget.use_health_paths` names a service."""
    return f"{deployment}/{service}"


class Target(enum.Enum):
    """Where a placement's replicas run."""

    LOCAL = "local"  # processes on this machine (ports.ProcessTarget)
    CLUSTER = "cluster"  # pods in a Kubernetes cluster (ports.ClusterTarget)


def target_of(placement: str) -> Target:
    """The target of a placement id (`provider/region`, as manifests, plans and replica
    records name it), as the provider registry says: a provider without a managed
    Kubernetes (`local`) runs on this machine, every cloud on its clusters."""
    found = providers.find(placement.partition("/")[0])
    return Target.LOCAL if found is not None and found.kubernetes is None else Target.CLUSTER


@dataclass(frozen=True)
class ReplicaNetwork:
    """Where a local replica listens when its region is a network host of its own: inside
    namespace `netns` on `bind`; others reach it at `address` (the region's link relay)."""

    netns: str
    bind: str
    address: str


@dataclass(frozen=True)
class LaunchSpec:
    """What to run for one local replica. `source` is `path.py[:Class]` or
    `module:Class`, resolved against `cwd`; or `command`, any program serving HTTP on the
    port it is given (`{port}` in its arguments, and `$PORT`). `env` is added to the
    replica's environment; `health_path` answers 200 once it is ready. `network` is None
    for a replica on this machine's 127.0.0.1. With `tls_cert` and `tls_ca` (file paths)
    a crosscloud replica serves mutual TLS only."""

    replica_id: str
    deployment: str
    service: str
    placement: str
    version: int
    source: str
    cwd: str | None = None
    cpus: float = 1.0
    env: Mapping[str, str] = field(default_factory=dict)
    restarts: int = 0
    crash_count: int = 0
    capacity: str = cost.ON_DEMAND
    command: tuple[str, ...] = ()
    health_path: str = DEFAULT_HEALTH_PATH
    network: ReplicaNetwork | None = None
    tls_cert: str | None = None
    tls_ca: str | None = None


@dataclass(frozen=True)
class CapacityShortfall:
    """`pods` replicas of `service` that `placement` could not schedule since `since`."""

    placement: str  # provider/region
    service: str
    pods: int
    since: float  # epoch seconds of the oldest Unschedulable condition
    reason: str  # the scheduler's message, e.g. "0/3 nodes are available: ..."

    def message(self, now: float) -> str:
        return (
            f"{self.pods} replica(s) of {self.service} cannot be scheduled on {self.placement}"
            f" for {now - self.since:.0f}s: {self.reason}"
        )


@dataclass(frozen=True)
class PlacementReport:
    """A cluster placement as observed: its replicas, capacity shortfalls and service
    endpoints (None until the cloud assigns a load balancer)."""

    placement: str
    replicas: tuple[state.ReplicaRecord, ...]
    shortfalls: tuple[CapacityShortfall, ...]
    endpoints: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceRollout:
    """One Deployment's progress: replicas wanted, updated and available."""

    placement: str
    service: str
    desired: int
    updated: int
    available: int
    observed: bool  # the controller has seen the latest generation

    @property
    def done(self) -> bool:
        return self.observed and self.updated >= self.desired and self.available >= self.desired


@dataclass(frozen=True)
class LogLine:
    """One line of a pod's log and when the kubelet saw it (RFC 3339, nanoseconds)."""

    at: str
    text: str
