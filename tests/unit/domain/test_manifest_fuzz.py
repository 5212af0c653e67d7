"""Random mutations of a valid manifest either load or fail with ManifestError, whose
problems all point into the text; never any other exception."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosscloud import errors
from crosscloud.domain import manifest
from tests.unit.domain.manifest_samples import VALID

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
YAML_CHARS = ": -[]{},'\"#&*!|>?%@`\n\t\\ab0.~"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["auto", "aws", "EKS", "30s", "4Gi", "A100:2", "us-east-1", "local/region-a"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _check(text: str) -> None:
    try:
        manifest.load_manifest(text, "fuzz.yaml")
    except errors.ManifestError as exc:
        problems = exc.problems
    else:
        return
    lines = text.count("\n") + 2
    assert problems
    assert all(1 <= p.line <= lines and p.column >= 1 and p.message for p in problems)


@st.composite
def text_edits(draw: st.DrawFn) -> str:
    text = VALID
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "line"]))
        if action == "insert":
            text = text[:at] + draw(st.text(YAML_CHARS, min_size=1, max_size=4)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        elif action == "replace":
            text = text[:at] + draw(st.sampled_from(YAML_CHARS)) + text[at + 1 :]
        else:
            lines = text.splitlines(keepends=True)
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines.insert(j, lines[i]) if draw(st.booleans()) else lines.pop(i)
            text = "".join(lines)
    return text


def _containers(data: object, found: list[object]) -> list[object]:
    if isinstance(data, dict | list):
        found.append(data)
        for child in data.values() if isinstance(data, dict) else data:
            _containers(child, found)
    return found


@st.composite
def data_edits(draw: st.DrawFn) -> str:
    data = copy.deepcopy(yaml.safe_load(VALID))
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(_containers(data, [])))
        if isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            action = draw(st.sampled_from(["replace", "delete", "rename"]))
            if action == "replace":
                target[key] = draw(values)
            elif action == "delete":
                del target[key]
            else:
                target[draw(st.text(max_size=8))] = target.pop(key)
        elif isinstance(target, list) and target:
            target[draw(st.integers(0, len(target) - 1))] = draw(values)
    return yaml.safe_dump(data, sort_keys=False)


@SETTINGS
@given(text_edits())
def test_text_mutations_load_or_raise_manifest_error(text: str) -> None:
    _check(text)


@SETTINGS
@given(data_edits())
def test_data_mutations_load_or_raise_manifest_error(text: str) -> None:
    _check(text)
