"""`crosscloud down --force`: stop everything of a state directory when its control plane
or its state database cannot, and leave the database in a state the next `up` can use.

Processes are found by their marks (orphans.marked): the control plane first (its
watcher would restart a gateway stopped before it), then the gateway and the replicas,
each SIGTERM (they drain) and SIGKILL after `grace`, with the regions' link relays; then the
regions' network namespaces (links.py) are removed. Then the store: a corrupt SQLite file
is moved aside and a vanished one acknowledged (store_file.retire: the deployments that had
API tokens stay closed); in a readable one the deployments are deleted (their tokens stay),
so nothing is started again. Objects in clusters are not reached: without the store there
is no telling which contexts hold them (they carry `crosscloud.dev/deployment=NAME`)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from crosscloud import errors
from crosscloud.adapters.local import links, netns, procs
from crosscloud.adapters.store import sql_store as store
from crosscloud.adapters.store import sqlite_file as store_file
from crosscloud.controlplane import daemon, gatewaylink, orphans

POLL = 0.05


def force_down(home: Path, *, grace: float = 10.0) -> list[str]:
    """Stop every process marked with `home`; settle its store. Returns lines to print."""
    first = orphans.marked(home)
    stopped = _stop(first.get("controlplane", []), grace=grace)
    then = orphans.marked(home)  # again: what the control plane started meanwhile
    stopped += _stop(
        [*then.get("gateway", []), *then.get("replica", []), *then.get("relay", [])], grace=grace
    )
    for path in (daemon.info_path(home), gatewaylink.GatewayLink(home).info_path):
        path.unlink(missing_ok=True)  # they named processes that are gone now
    if stopped:
        found = {**then, "controlplane": first.get("controlplane", [])}
        lines = [f"stopped by their marks: {_describe(found, stopped)}"]
    else:
        lines = [f"no process of {home} was running"]
    if netns.unavailable() is None:
        removed = links.Links(home).remove_all()
        if removed:
            lines.append(f"removed region networks: {', '.join(removed)}")
    return lines + _settle_store(time.time())


def _describe(found: dict[str, list[int]], stopped: list[int]) -> str:
    parts = []
    for role in ("controlplane", "gateway", "replica", "relay"):
        pids = [p for p in found.get(role, []) if p in stopped]
        if pids:
            parts.append(f"{role} pid {', '.join(map(str, pids))}")
    return "; ".join(parts) or f"pid {', '.join(map(str, stopped))}"


def _stop(pids: Iterable[int], *, grace: float) -> list[int]:
    """SIGTERM each (its process group when it leads one), SIGKILL what is left after
    `grace`; only the very processes found (pid and start time) are ever signalled."""
    alive = {pid: procs.process_start_time(pid) for pid in pids}
    alive = {pid: start for pid, start in alive.items() if start is not None}
    for pid in alive:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _living(alive) and time.monotonic() < deadline:
        time.sleep(POLL)
    for pid in _living(alive):
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while _living(alive) and time.monotonic() < deadline:
        time.sleep(POLL)
    return sorted(alive)


def _living(started: dict[int, int | None]) -> list[int]:
    return [p for p, s in started.items() if procs.identity(p, s) is procs.Identity.ALIVE]


def _signal(pid: int, sig: signal.Signals) -> None:
    """The process group a process leads (a replica and what it spawned), else the one."""
    if orphans.pid_group(pid) == pid and procs.signal_group(pid, sig):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _settle_store(now: float) -> list[str]:
    url = store.resolve_url()
    db = store.database_file(url)
    try:
        opened = store.SqlStore(url)
        try:
            names = [d.name for d in opened.list_deployments()]
            for name in names:
                opened.delete_deployment(name)
        finally:
            opened.close()
    except errors.StateDamaged as exc:
        if db is None:
            return [f"the state database cannot be used: {exc}"]
        return store_file.retire(db, corrupt=isinstance(exc, errors.StateCorrupt), now=now)
    except errors.CrossCloudError as exc:
        return [f"the state database was not changed: {exc}"]
    if not names:
        return []
    return [f"deleted {', '.join(names)} from the state database (API tokens kept)"]
