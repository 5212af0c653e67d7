"""`crosscloud status` and `crosscloud logs`: what runs where, and what it printed."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console

from crosscloud import errors
from crosscloud.adapters.local import procs
from crosscloud.cli import controlplane_client, deploy_cmds, network_view, status_view
from crosscloud.domain import targets

CLUSTER = targets.Target.CLUSTER


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
    leading = status_view.leader_lines(result)
    warn = "bold red" if leading and leading[0].startswith("warning") else None
    for line in leading:
        console.print(line, highlight=False, style=warn)
    for line in status_view.loop_lines(result, time.time()):
        console.print(line, highlight=False, style="bold red")
    for grid in status_view.tables(result):
        console.print(grid)
    for dep in result["deployments"]:
        for line in network_view.lines(dep):
            console.print(line, highlight=False)
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
    """Print the logs of SERVICE's replicas (prefixed by replica when there are several):
    local replicas' log files, and pods' logs read from their clusters."""
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
    pods = {r["id"] for r in replicas if targets.target_of(r["placement"]) is CLUSTER}
    cp = controlplane_client.connect(start=False) if pods else None
    sources = [_source(r, cp if r["id"] in pods else None) for r in replicas]
    prefix = len(sources) > 1
    for source in sources:
        source.echo(source.last(tail), prefix=prefix)
    if not follow and any(isinstance(s, _PodLog) and s.error for s in sources):
        sys.exit(1)  # what could be read was printed; the reasons for the rest on stderr
    rounds = 0
    while follow:
        time.sleep(0.25)
        rounds += 1
        for source in sources:
            if isinstance(source, _FileLog) or rounds % 4 == 0:  # clusters: once a second
                source.echo(source.new(), prefix=prefix)


class _Log:
    replica: str

    def echo(self, lines: list[str], *, prefix: bool) -> None:
        for line in lines:
            click.echo(f"[{self.replica}] {line}" if prefix else line)


class _FileLog(_Log):
    """A local replica's log file."""

    def __init__(self, replica: str, path: Path) -> None:
        self.replica, self.path, self.offset = replica, path, 0

    def last(self, count: int) -> list[str]:
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        return procs.last_lines(self.path, count)

    def new(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        self.offset += len(chunk)
        return chunk.decode(errors="replace").splitlines()


class _PodLog(_Log):
    """A pod's log, read from its cluster through the control plane (which holds the
    kubeconfig contexts). Followed by asking for what came since the last line's time
    and skipping what was already shown at that very time."""

    def __init__(self, replica: str, cp: controlplane_client.ControlPlane) -> None:
        self.replica, self.cp = replica, cp
        self.after: tuple[str, int] | None = None
        self.shown_at_after: list[str] = []
        self.error = ""

    def last(self, count: int) -> list[str]:
        # one line at least, to learn where "new" begins even with --tail 0
        lines = self._read(tail=max(count, 1))
        self._mark(lines)
        return [text for _at, text in lines[len(lines) - count :]] if count else []

    def new(self) -> list[str]:
        since = None if self.after is None else _rfc3339(self.after)
        fresh = [
            (at, text)
            for at, text in self._read(since=since)
            if self.after is None
            or at > self.after
            or (at == self.after and text not in self.shown_at_after)
        ]
        self._mark(fresh)
        return [text for _at, text in fresh]

    def _mark(self, lines: list[tuple[tuple[str, int], str]]) -> None:
        if not lines:
            return
        last = lines[-1][0]
        if last != self.after:
            self.after, self.shown_at_after = last, []
        self.shown_at_after += [text for at, text in lines if at == last]

    def _read(
        self, *, tail: int | None = None, since: str | None = None
    ) -> list[tuple[tuple[str, int], str]]:
        params: dict[str, Any] = {"replica": self.replica}
        if tail is not None:
            params["tail"] = tail
        if since is not None:
            params["since"] = since
        try:
            found = self.cp.get("/v1/logs", **params)
        except errors.CrossCloudError as exc:
            if str(exc) != self.error:  # once per new reason, not once a second
                click.echo(f"[{self.replica}] cannot read the log: {exc}", err=True)
            self.error = str(exc)
            return []
        self.error = ""
        return [(_stamp(line["at"]), line["text"]) for line in found["lines"]]


def _source(
    replica: dict[str, Any], cp: controlplane_client.ControlPlane | None
) -> _PodLog | _FileLog:
    """A pod's log read through the control plane `cp`; else the replica's log file."""
    if cp is not None:
        return _PodLog(replica["id"], cp)
    return _FileLog(replica["id"], Path(replica["log"]))


def _stamp(at: str) -> tuple[str, int]:
    """An RFC 3339 UTC time as (seconds, nanoseconds), comparable in order (the kubelet
    drops trailing zeros of the fraction, so the strings themselves are not)."""
    whole, _, fraction = at.rstrip("Z").partition(".")
    return whole, int(fraction.ljust(9, "0")[:9] or 0)


def _rfc3339(stamp: tuple[str, int]) -> str:
    return f"{stamp[0]}.{stamp[1]:09d}Z"
