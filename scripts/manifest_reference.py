"""Print the README's "Manifest reference" (Markdown) generated from the manifest's JSON Schema.

    .venv/bin/python scripts/manifest_reference.py             # the section
    .venv/bin/python scripts/manifest_reference.py --markers   # with its README markers
    .venv/bin/python scripts/manifest_reference.py --update README.md

`--update` replaces the text between `<!-- manifest-reference:start -->` and
`<!-- manifest-reference:end -->`; tests/unit/domain/test_manifest_reference.py checks that
the README's section equals this output, so the reference cannot drift from the schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from crosscloud.domain import manifest

START = "<!-- manifest-reference:start -->"
END = "<!-- manifest-reference:end -->"
_NULL = {"type": "null"}

Node = dict[str, Any]
Nested = list[tuple[str, str]]  # (path of an object, name of its definition)


def reference(schema: Node | None = None) -> str:
    """The whole section: a heading, one table per object, depth first from the root."""
    schema = schema or manifest.json_schema()
    defs: dict[str, Node] = schema.get("$defs", {})
    lines = [
        "## Manifest reference",
        "",
        "Generated from `crosscloud schema` by `scripts/manifest_reference.py`; do not edit by"
        " hand. Keys are camelCase; unknown keys are errors. Point the YAML language server at"
        " the schema (`crosscloud schema > crosscloud.schema.json`) to check manifests as you"
        " type.",
    ]
    todo: Nested = [("", "")]
    while todo:
        path, name = todo.pop(0)
        node = schema if not name else defs[name]
        section, nested = _section(path, node)
        lines += ["", *section]
        todo = nested + todo
    return "\n".join(lines) + "\n"


def _section(path: str, node: Node) -> tuple[list[str], Nested]:
    lines = [f"### `{path or '(top level)'}`", ""]
    if node.get("description"):
        lines += [" ".join(node["description"].split()), ""]
    lines += ["| field | type | default | description |", "|---|---|---|---|"]
    nested: Nested = []
    required = set(node.get("required", ()))
    for key, field in node.get("properties", {}).items():
        kind, found = _kind(field, f"{path}.{key}" if path else key)
        nested += found
        default = "required" if key in required else _default(field)
        text = _describe(field)
        lines.append(f"| `{key}` | {_cell(kind)} | {_cell(default)} | {_cell(text)} |")
    return lines, nested


def _kind(node: Node, path: str) -> tuple[str, Nested]:
    """A short type text and the objects it refers to (documented in their own section)."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return f"object (see `{path}`)", [(path, name)]
    if "const" in node:
        return f"`{node['const']}`", []
    if "enum" in node:
        return _enum(node["enum"]), []
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        texts, nested = [], []
        for branch in branches:
            if branch != _NULL:
                text, found = _kind(branch, path)
                texts.append(text)
                nested += found
        return " or ".join(dict.fromkeys(texts)), nested
    return _plain(node, path)


def _plain(node: Node, path: str) -> tuple[str, Nested]:
    kind = node.get("type")
    if kind == "array":
        text, nested = _kind(node.get("items", {}), f"{path}[]")
        return f"list of {text.replace('object', 'objects', 1)}", nested
    if kind == "object":
        values = node.get("additionalProperties")
        if not isinstance(values, dict):
            values = next(iter(node.get("patternProperties", {}).values()), {})
        text, nested = _kind(values, f"{path}.NAME")
        return f"map of names to {text}", nested
    if isinstance(kind, list):
        return " or ".join(kind), []
    text = str(kind or "any")
    if "pattern" in node:
        text += f" `{node['pattern']}`"
    return text + _bounds(node), []


def _bounds(node: Node) -> str:
    low, high = node.get("minimum"), node.get("maximum")
    if "exclusiveMinimum" in node:
        return f" > {node['exclusiveMinimum']}"
    if low is not None and high is not None:
        return f" {low}..{high}"
    return f" >= {low}" if low is not None else ""


def _enum(values: list[Any]) -> str:
    """Values in backticks; spellings differing only in case are listed once."""
    if all(isinstance(v, str) for v in values):
        lower = list(dict.fromkeys(v.lower() for v in values))
        if len(lower) < len(values):
            return ", ".join(f"`{v}`" for v in lower) + " (any case)"
    return ", ".join(f"`{v}`" for v in values)


def _default(node: Node) -> str:
    value = node.get("default")
    if value in (None, "", [], {}):
        return ""
    return f"`{json.dumps(value)}`"


def _describe(node: Node) -> str:
    text = node.get("description")
    for branch in [*node.get("anyOf", ()), node.get("items", {})]:
        text = text or branch.get("description")
    return " ".join(str(text or "").split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def update(text: str, section: str) -> str:
    """`text` with the part between the markers replaced by `section`."""
    if START not in text or END not in text:
        raise ValueError(f"the markers {START} and {END} are missing")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{section}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markers", action="store_true", help="wrap in the README markers")
    parser.add_argument("--update", type=Path, help="rewrite this file between the markers")
    args = parser.parse_args(argv)
    section = reference()
    if args.update is not None:
        try:
            args.update.write_text(update(args.update.read_text("utf-8"), section), "utf-8")
        except (OSError, ValueError) as exc:
            print(f"error: {args.update}: {exc}", file=sys.stderr)
            return 2
        return 0
    sys.stdout.write(f"{START}\n{section}{END}\n" if args.markers else section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
