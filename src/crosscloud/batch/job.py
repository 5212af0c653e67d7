"""A batch job from the user's request to a committed output: check the endpoint and the
columns, plan the units (or reload the plan of an interrupted run), run the pending units
on an engine, enforce --max-errors, check rows in == rows out + errors, and commit."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from crosscloud import errors
from crosscloud.batch import columns, dataset, handler, plan, sink
from crosscloud.batch.unit import TaskConfig, Unit, UnitResult
from crosscloud.sdk import loader


class Progress(Protocol):
    """Where an engine reports rows done (the CLI draws a bar; tests pass a recorder)."""

    def start(self, *, total: int, done: int) -> None: ...
    def update(self, done: int) -> None: ...
    def stop(self) -> None: ...


class Engine(Protocol):
    """Runs units somewhere: this process, or Spark executors."""

    parallelism: int

    def run(
        self, units: list[Unit], config: TaskConfig, progress: Progress
    ) -> list[UnitResult]: ...


@dataclass(frozen=True)
class JobSpec:
    """What the user asked for (the CLI's flags, parsed)."""

    target: str  # path.py:Class.endpoint or module:Class.endpoint
    inputs: tuple[str, ...]
    output: str
    columns: tuple[tuple[str, str], ...] = ()
    keep: tuple[str, ...] | None = None
    result_column: str | None = None
    input_format: str | None = None
    max_errors: int = 1000
    resume: bool = False
    overwrite: bool = False


@dataclass(frozen=True)
class Summary:
    """What a finished job did."""

    output: str
    rows: int
    ok: int
    errors: int
    units: int
    skipped_units: int
    seconds: float
    first_error: str = ""
    skipped_rows: int = 0
    already_complete: bool = False

    @property
    def rows_per_s(self) -> float:
        """Rows this run processed per second (rows a resumed run skipped do not count)."""
        done = 0 if self.already_complete else self.rows - self.skipped_rows
        return done / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors_path(self) -> str | None:
        return os.path.join(self.output, "_errors") if self.errors else None


def split_target(target: str) -> tuple[str, str | None]:
    """`path.py:Class.endpoint` -> (`/abs/path.py:Class`, `endpoint`); the endpoint may be
    left out when the service has only one."""
    module, sep, rest = target.rpartition(":")
    if not sep:
        return _absolute(target), None
    cls, dot, endpoint = rest.partition(".")
    return _absolute(f"{module}:{cls}"), (endpoint if dot else None)


def _absolute(source: str) -> str:
    path, sep, cls = source.partition(":")
    if path.endswith(".py") or "/" in path:
        path = os.path.abspath(path)
    return f"{path}{sep}{cls}"


@dataclass(frozen=True)
class Prepared:
    config: TaskConfig
    units: list[Unit]
    done: dict[int, dict[str, Any]]
    work: sink.WorkDir

    @property
    def pending(self) -> list[Unit]:
        return [u for u in self.units if u.index not in self.done]


def prepare(spec: JobSpec, *, parallelism: int) -> Prepared | Summary:
    """Validate the request against the service and the data, and plan (or reload) the
    units. Returns a Summary when `--resume` finds the output already committed."""
    source, endpoint = split_target(spec.target)
    definition = loader.load(source)
    if endpoint is None:
        if len(definition.endpoints) != 1:
            names = ", ".join(e.name for e in definition.endpoints)
            raise errors.UserError(f"{spec.target}: name an endpoint, e.g. :Class.NAME ({names})")
        endpoint = definition.endpoints[0].name
    ep = definition.endpoint(endpoint)
    handler.check(ep)
    output, partial = Path(spec.output), sink.partial_path(spec.output)
    if done := _existing_output(spec, output):
        return done
    files = dataset.discover(spec.inputs, spec.input_format)
    pairs = columns.resolve(ep, spec.columns, files)
    result = spec.result_column or ep.name
    config = TaskConfig(
        source=source,
        endpoint=ep.name,
        columns=pairs,
        keep=columns.keep(spec.keep, files, result=result),
        result_column=result,
        work=str(partial),
        output_format=sink.output_format(spec.output),
        max_errors=spec.max_errors,
    )
    work = sink.WorkDir(partial, config.output_format)
    units = _plan_or_resume(spec, work, files, config, parallelism, ep.options.max_batch_size)
    return Prepared(config, units, work.done(), work)


def _existing_output(spec: JobSpec, output: Path) -> Summary | None:
    if not (output.exists() or output.is_symlink()) or spec.overwrite:
        return None
    marker = output / "_SUCCESS"
    if spec.resume and marker.is_file():
        s = json.loads(marker.read_text())
        fields = {"output": str(output), "skipped_units": s["units"], "seconds": 0.0}
        return Summary(**{**s, **fields, "already_complete": True})
    raise errors.UserError(f"{output} already exists; pass --overwrite to replace it")


def _plan_or_resume(
    spec: JobSpec,
    work: sink.WorkDir,
    files: list[dataset.InputFile],
    config: TaskConfig,
    parallelism: int,
    batch_size: int,
) -> list[Unit]:
    fingerprint = {k: v for k, v in config.__dict__.items() if k not in ("max_errors", "threads")}
    if work.path.exists() and not spec.overwrite:
        saved = work.load_plan()
        if not spec.resume or saved is None:
            raise errors.UserError(
                f"an earlier run of this job stopped before it finished; its partial output"
                f" is in {work.path}: pass --resume to continue it or --overwrite to start again"
            )
        if json.loads(json.dumps(fingerprint)) != saved.get("config"):
            raise errors.UserError(
                f"cannot resume {work.path}: it was started with other settings"
                " (endpoint, --column, --keep, --result-column or output format); pass"
                " --overwrite to start again"
            )
        planned_files, units = plan.from_json(saved)
        plan.check_resume(planned_files, files, partial=str(work.path))
        return units
    if work.path.exists():
        shutil.rmtree(work.path)
    units = plan.split(files, parallelism=parallelism, batch_size=batch_size)
    work.create()
    saved = plan.to_json(files, units, source=config.source, endpoint=config.endpoint)
    work.save_plan({**saved, "config": fingerprint})
    return units


def run(spec: JobSpec, engine: Engine, progress: Progress) -> Summary:
    """Run the job to a committed output, or raise leaving `OUT.partial` to resume."""
    job = prepare(spec, parallelism=engine.parallelism)
    if isinstance(job, Summary):
        return job
    started = time.monotonic()
    total = sum(u.rows for u in job.units)
    progress.start(total=total, done=sum(m["rows"] for m in job.done.values()))
    try:
        results = engine.run(job.pending, job.config, progress)
    finally:
        progress.stop()
    return finish(job, spec, results, seconds=time.monotonic() - started)


def finish(job: Prepared, spec: JobSpec, results: list[UnitResult], *, seconds: float) -> Summary:
    """Check the counts and commit, or raise PermanentError keeping the partial output."""
    markers = job.work.done()
    stopped = [r for r in results if r.stopped]
    bad = sum(m["errors"] for m in markers.values()) + sum(r.errors for r in stopped)
    first = next((m["first_error"] for m in markers.values() if m["first_error"]), "")
    first = first or next((r.first_error for r in stopped), "")
    if bad > spec.max_errors:
        raise errors.PermanentError(
            f"stopped: {bad} rows failed, more than --max-errors {spec.max_errors};"
            f" first: {first}. Partial output: {job.work.path}"
        )
    missing = [u.index for u in job.units if u.index not in markers]
    if missing:
        raise errors.PermanentError(
            f"{len(missing)} of {len(job.units)} units did not finish; rerun with --resume"
        )
    rows = sum(u.rows for u in job.units)
    ok = sum(m["ok"] for m in markers.values())
    if ok + bad != rows:
        raise errors.PermanentError(f"row count mismatch: {rows} in, {ok} out + {bad} errors")
    skipped = sum(m["rows"] for m in job.done.values())
    summary = Summary(
        spec.output, rows, ok, bad, len(job.units), len(job.done), seconds, first, skipped
    )
    job.work.commit(spec.output, dataclasses.asdict(summary), overwrite=spec.overwrite)
    return summary
