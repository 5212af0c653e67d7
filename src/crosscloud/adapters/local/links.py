"""Local regions as network hosts: each region's namespace, veth pair and link relay,
made to match what is wanted on every pass (level-triggered, idempotent).

Per region, under $CROSSCLOUD_HOME/net/: `<netns>.json` is the relay's config (its ports,
the link's latency and jitter; the relay re-reads it and exits when it is deleted),
`<netns>.pid` the relay's pid and start time, and `<netns>.chaos.json` what `crosscloud
chaos` set at run time (latency, jitter, partition), which overrides the manifest until
`chaos link --reset` or `down`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crosscloud import errors
from crosscloud.adapters import paths
from crosscloud.adapters.local import netns, procs
from crosscloud.domain import regionnet

RELAY_MODULE = "crosscloud.adapters.local.relay"
RECHECK = 30.0  # seconds between full checks of a region's namespace, link and routes


@dataclass(frozen=True)
class Wanted:
    """One region as it should be: its ports (one per replica), the gateway ports its
    replicas reach out to, and its link profile from the manifest."""

    deployment: str
    placement: str
    ports: tuple[int, ...]
    egress: tuple[int, ...]
    profile: regionnet.LinkProfile


class Links:
    """The regions' namespaces and relays of one state directory."""

    def __init__(self, home: Path | None = None, *, python: str = sys.executable) -> None:
        self.home = home if home is not None else paths.home()
        self.dir = self.home / "net"
        self.python = python
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._checked: dict[str, tuple[regionnet.RegionNet, float]] = {}  # name: (net, when)

    # -- names -----------------------------------------------------------------------------

    def netns_name(self, deployment: str, placement: str) -> str:
        return regionnet.netns_name(str(self.home), deployment, placement)

    def _file(self, name: str, suffix: str) -> Path:
        return self.dir / f"{name}{suffix}"

    def owned(self) -> list[str]:
        """This state directory's regions: namespaces and relay configs alike (a crash may
        have left either without the other)."""
        configs = {p.name.removesuffix(".json") for p in self._configs()}
        return sorted(configs | set(netns.owned(regionnet.home_prefix(str(self.home)))))

    def _configs(self) -> Iterable[Path]:
        if not self.dir.is_dir():
            return []
        return (p for p in self.dir.glob("*.json") if not p.name.endswith(".chaos.json"))

    def config(self, name: str) -> dict[str, Any] | None:
        """A region's relay config as last written (None when there is none)."""
        return _read(self._file(name, ".json"))

    # -- making it so ----------------------------------------------------------------------

    def ensure_net(self, deployment: str, placement: str) -> regionnet.RegionNet:
        """The region's namespace and veth pair (made where missing); its names and
        addresses. Between full checks (`ip`, a few ms a call) a region seen whole less
        than RECHECK seconds ago is only looked at in /run and /sys."""
        name = self.netns_name(deployment, placement)
        known = self._checked.get(name)
        now = time.monotonic()
        if known is not None and now - known[1] < RECHECK and netns.present(known[0]):
            return known[0]
        net = netns.plan(name)
        netns.ensure(net)
        self._checked[name] = (net, now)
        return net

    def ensure(self, want: Wanted) -> regionnet.RegionNet:
        """The region's namespace, link (up, or down while partitioned) and relay as
        wanted; returns its names and addresses."""
        net = self.ensure_net(want.deployment, want.placement)
        name = net.netns
        profile = self.profile(name, want.profile)
        if netns.link_up(net) is profile.partitioned:
            netns.set_link(net, up=not profile.partitioned)
        self._write_config(net, want, profile)
        self._ensure_relay(name)
        return net

    def profile(self, name: str, manifest: regionnet.LinkProfile) -> regionnet.LinkProfile:
        """The manifest's profile with what `crosscloud chaos` set on top."""
        chaos = _read(self._file(name, ".chaos.json")) or {}
        return regionnet.LinkProfile(
            latency=float(chaos.get("latency", manifest.latency)),
            jitter=float(chaos.get("jitter", manifest.jitter)),
            partitioned=bool(chaos.get("partitioned", manifest.partitioned)),
        )

    def set_chaos(self, name: str, **changes: float | bool | None) -> dict[str, Any]:
        """Record run-time changes to a region's link (None removes one); returns them."""
        path = self._file(name, ".chaos.json")
        chaos = _read(path) or {}
        for key, value in changes.items():
            if value is None:
                chaos.pop(key, None)
            else:
                chaos[key] = value
        _write(path, chaos)
        return chaos

    def apply_chaos(self, name: str) -> regionnet.LinkProfile:
        """Apply the region's profile now (the control plane would within a second)."""
        config = self.config(name)
        if config is None:
            raise errors.UserError(f"region network {name} has no relay config; is it deployed?")
        manifest = regionnet.LinkProfile(**config.get("manifest", {}))
        profile = self.profile(name, manifest)
        net = netns.plan(name)
        netns.set_link(net, up=not profile.partitioned)
        _write(self._file(name, ".json"), {**config, **_relay_profile(profile)})
        return profile

    def _write_config(
        self, net: regionnet.RegionNet, want: Wanted, profile: regionnet.LinkProfile
    ) -> None:
        config = {
            "deployment": want.deployment,
            "placement": want.placement,
            "netns": net.netns,
            "listen": net.host_addr,
            "upstream": net.ns_addr,
            "ports": sorted(want.ports),
            "egress": sorted(want.egress),
            "manifest": {"latency": want.profile.latency, "jitter": want.profile.jitter},
            **_relay_profile(profile),
        }
        path = self._file(net.netns, ".json")
        if _read(path) != config:  # an unchanged file is not rewritten: the relay polls it
            _write(path, config)

    def _ensure_relay(self, name: str) -> None:
        self._reap()
        if self.relay_pid(name) is not None:
            return
        log = self.home / "logs" / "net" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            child = subprocess.Popen(
                [self.python, "-m", RELAY_MODULE, str(self._file(name, ".json"))],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, paths.HOME_ENV: str(self.home)},
                start_new_session=True,
            )
        self._children[child.pid] = child
        start = procs.process_start_time(child.pid)
        _write(self._file(name, ".pid"), {"pid": child.pid, "start_time": start})

    def relay_pid(self, name: str) -> int | None:
        """The region's relay process when it runs (checked by pid and start time)."""
        found = _read(self._file(name, ".pid"))
        if not found:
            return None
        pid, start = int(found["pid"]), found.get("start_time")
        return pid if procs.identity(pid, start) is procs.Identity.ALIVE else None

    def _reap(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]

    # -- taking it away --------------------------------------------------------------------

    def remove(self, name: str) -> None:
        """The region's relay stopped, its namespace and link deleted, its files gone."""
        pid = self.relay_pid(name)
        net = self._net(name)
        self._file(name, ".json").unlink(missing_ok=True)  # the relay exits on its own
        if pid is not None:
            procs.signal_group(pid, signal.SIGTERM)
            child = self._children.pop(pid, None)
            if child is not None:  # ours: reaped, not left a zombie
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    procs.signal_group(pid, signal.SIGKILL)
                    child.wait(timeout=5)
        netns.delete(net)
        self._checked.pop(name, None)
        for suffix in (".pid", ".chaos.json"):
            self._file(name, suffix).unlink(missing_ok=True)
        self._reap()

    def _net(self, name: str) -> regionnet.RegionNet:
        """The region's names and addresses as its config recorded them (its link may be
        gone already), else as its link has them."""
        slot = regionnet.slot_of(str((self.config(name) or {}).get("listen")))
        if slot is None:
            return netns.plan(name)
        fresh = regionnet.region_net(name, taken=set())
        return regionnet.RegionNet(name, fresh.host_if, fresh.ns_if, slot)

    def remove_all(self) -> list[str]:
        """Every region of this state directory removed (`down --force`); their names."""
        names = self.owned()
        for name in names:
            self.remove(name)
        return names


def _relay_profile(profile: regionnet.LinkProfile) -> dict[str, Any]:
    return {
        "latency": profile.latency,
        "jitter": profile.jitter,
        "partitioned": profile.partitioned,
    }


def _read(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _write(path: Path, body: dict[str, Any]) -> None:
    """Atomically (the relay may read it at any moment)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(body, sort_keys=True))
    os.replace(partial, path)
