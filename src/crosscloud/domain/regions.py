"""Region names each provider accepts, and the nearest valid names for a wrong one.

Each region carries the metro it is in and a coarse area (in its provider's module under
`providers/`), so `us-east-1` written under Azure can be answered with Azure's regions in
the same place (`eastus`, `eastus2`). A provider without regions (`local`) takes names the
user makes up (`region-a`) to rehearse on one machine.
"""

from __future__ import annotations

import re

from crosscloud.domain import providers, quantity

#: Valid region names per provider (local accepts any well-formed name).
REGIONS: dict[str, tuple[str, ...]] = {p.name: tuple(p.regions) for p in providers.PROVIDERS}
_PLACES = {p.name: p.regions for p in providers.PROVIDERS if p.regions}
_LOCAL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def is_valid(provider: str, region: str) -> bool:
    """Whether `region` is a region of `provider` (for local: a DNS-label-like name)."""
    found = providers.find(provider)
    if found is None:
        return False
    if _made_up(found):
        return bool(_LOCAL_NAME.match(region))
    return region in found.regions


def _made_up(provider: providers.Provider) -> bool:
    """Whether the provider's regions are names the user makes up (it lists none)."""
    return not provider.regions


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
    found = providers.find(provider)
    return found.label if found else f"a {provider}"


def _squash(name: str) -> str:
    return name.replace("-", "").replace("_", "").lower()


def describe(provider: str, region: str) -> str:
    """Why `region` is refused for `provider`, with the nearest valid names."""
    found = providers.find(provider)
    if found is not None and _made_up(found):
        return (
            f"{region!r} is not {found.label} region name; use lowercase letters, digits"
            " and '-' (like region-a)"
        )
    text = f"{region!r} is not {label(provider)} region"
    elsewhere = owners(region)
    if elsewhere:
        text += f" (it is {' and '.join(label(p) for p in elsewhere)} name)"
    near = nearest(provider, region)
    if near:
        text += f"; nearest valid names: {', '.join(near)}"
    return text
