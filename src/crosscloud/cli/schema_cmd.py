"""`crosscloud schema`: print the CloudDeployment JSON Schema for editors and tools."""

from __future__ import annotations

import json

import click

from crosscloud.domain import manifest


@click.command()
@click.option("--indent", default=2, show_default=True, type=click.IntRange(0, 8))
def schema(indent: int) -> None:
    """Print the JSON Schema of crosscloud.yaml (point the YAML language server at it)."""
    click.echo(json.dumps(manifest.json_schema(), indent=indent or None, sort_keys=True))
