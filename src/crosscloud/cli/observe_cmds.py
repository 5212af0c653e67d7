"""`crosscloud status` and `crosscloud logs`: what runs where, and what it printed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console

from crosscloud import errors
from crosscloud.adapters import procs
from crosscloud.cli import controlplane_client, deploy_cmds, status_view


def _status(events: int = 0) -> dict[str, Any] | None:
    cp = controlplane_client.connect(start=deploy_cmds._has_state())
    return None if cp is None else dict(cp.get("/v1/status", events=events))


@click.command()
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
@click.option(
    "--events", "events", default=0, type=click.IntRange(0), help="Show the last N events."
)
def status(output: str, events: int) -> None:
    """Services, placements, ready/desired replicas, endpoints, restarts, age, version."""
    result = _status(events) or {"gateway": None, "deployments": []}
    if output == "json":
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return
    if not result["deployments"]:
        click.echo("nothing is deployed")
        return
    console = Console(width=None if Console().is_terminal else 120)
    for grid in status_view.tables(result):
        console.print(grid)
    for event in result.get("events", []):
        stamp = time.strftime("%H:%M:%S", time.localtime(event["ts"]))
        console.print(
            f"{stamp} {event['deployment']} {event['kind']}: {event['message']}", highlight=False
        )


@click.command()
@click.argument("service")
@click.option("--placement", default=None, help="provider/region, e.g. local/region-b")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", default=50, show_default=True, type=click.IntRange(0))
def logs(service: str, placement: str | None, follow: bool, tail: int) -> None:
    """Print the logs of SERVICE's replicas (prefixed by replica when there are several)."""
    result = _status() or {"deployments": []}
    replicas = [
        r for d in result["deployments"] for r in d["replicas"]
        if r["service"] == service and (placement is None or r["placement"] == placement)
    ]  # fmt: skip
    if not replicas:
        known = sorted(
            {
                f"{r['service']} ({r['placement']})"
                for d in result["deployments"]
                for r in d["replicas"]
            }
        )
        raise errors.UserError(
            f"no replica of {service!r}{' in ' + placement if placement else ''};"
            f" running: {', '.join(known) or 'nothing'}"
        )
    files = {r["id"]: Path(r["log"]) for r in replicas}
    prefix = len(files) > 1
    for rid, path in files.items():
        for line in procs.last_lines(path, tail):
            click.echo(f"[{rid}] {line}" if prefix else line)
    if follow:
        _follow(files, prefix=prefix)


def _follow(files: dict[str, Path], *, prefix: bool) -> None:
    offsets = {rid: path.stat().st_size if path.exists() else 0 for rid, path in files.items()}
    while True:
        for rid, path in files.items():
            if not path.exists():
                continue
            with path.open("rb") as handle:
                handle.seek(offsets[rid])
                chunk = handle.read()
            offsets[rid] += len(chunk)
            for line in chunk.decode(errors="replace").splitlines():
                click.echo(f"[{rid}] {line}" if prefix else line)
        time.sleep(0.25)
