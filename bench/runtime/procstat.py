"""What a server process costs, read from /proc: CPU seconds (its own and its live
descendants', for frameworks that fork workers) and resident memory."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it start after the last ")".
    return raw[raw.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """pid and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int, *, tree: bool = True) -> float:
    """utime + stime of pid (and of its live descendants when tree), in seconds."""
    total = 0
    for each in descendants(pid) if tree else [pid]:
        fields = _stat_fields(each)
        if fields is not None:
            # Fields 14 and 15 of /proc/PID/stat (utime, stime); index 11, 12 after ")".
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def rss_bytes(pid: int, *, tree: bool = True) -> int:
    """Resident memory of pid (summed over its live descendants when tree)."""
    total = 0
    for each in descendants(pid) if tree else [pid]:
        try:
            pages = int(Path(f"/proc/{each}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += pages * _PAGE
    return total
