"""`crosscloud` entry point: the command group and the one place errors are rendered."""

from __future__ import annotations

import sys

import click

import crosscloud
from crosscloud import errors
from crosscloud.cli import (
    batch_cmd,
    build_cmd,
    call_cmd,
    deploy_cmds,
    gateway_cmd,
    observe_cmds,
    schema_cmd,
    serve_cmd,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(crosscloud.__version__, "--version", prog_name="crosscloud")
def cli() -> None:
    """Serve a model service locally, deploy it across clouds, run it as a batch job."""


cli.add_command(serve_cmd.serve)
cli.add_command(call_cmd.call)
cli.add_command(batch_cmd.batch)
cli.add_command(gateway_cmd.gateway)
cli.add_command(schema_cmd.schema)
cli.add_command(build_cmd.build)
for command in (
    deploy_cmds.up,
    deploy_cmds.rollout,
    deploy_cmds.scale,
    deploy_cmds.down,
    observe_cmds.status,
    observe_cmds.logs,
):
    cli.add_command(command)


def render_error(exc: errors.CrossCloudError) -> str:
    """`error: <first line>`, continuation lines indented; one `error:` per problem."""
    messages = (
        [str(p) for p in exc.problems] if isinstance(exc, errors.ManifestError) else [str(exc)]
    )
    out = []
    for message in messages:
        first, *rest = message.splitlines() or [type(exc).__name__]
        out.append(f"error: {first}")
        out.extend(f"  {line}" if line else "" for line in rest)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a crosscloud error prints `error: ...` (no traceback) and exits 2."""
    try:
        cli.main(args=argv, prog_name="crosscloud", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except errors.CrossCloudError as exc:
        click.echo(render_error(exc), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
