"""Table tests for splitting a spot service's desired replicas into spot and on-demand rows
per placement (what the control plane reconciles), from what runs now."""

from __future__ import annotations

import pytest

from crosscloud.domain import manifest, state
from crosscloud.planning import desired, spot_desired

S = state.ReplicaState

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: app}
spec:
  services:
    - {name: web, source: ./s.py:S, spot: {overprovision: 1}}
    - {name: plain, source: ./s.py:S}
  placements:
    - {provider: local, region: a, services: [{name: web, replicas: 1}, {name: plain}]}
    - {provider: local, region: b, services: [{name: web, replicas: 1}]}
    - {provider: local, region: c, services: [{name: web, replicas: 0}]}
%s
"""


def rows(text: str, replicas: list[state.ReplicaRecord], **preempted: float) -> dict[str, int]:
    spec = manifest.load_manifest(text, "m.yaml")
    base = desired.desired_services(spec, version=1)
    out = spot_desired.split(
        base,
        spec,
        replicas=replicas,
        preempted={f"local/{k}": v for k, v in preempted.items()},
        now=1000.0,
    )
    return {f"{d.service}@{d.placement}:{d.capacity}": d.replicas for d in out if d.replicas}


def replica(
    region: str, capacity: str, ready: S = S.READY, noticed: bool = False
) -> state.ReplicaRecord:
    return state.ReplicaRecord(
        id=f"web-{region}-{capacity}",
        deployment="app",
        service="web",
        placement=f"local/{region}",
        version=1,
        state=ready,
        capacity=capacity,
        preempt_at=1010.0 if noticed else None,
    )


@pytest.mark.parametrize(
    ("traffic", "running", "preempted", "expected"),
    [
        # nothing yet: 2 + 1 spot over a, b, c, and 2 on-demand until spot is ready
        (
            "",
            [],
            {},
            {
                "web@local/a:spot": 1,
                "web@local/b:spot": 1,
                "web@local/c:spot": 1,
                "web@local/a:on-demand": 1,
                "web@local/b:on-demand": 1,
            },
        ),
        # spot ready everywhere: no on-demand
        (
            "",
            [replica("a", "spot"), replica("b", "spot"), replica("c", "spot")],
            {},
            {"web@local/a:spot": 1, "web@local/b:spot": 1, "web@local/c:spot": 1},
        ),
        # a's replica noticed and a cooling: not counted, replaced where the policy can (b,
        # the cheapest active one with the fewest), no on-demand needed (2 ready remain)
        (
            "",
            [replica("a", "spot", noticed=True), replica("b", "spot"), replica("c", "spot")],
            {"a": 1000.0},
            {"web@local/b:spot": 2, "web@local/c:spot": 1},
        ),
        # the failover order is the preference among equal (local) prices: c first
        (
            "  traffic: {failover: [local/c, local/b, local/a]}",
            [replica("a", "spot"), replica("b", "spot"), replica("c", "spot")],
            {},
            {"web@local/a:spot": 1, "web@local/b:spot": 1, "web@local/c:spot": 1},
        ),
        (
            "  traffic: {failover: [local/c, local/b, local/a]}",
            [],
            {},
            {
                "web@local/a:spot": 1,
                "web@local/b:spot": 1,
                "web@local/c:spot": 1,
                "web@local/c:on-demand": 1,
                "web@local/b:on-demand": 1,
            },
        ),
    ],
)
def test_split(
    traffic: str,
    running: list[state.ReplicaRecord],
    preempted: dict[str, float],
    expected: dict[str, int],
) -> None:
    found = rows(MANIFEST % traffic, running, **preempted)
    assert found.pop("plain@local/a:on-demand") == 1  # a service without spot: as it was
    assert found == expected
