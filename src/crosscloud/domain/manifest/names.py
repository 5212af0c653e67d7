"""Provider and placement-type names as manifests accept them (from the provider registry,
`domain/providers`), and why a database or another compute service is not a placement
type."""

from __future__ import annotations

from crosscloud.domain import providers, quantity

#: Every accepted provider name in lower case: aws, azure, gcp, google, gce, local.
PROVIDER_ALIASES = {alias: p.name for p in providers.PROVIDERS for alias in p.aliases}
#: Placement types by their lower-case spelling: eks -> EKS.
CLUSTER_TYPES = {p.cluster_type.lower(): p.cluster_type for p in providers.PROVIDERS}
#: The cluster type each provider runs.
TYPE_OF_PROVIDER = {p.name: p.cluster_type for p in providers.PROVIDERS}
_TYPES = providers.listed(
    p.cluster_type if p.cluster_type.lower() == p.name else f"{p.cluster_type} ({p.name})"
    for p in providers.PROVIDERS
)
_EXPECTED_PROVIDERS = (
    f"expected {providers.listed(providers.names())};"
    f" {providers.listed([s for p in providers.PROVIDERS for s in p.spellings], 'and')}"
    " are accepted too"
)
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
    """The canonical name of a provider written in any of its spellings, in any case."""
    found = providers.find(value) if isinstance(value, str) else None
    if found is not None:
        return found.name
    near = quantity.did_you_mean(value, list(PROVIDER_ALIASES)) if isinstance(value, str) else None
    hint = f"; did you mean {PROVIDER_ALIASES[near]!r}?" if near else ""
    raise ValueError(f"{value!r} is not a provider{hint} ({_EXPECTED_PROVIDERS})")


def normalize_cluster_type(value: object) -> str:
    """The placement type in its own spelling (`gke` -> GKE); a database or another
    compute service is refused with where it belongs."""
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
