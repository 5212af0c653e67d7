"""Traffic share and error rate from the gateway's counters over a window (no I/O)."""

from __future__ import annotations

import random

import pytest

from crosscloud.controlplane import traffic
from crosscloud.gateway import cluster as gwcluster
from crosscloud.gateway import config as gwconfig
from crosscloud.gateway import metrics


def _metrics_text(counts: dict[tuple[str, int], int]) -> str:
    """What the gateway's /metrics says for one service with these (placement, status)
    counts: rendered by the gateway's own collector, so a renamed metric fails here."""
    cluster = gwcluster.Cluster(gwconfig.ServiceConfig(name="echo"), rng=random.Random(0))
    cluster.by_key.update(counts)
    return metrics.render(metrics.registry_for(lambda: [cluster])).decode()


def test_parse_reads_the_gateways_request_counters() -> None:
    text = _metrics_text({("local/a", 200): 7, ("local/b", 503): 2, ("", 503): 1})
    assert traffic.parse(text) == {
        ("echo", "local/a", 200): 7.0,
        ("echo", "local/b", 503): 2.0,
        ("echo", "", 503): 1.0,
    }


@pytest.mark.parametrize(
    ("old", "new", "grown"),
    [
        ({}, {("s", "a", 200): 5.0}, {("s", "a", 200): 5.0}),
        ({("s", "a", 200): 5.0}, {("s", "a", 200): 8.0}, {("s", "a", 200): 3.0}),
        ({("s", "a", 200): 5.0}, {("s", "a", 200): 5.0}, {}),
        ({("s", "a", 200): 50.0}, {("s", "a", 200): 4.0}, {("s", "a", 200): 4.0}),  # restart
        ({("s", "gone", 200): 9.0}, {}, {}),
    ],
)
def test_increase(old: traffic.Counts, new: traffic.Counts, grown: traffic.Counts) -> None:
    assert traffic.increase(old, new) == grown


def test_summarize_shares_per_service_and_5xx_rate_per_placement() -> None:
    rows = traffic.summarize(
        {
            ("api", "local/a", 200): 60.0,
            ("api", "local/a", 500): 15.0,
            ("api", "local/a", 404): 5.0,
            ("api", "local/b", 200): 20.0,
            ("other", "local/a", 200): 1.0,
        }
    )
    assert rows == [
        {"service": "api", "placement": "local/a", "requests": 80, "share": 0.8,
         "errors": 15, "error_rate": 15 / 80},
        {"service": "api", "placement": "local/b", "requests": 20, "share": 0.2,
         "errors": 0, "error_rate": 0.0},
        {"service": "other", "placement": "local/a", "requests": 1, "share": 1.0,
         "errors": 0, "error_rate": 0.0},
    ]  # fmt: skip


def _c(n: float) -> traffic.Counts:
    return {("api", "local/a", 200): n}


def test_window_subtracts_the_sample_from_a_minute_ago() -> None:
    window = traffic.TrafficWindow(window=60.0, every=5.0)
    for t in range(0, 125, 5):
        window.add(float(t), _c(float(t)))  # one request per second
    report = window.report(125.0, _c(125.0))
    assert report["window_s"] == 60.0
    assert report["rows"][0]["requests"] == 60


def test_window_keeps_only_what_one_window_needs() -> None:
    window = traffic.TrafficWindow(window=60.0, every=5.0)
    for t in range(0, 1000, 5):
        window.add(float(t), _c(0.0))
    assert len(window._times) <= 60 / 5 + 2


def test_young_window_covers_what_it_has_and_idle_services_have_no_rows() -> None:
    window = traffic.TrafficWindow(window=60.0, every=5.0)
    assert window.report(10.0, _c(3.0)) == {"window_s": 0.0, "rows": []}  # nothing to compare
    window.add(10.0, {})
    report = window.report(30.0, _c(3.0))
    assert report["window_s"] == 20.0 and report["rows"][0]["requests"] == 3
    window.add(30.0, _c(3.0))
    assert window.report(89.0, _c(3.0))["rows"][0]["requests"] == 3  # t=30 is in the window
    assert window.report(91.0, _c(3.0))["rows"] == []  # nothing since a minute ago


def test_due_every_interval() -> None:
    window = traffic.TrafficWindow(window=60.0, every=5.0)
    assert window.due(0.0)
    window.add(0.0, {})
    assert not window.due(4.9) and window.due(5.0)
