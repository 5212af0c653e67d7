"""The cost ledger's proof: a scripted day on a fake clock, driven through the real control
loop (Controller, `scale`, `down`) over a real SQLite state file, with a control-plane
restart in the middle, ends with the ledger equal to a hand-computed sum to the cent."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from crosscloud.adapters.store.sql_store import SqlStore
from crosscloud.controlplane import certs, cost_ops, operations, preemption
from crosscloud.controlplane.controller import Controller
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import state, targets

pytestmark = pytest.mark.timeout(60)

HOUR = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: shop}
spec:
  services: [{name: api, source: service.py:Api}]
  placements:
    - {provider: local, region: a, pricePerHour: 0.50, services: [{name: api, replicas: 1}]}
    - {provider: local, region: b, pricePerHour: 1.25, services: [{name: api, replicas: 1}]}
"""


class Processes:
    """A ProcessTarget whose replicas start at once and run until stopped; it outlives
    the control planes that use it, as local processes do."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.running: set[str] = set()
        self.pids = itertools.count(1000)

    def start(self, spec: targets.LaunchSpec) -> state.ReplicaRecord:
        self.running.add(spec.replica_id)
        return state.ReplicaRecord(
            id=spec.replica_id,
            deployment=spec.deployment,
            service=spec.service,
            placement=spec.placement,
            version=spec.version,
            state=state.ReplicaState.STARTING,
            pid=next(self.pids),
            port=next(self.pids),
            started_at=self.clock(),
            capacity=spec.capacity,
        )

    def observe(self, records: Iterable[state.ReplicaRecord]) -> list[state.ReplicaObservation]:
        live = state.Liveness.RUNNING
        return [
            state.ReplicaObservation(
                r.id,
                live if r.id in self.running else state.Liveness.GONE,
                ready=r.id in self.running,
            )
            for r in records
        ]

    def stop(self, record: state.ReplicaRecord, *, grace: float | None = None) -> int | None:
        self.running.discard(record.id)
        return 0

    def use_health_paths(self, paths: Mapping[str, str]) -> None:
        pass

    def record_log_path(self, record: state.ReplicaRecord) -> Path:
        return Path("/dev/null")

    def close(self) -> None:
        """The replicas keep running."""


class Gateway:
    url = admin_url = "http://127.0.0.1:9"
    on_restart: Any = None

    def ensure(self, services: Any, limits: Any = None, tls: Any = None, **more: Any) -> None:
        """Nothing listens: the ledger does not need the gateway."""

    def mesh_url(self, service: str) -> str:
        return f"https://127.0.0.1:9/{service}"

    def alive(self) -> bool:
        return False

    def take_notes(self) -> list[str]:
        return []

    def stop(self) -> None:
        """Nothing to stop."""


class Day:
    """A control plane over a SQLite file with a clock the test moves."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path
        (tmp_path / "service.py").write_text("class Api: ...\n")
        self.manifest = tmp_path / "crosscloud.yaml"
        self.manifest.write_text(MANIFEST)
        self.db = f"sqlite:///{tmp_path / 'state.db'}"
        self.now = T0
        self.target = Processes(lambda: self.now)
        self.ctl = self._control_plane()

    def _control_plane(self) -> Controller:
        shared = Shared(store=SqlStore(self.db), clock=lambda: self.now)
        return Controller(
            shared=shared,
            target=self.target,
            gateway=Gateway(),  # type: ignore[arg-type]
            certs=certs.Certificates(self.home),  # its CA in the test's folder
        )

    def restart(self) -> None:
        """The control plane exits and a new one opens the same state file."""
        self.ctl.close()
        self.ctl.shared.store.close()
        self.ctl = self._control_plane()

    def at(self, hours: float) -> None:
        """Move the clock to `hours` into the day and let the loop settle there."""
        self.now = T0 + hours * HOUR
        for _ in range(3):  # start, then the background stops finish, then the ledger
            self.ctl.tick()
            deadline = time.monotonic() + 10
            while self.ctl.busy() and time.monotonic() < deadline:
                time.sleep(0.005)

    def scale(self, region: str, replicas: int) -> None:
        operations.scale(
            self.ctl.shared, service="api", replicas=replicas, placement=f"local/{region}"
        )

    def cost(self, by: str, since: str = "24h") -> dict[str, Any]:
        return cost_ops.report(self.ctl.shared, {"by": by, "since": since})


def test_a_scripted_day_costs_what_a_hand_sum_says(tmp_path: Path) -> None:
    day = Day(tmp_path)
    operations.apply(
        day.ctl.shared,
        cluster_sync=day.ctl.clusters,
        text=MANIFEST,
        path=str(day.manifest),
    )
    day.at(0)  # one replica in a ($0.50/h), one in b ($1.25/h)
    assert len(day.target.running) == 2
    day.scale("a", 3)
    day.at(6)  # scale up: two more in a
    assert len(day.target.running) == 4
    day.at(9.5)
    day.restart()  # the replicas outlive it; the new one carries on the same ledger
    day.at(10)
    day.scale("a", 1)
    day.at(12)  # scale down: two of a's three go
    assert len(day.target.running) == 2
    day.scale("b", 0)
    day.at(18)  # b to zero
    day.scale("a", 0)
    day.at(20)  # a to zero: nothing runs
    assert day.target.running == set()
    day.at(24)

    # a: 1 replica 0-6h, 3 replicas 6-12h, 1 replica 12-20h = 32 replica-hours x $0.50
    # b: 1 replica 0-18h = 18 replica-hours x $1.25
    by_placement = day.cost("placement")
    assert {r["key"]: round(r["cost"], 2) for r in by_placement["rows"]} == {
        "local/a": 16.00,
        "local/b": 22.50,
    }
    assert round(by_placement["total"], 2) == 38.50
    assert by_placement["hourly"] == 0.0
    assert round(day.cost("service")["total"], 2) == 38.50
    assert round(day.cost("cloud")["rows"][0]["cost"], 2) == 38.50
    # the last 6 hours (18-24h): a's last replica, 18-20h
    assert round(day.cost("placement", since="6h")["total"], 2) == 1.00


def test_the_ledger_runs_while_replicas_run_and_stops_at_down(tmp_path: Path) -> None:
    day = Day(tmp_path)
    operations.apply(
        day.ctl.shared, cluster_sync=day.ctl.clusters, text=MANIFEST, path=str(day.manifest)
    )
    day.at(0)
    day.now = T0 + 2 * HOUR  # no pass since: the report still counts up to now
    running = day.cost("service")
    assert round(running["total"], 2) == 3.50  # 2h x ($0.50 + $1.25)
    assert running["hourly"] == pytest.approx(1.75)
    operations.down(day.ctl, deployment="shop")
    day.at(5)
    done = day.cost("service")
    assert round(done["total"], 2) == 3.50
    assert done["hourly"] == 0.0
    metrics = cost_ops.metrics(day.ctl.shared).decode()
    assert (
        'crosscloud_cost_usd_total{deployment="shop",service="api",placement="local/b"' in metrics
    )


SPOT_MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: shop}
spec:
  services:
    - name: api
      source: service.py:Api
      scaling: {minReplicas: 2, maxReplicas: 2}
      spot: {baseOnDemand: 0, overprovision: 0, dynamicFallback: false}
  placements:
    - {provider: local, region: a, pricePerHour: 1.0, spotPricePerHour: 0.25}
    - {provider: local, region: b, pricePerHour: 1.0, spotPricePerHour: 0.25}
"""


def test_a_day_with_a_spot_preemption(tmp_path: Path) -> None:
    day = Day(tmp_path)
    day.manifest.write_text(SPOT_MANIFEST)
    operations.apply(
        day.ctl.shared, cluster_sync=day.ctl.clusters, text=SPOT_MANIFEST, path=str(day.manifest)
    )
    day.at(0)
    before = {r.id: r for r in day.ctl.shared.store.list_replicas()}
    assert sorted(r.capacity for r in before.values()) == ["spot", "spot"]
    day.at(4)
    preemption.notice(day.ctl.shared, placement="local/a", seconds=0.0)
    day.at(4)  # killed at once; its replacement starts now, elsewhere
    after = {r.id: r for r in day.ctl.shared.store.list_replicas()}
    assert len(after) == 2 and len(set(after) - set(before)) == 1
    day.at(8)
    operations.down(day.ctl, deployment="shop")
    day.at(10)
    # spot replica-hours: the preempted one 0-4h, the other 0-8h, its replacement 4-8h
    report = day.cost("placement")
    assert round(report["total"], 2) == round((4 + 8 + 4) * 0.25, 2) == 4.00
    intervals = day.ctl.shared.store.list_intervals(since=0.0)
    assert {i.capacity for i in intervals} == {"spot"}
