"""`crosscloud gateway --config FILE`: run the cross-cloud gateway standalone."""

from __future__ import annotations

import asyncio
import dataclasses
import signal

import click
import uvloop

from crosscloud.gateway import config as gwconfig
from crosscloud.gateway import server


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
    """Route /{service}/... (or by Host header) to the upstreams listed in the config."""
    config = gwconfig.load(config_path)
    if host is not None:
        config = dataclasses.replace(config, host=host)
    if port is not None:
        config = dataclasses.replace(config, port=port)
    uvloop.run(_run(config))


async def _run(config: gwconfig.GatewayConfig) -> None:
    gw = server.Gateway(config)
    await gw.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    names = ", ".join(sorted(gw.clusters)) or "no services yet"
    click.echo(f"gateway listening on http://{config.host}:{gw.port} ({names})", err=True)
    await stop.wait()
    await gw.stop()
