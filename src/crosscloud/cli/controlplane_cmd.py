"""`crosscloud controlplane`: a control plane in the foreground, as a service runs it.

Others start one in the background by themselves (`up` does); this one logs to stderr and
keeps running with nothing deployed. On a PostgreSQL state database several may run (on
one machine, with the same CROSSCLOUD_HOME): one leads, the others stand by."""

from __future__ import annotations

import os
import sys

import click

from crosscloud.adapters import paths


@click.command()
@click.option(
    "--state-url",
    default=None,
    help="The state database (else $CROSSCLOUD_STATE_URL, else SQLite in the state directory).",
)
def controlplane(state_url: str | None) -> None:
    """Run a control plane until Ctrl-C or SIGTERM (several on PostgreSQL: one leads)."""
    env = {**os.environ, paths.HOME_ENV: str(paths.home())}  # the mark `down --force` finds
    if state_url:
        env[paths.STATE_URL_ENV] = state_url
    # this very process becomes `python -m crosscloud.controlplane`, as `up` starts one
    command = [sys.executable, "-m", "crosscloud.controlplane", "--stay"]
    os.execve(sys.executable, command, env)  # noqa: S606 (our own interpreter, no shell)
