"""Output: a work folder beside the output (`OUT.partial`) that collects part files, each
written to a temporary name and renamed, plus a done-marker per unit; the job commits by
renaming the whole folder to OUT, so a job killed at any point leaves no output that looks
complete, and `--resume` continues from the markers.

Layout of a committed output (readers skip names that start with `_`)::

    OUT/part-00000.parquet ...      results: the kept input columns + the result column
    OUT/_errors/part-00003.parquet  rejected rows + _file, _row, _error (only when any)
    OUT/_crosscloud/plan.json       the units planned, to check a resume against
    OUT/_SUCCESS                    the summary, written last
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

OUTPUT_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
SUFFIX = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}


def output_format(output: str) -> str:
    """The format an output path asks for by its extension (Parquet unless .csv/.jsonl)."""
    return OUTPUT_EXTENSIONS.get(Path(output).suffix.lower(), "parquet")


def partial_path(output: str) -> Path:
    """Where a job writes before it commits."""
    out = Path(output)
    return out.with_name(out.name + ".partial")


class WorkDir:
    """The uncommitted output of one job."""

    def __init__(self, path: str | Path, fmt: str) -> None:
        self.path = Path(path)
        self.format = fmt
        self.meta = self.path / "_crosscloud"

    def create(self) -> None:
        (self.meta / "units").mkdir(parents=True, exist_ok=True)

    def part(self, index: int, *, errors: bool = False) -> Path:
        folder = self.path / "_errors" if errors else self.path
        return folder / f"part-{index:05d}.{SUFFIX[self.format]}"

    def write_part(self, index: int, table: pa.Table, *, errors: bool = False) -> None:
        target = self.part(index, errors=errors)
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic(target, lambda tmp: write_table(table, tmp, self.format))

    def mark_done(self, index: int, counts: dict[str, Any]) -> None:
        body = orjson.dumps(counts)
        _atomic(self.meta / "units" / f"{index:05d}.json", lambda tmp: tmp.write_bytes(body))

    def marked(self, index: int) -> bool:
        """True when unit `index` has its done-marker (its part files are committed)."""
        return (self.meta / "units" / f"{index:05d}.json").is_file()

    def done(self) -> dict[int, dict[str, Any]]:
        """The markers of the units finished so far, by unit index."""
        found: dict[int, dict[str, Any]] = {}
        folder = self.meta / "units"
        for marker in folder.glob("*.json") if folder.is_dir() else ():
            try:
                found[int(marker.stem)] = orjson.loads(marker.read_bytes())
            except (ValueError, OSError):
                continue  # a marker being replaced by a retry right now
        return found

    def save_plan(self, plan: dict[str, Any]) -> None:
        body = json.dumps(plan, indent=1).encode()
        _atomic(self.meta / "plan.json", lambda tmp: tmp.write_bytes(body))

    def load_plan(self) -> dict[str, Any] | None:
        path = self.meta / "plan.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def commit(self, output: str | Path, summary: dict[str, Any], *, overwrite: bool) -> None:
        """Write `_SUCCESS` and rename the folder to `output` (replacing it if `overwrite`)."""
        shutil.rmtree(self.meta / "units", ignore_errors=True)
        for claims in self.meta.glob("claims-*"):  # left by a run that was killed
            shutil.rmtree(claims, ignore_errors=True)
        (self.path / "_SUCCESS").write_text(json.dumps(summary, indent=1) + "\n")
        out = Path(output)
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        if overwrite and (out.exists() or out.is_symlink()):
            os.rename(out, old)
        os.rename(self.path, out)
        if old.exists():
            _remove(old)


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    """Write one part file in the output format; CSV gets nested values as JSON text."""
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "csv":
        pa_csv.write_csv(_flatten_for_csv(table), path)
    else:
        with path.open("wb") as f:
            for row in table.to_pylist():
                f.write(orjson.dumps(row, option=orjson.OPT_NAIVE_UTC) + b"\n")


def _flatten_for_csv(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            text = [
                None if v is None else orjson.dumps(v).decode() for v in table.column(i).to_pylist()
            ]
            table = table.set_column(i, field.name, pa.array(text, pa.string()))
    return table


def _atomic(target: Path, write: Any) -> None:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
