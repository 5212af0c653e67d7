"""The bad-input corpus: each manifest under manifests/bad/ fails with exactly the message
in its `.expected` file (what `crosscloud plan` prints after `error: `)."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from crosscloud import errors
from crosscloud.domain import manifest

BAD = pathlib.Path(__file__).parent / "manifests" / "bad"
CASES = sorted(BAD.glob("*.yaml"))


def _error(case: pathlib.Path) -> errors.ManifestError:
    with pytest.raises(errors.ManifestError) as info:
        manifest.load_manifest(case.read_text(), case.name)
    return info.value


def test_the_corpus_has_at_least_30_cases_each_with_its_message() -> None:
    assert len(CASES) >= 30
    assert all(case.with_suffix(".expected").is_file() for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.stem)
def test_bad_manifest_fails_with_the_expected_message(case: pathlib.Path) -> None:
    expected = case.with_suffix(".expected").read_text()
    assert str(_error(case)) + "\n" == expected


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.stem)
def test_problems_point_into_the_file_in_line_order(case: pathlib.Path) -> None:
    problems = _error(case).problems
    lines = case.read_text().count("\n") + 1
    assert problems
    assert all(1 <= p.line <= lines and p.column >= 1 and p.file == case.name for p in problems)
    assert [p.line for p in problems] == sorted(p.line for p in problems)


def test_seed_names_every_repeat_and_the_list_to_write() -> None:
    message = str(_error(BAD / "01-seed.yaml"))
    assert "provider at lines 6, 11 and 16" in message
    assert "only the last would count" in message
    assert "placements:" in message
    assert "region: eastus  # 'us-east-1' is not an Azure region" in message


def test_the_list_form_suggested_for_the_seed_loads() -> None:
    message = str(_error(BAD / "01-seed.yaml"))
    block = textwrap.dedent(message.split("instead:\n", 1)[1])
    head = "apiVersion: crosscloud.dev/v1\nkind: CloudDeployment\nmetadata: {name: seed}\n"
    loaded = manifest.load_manifest(head + block, "fixed.yaml")
    assert [p.id for p in loaded.placements()] == [
        "aws/us-west-2",
        "azure/eastus",
        "gcp/us-central1",
    ]
    assert loaded.spec.state.url.startswith("postgresql://")


@pytest.mark.parametrize(
    ("case", "secret"),
    [("22-state-url-secret.yaml", "hunter2"), ("23-secret-env-value.yaml", "sk-live")],
)
def test_secret_values_never_appear_in_messages(case: str, secret: str) -> None:
    assert secret in (BAD / case).read_text()
    assert secret not in str(_error(BAD / case))
