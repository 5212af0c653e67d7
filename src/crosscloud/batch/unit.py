"""One unit of work, the same on every engine: read a slice of an input file, validate its
rows, feed them to the handler in chunks of `max_batch_size`, and commit the results, the
rejected rows (to `_errors`) and a done-marker into the job's work folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pydantic

from crosscloud.batch import dataset, handler, schema, sink

# Results go to Arrow every this many rows. Keeping a whole unit's results as Python
# objects made the garbage collector walk them again and again, and converting every
# handler batch cost more per call: CPU over the handler alone, bench MLP 25k-row units,
# was +45% converting at the end, +40% per batch, +23% every 4096 rows (16384: +48%).
CONVERT_ROWS = 4096


@dataclass(frozen=True)
class TaskConfig:
    """What a worker needs to run units: small and plain, so it pickles cheaply."""

    source: str
    endpoint: str
    columns: tuple[tuple[str, str], ...]  # (parameter, input column)
    keep: tuple[str, ...]
    result_column: str
    work: str
    output_format: str
    max_errors: int
    threads: int | None = None


@dataclass(frozen=True)
class Unit:
    """Rows [start, stop) of one input file."""

    index: int
    file: dataset.InputFile
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class UnitResult:
    """What a unit did; `stopped` when it gave up after more than max_errors bad rows."""

    index: int
    rows: int
    ok: int
    errors: int
    first_error: str = ""
    stopped: bool = False


def run_unit(unit: Unit, config: TaskConfig) -> UnitResult:
    """Process one unit and commit its part files and marker (idempotent: a rerun of the
    same unit replaces its files, so retries never duplicate rows)."""
    h = handler.get(config.source, config.endpoint, threads=config.threads)
    mapped = [c for _, c in config.columns]
    wanted = list(dict.fromkeys([*config.keep, *mapped]))
    table = dataset.read_slice(unit.file, unit.start, unit.stop, wanted)
    values, problems = _validate(h, table, config.columns)
    valid = [i for i, p in enumerate(problems) if not p]
    pieces, bad = _call_all(h, values, valid, problems, max_errors=config.max_errors)
    if bad > config.max_errors:
        return UnitResult(unit.index, unit.rows, 0, bad, _first(problems), stopped=True)
    column = pa.concat_arrays(pieces)
    ok = [i for i, p in enumerate(problems) if not p]
    failed = [i for i, p in enumerate(problems) if p]
    work = sink.WorkDir(config.work, config.output_format)
    out_table = pa.table({config.result_column: column})
    taken = pa.array(ok, type=pa.int64())
    for i, name in enumerate(config.keep):
        out_table = out_table.add_column(i, name, table.column(name).take(taken))
    work.write_part(unit.index, out_table)
    if failed:
        work.write_part(unit.index, _error_table(table, unit, failed, problems), errors=True)
    result = UnitResult(unit.index, unit.rows, len(ok), len(failed), _first(problems))
    work.mark_done(unit.index, result.__dict__)
    return result


def _call_all(
    h: handler.Handler,
    values: dict[str, Any],
    valid: list[int],
    problems: list[str],
    *,
    max_errors: int,
) -> tuple[list[pa.Array], int]:
    """Feed the valid rows to the handler in batches; the results as Arrow pieces in row
    order, and the count of bad rows (stops early once it passes `max_errors`)."""
    size = h.ep.options.max_batch_size
    # A running count: recounting `problems` after every batch was quadratic in the unit's
    # rows (0.5 s of a 2.8 s in-process MLP run over 200k rows).
    bad = len(problems) - len(valid)
    pieces: list[pa.Array] = [schema.to_arrow([], h.result_hint)]
    rows: list[int] = []
    outs: list[Any] = []
    whys: list[str] = []
    for at in range(0, len(valid), size):
        chunk = valid[at : at + size]
        out, why = handler.call_chunk(h, _take(values, chunk), len(chunk))
        rows += chunk
        outs += out
        whys += why
        bad += sum(1 for p in why if p) if any(why) else 0
        if len(rows) >= CONVERT_ROWS or at + size >= len(valid) or bad > max_errors:
            pieces.append(_results(rows, outs, whys, problems, h.result_hint))
            bad += len(rows) - len(pieces[-1]) - sum(1 for p in whys if p)  # misfits
            rows, outs, whys = [], [], []
        if bad > max_errors:
            break
    return pieces, bad


def _take(values: dict[str, Any], rows: list[int]) -> dict[str, list[Any]]:
    """One chunk's values; Arrow columns (all rows valid) convert only the chunk, which
    keeps Python objects few and fresh (measured ~1.5x faster into torch than one list)."""
    return {
        k: v.slice(rows[0], len(rows)).to_pylist()
        if isinstance(v, pa.ChunkedArray)
        else [v[i] for i in rows]
        for k, v in values.items()
    }


def _validate(
    h: handler.Handler, table: pa.Table, columns: Sequence[tuple[str, str]]
) -> tuple[dict[str, Any], list[str]]:
    """Parameter values (an Arrow column when no row needs checking, else a list), and a
    validation error per row ('' when valid)."""
    types_ = schema.row_types(h.ep)
    if all(_already_valid(table.column(c), types_[p]) for p, c in columns):
        return {p: table.column(c) for p, c in columns}, [""] * table.num_rows
    raw = {p: table.column(c).to_pylist() for p, c in columns}
    values: dict[str, list[Any]] = {p: [] for p, _ in columns}
    problems: list[str] = []
    for i in range(table.num_rows):
        try:
            row = h.row_model.model_validate({p: raw[p][i] for p, _ in columns})
        except pydantic.ValidationError as exc:
            problems.append(handler.describe(exc))
            row = None
        else:
            problems.append("")
        for p, _ in columns:
            values[p].append(getattr(row, p) if row is not None else None)
    return values, problems


def _already_valid(column: pa.ChunkedArray, hint: Any) -> bool:
    """True when the column's values are exactly the parameter's type, none missing: the
    fast path that skips per-row validation."""
    if column.type != schema.arrow_type(hint) or column.null_count:
        return False
    if pa.types.is_list(column.type):
        return pc.list_flatten(column).null_count == 0 and not pa.types.is_nested(
            column.type.value_type
        )
    return not pa.types.is_nested(column.type)


def _results(
    chunk: list[int], out: list[Any], why: list[str], problems: list[str], hint: Any
) -> pa.Array:
    """One chunk's results as an Arrow column, for its rows without a problem; records the
    handler's errors in `problems`, and rows whose result does not fit the declared type
    get a problem instead."""
    if any(why):
        for i, problem in zip(chunk, why, strict=True):
            problems[i] = problem
    ok = [n for n, problem in enumerate(why) if not problem] if any(why) else range(len(out))
    try:
        return schema.to_arrow([out[n] for n in ok] if len(ok) < len(out) else out, hint)
    except (pa.ArrowException, TypeError, ValueError, pydantic.ValidationError):
        pass
    for n in ok:
        try:
            schema.to_arrow([out[n]], hint)
        except (pa.ArrowException, TypeError, ValueError, pydantic.ValidationError) as exc:
            why_not = handler.describe(exc)
            problems[chunk[n]] = f"result does not fit the declared type {hint!r}: {why_not}"
    return schema.to_arrow([out[n] for n in ok if not problems[chunk[n]]], hint)


def _error_table(table: pa.Table, unit: Unit, failed: list[int], problems: list[str]) -> pa.Table:
    rows = table.take(failed)
    rows = rows.append_column("_file", pa.array([unit.file.path] * len(failed), pa.string()))
    rows = rows.append_column("_row", pa.array([unit.start + i for i in failed], pa.int64()))
    return rows.append_column("_error", pa.array([problems[i] for i in failed], pa.string()))


def _first(problems: list[str]) -> str:
    return next((p for p in problems if p), "")
