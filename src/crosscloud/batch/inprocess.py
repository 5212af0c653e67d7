"""The in-process engine: runs the units one after another in this Python process, for
small jobs and machines without Java; the same units, files and commit as on Spark."""

from __future__ import annotations

from crosscloud.batch import job
from crosscloud.batch.unit import TaskConfig, Unit, UnitResult, run_unit


class InProcessEngine:
    """Units in order, here; stops after more than max_errors bad rows in this run."""

    parallelism = 1

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads

    def run(
        self, units: list[Unit], config: TaskConfig, progress: job.Progress
    ) -> list[UnitResult]:
        if self.threads is not None:
            config = TaskConfig(**{**config.__dict__, "threads": self.threads})
        results: list[UnitResult] = []
        rows = errors = 0
        for unit in units:
            result = run_unit(unit, config)
            results.append(result)
            rows += result.rows
            errors += result.errors
            progress.update(rows)
            if result.stopped or errors > config.max_errors:
                break
        return results
