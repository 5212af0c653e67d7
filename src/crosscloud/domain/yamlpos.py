"""YAML text -> plain data plus the line and column of every key and value.

Pure (no file I/O). Built on PyYAML's composer so positions survive; repeated keys are
recorded instead of silently keeping the last one, and syntax errors become a
`ManifestError` that says where.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

import yaml
from yaml import nodes

from crosscloud import errors

#: A path into the data: mapping keys and list indexes, like ("spec", "placements", 1).
Path = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_NODES = 100_000  # aliases can expand a small text exponentially ("billion laughs")


@dataclass(frozen=True, order=True)
class Mark:
    """A 1-based line and column in the text."""

    line: int
    column: int


@dataclass(frozen=True)
class Duplicate:
    """A key written more than once in one mapping: where and what each occurrence says."""

    path: Path
    key: str
    marks: tuple[Mark, ...]
    values: tuple[object, ...]


@dataclass
class Document:
    """Parsed YAML: the data, where each value and key was written, and repeated keys."""

    data: object
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)
    problems: list[errors.Problem] = field(default_factory=list)
    bad_paths: list[Path] = field(default_factory=list)

    def mark_of(self, path: Path, *, key: bool = False) -> Mark:
        """Where `path` was written (its key when `key`), else its nearest written parent."""
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            if path[:end] in self.values:
                return self.values[path[:end]]
        return Mark(1, 1)


def parse(text: str, filename: str = "") -> Document:
    """Parse one YAML document; raise ManifestError for text that is not valid YAML."""
    try:
        loader = yaml.SafeLoader(text)  # checks the characters already
    except yaml.reader.ReaderError as exc:
        raise errors.ManifestError([_reader_problem(exc, text, filename)]) from None
    try:
        node = loader.get_single_node()
        builder = _Builder(loader, filename)
        data = None if node is None else builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        raise errors.ManifestError([_syntax_problem(exc, filename)]) from None
    except yaml.reader.ReaderError as exc:
        raise errors.ManifestError([_reader_problem(exc, text, filename)]) from None
    except (RecursionError, _TooLarge):
        message = "the YAML is nested too deeply or expands to too many values"
        raise errors.ManifestError([errors.Problem(1, 1, "", message, filename)]) from None
    finally:
        loader.dispose()
    return Document(
        data,
        values=builder.values,
        keys=builder.keys,
        duplicates=builder.duplicates,
        problems=builder.problems,
        bad_paths=builder.bad_paths,
    )


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Path) -> str:
    """("spec", "placements", 1, "type") -> `spec.placements[1].type`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


class _TooLarge(Exception):
    """More nodes than any manifest needs: stop before memory runs out."""


def _mark(node: nodes.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _reader_problem(exc: yaml.reader.ReaderError, text: str, filename: str) -> errors.Problem:
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    message = f"character {exc.character!r} is not allowed in YAML text"
    return errors.Problem(line, column, "", message, filename)


def _syntax_problem(exc: yaml.MarkedYAMLError, filename: str) -> errors.Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
    if "'\\t'" in what:
        what += " (YAML indents with spaces, never tabs)"
    elif "expected <block end>" in what:
        what += " (check the indentation of this line and the one above)"
    return errors.Problem(line, column, "", f"invalid YAML: {what}", filename)


class _Builder:
    """Walks composed nodes into dicts, lists and scalars, noting marks on the way."""

    def __init__(self, loader: yaml.SafeLoader, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.values: dict[Path, Mark] = {}
        self.keys: dict[Path, Mark] = {}
        self.duplicates: list[Duplicate] = []
        self.problems: list[errors.Problem] = []
        self.bad_paths: list[Path] = []
        self.budget = _MAX_NODES
        self.active: set[int] = set()

    def problem(self, node: nodes.Node, path: Path, message: str) -> None:
        mark = _mark(node)
        self.bad_paths.append(path)
        where = format_path(path)
        self.problems.append(errors.Problem(mark.line, mark.column, where, message, self.filename))

    def build(self, node: nodes.Node, path: Path) -> object:
        self.budget -= 1
        if self.budget < 0:
            raise _TooLarge
        self.values[path] = _mark(node)
        if isinstance(node, nodes.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            self.problem(node, path, "an alias refers to its own anchor (a loop)")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, nodes.SequenceNode):
                return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
            assert isinstance(node, nodes.MappingNode)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: nodes.ScalarNode, path: Path) -> object:
        try:
            value = self.loader.construct_object(node, deep=True)
        # PyYAML's constructors fail on odd explicit tags with several exception types
        # (ConstructorError, ValueError, and AttributeError for a bad !!timestamp).
        except (yaml.YAMLError, ValueError, TypeError, AttributeError, OverflowError):
            self.problem(node, path, f"cannot read {node.value!r} as {node.tag}")
            return None
        if isinstance(value, datetime.date):
            return str(node.value)  # no field takes a date: keep what was written
        return value

    def mapping(self, node: nodes.MappingNode, path: Path) -> dict[str, object]:
        result: dict[str, object] = {}
        seen: dict[str, list[tuple[Mark, object]]] = {}
        merges: list[nodes.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, nodes.ScalarNode):
                self.problem(key_node, path, "a key must be a plain word, not a list or mapping")
                continue
            key = str(key_node.value)
            self.keys[(*path, key)] = _mark(key_node)
            result[key] = self.build(value_node, (*path, key))
            seen.setdefault(key, []).append((_mark(key_node), result[key]))
        for key, occurrences in seen.items():
            if len(occurrences) > 1:
                marks, values = zip(*occurrences, strict=True)
                self.duplicates.append(Duplicate(path, key, marks, values))
        for key_node, value_node in self.merge_pairs(merges, path):
            key = str(key_node.value)
            if key not in result:
                self.keys[(*path, key)] = _mark(key_node)
                result[key] = self.build(value_node, (*path, key))
        return result

    def merge_pairs(
        self, sources: list[nodes.Node], path: Path
    ) -> list[tuple[nodes.Node, nodes.Node]]:
        """Key/value pairs that `<<: *anchor` brings in, earlier sources winning."""
        pairs: list[tuple[nodes.Node, nodes.Node]] = []
        for source in sources:
            items = source.value if isinstance(source, nodes.SequenceNode) else [source]
            for item in items:
                if not isinstance(item, nodes.MappingNode):
                    self.problem(item, path, "`<<` merges only mappings")
                    continue
                own = [(k, v) for k, v in item.value if k.tag != _MERGE_TAG]
                nested = [v for k, v in item.value if k.tag == _MERGE_TAG]
                pairs += [(k, v) for k, v in own if isinstance(k, nodes.ScalarNode)]
                if nested and id(item) not in self.active:
                    self.active.add(id(item))
                    pairs += self.merge_pairs(nested, path)
                    self.active.discard(id(item))
        return pairs
