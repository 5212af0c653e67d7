"""Table tests for the cost ledger's arithmetic: which intervals a pass opens and closes,
and what they cost over a window."""

from __future__ import annotations

import pytest

from crosscloud.domain.cost import Interval
from crosscloud.planning import ledger

OD, SPOT = "on-demand", "spot"


def billed(
    rid: str,
    price: float = 1.0,
    *,
    started: float = 0.0,
    capacity: str = OD,
    placement: str = "aws/us-east-1",
) -> Interval:
    """A replica recorded now, priced: what the controller passes to `step`."""
    return Interval(rid, "shop", "api", placement, capacity, price, started)


def interval(
    rid: str,
    start: float,
    end: float | None = None,
    price: float = 1.0,
    *,
    capacity: str = OD,
    placement: str = "aws/us-east-1",
) -> Interval:
    return Interval(rid, "shop", "api", placement, capacity, price, start, end)


@pytest.mark.parametrize(
    ("open_now", "seen", "closed", "opened"),
    [
        # a new replica opens from when it started
        ([], [billed("r1", started=40)], [], [interval("r1", 40)]),
        # started "later" than now (clock skew): never opened in the future
        ([], [billed("r1", started=200)], [], [interval("r1", 100)]),
        # still running at the same price: nothing to write (a restart changes nothing)
        ([interval("r1", 40)], [billed("r1", started=40)], [], []),
        # gone: closed now
        ([interval("r1", 40)], [], [interval("r1", 40, 100)], []),
        # its price changed (spot -> on demand, a new pricePerHour): closed and reopened now
        (
            [interval("r1", 40, capacity=SPOT, price=0.3)],
            [billed("r1", 1.0, started=40)],
            [interval("r1", 40, 100, capacity=SPOT, price=0.3)],
            [interval("r1", 100)],
        ),
        # two open intervals for one replica (never written, but never counted twice)
        ([interval("r1", 10), interval("r1", 40)], [billed("r1")], [interval("r1", 40, 100)], []),
    ],
)
def test_step(
    open_now: list[Interval],
    seen: list[Interval],
    closed: list[Interval],
    opened: list[Interval],
) -> None:
    changes = ledger.step(open_now, seen, now=100.0)
    assert list(changes.closed) == closed
    assert list(changes.opened) == opened


def test_a_step_is_idempotent() -> None:
    first = ledger.step([], [billed("r1", started=5)], now=10.0)
    assert ledger.step(list(first.opened), [billed("r1", started=5)], now=20.0) == ledger.Changes()


@pytest.mark.parametrize(
    ("item", "since", "until", "usd"),
    [
        (interval("r", 0, 3600, price=2.0), 0, 7200, 2.0),  # closed inside the window
        (interval("r", 0, None, price=2.0), 0, 1800, 1.0),  # open: runs to `until`
        (interval("r", 0, 3600, price=2.0), 1800, 7200, 1.0),  # starts before the window
        (interval("r", 0, 3600, price=2.0), 3600, 7200, 0.0),  # ended as it began
        (interval("r", 5000, None, price=2.0), 0, 3600, 0.0),  # starts after it
    ],
)
def test_interval_cost(item: Interval, since: float, until: float, usd: float) -> None:
    assert item.cost(since=since, until=until) == pytest.approx(usd)


def test_totals_group_by_cloud_placement_and_service() -> None:
    items = [
        interval("a", 0, 3600, 1.0, placement="aws/us-east-1"),
        interval("b", 0, None, 0.5, placement="aws/us-west-2"),
        interval("c", 0, None, 3.0, placement="gcp/us-central1"),
    ]
    assert ledger.totals(items, by="cloud", since=0, until=7200) == pytest.approx(
        {"aws": 2.0, "gcp": 6.0}
    )
    assert ledger.totals(items, by="placement", since=0, until=7200)["aws/us-west-2"] == 1.0
    assert ledger.totals(items, by="service", since=0, until=7200) == pytest.approx(
        {"shop/api": 8.0}
    )
    assert ledger.hourly(items, by="cloud") == {"aws": 0.5, "gcp": 3.0}


@pytest.mark.parametrize(
    ("amount", "shares", "expected"),
    [
        (9.0, {"t1": 2, "t2": 1}, {"t1": 6.0, "t2": 3.0}),
        (9.0, {}, {"": 9.0}),  # nobody sent anything: unattributed
        (9.0, {"t1": 0, "t2": 3}, {"t2": 9.0}),
    ],
)
def test_split_by_share(
    amount: float, shares: dict[str, float], expected: dict[str, float]
) -> None:
    assert ledger.split_by_share(amount, shares) == pytest.approx(expected)


def test_per_unit() -> None:
    assert ledger.per_unit(2.0, 4000, scale=1000) == 0.5
    assert ledger.per_unit(2.0, 0, scale=1000) is None
