"""The control loop: observe -> plan -> act. Level-triggered: every pass compares what the
store says should run with what the target sees running, so killing the control plane at
any moment and starting it again converges with nothing orphaned and nothing lost."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from crosscloud import errors, ports
from crosscloud.adapters import local
from crosscloud.controlplane import cluster_objects, clusters, loop_health, records, traffic
from crosscloud.controlplane.autoscaler import Autoscaler
from crosscloud.controlplane.gatewaylink import GatewayLink, limits_config, service_config
from crosscloud.controlplane.leadership import Leadership, alone
from crosscloud.domain import actions, manifest, state
from crosscloud.planning import desired as desired_mod
from crosscloud.planning import lifecycle, reconcile

log = logging.getLogger("crosscloud.controlplane")
S = state.ReplicaState


class Controller:
    """Owns the store, the local target and the gateway link; one pass at a time."""

    def __init__(
        self,
        *,
        store: ports.StateStore,
        target: local.LocalTarget,
        gateway: GatewayLink,
        policy: lifecycle.BackoffPolicy | None = None,
        clock: Callable[[], float] = time.time,
        leader: Leadership | None = None,
    ) -> None:
        self.store = store
        # whether this process may act (several control planes on PostgreSQL: the leader)
        self.leader = leader or alone()
        self.target = target
        self.wake = threading.Event()
        self.gateway = gateway
        gateway.on_restart = self.wake.set  # its restart becomes an event on the next pass
        self.policy = policy or lifecycle.BackoffPolicy()
        self.clock = clock
        self.lock = threading.RLock()
        self._stops = ThreadPoolExecutor(4, thread_name_prefix="stop")
        self._stopping: set[str] = set()
        self._parsed: dict[str, tuple[str, manifest.Manifest]] = {}
        self.traffic = traffic.TrafficWindow()  # the gateway's counters, for `status`
        self.autoscaler = Autoscaler()  # replica counts from the gateway's load (autoscaler.py)
        self.clusters = clusters.ClusterSync()  # EKS/AKS/GKE placements (clusters.py)
        self.health = loop_health.LoopHealth()  # whether passes complete, for `status`
        self._unrecorded: list[str] = []  # gateway restarts whose event the store refused

    # -- desired state -------------------------------------------------------------------

    def deployments(
        self,
    ) -> list[tuple[state.DeploymentRecord, records.Submitted, manifest.Manifest]]:
        out = []
        for record in self.store.list_deployments():
            submitted = records.submitted_of(record)
            cached = self._parsed.get(record.name)
            if cached is None or cached[0] != record.manifest_hash:
                cached = (record.manifest_hash, submitted.parse())
                self._parsed[record.name] = cached
            out.append((record, submitted, cached[1]))
        return out

    def event(self, deployment: str, kind: str, message: str, **fields: Any) -> None:
        self.store.add_event(state.Event(self.clock(), deployment, kind, message, fields))
        log.info("%s %s: %s", deployment, kind, message)

    def note(self, deployment: str, kind: str, message: str) -> None:
        """The event of a change already stored: a store that refuses it now loses the
        event (with a warning), not the change, which must not read as failed."""
        try:
            self.event(deployment, kind, message)
        except errors.CrossCloudError as exc:
            log.warning("%s %s: %s (event not recorded: %s)", deployment, kind, message, exc)

    # -- one pass --------------------------------------------------------------------------

    def tick(self) -> None:
        """Observe every replica, decide, act, and push endpoints to the gateway."""
        with self.lock:
            self.leader.require()  # a standby, or a leader whose lease lapsed, does nothing
            self.autoscaler.step(self)  # autoscaling: may store new counts for this pass
            deps = self.deployments()
            self.clusters.step(self, deps)  # EKS/AKS/GKE placements: see clusters.py
            want = [
                d
                for record, submitted, spec in deps
                for d in desired_mod.desired_services(
                    spec, version=record.version, scale=submitted.overrides()
                )
                if cluster_objects.is_local(d.placement)  # the rest: self.clusters
            ]
            observed = self._observe()
            now = self.clock()
            for action in reconcile.reconcile(want, observed, now=now, policy=self.policy):
                self._act(action, deps)
            self._publish(deps)

    def publish(self) -> None:
        """Push the current endpoints to the store and the gateway."""
        with self.lock:
            self._publish(self.deployments())

    def _observe(self) -> list[state.ReplicaRecord]:
        current = [r for r in self.store.list_replicas() if r.pod is None]  # pods: clusters.py
        active = [r for r in current if r.state in state.ACTIVE_STATES]
        seen = {o.replica_id: o for o in self.target.observe(active)}
        now = self.clock()
        out = []
        for record in current:
            if record.id in seen:
                updated = lifecycle.apply_observation(
                    record, seen[record.id], now=now, policy=self.policy
                )
                if updated != record:
                    self.store.upsert_replica(updated)
                    self._note_change(record, updated)
                record = updated
            out.append(record)
        return out

    def _note_change(self, old: state.ReplicaRecord, new: state.ReplicaRecord) -> None:
        if old.state == new.state:
            return
        where = f"{new.service} {new.id} in {new.placement}"
        if new.state is S.READY:
            self.event(new.deployment, "Ready", f"{where} is ready on {new.url}")
        elif new.state in state.FAILED_STATES:
            self.event(new.deployment, new.state.value, f"{where}: {new.message}")

    # -- acting ----------------------------------------------------------------------------

    def _act(self, action: actions.Action, deps: list[Any]) -> None:
        try:
            if isinstance(action, actions.Start):
                self._start(action, deps)
            elif isinstance(action, actions.Stop):
                self._stop(action)
            else:
                self._restart(action, deps)
        except errors.NotLeader:
            raise  # the rest of the pass must not act either
        except errors.CrossCloudError as exc:
            log.error("%s failed: %s", action, exc)

    def _launch_spec(
        self, record: state.ReplicaRecord, deps: list[Any], *, restarts: int = 0
    ) -> local.LaunchSpec | None:
        for dep, submitted, spec in deps:
            if dep.name != record.deployment:
                continue
            service = spec.service(record.service)
            cpus = service.resources.cpu if service.resources and service.resources.cpu else 1.0
            return local.LaunchSpec(
                replica_id=record.id,
                deployment=record.deployment,
                service=record.service,
                placement=record.placement,
                version=record.version,
                source=service.source or "",
                cwd=str(submitted.folder),
                cpus=cpus,
                env={**service.env, **self._discovery_env(spec)},
                restarts=restarts,
                crash_count=record.crash_count,
            )
        return None

    def _discovery_env(self, spec: manifest.Manifest) -> dict[str, str]:
        """How code in one service reaches another: through the gateway, by name."""
        urls = {s.name: f"{self.gateway.url}/{s.name}" for s in spec.spec.services}
        return {
            "CROSSCLOUD_GATEWAY_URL": self.gateway.url,
            "CROSSCLOUD_SERVICE_URLS": ",".join(f"{k}={v}" for k, v in sorted(urls.items())),
        }

    def _start(self, action: actions.Start, deps: list[Any]) -> None:
        region = action.placement.split("/", 1)[-1]
        replica_id = f"{action.service}-{region}-{uuid.uuid4().hex[:8]}"
        pending = state.ReplicaRecord(
            id=replica_id,
            deployment=action.deployment,
            service=action.service,
            placement=action.placement,
            version=action.version,
            state=S.PENDING,
            started_at=self.clock(),
            message=action.reason,
        )
        # Recorded before launch: a pass that runs again (or a restarted control plane)
        # sees it and never starts a second one.
        self.store.upsert_replica(pending)
        spec = self._launch_spec(pending, deps)
        if spec is None:
            return
        self._launch(spec)
        self.event(
            action.deployment, "Started", f"{replica_id} in {action.placement}: {action.reason}"
        )

    def _restart(self, action: actions.Restart, deps: list[Any]) -> None:
        record = self.store.get_replica(action.replica_id)
        if record is None:
            return
        self.leader.require()
        self.target.stop(record, grace=2.0)
        spec = self._launch_spec(record, deps, restarts=record.restarts + 1)
        if spec is None:
            return
        self._launch(spec, crash_count=record.crash_count)
        self.event(record.deployment, "Restarted", f"{record.id}: {action.reason}")

    def _launch(self, spec: local.LaunchSpec, *, crash_count: int | None = None) -> None:
        """Start a replica process and record it; one that cannot be recorded (the store
        is down, or this process lost the lease meanwhile) is stopped, not left behind."""
        self.leader.require()
        started = self.target.start(spec)
        if crash_count is not None:
            started = dataclasses.replace(started, crash_count=crash_count, state=S.STARTING)
        try:
            self.store.upsert_replica(started)
        except errors.CrossCloudError:
            self.target.stop(started, grace=0.0)
            raise

    def _stop(self, action: actions.Stop) -> None:
        record = self.store.get_replica(action.replica_id)
        if record is None or record.id in self._stopping:
            return
        if record.state is not S.STOPPING:
            record = dataclasses.replace(record, state=S.STOPPING, message=action.reason)
            self.store.upsert_replica(record)
            self.event(record.deployment, "Stopping", f"{record.id}: {action.reason}")
        self._stopping.add(record.id)
        # Stops drain (SIGTERM, in-flight requests finish): run them beside the loop. The
        # replica already left the gateway's endpoints when it became Stopping.
        self._stops.submit(self._finish_stop, record)

    def _finish_stop(self, record: state.ReplicaRecord) -> None:
        try:
            self.leader.require()  # else the leader stops it (the row says Stopping)
            self.target.stop(record)
            with self.lock:
                self.store.delete_replica(record.id)
        finally:
            self._stopping.discard(record.id)
            self.wake.set()

    # -- publishing ------------------------------------------------------------------------

    def _publish(self, deps: list[Any]) -> None:
        services = []
        for record, _submitted, spec in deps:
            replicas = self.store.list_replicas(deployment=record.name)
            endpoints = self.clusters.serving_endpoints(record.name, replicas)  # local + clusters
            if endpoints != self.store.list_endpoints(deployment=record.name):
                self.store.set_endpoints(record.name, endpoints)
            api_tokens = self.store.list_tokens(deployment=record.name)
            for service in spec.spec.services:
                mine = [e for e in endpoints if e.service == service.name]
                services.append(service_config(spec, service.name, mine, api_tokens=api_tokens))
        if deps or self.gateway.alive():
            self.leader.require()
            self.gateway.ensure(services, limits_config([spec for _r, _s, spec in deps]))
        self._unrecorded += self.gateway.take_notes()
        while self._unrecorded:  # kept until stored: a full disk delays the event, not loses it
            for record, _submitted, _spec in deps:  # every deployment's traffic went through it
                self.event(record.name, "GatewayRestarted", self._unrecorded[0])
            self._unrecorded.pop(0)

    def busy(self) -> bool:
        """Stops still draining in the background."""
        return bool(self._stopping)

    def close(self) -> None:
        self._stops.shutdown(wait=True)
        self.target.close()
