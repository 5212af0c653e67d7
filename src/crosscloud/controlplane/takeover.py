"""What the loop does when this control plane starts or stops leading.

Taking over is what a restarted control plane does at start: replica processes of the
state directory that the store does not know are stopped (the last leader died between
launching one and recording it), and the gateway and the recorded replicas are adopted by
the next pass (by pid and start time). It runs under the controller's lock, after the
lease was taken, so no launch of this process is ever half recorded when it looks; a
launch of an old leader that resumes later is refused by its epoch and stopped by it.
Stepping down leaves everything running for the leader and stops watching the gateway.
"""

from __future__ import annotations

import logging
from pathlib import Path

from crosscloud import errors
from crosscloud.controlplane import loop_health, orphans
from crosscloud.controlplane.controller import Controller

log = logging.getLogger("crosscloud.controlplane")


class Follower:
    """Tracks the epoch this process last adopted the state directory under."""

    def __init__(self, ctl: Controller, home: Path) -> None:
        self.ctl = ctl
        self.home = home
        self.adopted: int | None = None

    def leads(self) -> bool:
        """Whether to run a pass now; takes over or steps down first when that changed."""
        epoch = self.ctl.leader.epoch()
        if epoch is None:
            if self.adopted is not None:
                self._step_down()
            self.ctl.gateway.release()  # a standby re-reads the leader's gateway each time
            return False
        if epoch != self.adopted:
            try:
                self._take_over(epoch)
            except errors.CrossCloudError as exc:  # the store: try again on the next turn
                log.error("cannot take over yet: %s", exc)
                return False
        return True

    def _take_over(self, epoch: int) -> None:
        ctl, shared = self.ctl, self.ctl.shared
        with shared.lock:
            ctl.leader.require()
            known = {r.id: r for r in shared.store.list_replicas()}
            ctl.gateway.release()  # adopted afresh by the pass: its port, its pid
            for pid in orphans.sweep(self.home, known):
                log.warning("stopped orphan replica process %d (not in the state store)", pid)
            self.adopted = epoch
            if ctl.leader.shared:
                message = (
                    f"control plane pid {ctl.leader.me.pid} leads (epoch {epoch}); it adopts"
                    f" {len(known)} recorded replica(s) and the gateway"
                )
                for record in shared.store.list_deployments():
                    shared.note(record.name, "LeaderElected", message)
        shared.wake.set()

    def _step_down(self) -> None:
        log.warning("standing by: %s", self.ctl.leader.refusal())
        self.adopted = None
        self.ctl.health = loop_health.LoopHealth()  # a standby runs no passes to report
