"""Pure, level-triggered reconcile: (desired services, recorded replicas, now) -> actions.

The same inputs always give the same actions, and a pass only asks for what is missing
from the records, so running it again after (part of) its actions were applied does no
harm. Per (deployment, service, placement):

- scale: start missing replicas, stop extra ones (failed and not-ready ones first);
- restart failed replicas of the desired version after their backoff delay;
- roll out a new version with surge 1 and unavailable 0: at most one replica above the
  desired count, and an old ready replica stops only once a new one is ready, so a new
  version that never gets ready halts the rollout while the old one keeps serving.

Spot and on-demand replicas of one placement are separate groups (the key includes the
capacity), so a spot service's plan moves each kind on its own. Replicas given a
preemption notice are the caller's to leave out: they are going, whatever is desired.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from crosscloud.domain import actions, state
from crosscloud.planning.lifecycle import BackoffPolicy

S = state.ReplicaState
Key = tuple[str, str, str, str]
SURGE = 1
# Which replica goes first when there are too many: the least useful, newest first.
_STOP_ORDER = {S.CRASH_LOOP: 0, S.FAILED: 1, S.PENDING: 2, S.STARTING: 3, S.READY: 4}


def reconcile(
    desired: Sequence[state.DesiredService],
    observed: Sequence[state.ReplicaRecord],
    *,
    now: float,
    policy: BackoffPolicy | None = None,
) -> list[actions.Action]:
    """The actions that move `observed` toward `desired`, in a stable order."""
    rules = policy or BackoffPolicy()
    wanted: dict[Key, state.DesiredService] = {
        (d.deployment, d.service, d.placement, d.capacity): d for d in desired
    }
    groups: dict[Key, list[state.ReplicaRecord]] = defaultdict(list)
    for record in observed:
        key = (record.deployment, record.service, record.placement, record.capacity)
        groups[key].append(record)
    planned: list[actions.Action] = []
    for key in sorted(set(wanted) | set(groups)):
        replicas = sorted(groups.get(key, []), key=lambda r: r.id)
        planned += _group(wanted.get(key), replicas, now=now, policy=rules)
    return planned


def _group(
    want: state.DesiredService | None,
    replicas: list[state.ReplicaRecord],
    *,
    now: float,
    policy: BackoffPolicy,
) -> list[actions.Action]:
    planned: list[actions.Action] = [
        actions.Stop(r.id, "finishing stop") for r in replicas if r.state is S.STOPPING
    ]
    live = [r for r in replicas if r.state in state.ACTIVE_STATES | state.FAILED_STATES]
    if want is None:
        return planned + [actions.Stop(r.id, "no longer desired") for r in live]
    current = [r for r in live if r.version == want.version]
    old = [r for r in live if r.version != want.version]
    for r in old:
        if r.state in state.FAILED_STATES:
            planned.append(actions.Stop(r.id, f"failed; replaced by version {want.version}"))
    old_active = [r for r in old if r.state in state.ACTIVE_STATES]
    keep, extra = _split_extra(current, want.replicas)
    planned += [actions.Stop(r.id, f"scaled to {want.replicas}") for r in extra]
    planned += _restarts(keep, now=now, policy=policy)
    planned += _starts(want, current=len(keep), old=len(old_active))
    planned += _retire_old(want, keep, old_active)
    return planned


def _split_extra(
    current: list[state.ReplicaRecord], count: int
) -> tuple[list[state.ReplicaRecord], list[state.ReplicaRecord]]:
    """(replicas to keep, replicas beyond `count`), the least useful and newest going."""
    if len(current) <= count:
        return current, []
    by_id = sorted(current, key=lambda r: r.id, reverse=True)
    ranked = sorted(by_id, key=lambda r: (_STOP_ORDER[r.state], -(r.started_at or 0.0)))
    extra = ranked[: len(current) - count]
    return [r for r in current if r not in extra], extra


def _restarts(
    replicas: list[state.ReplicaRecord], *, now: float, policy: BackoffPolicy
) -> list[actions.Action]:
    planned: list[actions.Action] = []
    for r in replicas:
        if r.state not in state.FAILED_STATES:
            continue
        delay = policy.delay(r.crash_count)
        if r.exited_at is None or now >= r.exited_at + delay:
            why = f"{r.state.value} after {r.crash_count} quick failure(s); backoff {delay:g}s"
            planned.append(actions.Restart(r.id, why))
    return planned


def _starts(want: state.DesiredService, *, current: int, old: int) -> list[actions.Action]:
    room = want.replicas - current
    if old:
        room = min(room, want.replicas + SURGE - current - old)
        why = f"rolling out version {want.version}"
    else:
        why = f"scaling to {want.replicas}"
    start = actions.Start(
        want.deployment, want.service, want.placement, want.version, why, want.capacity
    )
    return [start] * max(0, room)


def _retire_old(
    want: state.DesiredService,
    current: list[state.ReplicaRecord],
    old_active: list[state.ReplicaRecord],
) -> list[actions.Action]:
    """Old-version replicas to stop now without taking ready capacity below the target."""
    not_ready = [r for r in old_active if r.state is not S.READY]
    ready_old = sorted(
        (r for r in old_active if r.state is S.READY),
        key=lambda r: (r.started_at or 0.0, r.id),
    )
    ready_new = sum(1 for r in current if r.state is S.READY)
    surplus = max(0, ready_new + len(ready_old) - want.replicas)
    why = f"replaced by version {want.version}"
    return [actions.Stop(r.id, why) for r in not_ready + ready_old[:surplus]]
