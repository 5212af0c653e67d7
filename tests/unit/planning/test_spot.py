"""Table tests for the pure spot policy: targets from ready spot replicas, cheapest active
unused location first, cooldown after a preemption, at least two failure domains."""

from __future__ import annotations

import pytest

from crosscloud.planning import spot
from crosscloud.planning.spot import Location, Seen, Settings

# Four regions over two clouds: spot is cheapest in b, then c, then a, then d.
LOCS = (
    Location("aws/a", "aws/a", spot_price=3.0, on_demand_price=10.0),
    Location("aws/b", "aws/b", spot_price=1.0, on_demand_price=11.0),
    Location("gcp/c", "gcp/c", spot_price=2.0, on_demand_price=9.0),
    Location("gcp/d", "gcp/d", spot_price=4.0, on_demand_price=12.0),
)
HEDGE = Settings(base_on_demand=0, dynamic_fallback=True, overprovision=1)


@pytest.mark.parametrize(
    ("total", "settings", "ready", "expected"),
    [
        (3, HEDGE, 0, (4, 3)),  # nothing ready on spot yet: on-demand covers all 3
        (3, HEDGE, 2, (4, 1)),  # one short
        (3, HEDGE, 3, (4, 0)),  # enough ready spot: no on-demand
        (3, HEDGE, 4, (4, 0)),  # the extra one changes nothing
        (3, Settings(base_on_demand=1), 2, (3, 1)),  # base always on-demand, spot covers 2
        (3, Settings(base_on_demand=1), 0, (3, 3)),
        (3, Settings(dynamic_fallback=False, overprovision=0), 0, (3, 0)),
        (3, Settings(base_on_demand=5), 0, (0, 3)),  # base over the total: all on-demand
        (0, HEDGE, 0, (0, 0)),  # scaled to zero: nothing at all
    ],
)
def test_targets(total: int, settings: Settings, ready: int, expected: tuple[int, int]) -> None:
    assert spot.targets(total, settings=settings, ready_spot=ready) == expected


def plan(
    total: int,
    *,
    seen: dict[str, Seen] | None = None,
    preempted: dict[str, float] | None = None,
    settings: Settings = HEDGE,
    locations: tuple[Location, ...] = LOCS,
    now: float = 1000.0,
) -> tuple[dict[str, int], dict[str, int]]:
    out = spot.plan(
        total,
        settings=settings,
        locations=locations,
        seen=seen or {},
        preempted=preempted or {},
        now=now,
    )
    nonzero = lambda m: {k: v for k, v in m.items() if v}  # noqa: E731
    return nonzero(out.spot), nonzero(out.on_demand)


@pytest.mark.parametrize(
    ("total", "seen", "preempted", "expected"),
    [
        # From nothing: 3 spot at the three cheapest spot regions, 2 on-demand fill in
        # (no spot ready yet) at the cheapest on-demand regions, each unused first.
        (2, {}, {}, ({"aws/b": 1, "gcp/c": 1, "aws/a": 1}, {"gcp/c": 1, "aws/a": 1})),
        # Spot ready: no on-demand; nothing moves.
        (
            2,
            {"aws/b": Seen(1, 1), "gcp/c": Seen(1, 1), "aws/a": Seen(1, 1)},
            {},
            ({"aws/b": 1, "gcp/c": 1, "aws/a": 1}, {}),
        ),
        # b was preempted (its replica gone): the replacement goes to the next cheapest
        # active unused region (d), not back to b; one on-demand covers the gap.
        (
            2,
            {"gcp/c": Seen(1, 1), "aws/a": Seen(1, 0)},
            {"aws/b": 990.0},
            ({"gcp/c": 1, "aws/a": 1, "gcp/d": 1}, {"gcp/c": 1}),
        ),
        # The cooldown is over: b is active again but replicas stay where they are.
        (
            2,
            {"gcp/c": Seen(1, 1), "aws/a": Seen(1, 1), "gcp/d": Seen(1, 1)},
            {"aws/b": 1000.0 - spot.COOLDOWN},
            ({"gcp/c": 1, "aws/a": 1, "gcp/d": 1}, {}),
        ),
        # Scaling down: the most expensive spot region empties first.
        (
            1,
            {"gcp/c": Seen(1, 1), "aws/a": Seen(1, 1), "gcp/d": Seen(1, 1)},
            {},
            ({"gcp/c": 1, "aws/a": 1}, {}),
        ),
        # More replicas than regions: the cheapest with the fewest takes the next one;
        # 4 ready spot replicas for 5 wanted: one on-demand meanwhile.
        (
            5,
            {k.id: Seen(1, 1) for k in LOCS},
            {},
            ({"aws/a": 1, "aws/b": 2, "gcp/c": 2, "gcp/d": 1}, {"gcp/c": 1}),
        ),
        # A cooling region keeps the replica it still has, gets no new one, and is the
        # first to lose one when the target shrinks.
        (
            1,
            {"aws/b": Seen(1, 1), "gcp/c": Seen(1, 1), "aws/a": Seen(1, 1)},
            {"aws/b": 990.0},
            ({"gcp/c": 1, "aws/a": 1}, {}),
        ),
        # Every region cooling: no spot can start; on-demand covers the whole target.
        (
            2,
            {},
            {k.id: 990.0 for k in LOCS},
            ({}, {"gcp/c": 1, "aws/a": 1}),
        ),
    ],
)
def test_plan_places_spot(
    total: int,
    seen: dict[str, Seen],
    preempted: dict[str, float],
    expected: tuple[dict[str, int], dict[str, int]],
) -> None:
    assert plan(total, seen=seen, preempted=preempted) == expected


def test_plan_is_stable_from_pass_to_pass() -> None:
    """Feeding a plan back as what runs (all ready) plans the same counts again."""
    first = spot.plan(3, settings=HEDGE, locations=LOCS, seen={}, preempted={}, now=0.0)
    seen = {k: Seen(n, n, 0) for k, n in first.spot.items()}
    again = spot.plan(3, settings=HEDGE, locations=LOCS, seen=seen, preempted={}, now=1.0)
    assert again.spot == first.spot
    assert sum(again.on_demand.values()) == 0


@pytest.mark.parametrize(
    ("total", "settings", "locations", "preempted", "expected"),
    [
        # Cloud domains: b and a are one cloud; the second replica must go to gcp even
        # though aws/a is cheaper on spot than gcp/d.
        (
            1,
            Settings(overprovision=1, dynamic_fallback=False),
            tuple(
                Location(x.id, x.id.split("/")[0], x.spot_price, x.on_demand_price)
                for x in LOCS[:2]
            )
            + tuple(
                Location(x.id, x.id.split("/")[0], x.spot_price, x.on_demand_price)
                for x in LOCS[3:]
            ),
            {},
            ({"aws/b": 1, "gcp/d": 1}, {}),
        ),
        # Base on-demand only, all replicas would sit in the cheapest on-demand region:
        # one moves to another domain.
        (
            2,
            Settings(base_on_demand=2, overprovision=0),
            LOCS[2:3] + LOCS[0:1],
            {},
            ({}, {"gcp/c": 1, "aws/a": 1}),
        ),
        # Spread moves spot to an active region of another domain, not a cooling one.
        (
            1,
            Settings(overprovision=1, dynamic_fallback=False),
            (
                Location("aws/a", "aws", 1.0, 5.0),
                Location("aws/b", "aws", 1.5, 5.0),
                Location("gcp/c", "gcp", 2.0, 5.0),
                Location("gcp/d", "gcp", 3.0, 5.0),
            ),
            {"gcp/c": 990.0},
            ({"aws/a": 1, "gcp/d": 1}, {}),
        ),
    ],
)
def test_plan_keeps_two_failure_domains(
    total: int,
    settings: Settings,
    locations: tuple[Location, ...],
    preempted: dict[str, float],
    expected: tuple[dict[str, int], dict[str, int]],
) -> None:
    assert plan(total, settings=settings, locations=locations, preempted=preempted) == expected


@pytest.mark.parametrize(
    ("preempted", "now", "expected"),
    [
        ({"a": 100.0}, 100.0, {"a"}),
        ({"a": 100.0}, 100.0 + spot.COOLDOWN - 1, {"a"}),
        ({"a": 100.0}, 100.0 + spot.COOLDOWN, set()),
        ({"a": 100.0, "b": 650.0}, 800.0, {"b"}),
    ],
)
def test_cooling(preempted: dict[str, float], now: float, expected: set[str]) -> None:
    assert spot.cooling(preempted, now=now, cooldown=spot.COOLDOWN) == expected
