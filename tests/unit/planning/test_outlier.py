"""Table tests for passive outlier ejection (Envoy semantics), on a simulated clock."""

from __future__ import annotations

import pytest

from crosscloud.planning import outlier
from crosscloud.planning.outlier import Outcome

OK, E5, CONN = Outcome.SUCCESS, Outcome.SERVER_ERROR, Outcome.CONNECT_FAILURE


def detector(hosts: int = 2, **config: float) -> outlier.OutlierDetector:
    d = outlier.OutlierDetector(outlier.OutlierConfig(**config))  # type: ignore[arg-type]
    d.set_hosts([f"h{i}" for i in range(hosts)])
    return d


@pytest.mark.parametrize(
    ("outcomes", "ejected_after"),
    [
        ([E5] * 5, 5),
        ([E5] * 4, None),
        ([E5, E5, E5, E5, OK, E5, E5, E5, E5], None),  # a success resets the count
        ([E5, E5, E5, E5, OK, E5, E5, E5, E5, E5], 10),
        ([CONN], 1),  # a refused connection ejects at once
        ([OK, OK, CONN], 3),
    ],
)
def test_when_a_host_is_ejected(outcomes: list[Outcome], ejected_after: int | None) -> None:
    d = detector()
    when = None
    for i, outcome in enumerate(outcomes, start=1):
        if d.record("h0", outcome, now=float(i)) is not None:
            when = i
    assert when == ejected_after
    assert d.is_ejected("h0") is (ejected_after is not None)


def test_ejection_time_grows_with_each_ejection_and_caps_at_max() -> None:
    d = detector()
    durations = []
    now = 0.0
    for _ in range(12):
        ejection = d.record("h0", CONN, now=now)
        assert ejection is not None
        durations.append(ejection.until - now)
        now = ejection.until
        assert d.sweep(now=now) == ["h0"]
    assert durations[:4] == [30.0, 60.0, 90.0, 120.0]
    assert durations[-1] == 300.0


@pytest.mark.parametrize(
    ("sweep_at", "back"),
    [(29.9, []), (30.0, ["h0"]), (45.0, ["h0"])],
)
def test_host_returns_at_first_sweep_after_ejection_time(sweep_at: float, back: list[str]) -> None:
    d = detector()
    for _ in range(5):
        d.record("h0", E5, now=0.0)
    assert d.sweep(now=sweep_at) == back
    assert d.is_ejected("h0") is (not back)


def test_multiplier_decays_one_per_healthy_interval() -> None:
    d = detector(interval=10.0)
    d.record("h0", CONN, now=0.0)
    d.sweep(now=30.0)
    second = d.record("h0", CONN, now=31.0)
    assert second is not None
    assert second.until - 31.0 == 60.0
    d.sweep(now=91.0)  # back
    for t in (101.0, 111.0):  # two healthy intervals: multiplier 2 -> 0
        d.sweep(now=t)
    third = d.record("h0", CONN, now=112.0)
    assert third is not None
    assert third.until - 112.0 == 30.0


@pytest.mark.parametrize(
    ("hosts", "percent", "max_out"),
    [(2, 10.0, 1), (10, 10.0, 1), (20, 10.0, 2), (4, 50.0, 2), (3, 100.0, 3)],
)
def test_max_ejection_percent_but_at_least_one(hosts: int, percent: float, max_out: int) -> None:
    d = detector(hosts=hosts, max_ejection_percent=percent)
    for i in range(hosts):
        d.record(f"h{i}", CONN, now=0.0)
    assert len(d.ejected()) == max_out


def test_ejected_host_ignores_results_and_health_check_unejects() -> None:
    d = detector()
    d.record("h0", CONN, now=0.0)
    assert d.record("h0", CONN, now=1.0) is None
    assert d.uneject("h0") is True
    assert not d.is_ejected("h0")
    assert d.uneject("h0") is False
    # the slot is free again: another host may be ejected
    assert d.record("h1", CONN, now=2.0) is not None


def test_set_hosts_keeps_known_state_and_forgets_removed() -> None:
    d = detector()
    d.record("h0", CONN, now=0.0)
    d.set_hosts(["h0", "h2"])
    assert d.is_ejected("h0")
    assert d.record("h1", CONN, now=1.0) is None  # no longer tracked
    d.set_hosts(["h2"])
    assert d.ejected() == []
