"""Progress on the terminal: a rich bar with rows done, rows/s and the time left, and the
final summary; `Silent` for tests and `--quiet`."""

from __future__ import annotations

from typing import IO

import rich.console
import rich.progress

from crosscloud.batch.job import Summary


class Silent:
    """Records the last count and shows nothing."""

    def __init__(self) -> None:
        self.total = self.base = self.done = 0
        self.updates: list[int] = []

    def start(self, *, total: int, done: int) -> None:
        self.total, self.base = total, done

    def update(self, done: int) -> None:
        self.done = done
        self.updates.append(done)

    def stop(self) -> None:
        pass


class Bar:
    """`rows ━━━━━━╸━━━ 1,024/2,000 rows  61.3 rows/s  0:00:15 left`."""

    def __init__(self, file: IO[str] | None = None) -> None:
        self.console = rich.console.Console(file=file, stderr=file is None)
        self.bar = rich.progress.Progress(
            rich.progress.TextColumn("[bold]rows"),
            rich.progress.BarColumn(),
            rich.progress.MofNCompleteColumn(),
            rich.progress.TextColumn("{task.fields[speed]}"),
            rich.progress.TimeRemainingColumn(),
            rich.progress.TextColumn("left"),
            console=self.console,
            transient=True,
        )
        self.task: rich.progress.TaskID | None = None
        self.base = 0

    def start(self, *, total: int, done: int) -> None:
        self.base = done
        self.bar.start()
        self.task = self.bar.add_task("rows", total=total, completed=done, speed="")

    def update(self, done: int) -> None:
        if self.task is None:
            return
        self.bar.update(self.task, completed=self.base + done)
        speed = self.bar.tasks[0].speed
        self.bar.update(self.task, speed=f"{speed:,.1f} rows/s" if speed else "")

    def stop(self) -> None:
        self.bar.stop()


def summary_lines(s: Summary) -> list[str]:
    """The summary the CLI prints when a job finishes."""
    if s.already_complete:
        return [f"{s.output} is already complete: {s.rows:,} rows, {s.errors:,} errors"]
    lines = [
        f"wrote {s.output}: {s.ok:,} rows",
        f"  rows in    {s.rows:,} = {s.ok:,} out + {s.errors:,} errors",
        f"  time       {s.seconds:.1f} s, {s.rows_per_s:,.1f} rows/s",
    ]
    if s.skipped_units:
        lines.append(
            f"  resumed    {s.skipped_units} of {s.units} units were already done"
            f" ({s.skipped_rows:,} rows)"
        )
    if s.errors:
        lines.append(f"  errors     {s.errors_path} (first: {s.first_error})")
    return lines
