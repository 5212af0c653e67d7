"""`load_manifest`: YAML text -> a valid Manifest, or one ManifestError with every problem.

Pure: the caller reads the file and passes its text and name (used in messages only).
"""

from __future__ import annotations

import pydantic

from crosscloud import errors
from crosscloud.domain import yamlpos
from crosscloud.domain.manifest import duplicates, problems
from crosscloud.domain.manifest.model import API_VERSION, KIND, Manifest
from crosscloud.domain.yamlpos import Path

_EMPTY = f"the file is empty; a manifest starts with apiVersion: {API_VERSION} and kind: {KIND}"


def load_manifest(text: str, filename: str) -> Manifest:
    """Parse and validate a CloudDeployment; raise ManifestError listing every problem
    found (file:line:column, field path, bad value, what is allowed), sorted by line."""
    doc = yamlpos.parse(text, filename)
    found = list(doc.problems)
    repeated, ambiguous = duplicates.problems(doc, filename)
    found += repeated
    if doc.data is None:
        raise errors.ManifestError([*found, errors.Problem(1, 1, "", _EMPTY, filename)])
    try:
        manifest = Manifest.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        # Values under a repeated key or unreadable scalar are already reported there.
        skip = [*ambiguous, *doc.bad_paths]
        for path, problem in problems.convert(exc, doc, root=Manifest, filename=filename):
            if not any(_under(path, prefix) for prefix in skip):
                found.append(problem)
        raise errors.ManifestError(found) from None
    if found:
        raise errors.ManifestError(found)
    return manifest


def _under(path: Path, prefix: Path) -> bool:
    return path[: len(prefix)] == prefix
