"""Pods -> replica states, observations and capacity shortfalls (pure, table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from crosscloud.adapters.kubernetes import pods
from crosscloud.domain import state

T0 = "2024-05-01T10:00:00Z"
T0_EPOCH = 1714557600.0


def pod(
    phase: str,
    *,
    conditions: list[dict[str, Any]] = (),
    waiting: str = "",
    terminated: int | None = None,
    deleting: bool = False,
) -> dict[str, Any]:  # type: ignore[assignment]
    status: dict[str, Any] = {"phase": phase, "conditions": list(conditions)}
    if waiting:
        status["containerStatuses"] = [
            {
                "name": "c",
                "restartCount": 4,
                "state": {"waiting": {"reason": waiting, "message": "back-off"}},
            }
        ]
    if terminated is not None:
        status["containerStatuses"] = [
            {"name": "c", "restartCount": 0, "state": {"terminated": {"exitCode": terminated}}}
        ]
    metadata: dict[str, Any] = {"name": "p", "labels": {"app.kubernetes.io/name": "echo"}}
    if deleting:
        metadata["deletionTimestamp"] = T0
    return {"metadata": metadata, "status": status}


UNSCHEDULABLE = {
    "type": "PodScheduled",
    "status": "False",
    "reason": "Unschedulable",
    "message": "0/3 nodes: Insufficient nvidia.com/gpu",
    "lastTransitionTime": T0,
}
READY = {"type": "Ready", "status": "True"}
NOT_READY = {"type": "Ready", "status": "False"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (pod("Pending", conditions=[UNSCHEDULABLE]), state.ReplicaState.PENDING),
        (pod("Pending", waiting="ContainerCreating"), state.ReplicaState.STARTING),
        (pod("Pending", waiting="ImagePullBackOff"), state.ReplicaState.FAILED),
        (pod("Running", conditions=[NOT_READY]), state.ReplicaState.STARTING),
        (pod("Running", conditions=[READY]), state.ReplicaState.READY),
        (
            pod("Running", conditions=[NOT_READY], waiting="CrashLoopBackOff"),
            state.ReplicaState.CRASH_LOOP,
        ),
        (pod("Failed", terminated=137), state.ReplicaState.FAILED),
        (pod("Running", conditions=[READY], deleting=True), state.ReplicaState.STOPPING),
    ],
)
def test_replica_state(given: dict[str, Any], expected: state.ReplicaState) -> None:
    assert pods.replica_state(given)[0] is expected


def test_observation_of_a_failed_pod_carries_its_exit_code() -> None:
    seen = pods.observation("r1", pod("Failed", terminated=137))
    assert (seen.liveness, seen.exit_code) == (state.Liveness.EXITED, 137)
    assert pods.observation("r2", None).liveness is state.Liveness.GONE


@pytest.mark.parametrize(("now", "count"), [(T0_EPOCH + 119, 0), (T0_EPOCH + 120, 2)])
def test_shortfall_after_the_limit(now: float, count: int) -> None:
    found = pods.shortfalls(
        [pod("Pending", conditions=[UNSCHEDULABLE])] * 2,
        placement="aws/us-west-2",
        now=now,
        after=120,
    )
    assert sum(item.pods for item in found) == count
    if found:
        assert found[0].since == T0_EPOCH
        assert found[0].reason == "0/3 nodes: Insufficient nvidia.com/gpu"


def test_scheduled_pods_are_never_a_shortfall() -> None:
    running = pod("Running", conditions=[READY])
    assert pods.shortfalls([running], placement="x/y", now=T0_EPOCH + 1e6, after=0) == []
