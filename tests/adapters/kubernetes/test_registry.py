"""Registry address formats (ECR, ACR, Artifact Registry) and quantities, as tables."""

from __future__ import annotations

import pytest

from crosscloud import errors
from crosscloud.adapters.kubernetes import registry, units
from crosscloud.domain.providers import aws, azure, gcp


def test_builders() -> None:
    assert aws.ecr("123456789012", "us-west-2", "crosscloud/my-model") == (
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/crosscloud/my-model"
    )
    assert azure.acr("mycompanyacr", "my-model") == "mycompanyacr.azurecr.io/my-model"
    assert gcp.artifact_registry("us-central1", "my-project", "models", "my-model") == (
        "us-central1-docker.pkg.dev/my-project/models/my-model"
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: aws.ecr("12345", "us-west-2", "r"), "account '12345'.*12 digits"),
        (lambda: aws.ecr("123456789012", "westus", "r"), "region 'westus'"),
        (lambda: azure.acr("ab", "r"), "name 'ab'.*5 to 50"),
        (lambda: azure.acr("myacr01", "My_Model"), "repository 'My_Model'"),
        (lambda: gcp.artifact_registry("us-central1", "p", "models"), "project 'p'"),
        (
            lambda: gcp.artifact_registry("us-central1", "my-project", "Models"),
            "repository 'Models'",
        ),
    ],
)
def test_builders_refuse_malformed_parts(call: object, message: str) -> None:
    with pytest.raises(errors.UserError, match=message):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("123456789012.dkr.ecr.eu-central-1.amazonaws.com/team", "ecr"),
        ("myregistry01.azurecr.io/team/models", "acr"),
        ("europe-west4-docker.pkg.dev/my-project/models", "artifact-registry"),
        ("ghcr.io/acme", "other"),
        ("localhost:5000", "other"),
    ],
)
def test_parse_recognises_each_cloud(address: str, kind: str) -> None:
    parsed = registry.parse(address)
    assert parsed.kind == kind
    assert str(parsed) == address


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("1234.dkr.ecr.us-west-2.amazonaws.com/x", "12 digits"),
        ("ab.azurecr.io/x", "5 to 50"),
        (
            "us-central1-docker.pkg.dev/my-project",
            "<location>-docker.pkg.dev/<project>/<repository>",
        ),
        ("ghcr.io/Acme", "lowercase"),
    ],
)
def test_parse_refuses_malformed_cloud_addresses(address: str, message: str) -> None:
    with pytest.raises(errors.UserError, match=message):
        registry.parse(address)


@pytest.mark.parametrize(
    ("prefix", "image", "expected"),
    [
        (None, "my-model:1", "my-model:1"),
        ("myregistry01.azurecr.io/team", "my-model:1", "myregistry01.azurecr.io/team/my-model:1"),
        ("myregistry01.azurecr.io/team", "ghcr.io/acme/x:2", "ghcr.io/acme/x:2"),
        ("myregistry01.azurecr.io/team", "localhost:5000/x:2", "localhost:5000/x:2"),
        (
            "myregistry01.azurecr.io/team/",
            "library/x@sha256:ab",
            "myregistry01.azurecr.io/team/library/x@sha256:ab",
        ),
    ],
)
def test_image_reference(prefix: str | None, image: str, expected: str) -> None:
    assert registry.image_reference(prefix, image) == expected


@pytest.mark.parametrize(
    ("cores", "text"), [(2, "2"), (0.5, "500m"), (1.25, "1250m"), (0.0001, "1m"), (16.0, "16")]
)
def test_cpu_quantity(cores: float, text: str) -> None:
    assert units.cpu_quantity(cores) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (4 * 2**30, "4Gi"),
        (512 * 2**20, "512Mi"),
        (1536 * 2**20, "1536Mi"),
        (10**9, "1000000000"),
        (2**40, "1Ti"),
    ],
)
def test_memory_quantity(size: int, text: str) -> None:
    assert units.memory_quantity(size) == text
