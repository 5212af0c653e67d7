"""spec.traffic -> Istio, as tables: load-balancer policy, timeouts, retries, outliers."""

from __future__ import annotations

from typing import Any

import pytest

from crosscloud import errors
from crosscloud.adapters.kubernetes import model, render_istio, units
from crosscloud.planning import routing

PLACEMENT = model.RenderPlacement(
    provider="gcp",
    region="europe-west4",
    type="GKE",
    context="c",
    namespace="serving",
    mesh="istio",
)
SERVICE = model.RenderService(name="embed", image="embed:1")


@pytest.mark.parametrize(
    ("policy", "simple"),
    [
        ("round-robin", "ROUND_ROBIN"),
        ("least-request", "LEAST_REQUEST"),
        ("latency", "LEAST_REQUEST"),
    ],
)
def test_policy_maps_to_an_envoy_balancer(policy: Any, simple: str) -> None:
    rule = render_istio.destination_rule(
        "d", PLACEMENT, SERVICE, model.RenderTraffic(policy=policy)
    )
    assert rule["spec"]["trafficPolicy"]["loadBalancer"] == {"simple": simple}
    assert rule["metadata"]["annotations"]["crosscloud.dev/traffic-policy"] == policy
    assert rule["spec"]["host"] == "embed.serving.svc.cluster.local"


def test_every_routing_policy_has_an_istio_balancer() -> None:
    assert set(render_istio.LB_POLICY) == set(routing.POLICIES)


@pytest.mark.parametrize(
    ("traffic", "route"),
    [
        (model.RenderTraffic(), {}),
        (model.RenderTraffic(timeout_s=30), {"timeout": "30s"}),
        (model.RenderTraffic(timeout_s=0.25), {"timeout": "0.25s"}),
        (
            model.RenderTraffic(retry_attempts=0, per_try_timeout_s=5, retry_on="5xx"),
            {"retries": {"attempts": 0}},
        ),
        (
            model.RenderTraffic(retry_attempts=3, per_try_timeout_s=2.5, retry_on="5xx,reset"),
            {"retries": {"attempts": 3, "perTryTimeout": "2.5s", "retryOn": "5xx,reset"}},
        ),
        (model.RenderTraffic(retry_attempts=2), {"retries": {"attempts": 2}}),
    ],
)
def test_timeout_and_retries(traffic: model.RenderTraffic, route: dict[str, Any]) -> None:
    vs = render_istio.virtual_service("d", PLACEMENT, SERVICE, traffic)
    http = vs["spec"]["http"][0]
    destination = {
        "destination": {"host": "embed.serving.svc.cluster.local", "port": {"number": 80}}
    }
    assert http == {"name": "default", "route": [destination], **route}
    assert vs["spec"]["hosts"] == ["embed.serving.svc.cluster.local"]


@pytest.mark.parametrize(
    ("traffic", "outliers"),
    [
        (model.RenderTraffic(), None),
        (
            model.RenderTraffic(
                consecutive_5xx=5, interval_s=10, base_ejection_s=30, max_ejection_percent=50
            ),
            {
                "consecutive5xxErrors": 5,
                "interval": "10s",
                "baseEjectionTime": "30s",
                "maxEjectionPercent": 50,
            },
        ),
        (model.RenderTraffic(consecutive_5xx=3), {"consecutive5xxErrors": 3}),
    ],
)
def test_outlier_detection(traffic: model.RenderTraffic, outliers: dict[str, Any] | None) -> None:
    policy = render_istio.destination_rule("d", PLACEMENT, SERVICE, traffic)["spec"][
        "trafficPolicy"
    ]
    assert policy.get("outlierDetection") == outliers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (30, "30s"),
        (0.5, "0.5s"),
        (0.001, "0.001s"),
        (90, "90s"),
        (1.25, "1.25s"),
        (0.0004, "0.001s"),
    ],
)
def test_durations(seconds: float, text: str) -> None:
    assert units.duration(seconds) == text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"policy": "ewma"}, "traffic policy 'ewma' is not one of"),
        ({"timeout_s": 0}, "timeout_s: 0 must be at least 1ms"),
        ({"retry_attempts": -1}, "retries: -1 is below 0"),
        ({"max_ejection_percent": 120}, "maxEjectionPercent: 120 is not in 0..100"),
    ],
)
def test_bad_traffic_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.UserError, match=message):
        model.RenderTraffic(**changes)
