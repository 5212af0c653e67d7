"""What the reconciler decides, as data; the control plane's executor applies it.

An executor must record a replica (state Pending, with its new id) before it launches it,
so the next reconcile pass sees it and never starts it twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from crosscloud.domain import cost


@dataclass(frozen=True)
class Start:
    """Start one new replica of `service` at `version` in `placement`, on `capacity`."""

    deployment: str
    service: str
    placement: str
    version: int
    reason: str
    capacity: str = cost.ON_DEMAND


@dataclass(frozen=True)
class Stop:
    """Stop a replica (SIGTERM, then SIGKILL after the grace period) and retire its record.
    Stopping a replica that is already gone is a no-op."""

    replica_id: str
    reason: str


@dataclass(frozen=True)
class Restart:
    """Replace a failed replica's process in place: stop whatever still runs under this id,
    then start a fresh one (same id and version, restarts + 1)."""

    replica_id: str
    reason: str


Action = Start | Stop | Restart
