"""When the control plane may exit: only with nothing deployed, nothing stopping, no API
call running, after a quiet spell, and never in the middle of an operation holding the
loop's lock (a `down` that is still stopping replicas)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from crosscloud.adapters.store.memory import MemoryStore
from crosscloud.controlplane import daemon
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import state


@dataclass
class Plane:
    """What `_finished` looks at: the loop's shared part (an in-memory store), stops still
    draining and API calls running."""

    shared: Shared = field(default_factory=lambda: Shared(store=MemoryStore()))
    stopping: bool = False
    active: int = 0

    def busy(self) -> bool:
        return self.stopping or self.active > 0


LONG_AGO = time.time() - 3600


def _finished(plane: Plane) -> bool:
    return daemon._finished(plane.shared, busy=plane.busy, started=LONG_AGO)


def _deploy(plane: Plane) -> None:
    plane.shared.store.put_deployment(state.DeploymentRecord("d", "{}", "h", 1))


def test_exits_only_when_nothing_is_left_to_do() -> None:
    plane = Plane()
    assert _finished(plane)
    plane.active = 1
    assert not _finished(plane)
    plane.active = 0
    plane.stopping = True
    assert not _finished(plane)
    plane.stopping = False
    _deploy(plane)
    assert not _finished(plane)


def test_waits_for_an_operation_holding_the_lock_and_then_sees_its_event() -> None:
    plane = Plane()
    _deploy(plane)
    inside = threading.Event()
    shared = plane.shared

    def down() -> None:
        with shared.lock:
            shared.store.delete_deployment("d")  # deleted first, replicas stopped after
            inside.set()
            time.sleep(0.3)
            shared.store.add_event(state.Event(time.time(), "d", "Deleted", "stopped"))

    worker = threading.Thread(target=down)
    worker.start()
    inside.wait(timeout=10)
    # Before the fix the check ran outside the lock, saw no deployment and an old last
    # event, and the process exited in the middle of `down`.
    assert not _finished(plane)
    worker.join(timeout=10)
