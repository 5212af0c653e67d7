"""Pure: how a replica's record changes when a target observes it, and the restart backoff.

The control plane calls `apply_observation` for each recorded replica with what the target
saw, stores the result, then runs `reconcile` on the updated records.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from crosscloud.domain import state

S = state.ReplicaState


@dataclass(frozen=True)
class BackoffPolicy:
    """Restart delays and the CrashLoop rule (Kubernetes-like defaults).

    A run shorter than `quick_failure` seconds counts toward `crash_count`; after
    `crash_loop_after` such failures in a row the replica shows as CrashLoop (it keeps
    restarting, at the capped delay). A replica not ready `ready_timeout` seconds after its
    start counts as failed.
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    quick_failure: float = 60.0
    crash_loop_after: int = 5
    ready_timeout: float = 600.0

    def delay(self, crash_count: int) -> float:
        """Seconds to wait before restarting after `crash_count` quick failures in a row."""
        return min(self.max_delay, self.base * self.factor ** max(0, crash_count - 1))


def record_exit(
    record: state.ReplicaRecord,
    *,
    now: float,
    policy: BackoffPolicy,
    exit_code: int | None = None,
    message: str = "",
) -> state.ReplicaRecord:
    """The record of a replica that just failed: Failed, or CrashLoop after too many quick
    failures in a row."""
    quick = record.started_at is None or now - record.started_at < policy.quick_failure
    crashes = record.crash_count + 1 if quick else 1
    looping = crashes >= policy.crash_loop_after
    return dataclasses.replace(
        record,
        state=S.CRASH_LOOP if looping else S.FAILED,
        crash_count=crashes,
        exited_at=now,
        last_exit_code=exit_code,
        message=message,
    )


def apply_observation(
    record: state.ReplicaRecord,
    seen: state.ReplicaObservation,
    *,
    now: float,
    policy: BackoffPolicy,
) -> state.ReplicaRecord:
    """The record after a target saw `seen`; unchanged when nothing changed."""
    if record.state not in state.ACTIVE_STATES:
        return record  # failed ones wait for their restart; stopping ones for their stop
    if seen.liveness is not state.Liveness.RUNNING:
        return record_exit(
            record, now=now, policy=policy, exit_code=seen.exit_code, message=seen.detail
        )
    if seen.ready:
        return dataclasses.replace(record, state=S.READY, message="")
    started = record.started_at if record.started_at is not None else now
    if record.state is not S.READY and now - started >= policy.ready_timeout:
        late = f"not ready {policy.ready_timeout:g}s after its start"
        detail = f"{late}: {seen.detail}" if seen.detail else late
        return record_exit(record, now=now, policy=policy, message=detail)
    return dataclasses.replace(record, state=S.STARTING, message=seen.detail)
