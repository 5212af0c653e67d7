"""Finds the processes of a state directory by the marks they carry ($CROSSCLOUD_HOME in
their environment, and the module they run): replicas the store does not know (the
control plane died between launching one and recording it) are stopped at start, and
`down --force` finds everything of the directory when the store cannot say."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path

from crosscloud.adapters import paths
from crosscloud.adapters.local import procs
from crosscloud.domain import state


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in pairs}


def pid_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


ROLES = (
    ("crosscloud.controlplane", "controlplane"),
    ("crosscloud.gateway", "gateway"),
    ("crosscloud.adapters.local.relay", "relay"),  # a region's link (links.py)
)


def marked(home: Path) -> dict[str, list[int]]:
    """Live processes of `home` by role: "controlplane", "gateway", "relay" and "replica" (this
    process excluded; a `crosscloud` command a user runs carries no role)."""
    found: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        role = _role(int(entry.name), home)
        if role is not None:
            found.setdefault(role, []).append(int(entry.name))
    return found


def _role(pid: int, home: Path) -> str | None:
    env = _environ(pid)
    if env.get(paths.HOME_ENV) != str(home):
        return None
    if procs.identity(pid, None) is not procs.Identity.ALIVE:
        return None  # a zombie is dead already
    if "CROSSCLOUD_REPLICA_ID" in env:
        return "replica"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    for module, role in ROLES:
        if b"-m" in argv and module.encode() in argv:
            return role
    return None


def sweep(home: Path, known: Mapping[str, state.ReplicaRecord]) -> list[int]:
    """Kill (SIGKILL, whole group) every replica process marked with this state directory
    whose id is not recorded, or whose record names another pid. Returns their pids."""
    killed = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        env = _environ(pid)
        replica = env.get("CROSSCLOUD_REPLICA_ID")
        if replica is None or env.get(paths.HOME_ENV) != str(home):
            continue
        record = known.get(replica)
        if record is not None and record.pid is not None and pid_group(pid) == record.pid:
            continue  # the recorded replica, or a child in its process group
        procs.signal_group(pid, signal.SIGKILL)
        killed.append(pid)
    return killed
