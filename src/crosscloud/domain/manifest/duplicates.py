"""Repeated keys -> one Problem per mapping, saying which keys repeat at which lines and,
for the seed's repeated `provider`/`region`/`services` under `spec`, the list to write."""

from __future__ import annotations

from crosscloud import errors
from crosscloud.domain import yamlpos
from crosscloud.domain.manifest import hints
from crosscloud.domain.yamlpos import Duplicate, Path

_PLACEMENT_KEYS = {"provider", "region", "type", "services", "context"}


def problems(doc: yamlpos.Document, filename: str) -> tuple[list[errors.Problem], list[Path]]:
    """Problems for repeated keys, and the paths whose values are therefore ambiguous."""
    by_mapping: dict[Path, list[Duplicate]] = {}
    for duplicate in doc.duplicates:
        by_mapping.setdefault(duplicate.path, []).append(duplicate)
    found = [_problem(path, group, filename) for path, group in by_mapping.items()]
    ambiguous = [(*d.path, d.key) for d in doc.duplicates]
    return found, ambiguous


def _problem(path: Path, group: list[Duplicate], filename: str) -> errors.Problem:
    group.sort(key=lambda d: d.marks[0])
    first_repeat = min(d.marks[1] for d in group)
    message = _message(group)
    if path == ("spec",) and _PLACEMENT_KEYS & {d.key for d in group}:
        message += hints.placements_hint(group)
    where = yamlpos.format_path(path)
    return errors.Problem(first_repeat.line, first_repeat.column, where, message, filename)


def _message(group: list[Duplicate]) -> str:
    def lines(d: Duplicate) -> str:
        return _and([str(m.line) for m in d.marks])

    if len(group) == 1:
        only = group[0]
        return (
            f"{only.key!r} is a duplicated key (lines {lines(only)}); YAML keeps only the"
            " last, so only the last would count and the others would be"
            " silently dropped"
        )
    names = _and([d.key for d in group])
    where = "; ".join(f"{d.key} at lines {lines(d)}" for d in group)
    return (
        f"{names} are duplicated keys ({where}); YAML keeps only the last of each, so only"
        " the last would count and the others would be silently dropped"
    )


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
