"""Pods as the control plane sees replicas: states, observations and capacity shortfalls.

Pure functions of pod objects (JSON as the API server returns them) and `now`. A pod that
the scheduler has marked `Unschedulable` (no GPU node, quota) for longer than a limit is a
`targets.CapacityShortfall`: data for the optimizer, which may move those replicas elsewhere.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from crosscloud.adapters.kubernetes import meta
from crosscloud.domain import state, targets

_CRASHING = frozenset({"CrashLoopBackOff"})
_BAD_IMAGE = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


def timestamp(text: str | None) -> float | None:
    """RFC 3339 (`2024-05-01T10:00:00Z`) as epoch seconds."""
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _condition(pod: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for item in pod.get("status", {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return {}


def _containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(pod.get("status", {}).get("containerStatuses") or [])


def _waiting(pod: Mapping[str, Any]) -> tuple[str, str]:
    for item in _containers(pod):
        waiting = item.get("state", {}).get("waiting")
        if waiting:
            return str(waiting.get("reason", "")), str(waiting.get("message", ""))
    return "", ""


def unschedulable_since(pod: Mapping[str, Any]) -> float | None:
    """When the scheduler marked the pod Unschedulable, or None if it has not."""
    scheduled = _condition(pod, "PodScheduled")
    if pod.get("status", {}).get("phase") != "Pending" or scheduled.get("status") != "False":
        return None
    if scheduled.get("reason") != "Unschedulable":
        return None
    return timestamp(scheduled.get("lastTransitionTime"))


def is_ready(pod: Mapping[str, Any]) -> bool:
    return _condition(pod, "Ready").get("status") == "True"


def replica_state(pod: Mapping[str, Any]) -> tuple[state.ReplicaState, str]:
    """The replica state a pod is in, and a short reason for `status`."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return state.ReplicaState.STOPPING, "terminating"
    phase = pod.get("status", {}).get("phase", "Pending")
    reason, message = _waiting(pod)
    if reason in _CRASHING:
        return state.ReplicaState.CRASH_LOOP, f"{reason}: {message}".rstrip(": ")
    if phase in ("Failed", "Succeeded", "Unknown"):
        why = pod.get("status", {}).get("reason") or phase
        return state.ReplicaState.FAILED, str(why)
    if reason in _BAD_IMAGE:
        return state.ReplicaState.FAILED, f"{reason}: {message}".rstrip(": ")
    if phase == "Running" and is_ready(pod):
        return state.ReplicaState.READY, ""
    if phase == "Running":
        return state.ReplicaState.STARTING, "not ready yet"
    scheduled = _condition(pod, "PodScheduled")
    if scheduled.get("status") == "False":
        return state.ReplicaState.PENDING, str(scheduled.get("message") or scheduled.get("reason"))
    return state.ReplicaState.STARTING, reason or "starting containers"


def replica_record(
    pod: Mapping[str, Any], *, deployment: str, placement: str, version: int, port: int
) -> state.ReplicaRecord:
    """A pod as a ReplicaRecord: id `<placement>/<pod name>`, the pod IP as its host."""
    metadata, status = pod.get("metadata", {}), pod.get("status", {})
    current, message = replica_state(pod)
    name = str(metadata.get("name", ""))
    return state.ReplicaRecord(
        id=f"{placement}/{name}",
        deployment=deployment,
        service=str(metadata.get("labels", {}).get(meta.NAME, "")),
        placement=placement,
        version=version,
        state=current,
        pod=name,
        host=str(status.get("podIP") or ""),
        port=port if status.get("podIP") else None,
        restarts=sum(int(c.get("restartCount", 0)) for c in _containers(pod)),
        started_at=timestamp(status.get("startTime")),
        message=message,
    )


def _exit_code(pod: Mapping[str, Any]) -> int | None:
    for item in _containers(pod):
        for key in ("terminated",):
            ended = item.get("state", {}).get(key) or item.get("lastState", {}).get(key)
            if ended and "exitCode" in ended:
                return int(ended["exitCode"])
    return None


def observation(replica_id: str, pod: Mapping[str, Any] | None) -> state.ReplicaObservation:
    """What the target saw of a recorded replica: running (ready?), exited or gone."""
    if pod is None:
        return state.ReplicaObservation(replica_id, state.Liveness.GONE, detail="pod not found")
    current, message = replica_state(pod)
    if current is state.ReplicaState.FAILED and pod.get("status", {}).get("phase") != "Pending":
        return state.ReplicaObservation(
            replica_id, state.Liveness.EXITED, exit_code=_exit_code(pod), detail=message
        )
    return state.ReplicaObservation(
        replica_id, state.Liveness.RUNNING, ready=is_ready(pod), detail=message
    )


def shortfalls(
    pods: Iterable[Mapping[str, Any]], *, placement: str, now: float, after: float
) -> list[targets.CapacityShortfall]:
    """Per service, the pods Unschedulable for more than `after` seconds at `now`."""
    found: dict[str, list[tuple[float, str]]] = {}
    for pod in pods:
        since = unschedulable_since(pod)
        if since is None or now - since < after:
            continue
        service = str(pod.get("metadata", {}).get("labels", {}).get(meta.NAME, ""))
        reason = str(_condition(pod, "PodScheduled").get("message") or "Unschedulable")
        found.setdefault(service, []).append((since, reason))
    return [
        targets.CapacityShortfall(placement, service, len(items), min(items)[0], min(items)[1])
        for service, items in sorted(found.items())
    ]
