"""Network namespaces and veth pairs for local regions, through iproute2's `ip`.

Every call is idempotent (create what is missing, keep what is there, delete what exists),
so the control plane can run them on every pass and after a crash. Needs root and `ip`;
`unavailable()` says why not, and then local regions share 127.0.0.1 as before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from crosscloud import errors
from crosscloud.domain import regionnet

_RUN = Path("/run/netns")
_TIMEOUT = 10.0
# While a region's link is down its connected route is gone, and its addresses would
# follow the default route off this machine: this route answers "no route to host".
_GUARD = ("unreachable", "metric", "4242")


def unavailable() -> str | None:
    """Why regions cannot be namespaces here, or None when they can."""
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    if os.geteuid() != 0:
        return "not root"
    return None


def _ip(*args: str, check: bool = True) -> str:
    try:
        done = subprocess.run(
            ["ip", *args], capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise errors.TargetError(f"ip {' '.join(args)}: {exc}") from exc
    if check and done.returncode != 0:
        raise errors.TargetError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def exists(netns: str) -> bool:
    return (_RUN / netns).exists()


def owned(prefix: str) -> list[str]:
    """Namespaces whose name starts with `prefix` (one state directory's)."""
    try:
        return sorted(p.name for p in _RUN.iterdir() if p.name.startswith(prefix))
    except FileNotFoundError:
        return []


def _addresses() -> dict[str, list[str]]:
    """IPv4 addresses by interface in this namespace."""
    found: dict[str, list[str]] = {}
    for link in json.loads(_ip("-j", "-4", "addr", "show") or "[]"):
        found[link["ifname"]] = [a["local"] for a in link.get("addr_info", [])]
    return found


def plan(netns: str) -> regionnet.RegionNet:
    """The region's names and addresses: those its link already has, else a free /30."""
    addresses = _addresses()
    fresh = regionnet.region_net(netns, taken=set())
    for address in addresses.get(fresh.host_if, []):
        slot = regionnet.slot_of(address)
        if slot is not None:
            return regionnet.RegionNet(netns, fresh.host_if, fresh.ns_if, slot)
    slots = (regionnet.slot_of(a) for addrs in addresses.values() for a in addrs)
    taken = {slot for slot in slots if slot is not None}
    return regionnet.region_net(netns, taken=taken)


def ensure(net: regionnet.RegionNet) -> None:
    """The namespace, its veth pair, addresses and loopback, created where missing."""
    if not exists(net.netns):
        _ip("netns", "add", net.netns)
    if not Path(f"/sys/class/net/{net.host_if}").exists():
        _ip("link", "add", net.host_if, "type", "veth", "peer", "name", net.ns_if,
            "netns", net.netns)  # fmt: skip
    _ip("addr", "replace", f"{net.host_addr}/30", "dev", net.host_if)
    _ip("route", "replace", _GUARD[0], net.subnet, *_GUARD[1:])
    _ip("-n", net.netns, "addr", "replace", f"{net.ns_addr}/30", "dev", net.ns_if)
    _ip("-n", net.netns, "link", "set", "lo", "up")
    _ip("-n", net.netns, "link", "set", net.ns_if, "up")


def present(net: regionnet.RegionNet) -> bool:
    """Whether the region's namespace and this side of its link exist (no `ip` call)."""
    return exists(net.netns) and Path(f"/sys/class/net/{net.host_if}").exists()


def set_link(net: regionnet.RegionNet, *, up: bool) -> None:
    """Bring this side of the region's link up or down (down: a partition)."""
    _ip("link", "set", net.host_if, "up" if up else "down")


def link_up(net: regionnet.RegionNet) -> bool | None:
    """Whether this side of the link is up (None when it does not exist)."""
    path = Path(f"/sys/class/net/{net.host_if}/flags")
    try:
        return bool(int(path.read_text(), 16) & 1)  # IFF_UP
    except (FileNotFoundError, ValueError):
        return None


def delete(net: regionnet.RegionNet) -> None:
    """The namespace and both ends of its link gone (a no-op for what is gone already)."""
    if exists(net.netns):
        _ip("netns", "del", net.netns)
    if Path(f"/sys/class/net/{net.host_if}").exists():  # its peer lived in a namespace
        _ip("link", "del", net.host_if, check=False)  # that a process still holds
    _ip("route", "del", _GUARD[0], net.subnet, *_GUARD[1:], check=False)


def exec_prefix(netns: str) -> list[str]:
    """The command prefix that runs a program inside `netns` (same pid: it execs)."""
    return ["ip", "netns", "exec", netns]
