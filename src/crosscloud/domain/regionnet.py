"""Pure data for local regions that are network hosts of their own: the names of a
region's namespace and veth pair, its /30 of addresses, and its link profile.

A region's namespace is `cc-<home>-<deployment>-<region>` (`home`: a short hash of the state
directory, so two state directories on one machine never share or delete each other's);
its veth pair is `cc<hash>h` (this side, the gateway's) and `cc<hash>n` (in the namespace),
as interface names are limited to 15 characters.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Protocol

#: The /16 the regions' /30s come from (16384 regions); rarely used by real networks.
POOL = ipaddress.IPv4Network("10.213.0.0/16")
SLOTS = POOL.num_addresses // 4
PREFIX = "cc-"


class Rng(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


def home_key(home: str) -> str:
    """Six hex digits naming a state directory in namespace names."""
    return hashlib.sha256(home.encode()).hexdigest()[:6]


def home_prefix(home: str) -> str:
    """What every namespace of the state directory `home` starts with."""
    return f"{PREFIX}{home_key(home)}-"


@dataclass(frozen=True)
class RegionNet:
    """The names and addresses of one local region's namespace and link."""

    netns: str
    host_if: str  # the gateway's side of the veth pair
    ns_if: str  # the namespace's side
    slot: int  # which /30 of POOL

    @property
    def subnet(self) -> str:
        """The region's /30."""
        return f"{POOL.network_address + 4 * self.slot}/30"

    @property
    def host_addr(self) -> str:
        """This side's address: the relay listens here (what the gateway connects to)."""
        return str(POOL.network_address + 4 * self.slot + 1)

    @property
    def ns_addr(self) -> str:
        """The namespace's address: the replicas listen here."""
        return str(POOL.network_address + 4 * self.slot + 2)


def netns_name(home: str, deployment: str, placement: str) -> str:
    region = placement.partition("/")[2] or placement
    return f"{home_prefix(home)}{deployment}-{region}"


def region_net(netns: str, *, taken: set[int]) -> RegionNet:
    """The names of `netns`'s link, and the first /30 from its hash that is not `taken`
    (slots in use on this machine), so the same region keeps the same address."""
    digest = hashlib.sha256(netns.encode()).hexdigest()
    if len(taken) >= SLOTS:
        raise ValueError(f"every /30 of {POOL} is in use")
    slot = int(digest[:8], 16) % SLOTS
    while slot in taken:
        slot = (slot + 1) % SLOTS
    return RegionNet(netns=netns, host_if=f"cc{digest[:8]}h", ns_if=f"cc{digest[:8]}n", slot=slot)


def slot_of(address: str) -> int | None:
    """The slot an IPv4 address of POOL belongs to (None outside it)."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return None
    return (int(ip) - int(POOL.network_address)) // 4 if ip in POOL else None


@dataclass(frozen=True)
class LinkProfile:
    """A region's link as rehearsed: added round-trip time (seconds), up to `jitter` more
    or less each round trip, and whether it is cut."""

    latency: float = 0.0
    jitter: float = 0.0
    partitioned: bool = False

    def delays(self, rng: Rng) -> tuple[float, float]:
        """(towards the region, back) for one exchange: half the latency each way; the
        jitter goes on the way back, so a round trip is latency +- jitter, never below 0."""
        half = self.latency / 2
        back = half + rng.uniform(-self.jitter, self.jitter) if self.jitter else half
        return half, max(0.0, back)

    def describe(self) -> str:
        if self.partitioned:
            return "partitioned (link down)"
        if not self.latency:
            return "no added latency"
        jitter = f" +- {self.jitter * 1000:g} ms" if self.jitter else ""
        return f"+{self.latency * 1000:g} ms{jitter} round trip"
