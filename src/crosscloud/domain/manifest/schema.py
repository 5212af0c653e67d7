"""The manifest's JSON Schema, for editors (YAML language server) and documentation."""

from __future__ import annotations

from typing import Any

from crosscloud.domain.manifest.model import Manifest

SCHEMA_ID = "https://crosscloud.dev/schemas/v1/cloud-deployment.json"


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a CloudDeployment manifest, keyed as written in YAML."""
    schema = Manifest.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "crosscloud CloudDeployment",
        **{k: v for k, v in schema.items() if k != "title"},
    }
