"""The gateway takes its routing policies from the one list: each has a picker, and an
unknown name is refused when the service is configured, never turned into another."""

from __future__ import annotations

import random

import pytest

from crosscloud import errors
from crosscloud.domain import policies
from crosscloud.gateway import cluster as gwcluster
from crosscloud.gateway import config as gwconfig
from crosscloud.planning import routing

UPSTREAMS = tuple(gwconfig.Upstream(id=f"u{i}", host="127.0.0.1", port=9000 + i) for i in range(3))


@pytest.mark.parametrize("policy", routing.POLICIES)
def test_every_policy_has_a_picker(policy: policies.Policy) -> None:
    service = gwconfig.ServiceConfig(name="echo", upstreams=UPSTREAMS, policy=policy)
    cluster = gwcluster.Cluster(service, rng=random.Random(0))
    assert cluster.tracks_latency is (policy == "latency")
    picked = {host.id for host in (cluster.pick() for _ in range(30)) if host is not None}
    assert picked == {"u0", "u1", "u2"}


def test_an_unknown_policy_is_refused_with_the_nearest_name() -> None:
    refused = "'round-robbin' is not a routing policy; did you mean 'round-robin'"
    with pytest.raises(errors.UserError, match=refused):
        gwconfig.ServiceConfig(name="echo", policy="round-robbin")  # type: ignore[arg-type]


def test_the_cluster_never_falls_back_to_least_request() -> None:
    cluster = gwcluster.Cluster(gwconfig.ServiceConfig(name="echo"), rng=random.Random(0))
    with pytest.raises(errors.UserError, match="'fastest' is not a routing policy"):
        cluster._policy("fastest")  # type: ignore[arg-type]


def test_a_config_file_with_an_unknown_policy_is_refused() -> None:
    with pytest.raises(errors.UserError, match=r"services\.0\.policy"):
        gwconfig.parse({"services": [{"name": "echo", "policy": "fastest"}]})
