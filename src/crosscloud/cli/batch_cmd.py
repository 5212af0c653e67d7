"""`crosscloud batch SOURCE:Class.endpoint`: run an endpoint over a dataset, on Spark
(embedded `local[*]` or a cluster) or in this process."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from crosscloud.adapters import extras

if TYPE_CHECKING:
    from crosscloud.batch import job

# crosscloud.batch (pyarrow, and pyspark for the Spark engine) is imported inside the command:
# it costs about a second that `crosscloud serve` and the other commands should not pay.


@click.command()
@click.argument("target", metavar="SOURCE:CLASS.ENDPOINT")
@click.option(
    "--input",
    "-i",
    "inputs",
    multiple=True,
    required=True,
    help="Parquet, CSV or JSON Lines: a file, a folder or a glob (repeatable).",
)
@click.option(
    "--output",
    "-o",
    required=True,
    help="Output folder; its extension picks the format (.parquet, .csv, .jsonl).",
)
@click.option(
    "--column",
    "-c",
    "columns",
    multiple=True,
    metavar="PARAM=COLUMN",
    help="Feed input COLUMN to parameter PARAM (default: the column named PARAM).",
)
@click.option(
    "--keep",
    multiple=True,
    metavar="COLUMN",
    help="Input columns to copy to the output (default: all).",
)
@click.option(
    "--result-column", default=None, help="Name of the result column (default: the endpoint's)."
)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["parquet", "csv", "jsonl"]),
    default=None,
    help="Input format when extensions do not say.",
)
@click.option(
    "--engine",
    type=click.Choice(["spark", "inprocess"]),
    default="spark",
    show_default=True,
    help="inprocess: no JVM, one process, for small jobs.",
)
@click.option(
    "--master",
    default="local[*]",
    show_default=True,
    help="Spark master: local[N], spark://HOST:7077, k8s://https://HOST, yarn.",
)
@click.option(
    "--conf", "confs", multiple=True, metavar="KEY=VALUE", help="Spark setting (repeatable)."
)
@click.option(
    "--py-files", "py_files", multiple=True, help="Ship a .py/.zip/.egg to executors (repeatable)."
)
@click.option(
    "--max-errors",
    default=1000,
    show_default=True,
    type=click.IntRange(0),
    help="Stop when more rows than this fail.",
)
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted run; finished input is skipped."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output (and any partial run).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def batch(
    target: str,
    inputs: tuple[str, ...],
    output: str,
    columns: tuple[str, ...],
    keep: tuple[str, ...],
    result_column: str | None,
    input_format: str | None,
    engine: str,
    master: str,
    confs: tuple[str, ...],
    py_files: tuple[str, ...],
    max_errors: int,
    resume: bool,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Run ENDPOINT of the service in SOURCE over every row of --input.

    \b
    crosscloud batch examples/embeddings/service.py:Embedder.embed \\
        --input texts.parquet --column texts=text --output embeddings.parquet
    """
    needed = ("pyarrow",) if engine == "inprocess" else None  # no JVM: Arrow only
    extras.require("spark", why=f"crosscloud batch --engine {engine}", modules=needed)
    extras.raise_if(extras.service_needs(target.rpartition(".")[0], label=target))
    from crosscloud.batch import columns as batch_columns
    from crosscloud.batch import inprocess, progress
    from crosscloud.batch import job as batch_job

    spec = batch_job.JobSpec(
        target=target,
        inputs=inputs,
        output=output,
        columns=batch_columns.parse_mapping(columns),
        keep=keep or None,
        result_column=result_column,
        input_format=input_format,
        max_errors=max_errors,
        resume=resume,
        overwrite=overwrite,
    )
    bar = progress.Silent() if quiet else progress.Bar()
    if engine == "inprocess":
        summary = batch_job.run(spec, inprocess.InProcessEngine(), bar)
    else:
        summary = _on_spark(spec, bar, master=master, confs=confs, py_files=py_files)
    for line in progress.summary_lines(summary):
        click.echo(line)


def _on_spark(
    spec: job.JobSpec,
    bar: job.Progress,
    *,
    master: str,
    confs: tuple[str, ...],
    py_files: tuple[str, ...],
) -> job.Summary:
    from crosscloud.batch import job as batch_job
    from crosscloud.batch import spark

    options = spark.Options(master=master, conf=_pairs(confs), py_files=py_files)
    started = time.monotonic()
    session = spark.start(options)
    click.echo(f"spark {master}: session up in {time.monotonic() - started:.1f} s", err=True)
    try:
        return batch_job.run(spec, spark.SparkEngine(session), bar)
    finally:
        spark.stop(session)


def _pairs(items: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: write KEY=VALUE", param_hint="--conf")
        pairs.append((key.strip(), value))
    return tuple(pairs)
