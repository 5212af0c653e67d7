"""`crosscloud call URL ENDPOINT --data JSON`: one request, the result printed as JSON."""

from __future__ import annotations

import click
import orjson

from crosscloud import client, errors


@click.command()
@click.argument("url")
@click.argument("endpoint")
@click.option(
    "--data", "-d", default="{}", show_default=True, help="The parameters as a JSON object."
)
@click.option("--token", envvar="CROSSCLOUD_TOKEN", default=None, help="Bearer token.")
def call(url: str, endpoint: str, data: str, token: str | None) -> None:
    """Call ENDPOINT of the service at URL and print the result."""
    try:
        params = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise errors.UserError(f"--data is not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise errors.UserError(f"--data must be a JSON object of parameters, got {data!r}")
    with client.Client(url, token=token) as c:
        result = c.call(endpoint, **params)
        if hasattr(result, "__next__"):
            for item in result:
                click.echo(orjson.dumps(item).decode())
            return
    click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
