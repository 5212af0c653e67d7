"""One contract for every StateStore: the in-memory fake, SQLite and a real PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from crosscloud import ports
from crosscloud.adapters.store import memory as memory_store
from crosscloud.adapters.store import sql_store as store
from crosscloud.domain import cost, state, tokens

S = state.ReplicaState


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ports.StateStore]:
    opened: ports.StateStore
    if request.param == "memory":
        opened = memory_store.MemoryStore()
    elif request.param == "sqlite":
        opened = store.SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    else:
        opened = store.SqlStore(request.getfixturevalue("pg_url"))
    yield opened
    opened.close()


def deployment(name: str = "shop", version: int = 1) -> state.DeploymentRecord:
    return state.DeploymentRecord(
        name=name,
        manifest_json=json.dumps({"metadata": {"name": name}, "spec": {"x": "é"}}),
        manifest_hash=f"sha256:{version:064x}",
        version=version,
        created_at=1000.5,
        updated_at=1000.5 + version,
    )


def replica(rid: str, **changes: object) -> state.ReplicaRecord:
    base = state.ReplicaRecord(
        id=rid, deployment="shop", service="api", placement="local/region-a", version=1
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_deployment_round_trip_update_and_delete(db: ports.StateStore) -> None:
    assert db.get_deployment("shop") is None
    db.put_deployment(deployment("shop", 1))
    db.put_deployment(deployment("cart", 1))
    db.put_deployment(deployment("shop", 2))
    assert db.get_deployment("shop") == deployment("shop", 2)
    assert [d.name for d in db.list_deployments()] == ["cart", "shop"]
    assert db.delete_deployment("shop") is True
    assert db.delete_deployment("shop") is False
    assert db.list_deployments() == [deployment("cart", 1)]


def test_replica_keeps_every_field(db: ports.StateStore) -> None:
    full = replica(
        "r-1",
        state=S.CRASH_LOOP,
        pid=4242,
        pod="api-7d9f-abcde",
        host="10.0.0.7",
        port=8123,
        restarts=3,
        crash_count=2,
        started_at=1700000000.25,
        exited_at=1700000001.5,
        process_start_time=987654321,
        last_exit_code=-9,
        message="exited with signal 9",
    )
    db.upsert_replica(full)
    assert db.get_replica("r-1") == full
    assert db.get_replica("nope") is None


def test_upsert_replaces_and_delete_removes(db: ports.StateStore) -> None:
    db.upsert_replica(replica("r-1", state=S.STARTING, pid=10))
    db.upsert_replica(replica("r-1", state=S.READY, pid=10, port=9000))
    assert db.list_replicas() == [replica("r-1", state=S.READY, pid=10, port=9000)]
    assert db.delete_replica("r-1") is True
    assert db.delete_replica("r-1") is False
    assert db.list_replicas() == []


def test_list_replicas_filters_and_orders_by_id(db: ports.StateStore) -> None:
    rows = [
        replica("c", placement="local/region-b"),
        replica("a"),
        replica("b", service="worker"),
        replica("d", deployment="other"),
    ]
    for row in rows:
        db.upsert_replica(row)
    assert [r.id for r in db.list_replicas()] == ["a", "b", "c", "d"]
    assert [r.id for r in db.list_replicas(deployment="shop")] == ["a", "b", "c"]
    assert [r.id for r in db.list_replicas(deployment="shop", service="api")] == ["a", "c"]
    assert [r.id for r in db.list_replicas(placement="local/region-b")] == ["c"]
    assert db.list_replicas(service="api", placement="gcp/us-central1") == []


def test_delete_deployment_takes_its_replicas_and_endpoints_not_others(
    db: ports.StateStore,
) -> None:
    for name in ("shop", "other"):
        db.put_deployment(deployment(name))
        db.upsert_replica(replica(f"{name}-1", deployment=name))
        db.set_endpoints(name, [state.EndpointRecord(name, "api", "local/a", f"http://{name}")])
    db.add_event(state.Event(ts=1.0, deployment="shop", kind="up", message="started"))
    db.delete_deployment("shop")
    assert [r.id for r in db.list_replicas()] == ["other-1"]
    assert [e.deployment for e in db.list_endpoints()] == ["other"]
    assert [e.message for e in db.list_events(deployment="shop")] == ["started"]


def test_set_endpoints_replaces_one_deployment(db: ports.StateStore) -> None:
    a1 = state.EndpointRecord("shop", "api", "local/a", "http://127.0.0.1:1", "r-1")
    a2 = state.EndpointRecord("shop", "api", "local/b", "http://127.0.0.1:2", "r-2")
    w1 = state.EndpointRecord("shop", "worker", "local/a", "http://127.0.0.1:3")
    other = state.EndpointRecord("other", "api", "local/a", "http://127.0.0.1:4")
    db.set_endpoints("other", [other])
    db.set_endpoints("shop", [w1, a2, a1])
    assert db.list_endpoints(deployment="shop") == [a1, a2, w1]
    assert db.list_endpoints(service="api") == [other, a1, a2]
    db.set_endpoints("shop", [a2])
    assert db.list_endpoints() == [other, a2]
    db.set_endpoints("shop", [])
    assert db.list_endpoints() == [other]


def test_events_get_increasing_ids_and_keep_fields(db: ports.StateStore) -> None:
    first = db.add_event(
        state.Event(
            ts=5.0,
            deployment="shop",
            kind="crash",
            message="r-1 exited",
            fields={"replica": "r-1", "exit_code": -9, "tags": ["a", "b"]},
        )
    )
    second = db.add_event(state.Event(ts=5.0, deployment="shop", kind="start", message="r-2"))
    assert first.id is not None
    assert second.id is not None
    assert second.id > first.id
    assert db.list_events() == [first, second]
    assert db.list_events()[0].fields == {"replica": "r-1", "exit_code": -9, "tags": ["a", "b"]}


def test_list_events_since_limit_and_deployment(db: ports.StateStore) -> None:
    for ts in (1.0, 2.0, 3.0, 4.0):
        db.add_event(state.Event(ts=ts, deployment="shop", kind="tick", message=f"t{ts:g}"))
    db.add_event(state.Event(ts=2.5, deployment="other", kind="tick", message="o"))
    assert [e.message for e in db.list_events(deployment="shop", limit=2)] == ["t3", "t4"]
    assert [e.message for e in db.list_events(since=2.0)] == ["o", "t3", "t4"]
    assert [e.message for e in db.list_events(deployment="other")] == ["o"]
    assert db.list_events(limit=0) == []


def token(tid: str, **changes: object) -> tokens.TokenRecord:
    base = tokens.TokenRecord(
        id=tid,
        deployment="shop",
        name=f"ci-{tid}",
        sha256=f"{tid:0>64}",
        last4="Ab_9",
        created_at=100.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_tokens_round_trip_with_services_and_order(db: ports.StateStore) -> None:
    scoped = token("b", services=("api", "worker"), created_at=50.0, residency="eu")
    db.add_token(token("c"))
    db.add_token(scoped)
    db.add_token(token("a", deployment="other"))
    assert db.get_token("b") == scoped
    assert db.get_token("nope") is None
    assert [t.id for t in db.list_tokens()] == ["a", "b", "c"]
    assert db.list_tokens(deployment="shop") == [scoped, token("c")]
    assert db.list_tokens(deployment="none") == []


def test_revoke_token_once_and_it_stays_listed(db: ports.StateStore) -> None:
    db.add_token(token("a"))
    assert db.revoke_token("a", at=200.5) is True
    assert db.revoke_token("a", at=300.0) is False
    assert db.revoke_token("missing", at=300.0) is False
    revoked = db.get_token("a")
    assert revoked == token("a", revoked_at=200.5)
    assert revoked is not None and not revoked.active


def test_delete_deployment_keeps_its_tokens_for_the_next_one_of_that_name(
    db: ports.StateStore,
) -> None:
    for name in ("shop", "other"):
        db.put_deployment(deployment(name))
        db.add_token(token(f"{name}-t", deployment=name))
    assert db.delete_deployment("shop") is True
    assert db.get_deployment("shop") is None
    assert [t.id for t in db.list_tokens(deployment="shop")] == ["shop-t"]
    assert db.get_token("shop-t") == token("shop-t", deployment="shop")


def test_token_quota_round_trip(db: ports.StateStore) -> None:
    db.add_token(token("a", quota=tokens.Quota(rps=5.0, burst=10, tokens_per_minute=1000)))
    assert db.get_token("a") == token(
        "a", quota=tokens.Quota(rps=5.0, burst=10, tokens_per_minute=1000)
    )
    assert db.set_quota("a", tokens.Quota(concurrency=2)) is True
    assert db.set_quota("missing", tokens.Quota()) is False
    found = db.get_token("a")
    assert found is not None and found.quota == tokens.Quota(concurrency=2)
    db.set_quota("a", tokens.Quota())
    assert db.get_token("a") == token("a")


def _interval(rid: str, start: float, end: float | None = None) -> cost.Interval:
    return cost.Interval(rid, "shop", "api", "aws/us-east-1", "spot", 0.125, start, end)


def test_intervals_open_close_and_are_written_once(db: ports.StateStore) -> None:
    db.record_intervals(closed=[], opened=[_interval("r1", 10.0), _interval("r2", 20.5)])
    db.record_intervals(closed=[], opened=[_interval("r1", 10.0)])  # again: no second row
    assert db.list_intervals() == [_interval("r1", 10.0), _interval("r2", 20.5)]
    db.record_intervals(closed=[_interval("r1", 10.0, 50.0)], opened=[_interval("r3", 50.0)])
    db.record_intervals(closed=[_interval("r1", 10.0, 99.0)], opened=[])  # closed: stays
    assert db.list_intervals() == [_interval("r2", 20.5), _interval("r3", 50.0)]
    assert db.list_intervals(since=49.0) == [
        _interval("r1", 10.0, 50.0),
        _interval("r2", 20.5),
        _interval("r3", 50.0),
    ]
    assert db.list_intervals(since=50.0) == [_interval("r2", 20.5), _interval("r3", 50.0)]


def test_usage_adds_up_per_bucket(db: ports.StateStore) -> None:
    db.add_usage([cost.Usage(600.0, "shop", "api", "t1", requests=3, tokens=100)])
    db.add_usage(
        [
            cost.Usage(600.0, "shop", "api", "t1", requests=2, tokens=50),
            cost.Usage(600.0, "shop", "api", "", requests=7),
            cost.Usage(900.0, "shop", "api", "t1", requests=1),
        ]
    )
    assert sorted(db.list_usage(since=0.0), key=lambda u: (u.bucket, u.token)) == [
        cost.Usage(600.0, "shop", "api", "", requests=7),
        cost.Usage(600.0, "shop", "api", "t1", requests=5, tokens=150),
        cost.Usage(900.0, "shop", "api", "t1", requests=1),
    ]
    assert db.list_usage(since=900.0) == [cost.Usage(900.0, "shop", "api", "t1", requests=1)]


def test_old_usage_buckets_are_pruned(db: ports.StateStore) -> None:
    db.add_usage([cost.Usage(b, "shop", "api", "t1", requests=1) for b in (0.0, 300.0, 600.0)])
    assert db.prune_usage(before=600.0) == 2
    assert db.prune_usage(before=600.0) == 0
    assert db.list_usage(since=0.0) == [cost.Usage(600.0, "shop", "api", "t1", requests=1)]
