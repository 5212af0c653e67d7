"""`crosscloud schema` prints a valid JSON Schema that accepts the examples and refuses
what the loader refuses for the same reason (unknown keys, values outside an enum)."""

from __future__ import annotations

import json
import pathlib

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from crosscloud.cli import main

EXAMPLES = pathlib.Path(__file__).parents[3] / "examples"


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    result = CliRunner().invoke(main.cli, ["schema"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert isinstance(printed, dict)
    return printed


def test_schema_is_valid_draft_2020_12(schema: dict[str, object]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["apiVersion", "kind", "metadata", "spec"]


@pytest.mark.parametrize("example", ["multicloud", "quickstart"])
def test_examples_pass_the_schema(schema: dict[str, object], example: str) -> None:
    data = yaml.safe_load((EXAMPLES / example / "crosscloud.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)


def _with_placement(**fields: object) -> dict[str, object]:
    placement = {"provider": "Google", "region": "us-central1", "context": "c", **fields}
    return {
        "apiVersion": "crosscloud.dev/v1",
        "kind": "CloudDeployment",
        "metadata": {"name": "demo"},
        "spec": {
            "services": [{"name": "svc", "image": "ghcr.io/a/b:1", "scaling": {"minReplicas": 1}}],
            "placements": [placement],
            "traffic": {"timeout": "30s", "retries": {"perTryTimeout": 2.5}},
        },
    }


def test_aliases_and_durations_pass(schema: dict[str, object]) -> None:
    jsonschema.Draft202012Validator(schema).validate(_with_placement(type="gke"))


@pytest.mark.parametrize(
    "fields", [{"provder": "aws"}, {"type": "Aurora"}, {"mesh": "linkerd"}, {"spot": "sometimes"}]
)
def test_schema_refuses_what_the_loader_refuses(
    schema: dict[str, object], fields: dict[str, object]
) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(_with_placement(**fields))


def test_compact_output_is_one_line() -> None:
    result = CliRunner().invoke(main.cli, ["schema", "--indent", "0"])
    assert result.exit_code == 0
    assert result.output.count("\n") == 1
