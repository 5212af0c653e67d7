"""Microsoft Azure: AKS clusters, the GPU node label and `sku=gpu` taint of AKS GPU pools,
the Azure load balancer's health-probe annotations, ACR registries (`<name>.azurecr.io/
<repository>`) and the regions."""

from __future__ import annotations

import re
from types import MappingProxyType

from crosscloud.domain.providers import model

_REGIONS: model.Places = {
    "eastus": ("virginia", "us-east"),
    "eastus2": ("virginia", "us-east"),
    "centralus": ("iowa", "us-central"),
    "northcentralus": ("illinois", "us-central"),
    "southcentralus": ("texas", "us-central"),
    "westcentralus": ("wyoming", "us-west"),
    "westus": ("california", "us-west"),
    "westus2": ("washington", "us-west"),
    "westus3": ("arizona", "us-west"),
    "canadacentral": ("toronto", "canada"),
    "canadaeast": ("quebec", "canada"),
    "mexicocentral": ("queretaro", "mexico"),
    "brazilsouth": ("sao-paulo", "south-america"),
    "northeurope": ("ireland", "europe-west"),
    "westeurope": ("netherlands", "europe-west"),
    "uksouth": ("london", "europe-west"),
    "ukwest": ("cardiff", "europe-west"),
    "francecentral": ("paris", "europe-west"),
    "germanywestcentral": ("frankfurt", "europe-central"),
    "switzerlandnorth": ("zurich", "europe-central"),
    "polandcentral": ("warsaw", "europe-central"),
    "swedencentral": ("gavle", "europe-north"),
    "norwayeast": ("oslo", "europe-north"),
    "italynorth": ("milan", "europe-south"),
    "spaincentral": ("spain", "europe-south"),
    "japaneast": ("tokyo", "asia-northeast"),
    "japanwest": ("osaka", "asia-northeast"),
    "koreacentral": ("seoul", "asia-northeast"),
    "southeastasia": ("singapore", "asia-southeast"),
    "eastasia": ("hong-kong", "asia-east"),
    "australiaeast": ("sydney", "australia"),
    "australiasoutheast": ("melbourne", "australia"),
    "centralindia": ("pune", "india"),
    "southindia": ("chennai", "india"),
    "westindia": ("mumbai", "india"),
    "uaenorth": ("uae", "middle-east"),
    "qatarcentral": ("doha", "middle-east"),
    "israelcentral": ("tel-aviv", "middle-east"),
    "southafricanorth": ("johannesburg", "africa"),
}

_ACR_HOST = re.compile(r"^([a-z0-9]+)\.azurecr\.io$")
_ACR_NAME = re.compile(r"^[a-z0-9]{5,50}$")
_PROBE = "service.beta.kubernetes.io/azure-load-balancer-health-probe-"


def acr(name: str, repository: str) -> str:
    """The Azure Container Registry address of a repository."""
    model.require(_ACR_NAME, name, "name", "5 to 50 lowercase letters and digits")
    model.require(model.REPO_PATH, repository, "repository", "lowercase words joined by . _ - or /")
    return f"{name}.azurecr.io/{repository}"


def _check_acr(host: re.Match[str], path: str) -> None:
    acr(host.group(1), path or "x")


#: Accelerators on Azure GPU VM sizes; NVIDIA nodes carry accelerator=nvidia, AMD ones none.
_NVIDIA = ("T4", "A10", "V100", "A100", "A100-80GB", "H100", "H100-80GB", "H200")

AZURE = model.Provider(
    name="azure",
    cluster_type="AKS",
    label="an Azure",
    spellings=("Azure",),
    regions=MappingProxyType(_REGIONS),
    kubernetes=model.Kubernetes(
        credentials="az aks get-credentials --resource-group <group> --name <cluster>",
        gpu_label="kubernetes.azure.com/accelerator",
        gpus=MappingProxyType(
            {
                **{name: model.Gpu("nvidia") for name in _NVIDIA},
                "MI300X": model.Gpu(None, model.AMD_GPU),
            }
        ),
        load_balancer=MappingProxyType(
            {f"{_PROBE}protocol": "http", f"{_PROBE}request-path": "{health_path}"}
        ),
        registry=model.Registry("acr", _ACR_HOST, _check_acr),
        # AKS GPU pools carry no taint by default; the documented convention is sku=gpu.
        gpu_tolerations=(("sku", "gpu"),),
        # AKS labels and taints the nodes of a spot pool (scale-set priority Spot) itself.
        spot_label=("kubernetes.azure.com/scalesetpriority", "spot"),
        spot_taint=("kubernetes.azure.com/scalesetpriority", "spot"),
    ),
)
