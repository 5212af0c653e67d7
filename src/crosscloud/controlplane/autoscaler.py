"""The autoscaler in the control loop: each pass reads the gateway's `/-/stats` (per
service: in flight, held, finished requests and their seconds), keeps a window per
service in memory, asks `planning.autoscale` for the total, spreads it over the
service's placements with `planning.distribute`, and stores the counts as the
deployment's `autoscale` overrides, with an `Autoscaled` event saying why.

Placements pinned by `crosscloud scale` keep their count until the next `up` that
changes the manifest; the autoscaler moves only the others. Services with no target
and minReplicas above 0 are left alone.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from crosscloud.controlplane import local_http, records
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import manifest
from crosscloud.planning import autoscale, distribute, routing
from crosscloud.planning import desired as desired_mod

log = logging.getLogger("crosscloud.controlplane")
Stats = dict[str, dict[str, Any]]


class Gateway(Protocol):
    """What the autoscaler reads of the gateway link: where it listens, whether it runs."""

    @property
    def admin_url(self) -> str: ...

    def alive(self) -> bool: ...


def fetch_stats(gateway_url: str, *, timeout: float = 0.5) -> Stats | None:
    """The gateway's per-service counters, or None when it cannot be read."""
    try:
        response = local_http.client().get(f"{gateway_url}/-/stats", timeout=timeout)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    data = response.json()
    return data if isinstance(data, dict) else None


def sample_of(stats: dict[str, Any], now: float) -> autoscale.Sample:
    return autoscale.Sample(
        ts=now,
        in_flight=int(stats.get("in_flight", 0)),
        held=int(stats.get("held", 0)),
        requests=int(stats.get("requests", 0)),
        busy_seconds=float(stats.get("busy_seconds", 0.0)),
        tokens=int(stats.get("prompt_tokens", 0)) + int(stats.get("completion_tokens", 0)),
        waiting=int(stats.get("waiting", -1)),
    )


def slots(
    spec: manifest.Manifest, submitted: records.Submitted, service: str
) -> tuple[list[distribute.Slot], distribute.Mode]:
    """The service's placements as slots (failover order when declared) and the rule."""
    wanted = desired_mod.desired_services(spec, version=0, scale=submitted.overrides())
    by_id = {d.placement: d.replicas for d in wanted if d.service == service}
    out = [
        distribute.Slot(p.id, by_id[p.id], desired_mod.scale_key(service, p.id) in submitted.scale)
        for p in spec.placements()  # manifest order: ties go to earlier placements
        if p.id in by_id
    ]
    order = spec.spec.traffic.failover
    if not order:
        return out, "even"
    return sorted(out, key=lambda s: routing.failover_rank(s.placement, order)), "fill"


class Autoscaler:
    """Per-service windows between passes, and the step the controller calls."""

    def __init__(
        self,
        *,
        fetch: Callable[[str], Stats | None] = fetch_stats,
        down_window: float = autoscale.DOWN_WINDOW,
    ) -> None:
        self.fetch = fetch
        self.down_window = down_window
        self.windows: dict[str, autoscale.Window] = {}

    def step(self, shared: Shared, gateway: Gateway) -> None:
        """Read the gateway once, then decide and store for every autoscaled service."""
        deps = shared.deployments()
        scaled = {
            s.name
            for dep in deps
            for s in dep.spec.spec.services
            if self.settings(s.scaling).autoscaled
        }
        self.windows = {k: w for k, w in self.windows.items() if k in scaled}
        stats = self.fetch(gateway.admin_url) if scaled and gateway.alive() else None
        now = shared.clock()
        for dep in deps:
            self._deployment(shared, dep, stats=stats, now=now)

    def settings(self, scaling: manifest.Scaling, *, placements: int = 1) -> autoscale.Settings:
        return autoscale.settings_of(scaling, down_window=self.down_window, placements=placements)

    def _deployment(
        self, shared: Shared, dep: records.Deployed, *, stats: Stats | None, now: float
    ) -> None:
        record, submitted, spec = dep.record, dep.submitted, dep.spec
        counts: dict[str, int] = {}
        decisions = []
        for service in spec.spec.services:
            given, mode = slots(spec, submitted, service.name)
            settings = self.settings(service.scaling, placements=len(given))
            if not settings.autoscaled:
                continue
            found = stats.get(service.name) if stats is not None else None
            decision = self._decide(service.name, settings, found, spec, submitted, now=now)
            if decision is None:
                continue
            moved = _spread(
                service.name, decision.desired_total, given, mode=mode, spread=settings.min_domains
            )
            if moved:
                counts.update(moved)
                decisions.append(decision)
        autoscaled = {**_live(submitted.autoscale, spec, self), **counts}
        if autoscaled != submitted.autoscale:
            updated = dataclasses.replace(submitted, autoscale=autoscaled)
            shared.store.put_deployment(dataclasses.replace(record, manifest_json=updated.dumps()))
        for d in decisions:
            message = f"{d.service} from {d.current} to {d.desired_total} replicas: {d.reason}"
            shared.event(
                record.name, "Autoscaled", message, service=d.service, replicas=d.desired_total
            )

    def _decide(
        self,
        name: str,
        settings: autoscale.Settings,
        found: dict[str, Any] | None,
        spec: manifest.Manifest,
        submitted: records.Submitted,
        *,
        now: float,
    ) -> autoscale.ScaleDecision | None:
        """A changed decision for one service, or None (no data yet, or nothing to do)."""
        window = self.windows.get(name) or autoscale.Window(since=now)
        if found is None:
            self.windows[name] = window
            return None  # the gateway does not know the service yet: no facts, no decision
        keep = settings.metric_window + 1.0
        window = autoscale.observe(window, sample_of(found, now), keep=keep)
        given, _mode = slots(spec, submitted, name)
        if all(s.pinned for s in given):
            self.windows[name] = window
            return None
        current = sum(s.current for s in given)
        decision, self.windows[name] = autoscale.decide(
            name, window, current=current, settings=settings, now=now
        )
        return decision if decision.changed else None


def _spread(
    service: str,
    total: int,
    given: list[distribute.Slot],
    *,
    mode: distribute.Mode,
    spread: int,
) -> dict[str, int]:
    """The new counts of the unpinned placements by `service@placement`; {} when the
    spread leaves every count as it is (pinned placements can hold a total up)."""
    spread_out = distribute.distribute(total, given, mode=mode, min_spread=spread)
    if all(spread_out[s.placement] == s.current for s in given):
        return {}
    out = {}
    for slot in given:
        if not slot.pinned:
            out[desired_mod.scale_key(service, slot.placement)] = spread_out[slot.placement]
    return out


def _live(found: dict[str, int], spec: manifest.Manifest, scaler: Autoscaler) -> dict[str, int]:
    """The stored autoscale counts still meaningful: autoscaled services, existing
    placements (a new manifest may have dropped either)."""
    keep = {
        desired_mod.scale_key(ps.name, p.id)
        for p in spec.placements()
        for ps in p.services
        if scaler.settings(spec.service(ps.name).scaling).autoscaled
    }
    return {k: v for k, v in found.items() if k in keep}
