"""Validators for rendered objects: upstream Kubernetes 1.30 schemas (kubernetes-validate
--strict) and Istio's own CRD schemas, closed so that an unknown field is an error."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

KUBERNETES_VERSION = "1.30"
ISTIO_CRDS = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "schemas" / "istio" / "crds.gen.yaml"
)
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}

Validate = Callable[[dict[str, Any]], list[str]]


def go_duration(text: str) -> float | None:
    """Seconds in a Go duration string (what CEL's duration() parses), or None if invalid."""
    if text == "0":
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = list(_GO_DURATION.finditer(body))
    if not parts or "".join(p.group(0) for p in parts) != body:
        return None
    return sign * sum(float(p.group(1)) * _GO_UNITS[p.group(2)] for p in parts)


_PORT_LEVEL_NEEDS_SELECTOR = (
    "has(self.portLevelMtls) ? (((has(self.selector) && has(self.selector.matchLabels))"
    " ? self.selector.matchLabels : {}).size() > 0) : true"
)


def _cel_rule(rule: str, instance: Any) -> bool:
    """The few CEL rules Istio's networking CRDs use; any other rule fails loudly."""
    if rule == "duration(self) >= duration('1ms')":
        seconds = go_duration(instance) if isinstance(instance, str) else None
        return seconds is not None and seconds >= 0.001
    if rule == '!self.contains("*")':
        return "*" not in instance
    if rule == 'self.all(key, !key.contains("*"))':
        return all("*" not in key for key in instance)
    if rule == "self.all(key, key.size() != 0)":
        return all(key != "" for key in instance)
    if rule == "self.all(key, 0 < int(key) && int(key) <= 65535)":  # portLevelMtls keys
        return all(key.isdigit() and 0 < int(key) <= 65535 for key in instance)
    if rule == _PORT_LEVEL_NEEDS_SELECTOR:  # PeerAuthentication
        labels = (instance.get("selector") or {}).get("matchLabels") or {}
        return "portLevelMtls" not in instance or len(labels) > 0
    raise AssertionError(f"the test validator does not know the CEL rule {rule!r}")


def _x_validations(validator: Any, rules: Any, instance: Any, schema: Any) -> Iterator[Any]:
    for item in rules:
        if not _cel_rule(item["rule"], instance):
            yield jsonschema.ValidationError(f"{instance!r}: {item.get('message', item['rule'])}")


_CrdValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator, {"x-kubernetes-validations": _x_validations}
)


def close_schema(node: Any) -> Any:
    """Forbid properties a CRD schema does not declare, as a cluster would drop them."""
    if isinstance(node, list):
        return [close_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = dict(node)
    if "properties" in out:
        out["properties"] = {k: close_schema(v) for k, v in out["properties"].items()}
        if "additionalProperties" not in out and not out.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            out["additionalProperties"] = False
    for key in ("items", "not", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = close_schema(out[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = close_schema(out[key])
    return out


def _crd_validators() -> dict[tuple[str, str], Any]:
    assert ISTIO_CRDS.is_file(), f"Istio CRDs not found at {ISTIO_CRDS}"
    validators: dict[tuple[str, str], Any] = {}
    for crd in yaml.safe_load_all(ISTIO_CRDS.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = close_schema(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
            schema["properties"]["kind"] = {"const": kind}
            schema["properties"]["metadata"] = {"type": "object"}
            schema["required"] = sorted(
                {*schema.get("required", []), "apiVersion", "kind", "metadata"}
            )
            validators[(f"{group}/{version['name']}", kind)] = _CrdValidator(schema)
    return validators


def _path(error: Any) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<root>"


def _validate_metadata(metadata: dict[str, Any]) -> list[str]:
    """Custom resources get the same ObjectMeta checks as built-in ones."""
    wrapper = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
    errors = []
    try:
        kubernetes_validate.validate(wrapper, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        errors.append(f"{_path(exc)}: {exc.message}")
    if not _DNS_SUBDOMAIN.match(str(metadata.get("name", ""))):
        errors.append(f"metadata.name: {metadata.get('name')!r} is not a DNS subdomain")
    return errors


@pytest.fixture(scope="session")
def istio_validators() -> dict[tuple[str, str], Any]:
    return _crd_validators()


@pytest.fixture(scope="session")
def validate(istio_validators: dict[tuple[str, str], Any]) -> Validate:
    """Errors for one object: Istio kinds against the CRDs, the rest against Kubernetes."""

    def check(obj: dict[str, Any]) -> list[str]:
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        if api_version.split("/")[0].endswith("istio.io"):
            validator = istio_validators.get((api_version, kind))
            if validator is None:
                return [f"no Istio CRD serves {kind} {api_version}"]
            found = [f"{_path(e)}: {e.message}" for e in validator.iter_errors(obj)]
            return found + _validate_metadata(obj.get("metadata", {}))
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            return [f"{_path(exc)}: {exc.message}"]
        except kubernetes_validate.SchemaNotFoundError as exc:
            return [exc.message]
        return []

    return check
