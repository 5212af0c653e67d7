"""Splitting the input into units (pure): slices of files sized so every core gets several,
never across a file, never smaller than one handler batch; and the plan as JSON, so a
resumed job runs exactly the units the first run planned."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from crosscloud import errors
from crosscloud.batch import dataset
from crosscloud.batch.unit import Unit

UNITS_PER_CORE = 4
MAX_UNIT_ROWS = 100_000


def split(files: list[dataset.InputFile], *, parallelism: int, batch_size: int) -> list[Unit]:
    """Units covering every row once. One small file still gets UNITS_PER_CORE units per
    core (a single-partition input would leave cores idle)."""
    total = sum(f.rows for f in files)
    target = max(1, parallelism * UNITS_PER_CORE)
    per_unit = min(MAX_UNIT_ROWS, max(batch_size, math.ceil(total / target)))
    units: list[Unit] = []
    for f in files:
        for start in range(0, f.rows, per_unit):
            units.append(Unit(len(units), f, start, min(f.rows, start + per_unit)))
    return units


def to_json(
    files: list[dataset.InputFile], units: list[Unit], *, source: str, endpoint: str
) -> dict[str, Any]:
    index = {f.path: i for i, f in enumerate(files)}
    return {
        "version": 1,
        "source": source,
        "endpoint": endpoint,
        "files": [dataclasses.asdict(f) for f in files],
        "units": [[index[u.file.path], u.start, u.stop] for u in units],
    }


def from_json(data: dict[str, Any]) -> tuple[list[dataset.InputFile], list[Unit]]:
    files = [dataset.InputFile(**{**f, "columns": tuple(f["columns"])}) for f in data["files"]]
    units = [Unit(i, files[f], start, stop) for i, (f, start, stop) in enumerate(data["units"])]
    return files, units


def check_resume(
    planned: list[dataset.InputFile], files: list[dataset.InputFile], *, partial: str
) -> None:
    """Raise UserError when the inputs differ from the ones the interrupted run planned:
    resuming then could skip or duplicate rows."""
    before = {f.path: f for f in planned}
    now = {f.path: f for f in files}
    changed = sorted(p for p in before.keys() | now.keys() if before.get(p) != now.get(p))
    if changed:
        raise errors.UserError(
            f"cannot resume {partial}: the input changed since that run"
            f" ({changed[0]}{' and more' if len(changed) > 1 else ''} added, removed or"
            " modified); delete it or pass --overwrite to start again"
        )
