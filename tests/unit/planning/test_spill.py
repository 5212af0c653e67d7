"""Table tests for moving unschedulable replicas to the next placement."""

from __future__ import annotations

import pytest

from crosscloud.planning.spill import Move, order, spill

EKS, AKS, GKE, LOCAL = "aws/us-west-2", "azure/eastus", "gcp/us-central1", "local/a"


@pytest.mark.parametrize(
    ("source", "placements", "failover", "expected"),
    [
        (EKS, [EKS, AKS, GKE], [], [AKS, GKE]),  # manifest order
        (AKS, [EKS, AKS, GKE], [], [GKE, EKS]),  # wraps round
        (EKS, [EKS, AKS, GKE], [EKS, GKE, AKS], [GKE, AKS]),  # failover order wins
        (GKE, [EKS, AKS, GKE], [EKS, GKE, AKS], [AKS, EKS]),
        (AKS, [EKS, AKS, GKE], [GKE], [GKE, EKS]),  # unlisted share the last level
        (EKS, [AKS, GKE], [], [AKS, GKE]),  # the source does not run it
    ],
)
def test_order(
    source: str, placements: list[str], failover: list[str], expected: list[str]
) -> None:
    assert order(source, placements, failover) == expected


@pytest.mark.parametrize(
    ("source", "short", "counts", "failover", "blocked", "expected"),
    [
        (EKS, 2, {EKS: 2, AKS: 1, GKE: 1}, [], [], Move("m", EKS, AKS, 2, {EKS: 0, AKS: 3})),
        (
            EKS,
            1,
            {EKS: 3, AKS: 1, GKE: 1},
            [EKS, GKE, AKS],
            [],
            Move("m", EKS, GKE, 1, {EKS: 2, GKE: 2}),
        ),
        (  # the next one is unreachable: the one after it
            EKS,
            2,
            {EKS: 2, AKS: 1, GKE: 0},
            [],
            [AKS],
            Move("m", EKS, GKE, 2, {EKS: 0, GKE: 2}),
        ),
        (EKS, 5, {EKS: 2, AKS: 0}, [], [], Move("m", EKS, AKS, 2, {EKS: 0, AKS: 2})),  # at most all
        (EKS, 2, {EKS: 2, AKS: 1}, [], [AKS], None),  # nowhere to go
        (EKS, 2, {EKS: 2}, [], [], None),  # the only placement
        (EKS, 2, {EKS: 0, AKS: 1}, [], [], None),  # nothing left to move
        (EKS, 0, {EKS: 2, AKS: 1}, [], [], None),
        (EKS, 1, {EKS: 1, LOCAL: 1}, [], [], Move("m", EKS, LOCAL, 1, {EKS: 0, LOCAL: 2})),
    ],
)
def test_spill(
    source: str,
    short: int,
    counts: dict[str, int],
    failover: list[str],
    blocked: list[str],
    expected: Move | None,
) -> None:
    found = spill(
        "m", source=source, unschedulable=short, counts=counts, failover=failover, blocked=blocked
    )
    assert found == expected
