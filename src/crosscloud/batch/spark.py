"""The Spark engine: one `mapInPandas` task per core slot, each running units it claims in
the shared work folder (`claims`; the worker side is in `worker`), so each Python worker
loads the service once (per-process cache, worker reuse on) and runs the same units as the
in-process engine; progress comes
from the units' done-markers, and too many bad rows cancel the job.

The session (`start`) is set up for this machine's pitfalls: loopback address, UI off, few
shuffle partitions, a temporary local dir, quiet logs, one BLAS/torch thread per task slot."""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from crosscloud import errors
from crosscloud.batch import claims, job, sink, worker
from crosscloud.batch.unit import TaskConfig, Unit, UnitResult

RESULT_SCHEMA = "index long, rows long, ok long, errors long, first_error string, stopped boolean"
_LOG4J = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
"""


@dataclass(frozen=True)
class Options:
    """How to reach Spark: --master, --conf k=v pairs and --py-files to ship."""

    master: str = "local[*]"
    conf: tuple[tuple[str, str], ...] = ()
    py_files: tuple[str, ...] = ()
    local_dir: str = field(default="")


def java_missing() -> str | None:
    """Why Spark cannot start here, or None when a `java` is found."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return None
    if shutil.which("java"):
        return None
    return (
        "Spark needs Java 17 or 21 and none was found (no `java` on PATH, JAVA_HOME unset):"
        " install one (e.g. `apt-get install openjdk-17-jre-headless`) or run small jobs"
        " without Spark with --engine inprocess"
    )


def start(options: Options) -> SparkSession:
    """A SparkSession for batch jobs (stop it with `stop`)."""
    if reason := java_missing():
        raise errors.UserError(reason)
    local = options.master.startswith("local")
    if local:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    local_dir = options.local_dir or tempfile.mkdtemp(prefix="crosscloud-spark-")
    log4j = Path(local_dir) / "log4j2.properties"
    log4j.write_text(_LOG4J)
    builder = SparkSession.builder.master(options.master).appName("crosscloud-batch")
    for key, value in _defaults(local_dir, log4j, local=local).items():
        builder = builder.config(key, value)
    for key, value in options.conf:
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise errors.PermanentError(f"Spark did not start ({options.master}): {exc}") from None
    session.sparkContext.setLogLevel("ERROR")
    _ship(session, options)
    return session


def _defaults(local_dir: str, log4j: Path, *, local: bool) -> dict[str, str]:
    conf = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(os.cpu_count() or 2),
        "spark.local.dir": local_dir,
        "spark.python.worker.reuse": "true",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log4j}",
        "spark.executorEnv.TOKENIZERS_PARALLELISM": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    # One BLAS/torch thread per task slot: more oversubscribes the cores (several times
    # slower on 2 cores); the worker also sets torch's pool after the service's setup().
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        conf[f"spark.executorEnv.{var}"] = "1"
    if local:
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    return conf


def _ship(session: SparkSession, options: Options) -> None:
    context = session.sparkContext
    for path in options.py_files:
        if not os.path.exists(path):
            raise errors.UserError(f"--py-files {path!r}: no such file")
        context.addPyFile(os.path.abspath(path))


def ship_service(session: SparkSession, source: str) -> None:
    """Send the service's file to executors on other machines (found there by its name)."""
    path = source.partition(":")[0]
    if path.endswith(".py") and not (session.sparkContext.master or "").startswith("local"):
        session.sparkContext.addPyFile(path)


def stop(session: SparkSession) -> None:
    local_dir = session.conf.get("spark.local.dir", "") or ""
    session.stop()
    if Path(local_dir).name.startswith("crosscloud-spark-"):
        shutil.rmtree(local_dir, ignore_errors=True)


class SparkEngine:
    """Runs units in Spark tasks, one task per core slot.

    One task per unit cost a Spark task launch per unit (0.2-0.4 s each on the shared
    2-core machine, as much as a 25k-row unit of the bench MLP): the MLP bench went from
    0.34x to ~0.6x of one process with one task per slot. Units stay the commit and resume
    granularity; the tasks share them out through claims so no slot idles at the end."""

    def __init__(self, session: SparkSession, *, poll_s: float = 0.5) -> None:
        self.session = session
        self.parallelism = session.sparkContext.defaultParallelism
        self.task_cpus = int(session.conf.get("spark.task.cpus", "1") or "1")
        self.poll_s = poll_s

    def run(
        self, units: list[Unit], config: TaskConfig, progress: job.Progress
    ) -> list[UnitResult]:
        if not units:
            return []
        ship_service(self.session, config.source)
        config = replace(config, threads=self.task_cpus)
        # Fixed when the job starts: under dynamic allocation, executors that join later get
        # no task unless --conf spark.default.parallelism=N names the slots to expect.
        tasks = max(1, min(len(units), self.parallelism // self.task_cpus))
        where = claims.folder(config.work, uuid.uuid4().hex[:8])
        where.mkdir(parents=True)
        parts = claims.blocks(units, tasks)
        task = functools.partial(worker.task, config=config, parts=parts, claims_at=str(where))
        frame = self.session.range(0, tasks, 1, tasks).mapInPandas(task, RESULT_SCHEMA)
        runner = _Collect(self.session, frame)
        runner.start()
        try:
            self._watch(runner, units, config, progress)
        except BaseException:
            runner.cancel()
            raise
        finally:
            runner.join()
            shutil.rmtree(where, ignore_errors=True)
        if runner.error is not None and not runner.cancelled:
            raise errors.PermanentError(f"the Spark job failed: {_python_error(runner.error)}")
        return [UnitResult(**row.asDict()) for row in runner.rows]

    def _watch(
        self, runner: _Collect, units: list[Unit], config: TaskConfig, progress: job.Progress
    ) -> None:
        rows = {u.index: u.rows for u in units}
        work = sink.WorkDir(config.work, config.output_format)
        seen, running = 0, True
        while running:
            runner.join(self.poll_s)
            running = runner.is_alive()  # one last look once the job has ended
            markers = work.done()  # this run's units and those a resumed run skipped
            if len(markers) == seen:
                continue
            seen = len(markers)
            progress.update(sum(rows[i] for i in markers if i in rows))
            if running and sum(m["errors"] for m in markers.values()) > config.max_errors:
                runner.cancel()


class _Collect(threading.Thread):
    """`collect()` in its own job group, so the driver can watch and cancel it."""

    def __init__(self, session: SparkSession, frame: Any) -> None:
        super().__init__(daemon=True)
        self.session, self.frame = session, frame
        self.group = f"crosscloud-batch-{uuid.uuid4().hex[:8]}"
        self.rows: list[Any] = []
        self.error: BaseException | None = None
        self.cancelled = False

    def run(self) -> None:
        context = self.session.sparkContext
        context.setJobGroup(self.group, "crosscloud batch", interruptOnCancel=True)
        try:
            self.rows = self.frame.collect()
        except Exception as exc:
            self.error = exc

    def cancel(self) -> None:
        self.cancelled = True
        self.session.sparkContext.cancelJobGroup(self.group)


_PY_ERROR = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$", re.MULTILINE)


def _python_error(exc: BaseException) -> str:
    """The Python exception inside a Spark failure, not the JVM's stack."""
    found = [
        m
        for m in _PY_ERROR.finditer(str(exc))
        if not m.group(1).startswith(("org.", "java.", "py4j"))
    ]
    if found:
        return f"{found[-1].group(1)}: {found[-1].group(2)}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
