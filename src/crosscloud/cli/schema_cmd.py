"""`crosscloud schema`: print a JSON Schema for editors and tools: the CloudDeployment
manifest's (the default) or the gateway config file's (`crosscloud schema gateway`)."""

from __future__ import annotations

import json

import click

from crosscloud.domain import gatewayfile, manifest

_SCHEMAS = {"manifest": manifest.json_schema, "gateway": gatewayfile.json_schema}


@click.command()
@click.argument("of", type=click.Choice(list(_SCHEMAS)), default="manifest", required=False)
@click.option("--indent", default=2, show_default=True, type=click.IntRange(0, 8))
def schema(of: str, indent: int) -> None:
    """Print the JSON Schema of crosscloud.yaml, or of the gateway's config file with
    `gateway` (point the YAML language server at it)."""
    click.echo(json.dumps(_SCHEMAS[of](), indent=indent or None, sort_keys=True))
