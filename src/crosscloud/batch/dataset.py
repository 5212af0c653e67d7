"""Input datasets: the files behind `--input` (a file, a folder or a glob), their columns and
row counts, and one slice of a file's rows as an Arrow table (cached per process, so the
slices of one file that a reused worker gets in turn read it once)."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from crosscloud import errors

FORMATS = ("parquet", "csv", "jsonl")
EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_cache: dict[tuple[str, int], pa.Table] = {}
_groups: dict[tuple[str, int, tuple[int, ...], tuple[str, ...] | None], pa.Table] = {}


@dataclass(frozen=True)
class InputFile:
    """One input file as planned: its format, size, row count and column names."""

    path: str
    format: str
    rows: int
    size: int
    mtime_ns: int
    columns: tuple[str, ...]


def format_of(path: str, forced: str | None = None) -> str | None:
    """The format named by `forced`, else by the file's extension (None: not a data file)."""
    return forced or EXTENSIONS.get(Path(path).suffix.lower())


def discover(inputs: Sequence[str], forced: str | None = None) -> list[InputFile]:
    """Every data file named by `inputs`, sorted and described; raises UserError naming the
    input that matched nothing."""
    found: dict[str, str] = {}
    for item in inputs:
        paths = _expand(item, forced)
        if not paths:
            raise errors.UserError(
                f"--input {item!r} matched no Parquet, CSV or JSON Lines files"
                " (extensions: .parquet .pq .csv .jsonl .ndjson .json; or pass --format)"
            )
        for path in paths:
            found[os.path.abspath(path)] = format_of(path, forced) or "parquet"
    return [describe(path, fmt) for path, fmt in sorted(found.items())]


def _expand(item: str, forced: str | None) -> list[str]:
    if os.path.isdir(item):
        candidates = [
            str(p)
            for p in sorted(Path(item).rglob("*"))
            if p.is_file() and not any(part[0] in "._" for part in p.relative_to(item).parts)
        ]
    elif glob.has_magic(item):
        candidates = sorted(glob.glob(item, recursive=True))
    else:
        if not os.path.isfile(item):
            raise errors.UserError(f"--input {item!r}: no such file or folder")
        return [item] if format_of(item, forced) else _unknown(item)
    return [p for p in candidates if os.path.isfile(p) and format_of(p, forced)]


def _unknown(item: str) -> list[str]:
    raise errors.UserError(
        f"--input {item!r}: unknown format {Path(item).suffix or '(no extension)'!r};"
        f" pass --format with one of {', '.join(FORMATS)}"
    )


def describe(path: str, fmt: str) -> InputFile:
    """Columns and row count of one file (Parquet from its footer; CSV/JSONL by reading it)."""
    stat = os.stat(path)
    try:
        if fmt == "parquet":
            meta = pq.ParquetFile(path).metadata
            rows, names = meta.num_rows, tuple(meta.schema.to_arrow_schema().names)
        else:
            table = _read_whole(path, fmt, stat.st_mtime_ns)
            rows, names = table.num_rows, tuple(table.column_names)
    except (pa.ArrowException, OSError) as exc:
        raise errors.UserError(f"{path}: cannot read it as {fmt}: {exc}") from None
    return InputFile(path, fmt, rows, stat.st_size, stat.st_mtime_ns, names)


def read_slice(
    file: InputFile, start: int, stop: int, columns: Sequence[str] | None = None
) -> pa.Table:
    """Rows [start, stop) of `file`, only `columns` (all when None)."""
    if file.format == "parquet":
        table = _read_parquet_rows(file, start, stop, columns)
    else:
        table = _read_whole(file.path, file.format, file.mtime_ns).slice(start, stop - start)
    return table.select(list(columns)) if columns is not None else table


def _read_parquet_rows(
    file: InputFile, start: int, stop: int, columns: Sequence[str] | None
) -> pa.Table:
    reader = pq.ParquetFile(file.path)
    groups, first, offset = [], None, 0
    for i in range(reader.metadata.num_row_groups):
        size = reader.metadata.row_group(i).num_rows
        if offset < stop and offset + size > start:
            groups.append(i)
            first = offset if first is None else first
        offset += size
    if not groups:
        return reader.schema_arrow.empty_table().select(list(columns or reader.schema_arrow.names))
    table = _read_groups(reader, file, tuple(groups), tuple(columns) if columns else None)
    return table.slice(start - (first or 0), stop - start)


def _read_groups(
    reader: pq.ParquetFile,
    file: InputFile,
    groups: tuple[int, ...],
    columns: tuple[str, ...] | None,
) -> pa.Table:
    """The row groups, decoded once per process for the slices that share them: a file
    written with one large row group (pyarrow's default is 1Mi rows) made every unit of it
    decode the whole file (8 units of the 200k-row MLP bench: 8 x 0.1-0.4 s)."""
    key = (file.path, file.mtime_ns, groups, columns)
    if key not in _groups:
        _groups.clear()  # one at a time: the memory of the groups read anyway
        _groups[key] = reader.read_row_groups(
            list(groups), columns=list(columns) if columns else None
        )
    return _groups[key]


def _read_whole(path: str, fmt: str, mtime_ns: int) -> pa.Table:
    key = (path, mtime_ns)
    if key not in _cache:
        _cache.clear()  # one file at a time: workers get a file's slices one after another
        if fmt == "csv":
            _cache[key] = pa_csv.read_csv(path)
        else:
            _cache[key] = pa_json.read_json(path)
    return _cache[key]
