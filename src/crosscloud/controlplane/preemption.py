"""Spot at run time on local placements: the desired replicas split into spot and
on-demand (`planning.spot_desired`), preemption notices, and the kill when a notice runs
out.

A notice (`crosscloud chaos preempt PLACEMENT --notice 30s`, through the API) marks the
placement's spot replicas `preempt_at` = now + notice and records the placement's
preemption (the policy's cooldown) in the deployment. From then on the gateway keeps them
as draining (no new request; the ones in flight finish), the policy no longer counts them,
so their replacements start at the next placement it picks, and once the notice runs out
the loop kills them (SIGKILL: the cloud taking the machine back).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
from collections.abc import Sequence
from typing import Any

from crosscloud import errors
from crosscloud.controlplane import records
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import cost, state, targets
from crosscloud.planning import desired as desired_mod
from crosscloud.planning import spot_desired

log = logging.getLogger("crosscloud.controlplane")
LOCAL = targets.Target.LOCAL
PREEMPTED = "Preempted"


def _local(placement: str) -> bool:
    return targets.target_of(placement) is LOCAL


def desired(
    deps: Sequence[records.Deployed],
    replicas: Sequence[state.ReplicaRecord],
    *,
    now: float,
    local_only: bool = True,
) -> list[state.DesiredService]:
    """What should run at the local placements (every placement unless `local_only`),
    spot services split into spot and on-demand rows."""
    out: list[state.DesiredService] = []
    for dep in deps:
        base = desired_mod.desired_services(
            dep.spec, version=dep.record.version, scale=dep.submitted.overrides()
        )
        if local_only:
            base = [d for d in base if _local(d.placement)]
        out += spot_desired.split(
            base,
            dep.spec,
            replicas=[r for r in replicas if r.deployment == dep.name],
            preempted=dep.submitted.preempted,
            now=now,
            planned=_local,
        )
    return out


def due(replicas: Sequence[state.ReplicaRecord], *, now: float) -> list[state.ReplicaRecord]:
    """Noticed replicas to kill now: their notice ran out, or they are no longer running
    (a record to retire)."""
    return [
        r
        for r in replicas
        if r.preempt_at is not None and (now >= r.preempt_at or r.state not in state.ACTIVE_STATES)
    ]


def notice(
    shared: Shared,
    *,
    placement: str,
    seconds: float,
    service: str | None = None,
) -> dict[str, Any]:
    """Give the spot replicas of `placement` (of `service`, or every one) a preemption
    notice of `seconds`; the caller publishes to the gateway at once. Wrong input (an
    unknown placement or service, a cluster placement, no running spot replica there) is
    refused before anything is written."""
    if not math.isfinite(seconds) or seconds < 0:
        raise errors.UserError(f"--notice must be 0s or more, got {seconds:g}s")
    mine, spot = _targets(shared.deployments(), shared, placement, service)
    now = shared.clock()
    kill_at = now + seconds
    noticed = []
    for dep in mine:
        hit = [r for r in spot if r.deployment == dep.name]
        for r in hit:
            why = f"preemption notice: killed in {seconds:g}s"
            shared.store.upsert_replica(dataclasses.replace(r, preempt_at=kill_at, message=why))
        noticed += [r.id for r in hit]
        _record(shared, dep, placement=placement, now=now)
        message = (
            f"{len(hit)} spot replica(s) in {placement} noticed: no new requests from now,"
            f" killed in {seconds:g}s; {placement} gets no new spot replica for a while"
        )
        try:  # the notice is stored: an event the store refuses now is lost, not the notice
            shared.event(
                dep.name,
                PREEMPTED,
                message,
                placement=placement,
                replicas=[r.id for r in hit],
                notice_at=now,
                kill_at=kill_at,
            )
        except errors.CrossCloudError as exc:
            log.warning("%s %s: %s (event not recorded: %s)", dep.name, PREEMPTED, message, exc)
    shared.wake.set()
    return {"placement": placement, "replicas": noticed, "notice": seconds, "kill_at": kill_at}


def _targets(
    deps: Sequence[records.Deployed], shared: Shared, placement: str, service: str | None
) -> tuple[list[records.Deployed], list[state.ReplicaRecord]]:
    """The deployments with a spot service at `placement` and their spot replicas there
    that run and have no notice yet; a UserError saying what is wrong when there are none."""
    mine = _spot_deployments(deps, placement, service)
    spot = [
        r
        for d in mine
        for r in shared.store.list_replicas(deployment=d.name)
        if r.placement == placement
        and r.capacity == cost.SPOT
        and r.state in state.ACTIVE_STATES
        and (service is None or r.service == service)
    ]
    fresh = [r for r in spot if r.preempt_at is None]
    if not fresh:
        noticed = f" ({len(spot)} already noticed)" if spot else ""
        raise errors.UserError(
            f"no spot replica is running in {placement}{noticed}: nothing to preempt"
        )
    return [d for d in mine if any(r.deployment == d.name for r in fresh)], fresh


def _spot_deployments(
    deps: Sequence[records.Deployed], placement: str, service: str | None
) -> list[records.Deployed]:
    """The deployments with a spot service (`service`, or any) at local `placement`, or
    a UserError naming what is unknown or not spot there."""
    if not deps:
        raise errors.UserError("nothing is deployed; run `crosscloud up FILE` first")
    known = sorted({p.id for d in deps for p in d.spec.placements()})
    if placement not in known:
        # closer than quantity.did_you_mean's 0.6: every id shares its provider's prefix
        near = difflib.get_close_matches(placement, known, n=1, cutoff=0.8)
        raise errors.UserError(
            f"unknown placement {placement!r}"
            + (f" (did you mean {near[0]!r}?)" if near else "")
            + f"; the deployed placements: {', '.join(known)}"
        )
    if not _local(placement):
        raise errors.UserError(
            f"{placement} is not a local placement: on a cluster the cloud gives the notice"
            " (a tainted spot node); `chaos preempt` rehearses it on local placements"
        )
    names = sorted({s.name for d in deps for s in d.spec.spec.services})
    if service is not None and service not in names:
        raise errors.UserError(f"unknown service {service!r}; services: {', '.join(names)}")
    mine = [d for d in deps if _spot_at(d, placement, service)]
    if not mine:
        spotty = sorted(
            {p.id for d in deps for p in d.spec.placements() if _spot_at(d, p.id, None)}
        )
        raise errors.UserError(
            f"no spot service runs in {placement!r}"
            + (f" (service {service!r})" if service else "")
            + f"; placements with spot services: {', '.join(spotty) or 'none'}"
        )
    return mine


def _spot_at(dep: records.Deployed, placement: str, service: str | None) -> bool:
    return any(
        s.spot is not None
        and (service is None or s.name == service)
        and any(
            p.id == placement and any(ps.name == s.name for ps in p.services)
            for p in dep.spec.placements()
        )
        for s in dep.spec.spec.services
    )


def on_cluster(shared: Shared, deployment: str, *, placement: str, pods: Sequence[str]) -> None:
    """Pods of a cluster placement were deleted because their spot node is going away:
    the placement's preemption is recorded (the cooldown) with an event."""
    dep = next((d for d in shared.deployments() if d.name == deployment), None)
    if dep is None:
        return
    now = shared.clock()
    _record(shared, dep, placement=placement, now=now)
    shared.note(
        deployment,
        PREEMPTED,
        f"{len(pods)} pod(s) in {placement} on a spot node that is going away: deleted"
        f" (drained; their Deployment replaces them on other nodes): {', '.join(pods)}",
    )


def _record(shared: Shared, dep: records.Deployed, *, placement: str, now: float) -> None:
    """The placement's preemption time in the deployment (the spot policy's cooldown)."""
    submitted = dataclasses.replace(
        dep.submitted, preempted={**dep.submitted.preempted, placement: now}
    )
    shared.store.put_deployment(dataclasses.replace(dep.record, manifest_json=submitted.dumps()))


def seen(shared: Shared, deployment: str, *, limit: int = 500) -> list[dict[str, Any]]:
    """The preemption notices recorded for `deployment`, oldest first (for `status`)."""
    return [
        {"ts": e.ts, "message": e.message, **e.fields}
        for e in shared.store.list_events(deployment=deployment, limit=limit)
        if e.kind == PREEMPTED
    ]


def per_placement(wanted: Sequence[state.DesiredService]) -> list[dict[str, Any]]:
    """Desired rows for `status`: one per (service, placement), replicas summed over
    capacities, with how many of them are spot."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for d in wanted:
        row = rows.setdefault(
            (d.service, d.placement), {**dataclasses.asdict(d), "replicas": 0, "spot": 0}
        )
        row.pop("capacity", None)
        row["replicas"] += d.replicas
        row["spot"] += d.replicas if d.capacity == cost.SPOT else 0
    return sorted(rows.values(), key=lambda r: (r["placement"], r["service"]))
