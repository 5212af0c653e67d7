"""Table tests for spreading the autoscaler's total over a service's placements."""

from __future__ import annotations

import pytest

from crosscloud.planning.distribute import Mode, Slot, distribute

A, B, C = "local/a", "local/b", "local/c"


def slots(
    *counts: int, pinned: tuple[str, ...] = (), caps: dict[str, int] | None = None
) -> list[Slot]:
    caps = caps or {}
    return [
        Slot(p, n, pinned=p in pinned, capacity=caps.get(p))
        for p, n in zip((A, B, C), counts, strict=False)
    ]


@pytest.mark.parametrize(
    ("total", "given", "mode", "expected"),
    [
        (3, slots(0, 0, 0), "even", {A: 1, B: 1, C: 1}),
        (4, slots(0, 0, 0), "even", {A: 2, B: 1, C: 1}),  # ties: manifest order in
        (5, slots(2, 1, 0), "even", {A: 2, B: 2, C: 1}),
        (2, slots(2, 1, 1), "even", {A: 1, B: 1, C: 0}),  # most first; ties: last first
        (0, slots(2, 1, 1), "even", {A: 0, B: 0, C: 0}),
        (4, slots(1, 1, 0), "fill", {A: 3, B: 1, C: 0}),  # new ones go to the first level
        (1, slots(2, 1, 1), "fill", {A: 1, B: 0, C: 0}),  # leave from the last level first
        (4, slots(1, 0, 0, caps={A: 2}), "fill", {A: 2, B: 2, C: 0}),  # spill when full
        (9, slots(1, 1, caps={A: 2, B: 2}), "even", {A: 2, B: 2}),  # cannot hold 9
        (5, slots(1, 1, 1, pinned=(A,)), "even", {A: 1, B: 2, C: 2}),  # pinned kept
        (1, slots(3, 1, 1, pinned=(A,)), "even", {A: 3, B: 0, C: 0}),  # pins beat the total
        (2, slots(0, 0, pinned=(A, B)), "fill", {A: 0, B: 0}),  # nothing is movable
        (3, slots(3, 0, 0), "even", {A: 3, B: 0, C: 0}),  # no change, nothing moves
    ],
)
def test_distribute(total: int, given: list[Slot], mode: Mode, expected: dict[str, int]) -> None:
    assert distribute(total, given, mode=mode) == expected


@pytest.mark.parametrize(
    ("total", "given", "mode", "spread", "expected"),
    [
        # The quickstart idling down from 2 + 1 + 1 to 2: one region keeps one replica
        # each in two placements, never both in region-a.
        (2, slots(2, 1, 1), "fill", 2, {A: 1, B: 1, C: 0}),
        (2, slots(2, 1, 1), "even", 2, {A: 1, B: 1, C: 0}),
        # Without spread, fill mode leaves from the last placements: both in A.
        (2, slots(2, 1, 1), "fill", 1, {A: 2, B: 0, C: 0}),
        # Up from zero in fill mode: the second replica opens a second placement.
        (2, slots(0, 0, 0), "fill", 2, {A: 1, B: 1, C: 0}),
        (4, slots(0, 0, 0), "fill", 2, {A: 3, B: 1, C: 0}),
        # Already crowded in one placement at the same total: one moves out.
        (2, slots(2, 0, 0), "fill", 2, {A: 1, B: 1, C: 0}),
        (3, slots(3, 0, 0), "even", 3, {A: 1, B: 1, C: 1}),
        # A total of 1 cannot be spread: it stays where it is.
        (1, slots(2, 1, 1), "fill", 2, {A: 1, B: 0, C: 0}),
        # A pinned placement counts as one of the spread.
        (2, slots(1, 2, 0, pinned=(A,)), "fill", 2, {A: 1, B: 1, C: 0}),
        # An empty placement with no capacity left cannot take one.
        (2, slots(2, 0, caps={B: 0}), "fill", 2, {A: 2, B: 0}),
    ],
)
def test_distribute_keeps_spread(
    total: int, given: list[Slot], mode: Mode, spread: int, expected: dict[str, int]
) -> None:
    assert distribute(total, given, mode=mode, min_spread=spread) == expected
