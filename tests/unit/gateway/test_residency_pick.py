"""The gateway's picking plan per residency zone: a zoned request is only ever given a
replica of its zone, on its first try, on every retry (exclusions) and on failover, and
none at all when the zone's replicas are down, while other requests still fail over."""

from __future__ import annotations

import random

from crosscloud.gateway import cluster as gwcluster
from crosscloud.gateway import config as gwconfig

PLACEMENTS = ["local/eu-west-1", "local/eu-central-1", "local/us-east-1", "local/us-west-2"]
UPSTREAMS = tuple(
    gwconfig.Upstream(
        id=f"{p.split('/')[1]}-{i}", host="127.0.0.1", port=9000 + 2 * n + i, placement=p
    )
    for n, p in enumerate(PLACEMENTS)
    for i in range(2)
)
ZONES = (("eu", ("local/eu-west-1", "local/eu-central-1")), ("us", ("local/us-east-1",)))


def _cluster(policy: str = "least-request", failover: tuple[str, ...] = ()) -> gwcluster.Cluster:
    service = gwconfig.ServiceConfig(
        name="echo",
        upstreams=UPSTREAMS,
        policy=policy,  # type: ignore[arg-type]
        residency=ZONES,
        failover=failover,
    )
    return gwcluster.Cluster(service, rng=random.Random(7))


def test_a_zoned_pick_stays_in_its_zone_for_every_policy() -> None:
    for policy in ("round-robin", "least-request", "latency"):
        cluster = _cluster(policy)
        eu = {cluster.pick(zone="eu").placement for _ in range(200)}  # type: ignore[union-attr]
        us = {cluster.pick(zone="us").placement for _ in range(200)}  # type: ignore[union-attr]
        anywhere = {cluster.pick().placement for _ in range(400)}  # type: ignore[union-attr]
        assert eu == {"local/eu-west-1", "local/eu-central-1"}
        assert us == {"local/us-east-1"}
        assert anywhere == set(PLACEMENTS)


def test_retries_exclude_tried_hosts_and_never_leave_the_zone() -> None:
    cluster = _cluster(failover=("local/us-east-1",))  # failover would prefer the US first
    tried: list[gwcluster.Host] = []
    while (host := cluster.pick(tried, "eu")) is not None:
        assert host.placement.startswith("local/eu-")
        tried.append(host)
    assert len(tried) == 4  # every EU replica once, then nothing (no US, no us-west-2)


def test_a_dead_zone_gives_nothing_while_unzoned_requests_fail_over() -> None:
    cluster = _cluster(failover=("local/eu-west-1", "local/eu-central-1", "local/us-east-1"))
    for host in cluster.hosts.values():
        if host.placement.startswith("local/eu-"):
            host.healthy = False
    cluster.rebuild()
    assert all(cluster.pick(zone="eu") is None for _ in range(50))
    assert {cluster.pick().placement for _ in range(50)} <= {"local/us-east-1"}  # type: ignore[union-attr]
    # One EU replica back: zoned requests go there, and only there.
    back = next(h for h in cluster.hosts.values() if h.placement == "local/eu-central-1")
    back.healthy = True
    cluster.rebuild()
    assert {cluster.pick(zone="eu").id for _ in range(50)} == {back.id}  # type: ignore[union-attr]


def test_an_undeclared_zone_gets_no_replica() -> None:
    assert _cluster().pick(zone="apac") is None


def test_reconfigured_zones_take_effect() -> None:
    cluster = _cluster()
    narrower = gwconfig.ServiceConfig(
        name="echo", upstreams=UPSTREAMS, residency=(("eu", ("local/eu-central-1",)),)
    )
    cluster.reconfigure(narrower)
    assert {cluster.pick(zone="eu").placement for _ in range(50)} == {"local/eu-central-1"}  # type: ignore[union-attr]
    assert cluster.pick(zone="us") is None
