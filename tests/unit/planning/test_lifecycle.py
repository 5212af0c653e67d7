"""Table tests for replica record transitions on observation, and the restart backoff."""

from __future__ import annotations

import pytest

from crosscloud.domain import state
from crosscloud.planning import lifecycle

S = state.ReplicaState
L = state.Liveness
POLICY = lifecycle.BackoffPolicy(
    base=1.0,
    factor=2.0,
    max_delay=60.0,
    quick_failure=30.0,
    crash_loop_after=3,
    ready_timeout=100.0,
)


def rep(st: S, *, started: float = 0.0, crashes: int = 0) -> state.ReplicaRecord:
    return state.ReplicaRecord(
        "r",
        "shop",
        "api",
        "local/a",
        1,
        state=st,
        pid=7,
        port=9000,
        started_at=started,
        crash_count=crashes,
    )


@pytest.mark.parametrize(
    ("crash_count", "delay"), [(0, 1.0), (1, 1.0), (2, 2.0), (4, 8.0), (7, 60.0), (50, 60.0)]
)
def test_backoff_doubles_up_to_its_cap(crash_count: int, delay: float) -> None:
    assert POLICY.delay(crash_count) == delay


@pytest.mark.parametrize(
    ("before", "seen", "now", "after"),
    [
        # (state, crash_count) before -> observation -> (state, crash_count, message) after
        (
            (S.STARTING, 0),
            state.ReplicaObservation("r", L.RUNNING, ready=True),
            5,
            (S.READY, 0, ""),
        ),
        (
            (S.STARTING, 0),
            state.ReplicaObservation("r", L.RUNNING, detail="/readyz 503: setup"),
            5,
            (S.STARTING, 0, "/readyz 503: setup"),
        ),
        (
            (S.STARTING, 0),
            state.ReplicaObservation("r", L.RUNNING, detail="/readyz 503: setup"),
            100,
            (S.FAILED, 1, "not ready 100s after its start: /readyz 503: setup"),
        ),
        (
            (S.READY, 0),
            state.ReplicaObservation("r", L.RUNNING, detail="/readyz 503: draining"),
            500,
            (S.STARTING, 0, "/readyz 503: draining"),
        ),
        (
            (S.READY, 0),
            state.ReplicaObservation("r", L.EXITED, exit_code=-9, detail="killed by SIGKILL"),
            5,
            (S.FAILED, 1, "killed by SIGKILL"),
        ),
        (
            (S.READY, 2),
            state.ReplicaObservation("r", L.EXITED, exit_code=1, detail="exited with code 1"),
            5,
            (S.CRASH_LOOP, 3, "exited with code 1"),
        ),
        (
            (S.READY, 2),  # ran longer than quick_failure: the count starts over
            state.ReplicaObservation("r", L.EXITED, exit_code=1, detail="exited with code 1"),
            31,
            (S.FAILED, 1, "exited with code 1"),
        ),
        (
            (S.STARTING, 0),
            state.ReplicaObservation("r", L.GONE, detail="pid 7 now belongs to another process"),
            5,
            (S.FAILED, 1, "pid 7 now belongs to another process"),
        ),
        (
            (S.FAILED, 1),  # already failed: waits for its restart, unchanged
            state.ReplicaObservation("r", L.EXITED, exit_code=None),
            5,
            (S.FAILED, 1, ""),
        ),
        (
            (S.STOPPING, 0),
            state.ReplicaObservation("r", L.EXITED, exit_code=0),
            5,
            (S.STOPPING, 0, ""),
        ),
    ],
)
def test_apply_observation(
    before: tuple[S, int], seen: state.ReplicaObservation, now: float, after: tuple[S, int, str]
) -> None:
    record = rep(before[0], crashes=before[1])
    updated = lifecycle.apply_observation(record, seen, now=now, policy=POLICY)
    assert (updated.state, updated.crash_count, updated.message) == after
    if updated.state in state.FAILED_STATES and record.state in state.ACTIVE_STATES:
        assert (updated.exited_at, updated.last_exit_code) == (now, seen.exit_code)
    assert (updated.pid, updated.port) == (7, 9000)
