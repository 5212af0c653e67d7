"""`crosscloud chaos ...`: rehearse failures on a running deployment.

`chaos preempt PLACEMENT --notice 30s` is a spot preemption of a local placement: its spot
replicas get the notice (the gateway sends them nothing new from then on, the ones in
flight finish, replacements start where the spot policy picks) and are killed when the
notice runs out. On clusters the cloud gives the notice itself (a tainted spot node).
`chaos link` and `chaos partition` slow or cut an isolated local region's link
(chaos_link.py).
"""

from __future__ import annotations

import time

import click

from crosscloud import errors
from crosscloud.cli import chaos_link, controlplane_client
from crosscloud.domain import quantity


@click.group()
def chaos() -> None:
    """Rehearse failures on a running deployment."""


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return quantity.parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@chaos.command()
@click.argument("placement")
@click.option(
    "--notice",
    default="30s",
    show_default=True,
    callback=_duration,
    help="Time from the notice to the kill (AWS gives 2m, GCP and Azure 30s).",
)
@click.option("--service", default=None, help="Only this service's spot replicas.")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait until the noticed replicas are gone.",
)
def preempt(placement: str, notice: float, service: str | None, wait: bool) -> None:
    """Preempt the spot replicas of PLACEMENT (provider/region, e.g. local/region-a)."""
    cp = controlplane_client.connect(start=False, write=True)
    if cp is None:
        raise errors.UserError("nothing is deployed; run `crosscloud up FILE` first")
    result = cp.post("/v1/preempt", {"placement": placement, "notice": notice, "service": service})
    noticed = list(result["replicas"])
    when = time.strftime("%H:%M:%S", time.localtime(result["kill_at"]))
    click.echo(
        f"notice given to {len(noticed)} spot replica(s) in {placement}"
        f" ({', '.join(noticed) or 'none running'}): no new requests from now, killed at"
        f" {when} ({notice:g}s)"
    )
    if not wait or not noticed:
        return
    deadline, left = result["kill_at"] + 30.0, set(noticed)
    while time.time() < deadline:
        status = cp.get("/v1/status")
        left = {r["id"] for d in status["deployments"] for r in d["replicas"]} & set(noticed)
        if not left:
            click.echo(f"{len(noticed)} replica(s) in {placement} killed")
            return
        time.sleep(0.5)
    raise errors.CrossCloudError(f"replicas still running after their notice: {sorted(left)}")


chaos.add_command(chaos_link.link)
chaos.add_command(chaos_link.partition)
