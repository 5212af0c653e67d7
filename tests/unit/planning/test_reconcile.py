"""Table tests for the pure reconciler: scale, restart with backoff, rollout surge 1 / unavailable 0."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from crosscloud.domain import actions, state
from crosscloud.planning import reconcile
from crosscloud.planning.lifecycle import BackoffPolicy

S = state.ReplicaState
POLICY = BackoffPolicy(base=1.0, factor=2.0, max_delay=300.0, crash_loop_after=5)


def want(replicas: int, version: int = 1) -> state.DesiredService:
    return state.DesiredService("shop", "api", "local/a", replicas, version)


def rep(
    rid: str,
    st: S = S.READY,
    *,
    v: int = 1,
    started: float = 0.0,
    exited: float | None = None,
    crashes: int = 0,
) -> state.ReplicaRecord:
    return state.ReplicaRecord(
        rid,
        "shop",
        "api",
        "local/a",
        v,
        state=st,
        started_at=started,
        exited_at=exited,
        crash_count=crashes,
    )


def start(version: int = 1, why: str = "scaling to 2") -> actions.Start:
    return actions.Start("shop", "api", "local/a", version, why)


ROLL = "rolling out version 2"
REPLACED = "replaced by version 2"

CASES = [
    ("empty: start all", [want(2)], [], 0, [start(), start()]),
    ("converged: nothing", [want(2)], [rep("a"), rep("b")], 0, []),
    ("one missing", [want(2)], [rep("a")], 0, [start()]),
    (
        "too many: the newest ready goes",
        [want(2)],
        [rep("a", started=1), rep("b", started=3), rep("c", started=2)],
        9,
        [actions.Stop("b", "scaled to 2")],
    ),
    (
        "too many: a failed one goes before a ready one",
        [want(1)],
        [rep("a"), rep("b", S.FAILED, exited=5, crashes=1)],
        5,
        [actions.Stop("b", "scaled to 1")],
    ),
    (
        "failed, backoff not over",
        [want(2)],
        [rep("a"), rep("b", S.FAILED, exited=100, crashes=1)],
        100.5,
        [],
    ),
    (
        "failed, backoff over",
        [want(2)],
        [rep("a"), rep("b", S.FAILED, exited=100, crashes=1)],
        101,
        [actions.Restart("b", "Failed after 1 quick failure(s); backoff 1s")],
    ),
    (
        "crash loop waits 2^(n-1) seconds",
        [want(1)],
        [rep("a", S.CRASH_LOOP, exited=100, crashes=5)],
        115.9,
        [],
    ),
    (
        "crash loop restarts after its delay",
        [want(1)],
        [rep("a", S.CRASH_LOOP, exited=100, crashes=5)],
        116,
        [actions.Restart("a", "CrashLoop after 5 quick failure(s); backoff 16s")],
    ),
    (
        "deployment gone: stop everything live, ignore stopped",
        [],
        [rep("a"), rep("b", S.FAILED), rep("c", S.STOPPED)],
        0,
        [actions.Stop("a", "no longer desired"), actions.Stop("b", "no longer desired")],
    ),
    (
        "an interrupted stop is finished",
        [want(1)],
        [rep("a"), rep("b", S.STOPPING)],
        0,
        [actions.Stop("b", "finishing stop")],
    ),
    ("scale to zero", [want(0)], [rep("a")], 0, [actions.Stop("a", "scaled to 0")]),
    ("rollout: one surge replica", [want(2, 2)], [rep("a"), rep("b")], 0, [start(2, ROLL)]),
    (
        "rollout: wait while the new one starts",
        [want(2, 2)],
        [rep("a"), rep("b"), rep("n1", S.STARTING, v=2)],
        0,
        [],
    ),
    (
        "rollout: new one ready, the oldest old one goes",
        [want(2, 2)],
        [rep("a", started=2), rep("b", started=1), rep("n1", v=2)],
        0,
        [actions.Stop("b", REPLACED)],
    ),
    (
        "rollout: next new one",
        [want(2, 2)],
        [rep("a"), rep("n1", v=2)],
        0,
        [start(2, ROLL)],
    ),
    (
        "rollout: last old one goes",
        [want(2, 2)],
        [rep("a"), rep("n1", v=2), rep("n2", v=2)],
        0,
        [actions.Stop("a", REPLACED)],
    ),
    (
        "rollout halted: the failing new one restarts, the old ones stay",
        [want(2, 2)],
        [rep("a"), rep("b"), rep("n1", S.CRASH_LOOP, v=2, exited=10, crashes=5)],
        30,
        [actions.Restart("n1", "CrashLoop after 5 quick failure(s); backoff 16s")],
    ),
    (
        "rollout: a failed old one is replaced, not restarted",
        [want(2, 2)],
        [rep("a"), rep("b", S.FAILED, exited=0, crashes=1)],
        50,
        [actions.Stop("b", "failed; replaced by version 2"), start(2, ROLL), start(2, ROLL)],
    ),
    (
        "rollout: an old one not ready yet goes at once",
        [want(2, 2)],
        [rep("a"), rep("b", S.STARTING)],
        0,
        [start(2, ROLL), actions.Stop("b", REPLACED)],
    ),
    (
        "rollout to zero replicas",
        [want(0, 2)],
        [rep("a")],
        0,
        [actions.Stop("a", REPLACED)],
    ),
]


@pytest.mark.parametrize(
    ("desired", "observed", "now", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_reconcile(
    desired: list[state.DesiredService],
    observed: list[state.ReplicaRecord],
    now: float,
    expected: list[actions.Action],
) -> None:
    assert reconcile.reconcile(desired, observed, now=now, policy=POLICY) == expected
    # level-triggered: the same inputs give the same answer, whatever the input order
    assert reconcile.reconcile(desired, observed[::-1], now=now, policy=POLICY) == expected


def test_placements_are_reconciled_independently_in_a_stable_order() -> None:
    desired = [
        state.DesiredService("shop", "api", "local/b", 1, 1),
        state.DesiredService("shop", "api", "local/a", 1, 1),
    ]
    observed = [dataclasses.replace(rep("x"), placement="local/b")]
    assert reconcile.reconcile(desired, observed, now=0) == [
        actions.Start("shop", "api", "local/a", 1, "scaling to 1")
    ]


class Cluster:
    """A toy executor: applies actions; every Starting replica is Ready by the next step."""

    def __init__(self, replicas: list[state.ReplicaRecord]) -> None:
        self.replicas = {r.id: r for r in replicas}
        self.ids = itertools.count()

    def step(self, planned: list[actions.Action]) -> None:
        for rid, r in list(self.replicas.items()):
            if r.state is S.STARTING:
                self.replicas[rid] = dataclasses.replace(r, state=S.READY)
        for action in planned:
            if isinstance(action, actions.Start):
                rid = f"new-{next(self.ids)}"
                self.replicas[rid] = rep(rid, S.STARTING, v=action.version)
            elif isinstance(action, actions.Stop):
                self.replicas.pop(action.replica_id, None)


@pytest.mark.parametrize(("before", "after"), [(3, 3), (2, 4), (4, 1), (1, 1)])
def test_a_rollout_never_drops_ready_capacity_nor_surges_past_one(before: int, after: int) -> None:
    cluster = Cluster([rep(f"old-{i}") for i in range(before)])
    desired = [want(after, 2)]
    for _ in range(50):
        planned = reconcile.reconcile(desired, list(cluster.replicas.values()), now=0)
        if not planned and all(r.state is S.READY for r in cluster.replicas.values()):
            break
        cluster.step(planned)
        ready = [r for r in cluster.replicas.values() if r.state is S.READY]
        assert len(ready) >= min(before, after)
        assert len(cluster.replicas) <= max(before, after) + 1
    else:
        pytest.fail("did not converge")
    assert sorted((r.version, r.state) for r in cluster.replicas.values()) == [(2, S.READY)] * after


def test_applying_a_plan_twice_changes_nothing_more() -> None:
    cluster = Cluster([rep("a"), rep("b"), rep("c")])
    planned = reconcile.reconcile([want(1)], list(cluster.replicas.values()), now=0)
    cluster.step(planned)
    cluster.step([a for a in planned if isinstance(a, actions.Stop)])  # the stops again
    assert reconcile.reconcile([want(1)], list(cluster.replicas.values()), now=0) == []
    assert list(cluster.replicas) == ["a"]
