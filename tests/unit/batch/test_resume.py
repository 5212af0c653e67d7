"""An interrupted job leaves no output; --resume finishes it without repeating rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crosscloud import errors
from crosscloud.batch import inprocess, job, progress
from crosscloud.batch.unit import TaskConfig, Unit, UnitResult

ECHO = "examples/echo/service.py:Echo.echo"


class Interrupted(inprocess.InProcessEngine):
    """Runs `before` units, then stops as a killed job would."""

    def __init__(self, before: int) -> None:
        super().__init__()
        self.before = before
        self.ran: list[int] = []

    def run(
        self, units: list[Unit], config: TaskConfig, progress: job.Progress
    ) -> list[UnitResult]:
        self.ran = [u.index for u in units]
        done = super().run(units[: self.before], config, progress)
        if len(units) > self.before:
            raise KeyboardInterrupt
        return done


def spec(src: Path, out: Path, **kw: object) -> job.JobSpec:
    return job.JobSpec(target=ECHO, inputs=(str(src),), output=str(out), **kw)  # type: ignore[arg-type]


def test_interrupted_job_commits_nothing_and_resume_finishes_it(
    texts: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.parquet"
    with pytest.raises(KeyboardInterrupt):
        job.run(spec(texts, out), Interrupted(before=2), progress.Silent())
    assert not out.exists()
    assert (tmp_path / "o.parquet.partial").is_dir()
    with pytest.raises(errors.UserError, match="--resume"):
        job.run(spec(texts, out), inprocess.InProcessEngine(), progress.Silent())
    second = Interrupted(before=100)
    summary = job.run(spec(texts, out, resume=True), second, progress.Silent())
    assert summary.skipped_units == 2
    assert second.ran == list(range(2, summary.units))
    ids = (
        pq.read_table(out).column("id").to_pylist()
        + pq.read_table(out / "_errors").column("id").to_pylist()
    )
    assert sorted(ids) == list(range(100))


def test_resume_refuses_changed_input(texts: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    with pytest.raises(KeyboardInterrupt):
        job.run(spec(texts, out), Interrupted(before=1), progress.Silent())
    pq.write_table(pa.table({"id": [1], "text": ["changed"]}), texts)
    with pytest.raises(errors.UserError, match="input changed"):
        job.run(spec(texts, out, resume=True), inprocess.InProcessEngine(), progress.Silent())
    with pytest.raises(errors.UserError, match="other settings"):
        job.run(
            spec(texts, out, resume=True, keep=("id",)),
            inprocess.InProcessEngine(),
            progress.Silent(),
        )
