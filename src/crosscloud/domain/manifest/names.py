"""Provider and placement-type names: canonical spellings, accepted aliases, and why
a database or another compute service is not a placement type."""

from __future__ import annotations

from typing import Literal

from crosscloud.domain import quantity

ProviderName = Literal["aws", "azure", "gcp", "local"]
ClusterTypeName = Literal["EKS", "AKS", "GKE", "Local"]

PROVIDER_ALIASES = {
    "aws": "aws",
    "azure": "azure",
    "gcp": "gcp",
    "google": "gcp",
    "gce": "gcp",
    "local": "local",
}
CLUSTER_TYPES = {"eks": "EKS", "aks": "AKS", "gke": "GKE", "local": "Local"}
#: The cluster type each provider runs.
TYPE_OF_PROVIDER: dict[str, ClusterTypeName] = {
    "aws": "EKS",
    "azure": "AKS",
    "gcp": "GKE",
    "local": "Local",
}
_TYPES = "EKS (aws), AKS (azure), GKE (gcp) or Local"
_DATABASES = (
    "aurora",
    "rds",
    "dynamodb",
    "cloudsql",
    "spanner",
    "cosmosdb",
    "postgres",
    "postgresql",
    "mysql",
    "sqlite",
    "redis",
    "elasticache",
)
_OTHER_COMPUTE = (
    "ec2",
    "ecs",
    "fargate",
    "lambda",
    "cloudrun",
    "appservice",
    "aci",
    "functions",
    "sagemaker",
    "vertex",
    "batch",
)


def normalize_provider(value: object) -> str:
    if isinstance(value, str) and value.strip().lower() in PROVIDER_ALIASES:
        return PROVIDER_ALIASES[value.strip().lower()]
    near = (
        quantity.did_you_mean(str(value), list(PROVIDER_ALIASES))
        if isinstance(value, str)
        else None
    )
    hint = f"; did you mean {PROVIDER_ALIASES[near]!r}?" if near else ""
    raise ValueError(
        f"{value!r} is not a provider{hint} (expected aws, azure, gcp or local;"
        " AWS, Azure, Google, GCP and GCE are accepted too)"
    )


def normalize_cluster_type(value: object) -> str:
    word = value.strip().lower() if isinstance(value, str) else ""
    if word in CLUSTER_TYPES:
        return CLUSTER_TYPES[word]
    allowed = f"expected {_TYPES}"
    if word.replace(" ", "") in _DATABASES:
        url = "an Aurora PostgreSQL URL" if word == "aurora" else "a PostgreSQL URL"
        return _fail(
            f"{value!r} is a database, not a compute target: {url} belongs in spec.state.url"
            f" (state: {{url: postgresql://...}}); the type of a placement is {_TYPES}"
        )
    if word.replace(" ", "") in _OTHER_COMPUTE:
        return _fail(f"{value!r} is not supported: crosscloud deploys to Kubernetes; {allowed}")
    near = quantity.did_you_mean(word, list(CLUSTER_TYPES)) if word else None
    hint = f"; did you mean {CLUSTER_TYPES[near]!r}?" if near else ""
    return _fail(f"{value!r} is not a placement type{hint} ({allowed})")


def _fail(message: str) -> str:
    raise ValueError(message)
