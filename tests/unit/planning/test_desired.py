"""What should run, from a manifest: replicas per placement, scale overrides, endpoints."""

from __future__ import annotations

import pytest

from crosscloud.domain import manifest, state
from crosscloud.planning import desired

HEAD = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: demo}
spec:
  services:
    - name: api
      source: s.py:Api
      scaling: {minReplicas: MIN, maxReplicas: 9}
  placements:
"""


def _doc(min_replicas: int, placements: list[str]) -> manifest.Manifest:
    text = HEAD.replace("MIN", str(min_replicas)) + "".join(f"    - {p}\n" for p in placements)
    return manifest.load_manifest(text, "m.yaml")


@pytest.mark.parametrize(
    ("min_replicas", "placements", "expected"),
    [
        (1, ["{provider: local, region: a}"], {"local/a": 1}),
        (3, ["{provider: local, region: a}"], {"local/a": 3}),
        (
            3,
            ["{provider: local, region: a}", "{provider: local, region: b}"],
            {"local/a": 2, "local/b": 1},
        ),
        (
            0,
            ["{provider: local, region: a}", "{provider: local, region: b}"],
            {"local/a": 1, "local/b": 1},
        ),
        (
            4,
            [
                "{provider: local, region: a, services: [{name: api, replicas: 3}]}",
                "{provider: local, region: b}",
            ],
            {"local/a": 3, "local/b": 1},
        ),
        (
            1,
            [
                "{provider: local, region: a, services: [{name: api, replicas: 0}]}",
                "{provider: local, region: b}",
            ],
            {"local/a": 0, "local/b": 1},
        ),
    ],
)
def test_replicas_per_placement(
    min_replicas: int, placements: list[str], expected: dict[str, int]
) -> None:
    got = desired.desired_services(_doc(min_replicas, placements), version=7)
    assert {d.placement: d.replicas for d in got} == expected
    assert {(d.deployment, d.service, d.version) for d in got} == {("demo", "api", 7)}


def test_scale_override_wins_for_its_placement_only() -> None:
    doc = _doc(1, ["{provider: local, region: a}", "{provider: local, region: b}"])
    got = desired.desired_services(doc, version=1, scale={desired.scale_key("api", "local/b"): 5})
    assert {d.placement: d.replicas for d in got} == {"local/a": 1, "local/b": 5}


def _replica(rid: str, st: state.ReplicaState, port: int | None = 1) -> state.ReplicaRecord:
    return state.ReplicaRecord(
        id=rid,
        deployment="demo",
        service="api",
        placement="local/a",
        version=1,
        state=st,
        port=port,
    )


def test_only_ready_replicas_with_a_port_are_endpoints() -> None:
    S = state.ReplicaState
    replicas = [
        _replica("b", S.READY),
        _replica("a", S.READY),
        _replica("c", S.STARTING),
        _replica("d", S.STOPPING),
    ]
    assert [e.replica_id for e in desired.serving_endpoints(replicas)] == ["a", "b"]
