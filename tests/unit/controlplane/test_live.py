"""The dashboard's live per-region figures from the gateway's /metrics (no I/O: the text
comes from the gateway's own collector, so a renamed metric or label fails here)."""

from __future__ import annotations

import random

import pytest

from crosscloud.controlplane import live, traffic
from crosscloud.gateway import cluster as gwcluster
from crosscloud.gateway import config as gwconfig
from crosscloud.gateway import metrics

BUCKETS = gwcluster.LATENCY_BUCKETS


def _cluster(models: tuple[str, ...] = ()) -> gwcluster.Cluster:
    upstreams = (
        gwconfig.Upstream(id="a1", host="127.0.0.1", port=1, placement="local/a"),
        gwconfig.Upstream(id="a2", host="127.0.0.1", port=2, placement="local/a"),
        gwconfig.Upstream(id="b1", host="127.0.0.1", port=3, placement="local/b"),
    )
    service = gwconfig.ServiceConfig(name="echo", upstreams=upstreams, models=models)
    return gwcluster.Cluster(service, rng=random.Random(0))


def _served(c: gwcluster.Cluster, placement: str, status: int, seconds: float, n: int) -> None:
    """`n` requests answered as the gateway's request path records them."""
    for _ in range(n):
        latency = c.latency.get(placement) or c.latency_of(placement)
        latency[BUCKETS.index(seconds)] += 1
        latency[-1] += seconds
        c.by_key[(placement, status)] = c.by_key.get((placement, status), 0) + 1


def _text(c: gwcluster.Cluster) -> str:
    return metrics.render(metrics.registry_for(lambda: [c])).decode()


def test_parse_reads_requests_latency_and_upstreams_per_placement() -> None:
    c = _cluster()
    _served(c, "local/a", 200, 0.005, 8)
    _served(c, "local/a", 503, 0.01, 2)
    _served(c, "", 503, 0.0005, 1)
    c.hosts["a2"].ejected = True
    c.hosts["a2"].ejections = 1
    c.hosts["b1"].connect_errors = 4
    snap = live.parse(_text(c))
    assert snap.requests == {("echo", "local/a"): 10.0, ("echo", ""): 1.0}
    assert snap.errors == {("echo", "local/a"): 2.0, ("echo", ""): 1.0}
    assert snap.latency[("echo", "local/a")][0.005] == 8.0  # cumulative
    assert snap.latency[("echo", "local/a")][float("inf")] == 10.0
    assert snap.upstreams == {("echo", "local/a"): 2, ("echo", "local/b"): 1}
    assert snap.available == {("echo", "local/a"): 1, ("echo", "local/b"): 1}
    assert snap.ejections[("echo", "local/a")] == 1.0
    assert snap.connect_errors[("echo", "local/b")] == 4.0


def test_the_service_histogram_still_sums_every_placement() -> None:
    """The autoscaler reads busy seconds per service (`stats`): every placement counts."""
    c = _cluster()
    _served(c, "local/a", 200, 0.1, 3)
    _served(c, "local/b", 200, 0.5, 1)
    assert c.latency_sum == pytest.approx(0.8)


def test_rows_are_what_grew_between_two_snapshots() -> None:
    c = _cluster()
    _served(c, "local/a", 200, 0.001, 50)
    old = live.parse(_text(c))
    _served(c, "local/a", 200, 0.01, 18)
    _served(c, "local/a", 500, 0.25, 2)
    c.hosts["a1"].ejections = 1
    rows = {r["placement"]: r for r in live.rows(old, live.parse(_text(c)), seconds=4.0)}
    a = rows["local/a"]
    assert (a["requests"], a["rps"], a["errors"], a["ejections"]) == (20, 5.0, 2, 1)
    # the 50 fast requests before the window are not in its quantiles
    assert 5.0 < a["p50_ms"] <= 10.0
    assert 100.0 < a["p99_ms"] <= 250.0
    assert a["tokens_per_s"] is None  # not an OpenAI service: no token counted
    b = rows["local/b"]  # known to the gateway, no request: no rate of latency to show
    assert (b["requests"], b["p50_ms"], b["upstreams"], b["available"]) == (0, None, 1, 1)


def test_a_gateway_restart_counts_from_zero() -> None:
    before = _cluster()
    _served(before, "local/a", 200, 0.001, 100)
    after = _cluster()
    _served(after, "local/a", 200, 0.05, 4)
    (row,) = [r for r in live.rows(live.parse(_text(before)), live.parse(_text(after)), 2.0)
              if r["placement"] == "local/a"]  # fmt: skip
    assert row["requests"] == 4 and 25.0 < row["p50_ms"] <= 50.0


def test_the_window_scrapes_at_most_once_a_gap_and_keeps_a_baseline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = _cluster()
    scrapes: list[str] = []

    def fake_metrics(url: str, *, timeout: float = 1.0) -> str:
        scrapes.append(url)
        return _text(c)

    monkeypatch.setattr(traffic, "metrics_text", fake_metrics)
    window = live.LiveTraffic(window=10.0, min_gap=1.0)
    first = window.report("http://gw", now=100.0)
    assert first["window_s"] == 0.0 and first["rows"][0]["rps"] is None  # no baseline yet
    _served(c, "local/a", 200, 0.001, 30)
    assert window.report("http://gw", now=100.5)["window_s"] == 0.0  # within the gap: cached
    assert len(scrapes) == 1
    third = window.report("http://gw", now=103.0)
    row = next(r for r in third["rows"] if r["placement"] == "local/a")
    assert (third["window_s"], row["requests"], row["rps"]) == (3.0, 30, 10.0)
    for t in range(104, 130):  # a page polling each second: the window stays ~10 s
        report = window.report("http://gw", now=float(t))
    assert report["window_s"] == 10.0
    # nobody looked for an hour: the old baseline is dropped, not averaged over
    assert window.report("http://gw", now=4000.0)["window_s"] == 0.0


def test_a_gateway_that_does_not_answer_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traffic, "metrics_text", lambda url, timeout=1.0: None)
    report = live.LiveTraffic().report("http://gw", now=1.0)
    assert report["rows"] == [] and "did not answer" in report["error"]


def test_model_tokens_per_second_per_placement() -> None:
    """Prompt and completion tokens the gateway counted from OpenAI answers' `usage`."""
    c = _cluster(models=("tiny-chat",))
    c.hosts["a1"].prompt_tokens, c.hosts["a1"].completion_tokens = 100, 50
    old = live.parse(_text(c))
    c.hosts["a1"].prompt_tokens, c.hosts["a1"].completion_tokens = 400, 250
    c.hosts["a2"].completion_tokens = 150
    rows = {r["placement"]: r for r in live.rows(old, live.parse(_text(c)), seconds=5.0)}
    assert rows["local/a"]["tokens_per_s"] == (300 + 200 + 150) / 5.0
    assert rows["local/b"]["tokens_per_s"] == 0.0  # an OpenAI service's region, idle
