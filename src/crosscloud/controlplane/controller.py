"""The control loop: observe -> plan -> act. Level-triggered: every pass compares what the
store says should run with what the target sees running, so killing the control plane at
any moment and starting it again converges with nothing orphaned and nothing lost."""

from __future__ import annotations

import dataclasses
import logging
import urllib.parse
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from crosscloud import errors, ports
from crosscloud.adapters import paths
from crosscloud.adapters.local import links
from crosscloud.controlplane import certs as certs_mod
from crosscloud.controlplane import (
    clusters,
    costs,
    frontdoor_cert,
    live,
    loop_health,
    networks,
    preemption,
    records,
    traffic,
    usage,
)
from crosscloud.controlplane.autoscaler import Autoscaler
from crosscloud.controlplane.gatewaylink import (
    GatewayLink,
    limits_config,
    service_config,
    tls_config,
)
from crosscloud.controlplane.leadership import Leadership, alone
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import actions, gatewayfile, manifest, state, targets
from crosscloud.planning import lifecycle, reconcile

log = logging.getLogger("crosscloud.controlplane")
S = state.ReplicaState
LOCAL = targets.Target.LOCAL


class Controller:
    """Owns the local target (processes) and the gateway link, and acts on what `shared`
    holds (the store, clock, lock and events its helpers share); one pass at a time.
    Cluster placements are `self.clusters`'s (clusters.py)."""

    def __init__(
        self,
        *,
        shared: Shared,
        target: ports.ProcessTarget,
        gateway: GatewayLink,
        policy: lifecycle.BackoffPolicy | None = None,
        leader: Leadership | None = None,
        network: networks.NetworkSync | None = None,
        certs: certs_mod.Certificates | None = None,
    ) -> None:
        self.shared = shared
        #: Every process's certificate for mutual TLS, issued and renewed each pass.
        self.certs = certs or certs_mod.Certificates(paths.home())
        self._tls_renewed = False
        # whether this process may act (several control planes on PostgreSQL: the leader)
        self.leader = leader or alone()
        self.target = target
        self.gateway = gateway
        gateway.on_restart = shared.wake.set  # its restart becomes an event on the next pass
        self.policy = policy or lifecycle.BackoffPolicy()
        self._stops = ThreadPoolExecutor(4, thread_name_prefix="stop")
        self._stopping: set[str] = set()
        self.traffic = traffic.TrafficWindow()  # the gateway's counters, for `status`
        self.live = live.LiveTraffic()  # the same, over seconds, for the dashboard (live.py)
        self.autoscaler = Autoscaler()  # replica counts from the gateway's load (autoscaler.py)
        # EKS/AKS/GKE placements (clusters.py); their pods get certificates as Secrets
        self.clusters = clusters.ClusterSync(tls_material=self.certs.material)
        self.health = loop_health.LoopHealth()  # whether passes complete, for `status`
        self.usage = usage.UsageMeter()  # requests per service and token (usage.py)
        self._unrecorded: list[str] = []  # gateway restarts whose event the store refused
        # isolated local regions (namespaces, links, relays); off unless the daemon says
        self.networks = network or networks.NetworkSync(links.Links(), reason="not enabled")
        self._front: frontdoor_cert.FrontDoorCert | None = None  # made when a manifest asks

    def _issued(self) -> Path:
        """The front door's certificate from the deployment's CA (frontdoor_cert.py)."""
        if self._front is None:
            self._front = frontdoor_cert.FrontDoorCert(self.gateway.home, host=self.gateway.host)
        return self._front.ensure(now=self.shared.clock())

    # -- one pass --------------------------------------------------------------------------

    def tick(self) -> None:
        """Observe every replica, decide, act, and push endpoints to the gateway."""
        shared = self.shared
        with shared.lock:
            self.leader.require()  # a standby, or a leader whose lease lapsed, does nothing
            self.autoscaler.step(shared, self.gateway)  # may store new counts for this pass
            deps = shared.deployments()
            # before any launch: a replica started below finds its certificate in place
            self._tls_renewed = self.certs.step(deps, now=shared.clock()) or self._tls_renewed
            self.clusters.step(shared, deps)  # EKS/AKS/GKE placements: see clusters.py
            self.target.use_health_paths(health_paths(deps))
            observed = self._observe()
            now = shared.clock()
            # local placements only (the rest: self.clusters); spot services split in two
            want = preemption.desired(deps, observed, now=now)
            for record in preemption.due(observed, now=now):  # notices that ran out
                self._stop(actions.Stop(record.id, "preempted: the notice ran out"), grace=0.0)
            staying = [r for r in observed if r.preempt_at is None]  # noticed ones leave anyway
            for action in reconcile.reconcile(want, staying, now=now, policy=self.policy):
                self._act(action, deps)
            self.networks.step(shared, deps, egress=self._gateway_port)
            self._publish(deps)
            costs.settle(shared, deps)  # the cost ledger (costs.py)

    def publish(self) -> None:
        """Push the current endpoints to the store and the gateway."""
        with self.shared.lock:
            self._publish(self.shared.deployments())

    def _gateway_port(self) -> tuple[int, ...]:
        """The port replicas in an isolated region reach the gateway on (their loopback)."""
        port = urllib.parse.urlsplit(self.gateway.url).port
        return () if port is None else (port,)

    def _observe(self) -> list[state.ReplicaRecord]:
        store = self.shared.store
        current = [r for r in store.list_replicas() if targets.target_of(r.placement) is LOCAL]
        active = [r for r in current if r.state in state.ACTIVE_STATES]
        seen = {o.replica_id: o for o in self.target.observe(active)}
        now = self.shared.clock()
        out = []
        for record in current:
            if record.id in seen:
                updated = lifecycle.apply_observation(
                    record, seen[record.id], now=now, policy=self.policy
                )
                if updated != record:
                    store.upsert_replica(updated)
                    self._note_change(record, updated)
                record = updated
            out.append(record)
        return out

    def _note_change(self, old: state.ReplicaRecord, new: state.ReplicaRecord) -> None:
        if old.state == new.state:
            return
        where = f"{new.service} {new.id} in {new.placement}"
        if new.state is S.READY:
            self.shared.event(new.deployment, "Ready", f"{where} is ready on {new.url}")
        elif new.state in state.FAILED_STATES:
            self.shared.event(new.deployment, new.state.value, f"{where}: {new.message}")

    # -- acting ----------------------------------------------------------------------------

    def _act(self, action: actions.Action, deps: Sequence[records.Deployed]) -> None:
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
        self,
        record: state.ReplicaRecord,
        deps: Sequence[records.Deployed],
        *,
        restarts: int = 0,
    ) -> targets.LaunchSpec | None:
        dep = next((d for d in deps if d.name == record.deployment), None)
        if dep is None:
            return None
        service = dep.spec.service(record.service)
        cpus = service.resources.cpu if service.resources and service.resources.cpu else 1.0
        tls = None
        if dep.spec.spec.secured(record.service):
            tls = self.certs.service_files(record.deployment, record.service)
        return targets.LaunchSpec(
            replica_id=record.id,
            deployment=record.deployment,
            service=record.service,
            placement=record.placement,
            version=record.version,
            source=service.source or "",
            command=service.command or (),
            health_path=service.health_path or targets.DEFAULT_HEALTH_PATH,
            cwd=str(dep.submitted.folder),
            cpus=cpus,
            env={**service.env, **self._discovery_env(dep.spec, record.service)},
            restarts=restarts,
            crash_count=record.crash_count,
            capacity=record.capacity,
            network=self.networks.launch_network(dep, record.placement),
            tls_cert=None if tls is None else str(tls.cert),
            tls_ca=None if tls is None else str(tls.ca),
        )

    def _discovery_env(self, spec: manifest.Manifest, service: str) -> dict[str, str]:
        """How code in one service reaches another: through the gateway, by name; with
        mutual TLS, through its mesh listener, with the service's own certificate (so a
        deployment's API tokens do not stand in the way of its own services)."""
        names = [s.name for s in spec.spec.services]
        env = {"CROSSCLOUD_GATEWAY_URL": self.gateway.url}
        if spec.spec.security.enabled:
            urls = {name: self.gateway.mesh_url(name) for name in names}
            files = self.certs.service_files(spec.metadata.name, service)
            env.update(CROSSCLOUD_TLS_CERT=str(files.cert), CROSSCLOUD_TLS_CA=str(files.ca))
        else:
            urls = {name: f"{self.gateway.url}/{name}" for name in names}
        env["CROSSCLOUD_SERVICE_URLS"] = ",".join(f"{k}={v}" for k, v in sorted(urls.items()))
        return env

    def _start(self, action: actions.Start, deps: Sequence[records.Deployed]) -> None:
        region = action.placement.split("/", 1)[-1]
        replica_id = f"{action.service}-{region}-{uuid.uuid4().hex[:8]}"
        pending = state.ReplicaRecord(
            id=replica_id,
            deployment=action.deployment,
            service=action.service,
            placement=action.placement,
            version=action.version,
            state=S.PENDING,
            started_at=self.shared.clock(),
            message=action.reason,
            capacity=action.capacity,
        )
        # Recorded before launch: a pass that runs again (or a restarted control plane)
        # sees it and never starts a second one.
        self.shared.store.upsert_replica(pending)
        spec = self._launch_spec(pending, deps)
        if spec is None:
            return
        self._launch(spec)
        self.shared.event(
            action.deployment,
            "Started",
            f"{replica_id} ({action.capacity}) in {action.placement}: {action.reason}",
        )

    def _restart(self, action: actions.Restart, deps: Sequence[records.Deployed]) -> None:
        record = self.shared.store.get_replica(action.replica_id)
        if record is None:
            return
        self.leader.require()
        self.target.stop(record, grace=2.0)
        spec = self._launch_spec(record, deps, restarts=record.restarts + 1)
        if spec is None:
            return
        self._launch(spec, crash_count=record.crash_count)
        self.shared.event(record.deployment, "Restarted", f"{record.id}: {action.reason}")

    def _launch(self, spec: targets.LaunchSpec, *, crash_count: int | None = None) -> None:
        """Start a replica process and record it; one that cannot be recorded (the store
        is down, or this process lost the lease meanwhile) is stopped, not left behind."""
        self.leader.require()
        started = self.target.start(spec)
        if crash_count is not None:
            started = dataclasses.replace(started, crash_count=crash_count, state=S.STARTING)
        try:
            self.shared.store.upsert_replica(started)
        except errors.CrossCloudError:
            self.target.stop(started, grace=0.0)
            raise

    def _stop(self, action: actions.Stop, *, grace: float | None = None) -> None:
        record = self.shared.store.get_replica(action.replica_id)
        if record is None or record.id in self._stopping:
            return
        if record.state is not S.STOPPING:
            record = dataclasses.replace(record, state=S.STOPPING, message=action.reason)
            self.shared.store.upsert_replica(record)
            self.shared.event(record.deployment, "Stopping", f"{record.id}: {action.reason}")
        self._stopping.add(record.id)
        # Stops drain (SIGTERM, in-flight requests finish): run them beside the loop. The
        # replica already left the gateway's endpoints when it became Stopping.
        self._stops.submit(self._finish_stop, record, grace)

    def _finish_stop(self, record: state.ReplicaRecord, grace: float | None = None) -> None:
        try:
            self.leader.require()  # else the leader stops it (the row says Stopping)
            self.target.stop(record, grace=grace)
            with self.shared.lock:
                self.shared.store.delete_replica(record.id)
        finally:
            self._stopping.discard(record.id)
            self.shared.wake.set()

    # -- publishing ------------------------------------------------------------------------

    def _publish(self, deps: Sequence[records.Deployed]) -> None:
        store = self.shared.store
        services = []
        for dep in deps:
            replicas = store.list_replicas(deployment=dep.name)
            endpoints = self.clusters.serving_endpoints(dep.name, replicas)  # local + clusters
            if endpoints != store.list_endpoints(deployment=dep.name):
                store.set_endpoints(dep.name, endpoints)
            api_tokens = store.list_tokens(deployment=dep.name)
            noticed = {r.id for r in replicas if r.preempt_at is not None}
            for service in dep.spec.spec.services:
                mine = [e for e in endpoints if e.service == service.name]
                secured = dep.spec.spec.secured(service.name)
                who = self.certs.service_identity(dep.name, service.name) if secured else None
                services.append(
                    service_config(
                        dep.spec,
                        service.name,
                        mine,
                        api_tokens=api_tokens,
                        draining=noticed,
                        identity=who,
                    )
                )
        if deps or self.gateway.alive():
            self.leader.require()
            tls = tls_config([(d.spec, d.submitted.folder) for d in deps], issued=self._issued)
            self.gateway.ensure(
                services,
                limits_config([dep.spec for dep in deps]),
                tls,
                upstream_tls=self._gateway_tls(deps),
                reload=self._tls_renewed,
            )
            self._tls_renewed = False
        self._unrecorded += self.gateway.take_notes()
        while self._unrecorded:  # kept until stored: a full disk delays the event, not loses it
            for dep in deps:  # every deployment's traffic went through it
                self.shared.event(dep.name, "GatewayRestarted", self._unrecorded[0])
            self._unrecorded.pop(0)

    def _gateway_tls(self, deps: Sequence[records.Deployed]) -> gatewayfile.UpstreamTlsFile | None:
        """The gateway's certificate while any deployment has mutual TLS on."""
        if not any(dep.spec.spec.security.enabled for dep in deps):
            return None
        files = self.certs.gateway_files()
        return gatewayfile.UpstreamTlsFile(cert=str(files.cert), ca=str(files.ca))

    def busy(self) -> bool:
        """Stops still draining in the background."""
        return bool(self._stopping)

    def close(self) -> None:
        self._stops.shutdown(wait=True)
        self.target.close()


def health_paths(deps: Sequence[records.Deployed]) -> dict[str, str]:
    """The readiness path of each service that declares its own (`healthPath`)."""
    return {
        targets.health_key(dep.name, service.name): service.health_path
        for dep in deps
        for service in dep.spec.spec.services
        if service.health_path
    }
