"""Region names each provider accepts, and the nearest valid names for a wrong one.

Each region carries the metro it is in and a coarse area, so `us-east-1` written under
Azure can be answered with Azure's regions in the same place (`eastus`, `eastus2`).
`local` regions are names the user makes up (`region-a`) to rehearse on one machine.
"""

from __future__ import annotations

import re

from crosscloud.domain import quantity

PROVIDERS = ("aws", "azure", "gcp", "local")

# name: (metro, area); metro groups regions in one place, area groups nearby metros.
_AWS = {
    "us-east-1": ("virginia", "us-east"),
    "us-east-2": ("ohio", "us-east"),
    "us-west-1": ("california", "us-west"),
    "us-west-2": ("oregon", "us-west"),
    "ca-central-1": ("montreal", "canada"),
    "ca-west-1": ("calgary", "canada"),
    "mx-central-1": ("queretaro", "mexico"),
    "sa-east-1": ("sao-paulo", "south-america"),
    "eu-west-1": ("ireland", "europe-west"),
    "eu-west-2": ("london", "europe-west"),
    "eu-west-3": ("paris", "europe-west"),
    "eu-central-1": ("frankfurt", "europe-central"),
    "eu-central-2": ("zurich", "europe-central"),
    "eu-north-1": ("stockholm", "europe-north"),
    "eu-south-1": ("milan", "europe-south"),
    "eu-south-2": ("spain", "europe-south"),
    "ap-northeast-1": ("tokyo", "asia-northeast"),
    "ap-northeast-2": ("seoul", "asia-northeast"),
    "ap-northeast-3": ("osaka", "asia-northeast"),
    "ap-southeast-1": ("singapore", "asia-southeast"),
    "ap-southeast-2": ("sydney", "australia"),
    "ap-southeast-3": ("jakarta", "asia-southeast"),
    "ap-southeast-4": ("melbourne", "australia"),
    "ap-south-1": ("mumbai", "india"),
    "ap-south-2": ("hyderabad", "india"),
    "ap-east-1": ("hong-kong", "asia-east"),
    "me-south-1": ("bahrain", "middle-east"),
    "me-central-1": ("uae", "middle-east"),
    "il-central-1": ("tel-aviv", "middle-east"),
    "af-south-1": ("cape-town", "africa"),
}
_AZURE = {
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
_GCP = {
    "us-central1": ("iowa", "us-central"),
    "us-east1": ("south-carolina", "us-east"),
    "us-east4": ("virginia", "us-east"),
    "us-east5": ("ohio", "us-east"),
    "us-south1": ("texas", "us-central"),
    "us-west1": ("oregon", "us-west"),
    "us-west2": ("california", "us-west"),
    "us-west3": ("utah", "us-west"),
    "us-west4": ("nevada", "us-west"),
    "northamerica-northeast1": ("montreal", "canada"),
    "northamerica-northeast2": ("toronto", "canada"),
    "northamerica-south1": ("queretaro", "mexico"),
    "southamerica-east1": ("sao-paulo", "south-america"),
    "europe-west1": ("belgium", "europe-west"),
    "europe-west2": ("london", "europe-west"),
    "europe-west3": ("frankfurt", "europe-central"),
    "europe-west4": ("netherlands", "europe-west"),
    "europe-west6": ("zurich", "europe-central"),
    "europe-west8": ("milan", "europe-south"),
    "europe-west9": ("paris", "europe-west"),
    "europe-southwest1": ("spain", "europe-south"),
    "europe-central2": ("warsaw", "europe-central"),
    "europe-north1": ("finland", "europe-north"),
    "asia-northeast1": ("tokyo", "asia-northeast"),
    "asia-northeast2": ("osaka", "asia-northeast"),
    "asia-northeast3": ("seoul", "asia-northeast"),
    "asia-southeast1": ("singapore", "asia-southeast"),
    "asia-southeast2": ("jakarta", "asia-southeast"),
    "asia-east1": ("taiwan", "asia-east"),
    "asia-east2": ("hong-kong", "asia-east"),
    "asia-south1": ("mumbai", "india"),
    "asia-south2": ("delhi", "india"),
    "australia-southeast1": ("sydney", "australia"),
    "australia-southeast2": ("melbourne", "australia"),
    "me-west1": ("tel-aviv", "middle-east"),
    "me-central1": ("doha", "middle-east"),
    "africa-south1": ("johannesburg", "africa"),
}

#: Valid region names per cloud provider (local accepts any well-formed name).
REGIONS: dict[str, tuple[str, ...]] = {
    "aws": tuple(_AWS),
    "azure": tuple(_AZURE),
    "gcp": tuple(_GCP),
    "local": (),
}
_PLACES = {"aws": _AWS, "azure": _AZURE, "gcp": _GCP}
_LABELS = {"aws": "an AWS", "azure": "an Azure", "gcp": "a GCP"}
_LOCAL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def is_valid(provider: str, region: str) -> bool:
    """Whether `region` is a region of `provider` (for local: a DNS-label-like name)."""
    if provider == "local":
        return bool(_LOCAL_NAME.match(region))
    return region in _PLACES.get(provider, {})


def owners(region: str) -> tuple[str, ...]:
    """The cloud providers that have a region with this exact name."""
    return tuple(p for p, places in _PLACES.items() if region in places)


def nearest(provider: str, region: str, *, limit: int = 3) -> tuple[str, ...]:
    """Valid names of `provider` closest to `region`: the same metro or area when `region`
    belongs to another cloud, else the closest spellings."""
    places = _PLACES.get(provider)
    if not places:
        return ()
    found: list[str] = []
    for other in owners(region):
        metro, area = _PLACES[other][region]
        found += [name for name, (m, _) in places.items() if m == metro]
        found += [name for name, (_, a) in places.items() if a == area]
    spelled = quantity.did_you_mean(region, list(places))
    if spelled and _squash(spelled) == _squash(region):
        found.insert(0, spelled)  # `us-west2` for `us-west-2`: a slip, not another cloud
    elif spelled:
        found.append(spelled)
    unique = list(dict.fromkeys(found))
    return tuple(unique[:limit])


def label(provider: str) -> str:
    """`an AWS`, `an Azure`, `a GCP`, `a local`: for messages."""
    return _LABELS.get(provider, f"a {provider}")


def _squash(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


def describe(provider: str, region: str) -> str:
    """Why `region` is refused for `provider`, with the nearest valid names."""
    if provider == "local":
        return (
            f"{region!r} is not a local region name; use lowercase letters, digits and '-'"
            " (like region-a)"
        )
    text = f"{region!r} is not {label(provider)} region"
    elsewhere = owners(region)
    if elsewhere:
        text += f" (it is {' and '.join(label(p) for p in elsewhere)} name)"
    near = nearest(provider, region)
    if near:
        text += f"; nearest valid names: {', '.join(near)}"
    return text
