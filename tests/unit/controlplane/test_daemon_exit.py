"""When the control plane may exit: only with nothing deployed, nothing stopping, no API
call running, after a quiet spell, and never in the middle of an operation holding the
controller's lock (a `down` that is still stopping replicas)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from crosscloud.adapters.memory_store import MemoryStore
from crosscloud.controlplane import daemon
from crosscloud.domain import state


@dataclass
class FakeController:
    store: MemoryStore = field(default_factory=MemoryStore)
    lock: threading.RLock = field(default_factory=threading.RLock)
    stopping: bool = False

    def busy(self) -> bool:
        return self.stopping


@dataclass
class FakeServer:
    active: int = 0


LONG_AGO = time.time() - 3600


def _finished(ctl: FakeController, server: FakeServer) -> bool:
    return daemon._finished(ctl, server, LONG_AGO)  # type: ignore[arg-type]


def _deploy(ctl: FakeController) -> None:
    ctl.store.put_deployment(state.DeploymentRecord("d", "{}", "h", 1))


def test_exits_only_when_nothing_is_left_to_do() -> None:
    ctl, server = FakeController(), FakeServer()
    assert _finished(ctl, server)
    server.active = 1
    assert not _finished(ctl, server)
    server.active = 0
    ctl.stopping = True
    assert not _finished(ctl, server)
    ctl.stopping = False
    _deploy(ctl)
    assert not _finished(ctl, server)


def test_waits_for_an_operation_holding_the_lock_and_then_sees_its_event() -> None:
    ctl, server = FakeController(), FakeServer()
    _deploy(ctl)
    inside = threading.Event()

    def down() -> None:
        with ctl.lock:
            ctl.store.delete_deployment("d")  # deleted first, replicas stopped after
            inside.set()
            time.sleep(0.3)
            ctl.store.add_event(state.Event(time.time(), "d", "Deleted", "stopped"))

    worker = threading.Thread(target=down)
    worker.start()
    inside.wait(timeout=10)
    # Before the fix the check ran outside the lock, saw no deployment and an old last
    # event, and the process exited in the middle of `down`.
    assert not _finished(ctl, server)
    worker.join(timeout=10)
