"""The README's manifest reference is the one scripts/manifest_reference.py generates from the
manifest's JSON Schema, and that reference documents every field of every object."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from crosscloud.domain import manifest

ROOT = Path(__file__).resolve().parents[2]
UPDATE = ".venv/bin/python scripts/manifest_reference.py --update README.md"


def _script() -> ModuleType:
    path = ROOT / "scripts" / "manifest_reference.py"
    spec = importlib.util.spec_from_file_location("crosscloud_manifest_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = _script()


def test_readme_section_equals_the_generated_reference() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert script.START in readme and script.END in readme, (
        f"README.md lacks the {script.START} / {script.END} markers: paste the output of"
        " `.venv/bin/python scripts/manifest_reference.py --markers` into it"
    )
    section = readme.split(script.START, 1)[1].split(script.END, 1)[0]
    assert section.strip() == script.reference().strip(), (
        f"README.md's manifest reference is out of date with the schema; run `{UPDATE}`"
    )


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^### `([^`]+)`$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_object_and_field_of_the_schema_is_documented() -> None:
    schema = manifest.json_schema()
    sections = _sections(script.reference(schema))
    objects = [schema, *schema["$defs"].values()]
    for node in objects:
        description = " ".join(node["description"].split())
        matching = [body for body in sections.values() if description in body]
        assert len(matching) == 1, description
        for key in node["properties"]:
            assert f"| `{key}` |" in matching[0], (description, key)
    assert len(sections) == len(objects)


def test_required_fields_and_defaults_are_shown() -> None:
    sections = _sections(script.reference())
    assert (
        "| `provider` | `aws`, `azure`, `gcp`, `google`, `gce`, `local` (any case) |"
        in (sections["spec.placements[]"])
    )
    assert "| `name` | string | required |" in sections["spec.placements[].services[]"]
    assert "| `attempts` | integer 0..10 | `2` |" in sections["spec.traffic.retries"]


def test_update_replaces_only_the_text_between_the_markers() -> None:
    text = f"# Title\n{script.START}\nold\n{script.END}\nafter\n"
    assert script.update(text, "new\n") == f"# Title\n{script.START}\nnew\n{script.END}\nafter\n"
    with pytest.raises(ValueError, match="markers"):
        script.update("# no markers\n", "new\n")
