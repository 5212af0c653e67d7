"""What the parts of the control loop share, as one small object: the store, the clock,
the lock that makes a pass and an API call take turns, the event that wakes the loop, the
events it records, and the stored deployments (parsed once per manifest hash).

The controller and its helpers (autoscaler, cluster sync, capacity, operations, tokens)
receive this, never the controller: none of them calls back into the loop, and a test
builds one around the in-memory store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from crosscloud import errors, ports
from crosscloud.controlplane import records
from crosscloud.domain import manifest, state

log = logging.getLogger("crosscloud.controlplane")


class Shared:
    """The store, clock, lock, wake-up and events of one control plane."""

    def __init__(self, *, store: ports.StateStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.lock = threading.RLock()  # one pass or one API operation at a time
        self.wake = threading.Event()  # set: the loop runs its next pass now
        self._parsed: dict[str, tuple[str, manifest.Manifest]] = {}  # name: (hash, parsed)

    def deployments(self) -> list[records.Deployed]:
        """Every stored deployment with its manifest parsed (again only when it changed)."""
        out = []
        for record in self.store.list_deployments():
            submitted = records.submitted_of(record)
            cached = self._parsed.get(record.name)
            if cached is None or cached[0] != record.manifest_hash:
                cached = (record.manifest_hash, submitted.parse())
                self._parsed[record.name] = cached
            out.append(records.Deployed(record, submitted, cached[1]))
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
