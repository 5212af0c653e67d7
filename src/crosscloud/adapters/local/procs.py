"""Local process facts and signals for the local target: identity by (pid, start time),
so a pid the kernel handed to another process is never adopted or killed."""

from __future__ import annotations

import enum
import os
import signal
import socket
from pathlib import Path

_PROC = Path("/proc")


class Identity(enum.Enum):
    """What a recorded (pid, start time) now is."""

    ALIVE = "alive"  # that very process, running
    DEAD = "dead"  # no such process, or a zombie waiting to be reaped
    OTHER = "other"  # the pid is alive but belongs to a different process


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on; the command name may hold spaces and ')'."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rindex(")") + 2 :].split()


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: clock ticks after boot; None if there is no such process
    (or no /proc: then identity falls back to the pid alone)."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def identity(pid: int, start_time: int | None) -> Identity:
    """Whether `pid` is still the process that had `start_time` when it was recorded."""
    if not _PROC.is_dir():
        return Identity.ALIVE if _signalable(pid) else Identity.DEAD
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return Identity.DEAD
    if start_time is not None and int(fields[19]) != start_time:
        return Identity.OTHER
    return Identity.ALIVE


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pid: int, sig: signal.Signals) -> bool:
    """Send `sig` to the process group led by `pid` (a replica and anything it spawned);
    False if the group is gone."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the replica binds it itself, so a race shows up
    as a failed start, which the control plane retries on another port)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def last_lines(path: Path, count: int = 20, *, max_bytes: int = 65536) -> list[str]:
    """The last `count` lines of a text file (reads at most `max_bytes` from its end)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:] if count > 0 else []
