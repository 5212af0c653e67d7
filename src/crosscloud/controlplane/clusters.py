"""The control loop's Kubernetes side: every pass, for each EKS, AKS and GKE placement of
each deployment, apply its objects (when they changed, when drift is seen, and at least
every `RESYNC` seconds, which takes back hand edits), look at its pods and load
balancers, and record what it saw: pods as replica records (`pod` set), the Services'
load-balancer addresses as the gateway's endpoints for that placement (one per service,
once a pod is ready), capacity shortfalls answered by moving replicas (`planning.spill`).

Placements are reached in parallel and each one fails alone: an unreachable cluster, an
expired credential or a forbidden namespace is an event and a status message naming the
placement and context, retried after the error's delay; the others carry on. The talking
happens in a thread per placement, outside the controller's lock: `step` only starts a
placement's sync and, on a later pass, records what it found. A cluster that hangs (up to
the client's 30 s read timeout) so delays nothing but itself: not the local replicas, not
the API, not the other clusters. `delete` waits for a placement's sync in flight, and a
sync started for a deployment since deleted does nothing, so `down` leaves no object.

Contexts come from $KUBECONFIG or ~/.kube/config as the control plane process sees them.
Pods count as a capacity shortfall after $CROSSCLOUD_UNSCHEDULABLE_AFTER seconds
Unschedulable (default 120). Moves are stored as `scale` pins (the autoscaler leaves
pinned placements alone) until the next `up` that changes the manifest.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from crosscloud import errors, ports
from crosscloud.adapters import extras
from crosscloud.adapters.kubernetes import model
from crosscloud.controlplane import cluster_capacity, cluster_objects, preemption, records
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import manifest, state, targets
from crosscloud.planning import desired as desired_mod

log = logging.getLogger("crosscloud.controlplane")
UNSCHEDULABLE_ENV = "CROSSCLOUD_UNSCHEDULABLE_AFTER"
RESYNC = 30.0
MAX_RETRY = 30.0  # an unreachable cluster is tried again at least this often
Key = tuple[str, str]  # (deployment, placement)
S = state.ReplicaState
CLUSTER, LOCAL = targets.Target.CLUSTER, targets.Target.LOCAL
Target = ports.ClusterTarget[model.RenderPlacement]


@dataclass
class Seen:
    """What the loop knows of one cluster placement between passes."""

    target: model.RenderPlacement
    digest: str = ""
    applied_at: float = float("-inf")
    drift: bool = False
    error: str = ""
    retry_at: float = 0.0
    endpoints: dict[str, str | None] = field(default_factory=dict)
    shortfalls: tuple[targets.CapacityShortfall, ...] = ()
    rollout: tuple[targets.ServiceRollout, ...] = ()


@dataclass(frozen=True)
class Job:
    """One placement's sync as started: what to apply, and what the pass knew then."""

    desired: cluster_objects.Desired
    version: int
    generation: int  # of the deployment: `delete` moves it on
    now: float
    stale: bool  # apply: the objects changed, drift was seen, or the resync is due


@dataclass(frozen=True)
class Outcome:
    """One placement's pass: what was applied and seen, or why it failed."""

    desired: cluster_objects.Desired
    applied: list[str] | None = None
    report: targets.PlacementReport | None = None
    rollout: tuple[targets.ServiceRollout, ...] = ()
    error: str = ""
    delay: float = MAX_RETRY
    preempted: tuple[str, ...] = ()  # pods deleted because their spot node is going away


def _unschedulable_after() -> float:
    try:
        return float(os.environ.get(UNSCHEDULABLE_ENV, "120"))
    except ValueError:
        raise errors.UserError(f"{UNSCHEDULABLE_ENV} must be a number of seconds") from None


class ClusterSync:
    """Keeps each cluster placement in step with the store; `step` once per pass."""

    def __init__(
        self,
        *,
        target: Target | None = None,
        clock: Callable[[], float] = time.time,
        resync: float = RESYNC,
        tls_material: cluster_objects.TlsSource | None = None,
    ) -> None:
        self._target = target
        self.tls_material = tls_material  # certificates for the pods' Secrets (certs.py)
        self._loading = threading.Lock()  # placements sync from threads of their own
        self.clock = clock
        self.resync = resync
        self.known: dict[Key, Seen] = {}
        self.capacity = cluster_capacity.Capacity()
        self.flight: dict[Key, tuple[Job, Future[Outcome | None]]] = {}
        self.generations: dict[str, int] = {}

    @property
    def target(self) -> Target:
        """The Kubernetes target, loaded on first use: a deployment without cluster
        placements never imports the Kubernetes client (the optional `k8s` extra)."""
        with self._loading:
            if self._target is None:
                self._target = extras.kubernetes_target(unschedulable_after=_unschedulable_after())
            return self._target

    # -- one pass --------------------------------------------------------------------

    def step(self, shared: Shared, deps: Sequence[records.Deployed]) -> None:
        """Record the placement syncs that finished, start those that are due (without
        waiting for them), and move the replicas that cannot schedule."""
        wanted, broken = self._wanted(deps)
        now = self.clock()
        self._forget(shared, wanted, keep=broken)
        versions = {dep.name: dep.record.version for dep in deps}
        for key, (job, future) in list(self.flight.items()):
            if not future.done():
                continue
            del self.flight[key]
            if future.exception() is not None:  # not an Exception: _sync turns those into outcomes
                log.error("placement %s: %r", key[1], future.exception())
                continue
            outcome = future.result()
            # counts may have changed meanwhile: what it saw still holds, and a digest
            # older than the wanted one is applied again by the next sync
            current = key in wanted and key in self.known and versions.get(key[0]) == job.version
            if outcome is not None and current:
                self._note(shared, outcome, job.now)
        for key, desired in wanted.items():
            seen = self._seen(key, desired)
            if key not in self.flight and seen.retry_at <= now:
                self._start(desired, seen, version=versions[desired.deployment], now=now)
        self.capacity.answer(shared, self.known, wanted=wanted, now=now)

    def _start(
        self, desired: cluster_objects.Desired, seen: Seen, *, version: int, now: float
    ) -> None:
        stale = desired.digest != seen.digest or now - seen.applied_at >= self.resync
        job = Job(
            desired,
            version,
            self.generations.get(desired.deployment, 0),
            now,
            stale=stale or seen.drift,
        )
        future: Future[Outcome | None] = Future()

        def run() -> None:
            try:
                future.set_result(self._sync(job))
            except BaseException as exc:  # handed to `step` through the future
                future.set_exception(exc)

        self.flight[(desired.deployment, desired.placement)] = (job, future)
        # A daemon thread, not a pool: a hung cluster must not hold up the process's exit.
        threading.Thread(target=run, name=f"cluster {desired.placement}", daemon=True).start()

    def _wanted(
        self, deps: Sequence[records.Deployed]
    ) -> tuple[dict[Key, cluster_objects.Desired], set[str]]:
        """Every cluster placement's desired objects, and the deployments that failed to
        render (their clusters are left as they are)."""
        wanted, broken = {}, set()
        for dep in deps:
            try:
                found = cluster_objects.desired(
                    dep.spec,
                    version=dep.record.version,
                    overrides=dep.submitted.overrides(),
                    tls_material=self.tls_material,
                )
            except errors.UserError as exc:  # checked by `apply`; never stop the local loop
                log.error("%s: cannot render its cluster placements: %s", dep.name, exc)
                broken.add(dep.name)
                continue
            wanted.update({(d.deployment, d.placement): d for d in found})
        return wanted, broken

    def _seen(self, key: Key, desired: cluster_objects.Desired) -> Seen:
        seen = self.known.get(key)
        if seen is None or seen.target != desired.target:
            seen = self.known[key] = Seen(desired.target)
        return seen

    def _sync(self, job: Job) -> Outcome | None:
        """Runs in a thread of its own: cluster I/O only, no store writes, nothing shared
        but `generations` (read). None when the deployment was deleted meanwhile."""
        desired = job.desired
        if self.generations.get(desired.deployment, 0) != job.generation:
            return None
        try:
            applied = None
            if job.stale:
                applied = self.target.apply(desired.target, desired.objects)
            report = self.target.report(
                desired.target, deployment=desired.deployment, version=job.version
            )
            rollout = self.target.rollout(desired.target, services=desired.services)
            # pods on a node that is going away (a spot preemption notice): deleted now, so
            # they drain while the node still runs and their replacements start elsewhere
            noticed = [r.pod for r in report.replicas if r.preempt_at is not None and r.pod]
            preempted = self.target.delete_pods(desired.target, noticed) if noticed else []
        except errors.TargetError as exc:
            return Outcome(desired, error=str(exc), delay=exc.delay)
        except Exception as exc:  # one cluster's surprise must not stop the others
            log.exception("placement %s", desired.placement)
            where = f"placement {desired.placement} (context {desired.target.context!r})"
            return Outcome(desired, error=f"{where}: {type(exc).__name__}: {exc}")
        return Outcome(
            desired,
            applied=applied,
            report=report,
            rollout=tuple(rollout),
            preempted=tuple(preempted),
        )

    def _note(self, shared: Shared, outcome: Outcome, now: float) -> None:
        desired = outcome.desired
        seen = self.known[(desired.deployment, desired.placement)]
        if outcome.report is None:
            if outcome.error != seen.error:
                shared.event(desired.deployment, "ClusterError", outcome.error)
            seen.error, seen.retry_at = outcome.error, now + min(outcome.delay, MAX_RETRY)
            return
        if seen.error:
            shared.event(desired.deployment, "ClusterReachable", f"{_where(seen)} answers again")
        seen.error, seen.retry_at = "", 0.0
        if outcome.applied is not None:
            if desired.digest != seen.digest:
                shared.event(
                    desired.deployment,
                    "ClusterApplied",
                    f"{len(outcome.applied)} object(s) applied to {_where(seen)}: "
                    + ", ".join(f"{s}={n}" for s, n in sorted(desired.counts.items())),
                )
            seen.digest, seen.applied_at = desired.digest, now
        seen.endpoints = dict(outcome.report.endpoints)
        seen.shortfalls = outcome.report.shortfalls
        seen.rollout = outcome.rollout
        seen.drift = _drifted(desired, outcome.report)
        _record(shared, desired, outcome.report.replicas)
        if outcome.preempted:
            preemption.on_cluster(
                shared, desired.deployment, placement=desired.placement, pods=outcome.preempted
            )

    # -- what the rest of the control plane asks -------------------------------------

    def serving_endpoints(
        self, deployment: str, replicas: Iterable[state.ReplicaRecord]
    ) -> list[state.EndpointRecord]:
        """Local replicas' own addresses, and per cluster placement and service its load
        balancer once one of its pods is ready (the gateway's upstreams)."""
        replicas = list(replicas)
        local = [r for r in replicas if targets.target_of(r.placement) is LOCAL]
        pods = [r for r in replicas if targets.target_of(r.placement) is CLUSTER]
        out = desired_mod.serving_endpoints(local)
        ready = {(r.service, r.placement) for r in pods if r.state is S.READY}
        for (dep, placement), seen in self.known.items():
            for service, url in seen.endpoints.items() if dep == deployment else ():
                if url and (service, placement) in ready:
                    out.append(state.EndpointRecord(deployment, service, placement, url))
        return sorted(out, key=lambda e: (e.service, e.placement, e.url))

    def remember(self, spec: manifest.Manifest, *, version: int) -> None:
        """Know the cluster placements of `spec` (a deployment's version being replaced):
        any the next version leaves out has its objects deleted on the next pass."""
        try:
            found = cluster_objects.desired(spec, version=version, overrides={})
        except errors.UserError:  # rendered once; if it cannot be now, there is nothing to do
            return
        for d in found:
            self.known.setdefault((d.deployment, d.placement), Seen(d.target))

    def pod_log(
        self, record: state.ReplicaRecord, *, tail: int | None, since: str | None
    ) -> list[targets.LogLine]:
        """A pod replica's log from its cluster (TargetError when that cannot be read)."""
        seen = self.known.get((record.deployment, record.placement))
        if seen is None or record.pod is None:  # the pod's name: what its log is asked by
            raise errors.TargetError(
                f"replica {record.id}: its placement has not been reached yet; try again"
            )
        return self.target.pod_log(seen.target, record.pod, tail=tail, since=since)

    def status(self, deployment: str) -> list[dict[str, Any]]:
        """Each cluster placement of `deployment`: where, reachable or why not, endpoints."""
        return [
            {
                "placement": placement,
                "type": seen.target.type,
                "context": seen.target.context,
                "namespace": seen.target.namespace,
                # None until the first pass has reached it
                "reachable": False if seen.error else seen.applied_at > float("-inf") or None,
                "message": seen.error,
                "endpoints": dict(seen.endpoints),
                "rollout": {
                    r.service: {
                        "desired": r.desired,
                        "updated": r.updated,
                        "available": r.available,
                        "done": r.done,
                    }
                    for r in seen.rollout
                },
            }
            for (dep, placement), seen in sorted(self.known.items())
            if dep == deployment
        ]

    def delete(self, shared: Shared, deps: Sequence[records.Deployed]) -> list[str]:
        """`down`: delete what each cluster placement of `deps` holds that is labelled as
        theirs. Returns one line per placement (what was deleted, or why not)."""
        jobs = [
            d
            for dep in deps
            for d in cluster_objects.desired(dep.spec, version=dep.record.version, overrides={})
        ]
        names = {dep.name for dep in deps}
        for name in names:  # a sync not yet begun for them now does nothing
            self.generations[name] = self.generations.get(name, 0) + 1
        self._settle([k for k in self.flight if k[0] in names])
        lines = []
        for desired, result in zip(jobs, _parallel(jobs, self._delete_one), strict=True):
            lines.append(result)
            shared.event(desired.deployment, "ClusterDeleted", result)
        self.known = {k: v for k, v in self.known.items() if k[0] not in names}
        return lines

    def _delete_one(self, desired: cluster_objects.Desired) -> str:
        seen = Seen(desired.target)
        try:
            deleted = self.target.delete(desired.target, deployment=desired.deployment)
        except (errors.TargetError, errors.UserError) as exc:  # UserError: no k8s extra
            ns = desired.target.namespace
            return (
                f"{exc}; nothing was deleted there: when it answers, run `kubectl --context"
                f" {desired.target.context} -n {ns} delete deploy,svc,hpa,pdb"
                f" -l crosscloud.dev/deployment={desired.deployment}`"
            )
        return f"{len(deleted)} object(s) deleted in {_where(seen)}"

    def _forget(
        self, shared: Shared, wanted: Mapping[Key, cluster_objects.Desired], *, keep: set[str]
    ) -> None:
        """Placements dropped from a manifest: delete their objects; drop stale pod records."""
        dropped = [k for k in self.known if k not in wanted and k[0] not in keep]
        self._settle([k for k in dropped if k in self.flight])
        for key in dropped:
            seen = self.known.pop(key)
            if shared.store.get_deployment(key[0]) is not None:
                gone = cluster_objects.Desired(key[0], key[1], seen.target, {}, (), "")
                shared.event(key[0], "ClusterDeleted", self._delete_one(gone))
        for r in shared.store.list_replicas():
            if targets.target_of(r.placement) is not CLUSTER or r.deployment in keep:
                continue
            if (r.deployment, r.placement) not in wanted:
                shared.store.delete_replica(r.id)

    def _settle(self, keys: Iterable[Key]) -> None:
        """Wait for these placements' syncs in flight and forget them: one applying now
        finishes before its objects are deleted."""
        futures.wait([self.flight.pop(key)[1] for key in keys])


def _where(seen: Seen) -> str:
    return (
        f"placement {seen.target.provider}/{seen.target.region} (context {seen.target.context!r})"
    )


def _drifted(desired: cluster_objects.Desired, report: targets.PlacementReport) -> bool:
    """Something we applied is gone: a Service, or every pod of a service that wants some
    (its Deployment was deleted). Hand edits of fields wait for the resync."""
    if any(service not in report.endpoints for service in desired.services):
        return True
    running = {r.service for r in report.replicas}
    return any(n > 0 and s not in running for s, n in desired.counts.items())


def _record(
    shared: Shared, desired: cluster_objects.Desired, seen: Iterable[state.ReplicaRecord]
) -> None:
    """Make the store's pod records of one placement what the cluster shows."""
    store = shared.store
    stored = {
        r.id: r
        for r in store.list_replicas(deployment=desired.deployment, placement=desired.placement)
        if targets.target_of(r.placement) is CLUSTER
    }
    for record in seen:
        old = stored.pop(record.id, None)
        if old == record:
            continue
        store.upsert_replica(record)
        if old is None or old.state != record.state:
            _note_state(shared, record)
    for gone in stored.values():
        store.delete_replica(gone.id)


def _note_state(shared: Shared, record: state.ReplicaRecord) -> None:
    where = f"{record.service} pod {record.pod} in {record.placement}"
    if record.state is S.READY:
        shared.event(record.deployment, "Ready", f"{where} is ready")
    elif record.state in state.FAILED_STATES:
        shared.event(record.deployment, record.state.value, f"{where}: {record.message}")


def _parallel(
    items: Sequence[cluster_objects.Desired], call: Callable[[cluster_objects.Desired], Any]
) -> list[Any]:
    """`call` on every placement at once (cluster calls wait on the network)."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="cluster") as pool:
        return list(pool.map(call, items))
