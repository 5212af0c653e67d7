"""`crosscloud dashboard`: where the control plane's web dashboard is, and where its token
is. It opens nothing and prints no token: the page asks for it."""

from __future__ import annotations

import click

from crosscloud import errors
from crosscloud.adapters import paths
from crosscloud.cli import controlplane_client, deploy_cmds, leader
from crosscloud.controlplane import web


@click.command()
def dashboard() -> None:
    """Print the dashboard's URL (served by the control plane on 127.0.0.1) and the file
    that holds the token it asks for."""
    cp = controlplane_client.connect(start=deploy_cmds._has_state())
    if cp is None:
        raise errors.UserError(
            f"no control plane runs for {paths.home()} (it serves the dashboard while"
            " something is deployed): run `crosscloud up FILE` first"
        )
    cp.get("/v1/dashboard")  # it answers, and takes the token in that file
    info = leader.choose(paths.home(), write=False) or {}
    click.echo(f"dashboard: {cp.url}{web.PAGE}")
    token_file = info.get("token_file", "the control plane's .token file")
    click.echo(f"token:     paste the contents of {token_file} (readable by you only)")
    click.echo(f"           e.g. cat {token_file}")
    click.echo("           (a new token each time the control plane starts; the page asks again)")
