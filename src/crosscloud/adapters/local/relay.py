"""The link relay of one local region: `python -m crosscloud.adapters.local.relay CONFIG`.

This kernel has no netem qdisc, so a region's added latency is made in user space: the
relay listens on this side of the region's veth pair (`listen`, one port per replica, the
replica's own port) and forwards every connection to the same port in the namespace
(`upstream`), holding each direction's bytes back for half the link's round trip (the way
back +- the jitter), in order. It never reads what it carries (TLS passes through whole).
`egress` ports are the other way round: listened on inside the namespace's loopback and
forwarded to this side's loopback, so replicas reach the gateway at the address they were
given. The relay re-reads CONFIG (JSON, written by links.py) when it changes, and exits
when it disappears.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import random
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from crosscloud.adapters.local import pipes
from crosscloud.domain import regionnet

log = logging.getLogger("crosscloud.relay")
POLL = 0.1  # seconds between looks at the config file
_CLONE_NEWNET = 0x40000000


class Relay:
    """Listeners for the configured ports, reconfigured when CONFIG changes."""

    def __init__(self, config: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.config_path = config
        self.loop = loop
        self.rng = random.Random()  # noqa: S311 - jitter, not secrets
        self.profile = regionnet.LinkProfile()
        self.servers: dict[tuple[str, int], asyncio.Server] = {}
        self.mtime = 0.0

    def delay(self, toward: str) -> float:
        there, back = self.profile.delays(self.rng)
        return there if toward == "in" else back

    async def run(self) -> None:
        while True:
            try:
                mtime = self.config_path.stat().st_mtime
            except FileNotFoundError:
                log.info("%s is gone; the relay exits", self.config_path)
                return
            if mtime != self.mtime:
                self.mtime = mtime
                await self._configure(json.loads(self.config_path.read_text()))
            await asyncio.sleep(POLL)

    async def _configure(self, config: dict[str, Any]) -> None:
        self.profile = regionnet.LinkProfile(
            latency=float(config.get("latency", 0.0)), jitter=float(config.get("jitter", 0.0))
        )
        wanted = {("in", int(p)) for p in config.get("ports", [])}
        wanted |= {("out", int(p)) for p in config.get("egress", [])}
        for key in set(self.servers) - wanted:
            self.servers.pop(key).close()
        for way, port in sorted(wanted - set(self.servers)):
            try:
                self.servers[(way, port)] = await self._listen(config, way, port)
            except OSError as exc:
                log.error("cannot listen for %s port %d: %s", way, port, exc)
        log.info("relay: %s, ports %s", self.profile.describe(), sorted(self.servers))

    async def _listen(self, config: dict[str, Any], way: str, port: int) -> asyncio.Server:
        if way == "in":
            target = (str(config["upstream"]), port)
            return await self.loop.create_server(
                lambda: pipes.Downstream(self, "in", target), str(config["listen"]), port
            )
        sock = _socket_in(str(config["netns"]), ("127.0.0.1", port))
        return await self.loop.create_server(
            lambda: pipes.Downstream(self, "back", ("127.0.0.1", port)), sock=sock
        )


def _socket_in(netns: str, address: tuple[str, int]) -> socket.socket:
    """A listening socket made inside `netns` (from a thread that enters it, since a
    socket stays in the namespace it was made in and setns moves only its caller)."""
    made: list[socket.socket | BaseException] = []

    def enter() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{netns}") as handle:
                if libc.setns(handle.fileno(), _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {netns}")
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(1024)
            sock.setblocking(False)
            made.append(sock)
        except BaseException as exc:  # handed to the caller
            made.append(exc)

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise OSError(f"cannot listen in {netns}: {made[0]}")
    return made[0]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m crosscloud.adapters.local.relay CONFIG", file=sys.stderr)
        return 2
    logging.basicConfig(level="INFO", format="%(asctime)s %(name)s: %(message)s")
    try:
        import uvloop  # the gateway's event loop: the relay's cost is what it adds
    except ImportError:  # pragma: no cover - uvloop is a dependency
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    relay = Relay(Path(args[0]), loop)
    try:
        loop.run_until_complete(relay.run())
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
