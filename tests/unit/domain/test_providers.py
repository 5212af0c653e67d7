"""The provider registry is consistent data: every name and alias means one provider,
cluster types are unique, and each managed Kubernetes offers only accelerators crosscloud
knows and says how to label, balance and log in."""

from __future__ import annotations

import pytest

from crosscloud.domain import providers, quantity


def test_names_and_aliases_mean_one_provider_each() -> None:
    assert providers.names() == ("aws", "azure", "gcp", "local")
    aliases = [alias for p in providers.PROVIDERS for alias in p.aliases]
    assert len(aliases) == len(set(aliases))
    types = [p.cluster_type.lower() for p in providers.PROVIDERS]
    assert len(types) == len(set(types))


@pytest.mark.parametrize(
    ("spelling", "name"),
    [("aws", "aws"), ("AWS", "aws"), (" Azure ", "azure"), ("Google", "gcp"), ("gce", "gcp"),
     ("LOCAL", "local"), ("oracle", None), ("eks", None)],
)  # fmt: skip
def test_find_by_any_spelling(spelling: str, name: str | None) -> None:
    found = providers.find(spelling)
    assert (found.name if found else None) == name


@pytest.mark.parametrize(
    ("cluster_type", "name"),
    [("EKS", "aws"), ("aks", "azure"), ("GKE", "gcp"), ("Local", "local"), ("OKE", None)],
)
def test_of_cluster_type(cluster_type: str, name: str | None) -> None:
    found = providers.of_cluster_type(cluster_type)
    assert (found.name if found else None) == name


def test_get_refuses_an_unknown_provider() -> None:
    assert providers.get("Google") is providers.find("gcp")
    with pytest.raises(KeyError):
        providers.get("oracle")


def test_only_the_local_target_runs_without_kubernetes() -> None:
    assert [p.name for p in providers.CLUSTERS] == ["aws", "azure", "gcp"]
    assert providers.LOCAL.kubernetes is None and not providers.LOCAL.regions


@pytest.mark.parametrize("provider", providers.CLUSTERS, ids=lambda p: p.name)
def test_each_cluster_provider_is_complete(provider: providers.Provider) -> None:
    kube = provider.kubernetes
    assert kube is not None
    assert set(kube.gpus) <= set(quantity.KNOWN_ACCELERATORS)
    assert kube.gpu_label and kube.load_balancer and kube.credentials
    assert len(provider.regions) >= 30
    assert all(len(place) == 2 for place in provider.regions.values())


def test_listed() -> None:
    assert providers.listed(["a", "b", "c"]) == "a, b or c"
    assert providers.listed(["a", "b"], "and") == "a and b"
    assert providers.listed(["a"]) == "a"
