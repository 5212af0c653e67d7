"""What the CLI asks of the control plane: apply a manifest, scale, tear down, report.

Every request is validated in full before anything is stored, so a bad manifest or flag
leaves the running deployment untouched. `apply` and `scale` change only stored state (the
loop acts on it): they take what the loop's parts share. `down`, `status` and `pod_log`
act on or report the whole control plane (its target, clusters, gateway, leadership):
they take the controller."""

from __future__ import annotations

import dataclasses
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from crosscloud import errors
from crosscloud.adapters import extras
from crosscloud.controlplane import (
    cluster_objects,
    costs,
    gatewaylink,
    preemption,
    records,
    token_ops,
    traffic,
)
from crosscloud.controlplane.clusters import ClusterSync
from crosscloud.controlplane.controller import Controller
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import manifest, state, targets
from crosscloud.planning import desired as desired_mod

LOCAL, CLUSTER = targets.Target.LOCAL, targets.Target.CLUSTER


def apply(
    shared: Shared,
    *,
    cluster_sync: ClusterSync,
    text: str,
    path: str,
    catalog: str | None = None,
) -> dict[str, Any]:
    """Store a new manifest (a new version when it or a service's source changed), with
    the user's price catalog for the cost ledger when given (None: keep the stored one; a
    new catalog alone is no new version)."""
    submitted = records.Submitted(text=text, path=path, catalog=catalog or "")
    spec = submitted.parse()  # ManifestError: nothing is touched
    if catalog:
        costs.user_rows(catalog)  # ManifestError naming the bad lines: nothing is touched
    check_runnable(spec, submitted)
    with shared.lock:
        _check_names(shared, spec)
        digest = records.content_hash(submitted, spec)
        name = spec.metadata.name
        old = shared.store.get_deployment(name)
        if old is not None and old.manifest_hash == digest:
            _keep_catalog(shared, old, catalog)
            return {"deployment": name, "version": old.version, "changed": False}
        if old is not None:  # autoscaled counts carry over to the new version; pins do not
            before = records.submitted_of(old)
            submitted = dataclasses.replace(
                submitted,
                autoscale=before.autoscale,
                preempted=before.preempted,
                catalog=before.catalog if catalog is None else catalog,
            )
            # its cluster placements, so those the new version drops are cleaned up even
            # when this process never synced them (it was restarted since)
            cluster_sync.remember(before.parse(), version=old.version)
        version = 1 if old is None else old.version + 1
        now = shared.clock()
        shared.store.put_deployment(
            state.DeploymentRecord(
                name=name,
                manifest_json=submitted.dumps(),
                manifest_hash=digest,
                version=version,
                created_at=old.created_at if old else now,
                updated_at=now,
            )
        )
        kind = "Applied" if old is None else "RolloutStarted"
        shared.note(name, kind, f"version {version} of {path}")  # stored: done, event or not
    shared.wake.set()
    return {"deployment": name, "version": version, "changed": True}


def _keep_catalog(shared: Shared, old: state.DeploymentRecord, catalog: str | None) -> None:
    """The same manifest with another price catalog: the catalog is stored, no rollout."""
    before = records.submitted_of(old)
    if catalog is not None and before.catalog != catalog:
        updated = dataclasses.replace(before, catalog=catalog)
        shared.store.put_deployment(dataclasses.replace(old, manifest_json=updated.dumps()))


def check_runnable(spec: manifest.Manifest, submitted: records.Submitted) -> None:
    """Refuse what `up` cannot run (the CLI asks too, before it starts anything): automatic
    placements, cluster services without images, missing sources, missing extras."""
    if spec.is_auto:
        raise errors.UserError(
            "`up` needs declared placements; `placements: auto` is for `crosscloud plan`"
        )
    extras.raise_if(_extras_needed(spec, submitted))
    cluster_objects.check(spec, submitted.path)  # EKS/AKS/GKE placements run images
    gatewaylink.check_tls(spec, path=submitted.path, folder=submitted.folder)
    local = _services_on(spec, LOCAL)
    for service in spec.spec.services:
        if service.name not in local:
            continue
        if service.command is not None:
            _check_program(service.name, service.command[0], submitted)
            continue
        if not service.source:
            raise errors.UserError(
                f"{submitted.path}: service {service.name!r} runs image {service.image!r},"
                " which local placements cannot run; give it `source: path.py:Class` or"
                " `command: [program, args...]` (an OpenAI-compatible server such as"
                " `python -m llama_cpp.server --port {port}` runs the same way)"
            )
        file = records.source_file(submitted.folder, service.source)
        if not file.is_file():
            raise errors.UserError(
                f"{submitted.path}: service {service.name!r}: no such file {str(file)!r}"
            )


def _check_program(service: str, program: str, submitted: records.Submitted) -> None:
    """The program of a `command:` exists (on PATH, or a path from the manifest's folder)."""
    where = submitted.folder / program if os.sep in program else None
    found = shutil.which(str(where) if where else program)
    if found is None:
        looked = f"no file {str(where)!r}" if where else "not on PATH"
        raise errors.UserError(
            f"{submitted.path}: service {service!r}: command program {program!r}: {looked}"
            " (the control plane runs it with its own PATH, from the manifest's folder)"
        )


def _extras_needed(spec: manifest.Manifest, submitted: records.Submitted) -> list[extras.Need]:
    """Cluster placements need the `k8s` extra; local services, the extras they import."""
    clusters = [f"{p.id} ({p.type})" for p in spec.placements() if _target(p) is CLUSTER]
    needs = extras.cluster_needs(clusters)
    local = _services_on(spec, LOCAL)
    for service in spec.spec.services:
        if service.name in local and service.source:
            file = records.source_file(submitted.folder, service.source)
            needs += extras.source_needs(file, label=f"service {service.name!r}")
    return needs


def _target(where: manifest.Placement) -> targets.Target:
    return targets.target_of(where.id)


def _services_on(spec: manifest.Manifest, target: targets.Target) -> set[str]:
    """The services that have a placement on `target`."""
    return {s.name for p in spec.placements() if _target(p) is target for s in p.services}


def _check_names(shared: Shared, spec: manifest.Manifest) -> None:
    """Service names are routes on the one gateway: two deployments cannot share one."""
    mine = {s.name for s in spec.spec.services}
    for other in shared.deployments():
        if other.name == spec.metadata.name:
            continue
        clash = sorted(mine & {s.name for s in other.spec.spec.services})
        if clash:
            raise errors.UserError(
                f"service(s) {clash} already run in deployment {other.name!r}; the gateway"
                " routes by service name, so rename them or `crosscloud down` that one"
            )


def scale(shared: Shared, *, service: str, replicas: int, placement: str | None) -> dict[str, Any]:
    """Override the replica count of `service` in one placement (until the next apply)."""
    if replicas < 0:
        raise errors.UserError(f"replicas must be 0 or more, got {replicas}")
    with shared.lock:
        deps = shared.deployments()
        found = [d for d in deps if any(x.name == service for x in d.spec.spec.services)]
        if not found:
            known = sorted({x.name for d in deps for x in d.spec.spec.services})
            raise errors.UserError(f"no service {service!r}; known services: {known or 'none'}")
        record, submitted, spec = found[0].record, found[0].submitted, found[0].spec
        where = [p.id for p in spec.placements() if any(s.name == service for s in p.services)]
        if placement is None and len(where) == 1:
            placement = where[0]
        if placement not in where:
            given = f"placement {placement!r}" if placement else "no --placement"
            raise errors.UserError(f"{given} for {service!r}; it runs in: {', '.join(where)}")
        overrides = {**submitted.scale, desired_mod.scale_key(service, placement): replicas}
        updated = dataclasses.replace(submitted, scale=overrides)
        shared.store.put_deployment(
            dataclasses.replace(record, manifest_json=updated.dumps(), updated_at=shared.clock())
        )
        shared.note(record.name, "Scaled", f"{service} in {placement} to {replicas}")
    shared.wake.set()
    return {
        "deployment": record.name,
        "service": service,
        "placement": placement,
        "replicas": replicas,
    }


def down(ctl: Controller, *, deployment: str | None) -> dict[str, Any]:
    """Stop every replica (drained) and forget the deployment(s); a no-op when none."""
    shared, store = ctl.shared, ctl.shared.store
    with shared.lock:
        names = [r.name for r in store.list_deployments()]
        if deployment is not None:
            if deployment not in names:
                return {"stopped": [], "message": f"no deployment {deployment!r}; nothing to do"}
            names = [deployment]
        if not names:
            return {"stopped": [], "message": "nothing is deployed; nothing to do"}
        replicas = [r for n in names for r in store.list_replicas(deployment=n)]
        going = [d for d in shared.deployments() if d.name in names]
        for name in names:
            store.delete_deployment(name)
        ctl.publish()  # out of the gateway first, then drained and stopped
        in_clusters = ctl.clusters.delete(shared, going)  # labelled objects in EKS/AKS/GKE
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(ctl.target.stop, replicas))
        costs.settle(shared)  # their billing ends now, not at the next pass
        ctl.networks.prune(shared, keep=ctl.networks.desired(shared.deployments()))
        for name in names:
            shared.event(name, "Deleted", f"{len(replicas)} replica(s) stopped")
        if not store.list_deployments():
            ctl.gateway.stop()
        kept = [t for n in names for t in store.list_tokens(deployment=n) if t.active]
    return {
        "stopped": [r.id for r in replicas],
        "message": f"deleted {', '.join(names)}",
        "clusters": in_clusters,
        "tokens_kept": len(kept),
    }


def status(ctl: Controller, *, events: int = 0) -> dict[str, Any]:
    shared, store = ctl.shared, ctl.shared.store
    seen = traffic.current(ctl.traffic, ctl.gateway.admin_url, now=shared.clock())  # not locked
    loop = ctl.health.report(shared.clock())  # not under the lock: a pass may hold it
    with shared.lock:
        deps = shared.deployments()
        out: dict[str, Any] = {
            "gateway": {"url": ctl.gateway.url, "running": ctl.gateway.alive()},
            "loop": loop,
            "controlplane": ctl.leader.describe(),  # leader or standby (leadership.py)
            "deployments": [],
        }
        for dep in deps:
            out["deployments"].append(_deployment(ctl, dep, seen=seen, stale=loop["stale"]))
        if events:
            out["events"] = [dataclasses.asdict(e) for e in store.list_events(limit=events)]
    return out


def _deployment(
    ctl: Controller, dep: records.Deployed, *, seen: dict[str, Any], stale: bool
) -> dict[str, Any]:
    """One deployment as `status` shows it."""
    store, record = ctl.shared.store, dep.record
    replicas = store.list_replicas(deployment=record.name)
    wanted = preemption.desired([dep], replicas, now=ctl.shared.clock(), local_only=False)
    return {
        "name": record.name,
        "version": record.version,
        "manifest": dep.submitted.path,
        "updated_at": record.updated_at,
        "services": preemption.per_placement(wanted),
        "preemptions": preemption.seen(ctl.shared, record.name),
        "replicas": [_replica(r, ctl, stale=stale) for r in replicas],
        "endpoints": [dataclasses.asdict(e) for e in store.list_endpoints(deployment=record.name)],
        "auth": token_ops.auth_mode(ctl.shared, record.name),
        "mtls": dep.spec.spec.security.mtls,
        # servers crosscloud did not build speak plain HTTP even with mutual TLS on
        "plaintext_services": [
            s.name for s in dep.spec.spec.services if not dep.spec.spec.secured(s.name)
        ],
        "traffic": _traffic_of(seen, dep.spec),
        "clusters": ctl.clusters.status(record.name),
        "network": ctl.networks.describe(dep),
    }


def pod_log(
    ctl: Controller, *, replica: str, tail: int | None = None, since: str | None = None
) -> dict[str, Any]:
    """A cluster replica's log lines (local replicas' logs are files the CLI reads)."""
    with ctl.shared.lock:
        record = next((r for r in ctl.shared.store.list_replicas() if r.id == replica), None)
    if record is None:
        raise errors.UserError(f"no replica {replica!r}")
    if targets.target_of(record.placement) is LOCAL:
        path = ctl.target.record_log_path(record)
        raise errors.UserError(f"replica {replica!r} is a local process: its log is {path}")
    lines = ctl.clusters.pod_log(record, tail=tail, since=since)  # cluster I/O: not locked
    return {"replica": replica, "lines": [dataclasses.asdict(line) for line in lines]}


def _traffic_of(seen: dict[str, Any], spec: manifest.Manifest) -> dict[str, Any]:
    """The last minute's rows of this deployment's services (see traffic.py)."""
    mine = {s.name for s in spec.spec.services}
    return {**seen, "rows": [r for r in seen["rows"] if r["service"] in mine]}


def _replica(record: state.ReplicaRecord, ctl: Controller, *, stale: bool) -> dict[str, Any]:
    """A replica as recorded; while the loop cannot act its state is "Unknown" (the
    recorded one is kept as `recorded_state`): it may have died since."""
    data = dataclasses.asdict(record)
    data["state"] = "Unknown" if stale else record.state.value
    data["recorded_state"] = record.state.value
    data["url"] = record.url
    data["log"] = str(ctl.target.record_log_path(record))
    return data
