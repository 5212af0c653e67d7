"""`crosscloud gateway --config FILE`: run the cross-cloud gateway standalone."""

from __future__ import annotations

import click
import uvloop

from crosscloud.gateway import run


@click.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="YAML/JSON file listing services and their upstreams.",
)
@click.option("--host", default=None, help="Address to bind (default: the file's, else 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Port (0: any free).")
def gateway(config_path: str, host: str | None, port: int | None) -> None:
    """Route /{service}/... (or by Host header) to the upstreams listed in the config.

    SIGHUP re-reads the config file (a bad file keeps the last good one)."""
    uvloop.run(run.run(config_path, host=host, port=port))
