"""`GET /v1/traffic`: every region (a service in one placement) with its ready and
desired replicas, their versions, the gateway's live figures for it (live.py) and a
health level (planning/regions.py): what the dashboard's traffic table shows."""

from __future__ import annotations

from typing import Any

from crosscloud.controlplane import preemption
from crosscloud.controlplane.controller import Controller
from crosscloud.domain import cost, state
from crosscloud.planning import regions

READY = state.ReplicaState.READY


def report(ctl: Controller) -> dict[str, Any]:
    """Regions of every deployment and requests no replica answered. The desired counts
    are `status`'s (spot services' split included: preemption.py)."""
    shared = ctl.shared
    seen = ctl.live.report(ctl.gateway.admin_url, now=shared.clock())  # gateway I/O: not locked
    stale = bool(ctl.health.report(shared.clock())["stale"])
    gateway = {(r["service"], r["placement"]): r for r in seen["rows"]}
    with shared.lock:
        deps = shared.deployments()
        replicas = shared.store.list_replicas()
        wanted = preemption.desired(deps, replicas, now=shared.clock(), local_only=False)
    order = {dep.name: i for i, dep in enumerate(deps)}
    rows = sorted(preemption.per_placement(wanted), key=lambda w: order[w["deployment"]])
    out = []
    for want in rows:
        where = (want["deployment"], want["service"], want["placement"])
        mine = [r for r in replicas if (r.deployment, r.service, r.placement) == where]
        row = gateway.get((want["service"], want["placement"]))
        out.append(_region(want, mine, row, stale=stale or "error" in seen))
    # answered by the gateway itself: 5xx (no replica, none in time) count; 401 and 429
    # (a token refused or over its quota) are the client's, not the service's, failures
    unrouted = {
        r["service"]: {"requests": r["requests"], "errors": r["errors"]}
        for r in seen["rows"]
        if not r["placement"] and r["errors"]
    }
    return {
        "window_s": seen["window_s"],
        "gateway_error": seen.get("error"),
        "regions": out,
        "unrouted": unrouted,
    }


def _region(
    want: dict[str, Any],
    mine: list[state.ReplicaRecord],
    row: dict[str, Any] | None,
    *,
    stale: bool,
) -> dict[str, Any]:
    ready = [r for r in mine if r.state is READY]
    gateway = row or {}
    seen = regions.Seen(
        desired=want["replicas"],
        ready=len(ready),
        upstreams=gateway.get("upstreams", 0),
        available=gateway.get("available", 0),
        requests=gateway.get("requests", 0),
        errors=gateway.get("errors", 0),
        ejections=gateway.get("ejections", 0),
        connect_errors=gateway.get("connect_errors", 0),
    )
    level, reason = regions.health(seen)
    if stale and level is regions.Health.OK:
        level, reason = regions.Health.DEGRADED, "not current: the control loop or gateway lags"
    return {
        "deployment": want["deployment"],
        "service": want["service"],
        "placement": want["placement"],
        "desired": want["replicas"],
        "ready": len(ready),
        "spot_desired": want["spot"],
        "spot_ready": sum(r.capacity == cost.SPOT for r in ready),
        "version": want["version"],
        "versions": sorted({r.version for r in mine if r.state in state.ACTIVE_STATES}),
        "states": {s: sum(r.state.value == s for r in mine) for s in {r.state.value for r in mine}},
        "health": level.value,
        "reason": reason,
        **{k: gateway.get(k) for k in ("rps", "tokens_per_s", "p50_ms", "p99_ms")},
        **{k: gateway.get(k, 0) for k in ("requests", "errors", "ejections", "connect_errors")},
        **{k: gateway.get(k, 0) for k in ("upstreams", "available")},
    }
