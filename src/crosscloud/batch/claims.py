"""Units handed out while a job runs, for engines with one long task per core slot: each
task claims units in the job's shared work folder, its own block first, then the units no
other task has started (taken from the far end of their blocks), so every slot stays busy
to the end without one Spark task per unit.

A claim is a file created atomically (`os.link` fails when it exists) holding its owner's
task number, so a retried attempt of the same task takes back the units its failed attempt
claimed; a `STOP` file tells every task to claim nothing more (a unit gave up after too
many bad rows). Claims live in `_crosscloud/claims-RUN/` beside the done-markers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from crosscloud.batch.unit import Unit

_STOP = "STOP"


def folder(work: str | Path, run: str) -> Path:
    """Where the claims of one run of a job live (inside its work folder)."""
    return Path(work) / "_crosscloud" / f"claims-{run}"


def blocks(units: Sequence[Unit], tasks: int) -> list[list[Unit]]:
    """`units` cut into `tasks` contiguous blocks of nearly equal length (contiguous: the
    slices of one file stay in one worker, which reads its row groups once)."""
    count = len(units)
    return [list(units[t * count // tasks : (t + 1) * count // tasks]) for t in range(tasks)]


def order(parts: Sequence[Sequence[Unit]], task: int) -> list[Unit]:
    """The order in which `task` tries units: its own block, then the others' blocks from
    their far ends (their owners work forward, so owner and thief meet in the middle)."""
    others = [u for t, block in enumerate(parts) if t != task for u in reversed(block)]
    return [*parts[task], *others]


class Claims:
    """One task's view of a run's claims."""

    def __init__(self, path: str | Path, owner: int) -> None:
        self.path = Path(path)
        self.owner = str(owner)

    def take(self, index: int) -> bool:
        """True when this task may run unit `index`: it claimed it now, or an earlier
        attempt of this same task did; False when another task has it or the run stopped."""
        if self.stopped():
            return False
        claim = self.path / f"{index:05d}"
        tmp = self.path / f".{index:05d}.{uuid.uuid4().hex[:8]}"
        tmp.write_text(self.owner)
        try:
            os.link(tmp, claim)
            return True
        except FileExistsError:
            return claim.read_text() == self.owner
        finally:
            tmp.unlink()

    def stop(self) -> None:
        """Tell every task of this run to claim no more units."""
        (self.path / _STOP).touch()

    def stopped(self) -> bool:
        return (self.path / _STOP).exists()
