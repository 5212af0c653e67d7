"""YAML with positions: marks of keys and values, repeated keys, merges, aliases, odd tags,
and syntax errors turned into ManifestError with a line and column."""

from __future__ import annotations

import pytest

from crosscloud import errors
from crosscloud.domain import yamlpos
from crosscloud.domain.yamlpos import Mark

TEXT = """\
a: 1
b:
  - x: hello
    y: [1, 2]
c: {d: true}
"""


@pytest.mark.parametrize(
    ("path", "key", "mark"),
    [
        (("a",), False, Mark(1, 4)),
        (("a",), True, Mark(1, 1)),
        (("b", 0), False, Mark(3, 5)),
        (("b", 0, "x"), False, Mark(3, 8)),
        (("b", 0, "y", 1), False, Mark(4, 12)),
        (("c", "d"), True, Mark(5, 5)),
        (("b", 0, "missing"), False, Mark(3, 5)),  # nearest written parent
        ((), False, Mark(1, 1)),
    ],
)
def test_marks_of_values_and_keys(path: yamlpos.Path, key: bool, mark: Mark) -> None:
    doc = yamlpos.parse(TEXT)
    assert doc.data == {"a": 1, "b": [{"x": "hello", "y": [1, 2]}], "c": {"d": True}}
    assert doc.mark_of(path, key=key) == mark


def test_repeated_keys_are_recorded_with_every_occurrence() -> None:
    doc = yamlpos.parse("top:\n  k: 1\n  other: 2\n  k: 3\n")
    assert doc.data == {"top": {"k": 3, "other": 2}}
    assert doc.duplicates == [yamlpos.Duplicate(("top",), "k", (Mark(2, 3), Mark(4, 3)), (1, 3))]


def test_merge_keys_bring_defaults_and_explicit_keys_win() -> None:
    doc = yamlpos.parse("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    assert doc.data == {"base": {"x": 1, "y": 2}, "use": {"y": 3, "x": 1}}
    assert doc.duplicates == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("v: 2024-01-02\n", "2024-01-02"),  # dates stay as written: no field takes a date
        ("v: '007'\n", "007"),
        ("v: 0x10\n", 16),
        ("v: ~\n", None),
    ],
)
def test_scalars(text: str, value: object) -> None:
    assert yamlpos.parse(text).data == {"v": value}


@pytest.mark.parametrize(
    "text", ["v: !!int abc\n", "v: !!timestamp nope\n", "v: !custom x\n", "v: !!float x\n"]
)
def test_unreadable_tagged_scalars_become_problems(text: str) -> None:
    doc = yamlpos.parse(text, "f.yaml")
    assert doc.data == {"v": None}
    assert [(p.line, p.column, p.path) for p in doc.problems] == [(1, 4, "v")]
    assert doc.problems[0].message.startswith("cannot read")


def test_a_key_that_is_a_mapping_is_a_problem() -> None:
    doc = yamlpos.parse("? {a: 1}\n: value\n")
    assert doc.data == {}
    assert "plain word" in doc.problems[0].message


def test_an_alias_loop_is_a_problem_not_a_hang() -> None:
    doc = yamlpos.parse("a: &x [1, *x]\n")
    assert doc.data == {"a": [1, None]}
    assert "loop" in doc.problems[0].message


def test_alias_bombs_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    with pytest.raises(errors.ManifestError, match="too many values"):
        yamlpos.parse("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("a: [1, 2\n", 2, 1, "expected ',' or ']'"),
        ("a:\n\tb: 1\n", 2, 1, "never tabs"),
        ("a: 1\n---\nb: 2\n", 2, 1, "single document"),
        ("a: b\n c: d\n", 2, 3, "mapping values are not allowed"),
        ("a: \x01\n", 1, 4, "not allowed in YAML"),
        ("a: *nothing\n", 1, 4, "undefined alias"),
    ],
)
def test_syntax_errors_say_where(text: str, line: int, column: int, words: str) -> None:
    with pytest.raises(errors.ManifestError) as info:
        yamlpos.parse(text, "f.yaml")
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.column) == ("f.yaml", line, column)
    assert words in problem.message


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("spec", "placements", 1, "type"), "spec.placements[1].type"),
        ((), ""),
        (("split", "aws/us-west-2"), "split['aws/us-west-2']"),
        (("env", "LOG_LEVEL"), "env.LOG_LEVEL"),
        ((0, "a"), "[0].a"),
    ],
)
def test_format_path(path: yamlpos.Path, text: str) -> None:
    assert yamlpos.format_path(path) == text
