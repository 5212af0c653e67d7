"""Rows/s of `crosscloud batch` on Spark local[2] against the same handler in one Python
process with the same batch size (the limit on this machine), for the embeddings example
and a small torch MLP. Goals (issue 7): >= 0.9x the single-process rate once the session is
up; session start < 10 s. Each case's first Spark job (Python workers start and load the
model) is printed on its own; then rounds alternate A/B and medians are printed.

    .venv/bin/python bench/batch.py [--mlp-rows 200000] [--embed-rows 3000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from crosscloud.batch import dataset, handler, job, progress, spark

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "embeddings": (f"{ROOT}/examples/embeddings/service.py:Embedder", "embed", "texts"),
    "mlp": (f"{ROOT}/bench/batch_mlp.py:MLP", "predict", "features"),
}


def make_data(folder: Path, *, mlp_rows: int, embed_rows: int) -> dict[str, Path]:
    words = [
        "cloud",
        "spark",
        "model",
        "batch",
        "vector",
        "river",
        "mountain",
        "quiet",
        "fast",
        "token",
    ]
    texts = [" ".join(words[(i * 7 + k) % 9] for k in range(8 + i % 12)) for i in range(embed_rows)]
    pq.write_table(pa.table({"id": range(embed_rows), "texts": texts}), folder / "texts.parquet")
    feats = [[((i * 31 + j) % 97) / 97.0 for j in range(32)] for i in range(mlp_rows)]
    pq.write_table(pa.table({"id": range(mlp_rows), "features": feats}), folder / "mlp.parquet")
    return {"embeddings": folder / "texts.parquet", "mlp": folder / "mlp.parquet"}


def single_process(case: str, path: Path) -> float:
    """Rows/s of the handler alone: one process, one torch thread, max_batch_size chunks
    (model loading excluded)."""
    source, endpoint, param = CASES[case]
    h = handler.get(source, endpoint, threads=1)
    table = dataset.read_slice(
        dataset.describe(str(path), "parquet"), 0, pq.read_metadata(path).num_rows
    )
    size = h.ep.options.max_batch_size
    started = time.monotonic()
    for at in range(0, table.num_rows, size):
        h.invoke({param: table.column(param).slice(at, size).to_pylist()})
    return table.num_rows / (time.monotonic() - started)


def on_spark(case: str, path: Path, session: object, out: Path) -> float:
    source, endpoint, _ = CASES[case]
    shutil.rmtree(out, ignore_errors=True)
    spec = job.JobSpec(
        target=f"{source}.{endpoint}", inputs=(str(path),), output=str(out), keep=("id",)
    )
    started = time.monotonic()
    summary = job.run(spec, spark.SparkEngine(session), progress.Silent())  # type: ignore[arg-type]
    assert summary.ok == summary.rows, summary
    return summary.rows / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlp-rows", type=int, default=200_000)
    parser.add_argument("--embed-rows", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cases", default="mlp,embeddings")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = Path(tempfile.mkdtemp(prefix="crosscloud-bench-batch-"))
    data = make_data(folder, mlp_rows=args.mlp_rows, embed_rows=args.embed_rows)
    started = time.monotonic()
    session = spark.start(spark.Options(master="local[2]"))
    print(f"session start: {time.monotonic() - started:.1f} s (goal < 10 s)", flush=True)
    try:
        for case in args.cases.split(","):
            first = on_spark(case, data[case], session, folder / f"{case}.out.parquet")
            print(f"  {case} first job (workers start, load the model): {first:,.1f} rows/s")
            single, batch = [], []
            for r in range(args.rounds):
                single.append(single_process(case, data[case]))
                batch.append(on_spark(case, data[case], session, folder / f"{case}.out.parquet"))
                print(
                    f"  {case} round {r + 1}: single {single[-1]:,.1f} rows/s,"
                    f" crosscloud batch local[2] {batch[-1]:,.1f} rows/s",
                    flush=True,
                )
            ratio = statistics.median(batch) / statistics.median(single)
            print(
                f"{case}: median single {statistics.median(single):,.1f} rows/s,"
                f" batch {statistics.median(batch):,.1f} rows/s, ratio {ratio:.2f}x (goal >= 0.9x)"
            )
    finally:
        spark.stop(session)  # type: ignore[arg-type]
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
