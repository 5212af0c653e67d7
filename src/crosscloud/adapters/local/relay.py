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
import contextlib
import ctypes
import json
import logging
import random
import socket
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any, cast

from crosscloud.domain import regionnet

log = logging.getLogger("crosscloud.relay")
POLL = 0.1  # seconds between looks at the config file
HIGH_WATER = 4 * 2**20  # bytes held back per direction before the sender is paused
_CLONE_NEWNET = 0x40000000


class Pipe:
    """One direction of a connection: bytes written to `out` after their delay, in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, source: asyncio.Transport) -> None:
        self.loop = loop
        self.source = source
        self.out: asyncio.Transport | None = None
        self.queue: deque[tuple[float, bytes | None]] = deque()  # None: end of stream
        self.held = 0
        self.last = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.paused = False

    def send(self, data: bytes | None, delay: float) -> None:
        if delay <= 0 and not self.queue and self.out is not None:
            self._write(data)
            return
        self.last = max(self.last, self.loop.time() + delay)  # never reorder the stream
        self.queue.append((self.last, data))
        self.held += len(data or b"")
        if self.held > HIGH_WATER and not self.paused:
            self.paused = True
            self.source.pause_reading()
        if self.timer is None and self.out is not None:
            self.timer = self.loop.call_at(self.queue[0][0], self._flush)

    def connected(self, out: asyncio.Transport) -> None:
        self.out = out
        if self.queue and self.timer is None:
            self.timer = self.loop.call_at(self.queue[0][0], self._flush)

    def _flush(self) -> None:
        self.timer = None
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            self.held -= len(data or b"")
            self._write(data)
        if self.paused and self.held <= HIGH_WATER // 2:
            self.paused = False
            with contextlib.suppress(RuntimeError):
                self.source.resume_reading()
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self._flush)

    def _write(self, data: bytes | None) -> None:
        out = self.out
        if out is None or out.is_closing():
            return
        if data is None:
            if out.can_write_eof():
                out.write_eof()
            else:
                out.close()
        else:
            out.write(data)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.queue.clear()


class Side(asyncio.Protocol):
    """One end of a relayed connection; what it receives goes into `pipe` (towards the
    other end) after `delay()` seconds."""

    def __init__(self, relay: Relay, toward: str) -> None:
        self.relay = relay
        self.toward = toward  # "in" (towards the region) or "back"
        self.transport: asyncio.Transport | None = None
        self.pipe: Pipe | None = None
        self.peer: Side | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport = transport
        _nodelay(transport)
        self.pipe = Pipe(self.relay.loop, transport)

    def data_received(self, data: bytes) -> None:
        assert self.pipe is not None
        self.pipe.send(data, self.relay.delay(self.toward))

    def eof_received(self) -> bool:
        assert self.pipe is not None
        self.pipe.send(None, self.relay.delay(self.toward))
        return True  # keep the other half open until the peer ends too

    def connection_lost(self, exc: Exception | None) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.transport.is_closing():
            if exc is not None:  # a reset is passed on as a reset
                peer.transport.abort()
            elif self.pipe is not None and self.pipe.queue:
                self.pipe.send(None, 0.0)  # after what is still held back
                self.relay.loop.call_at(self.pipe.last, peer.transport.close)
            else:
                peer.transport.close()
        if self.peer is not None and self.peer.pipe is not None:
            self.peer.pipe.cancel()

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            with contextlib.suppress(RuntimeError):
                self.peer.transport.resume_reading()


class Downstream(Side):
    """An accepted connection; connects its upstream (the same port on the far host)."""

    def __init__(self, relay: Relay, toward: str, target: tuple[str, int]) -> None:
        super().__init__(relay, toward)
        self.target = target

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.relay.loop.create_task(self._connect())

    async def _connect(self) -> None:
        assert self.transport is not None
        assert self.pipe is not None
        back = "back" if self.toward == "in" else "in"
        try:
            _, up = await self.relay.loop.create_connection(
                lambda: Side(self.relay, back), *self.target
            )
        except OSError:  # unreachable (a partition) or refused: the client sees a reset
            self.transport.abort()
            return
        assert isinstance(up, Side)
        assert up.transport is not None
        assert up.pipe is not None
        up.peer, self.peer = self, up
        if self.transport.is_closing():
            up.transport.close()
            return
        self.pipe.connected(up.transport)
        up.pipe.connected(self.transport)


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
                lambda: Downstream(self, "in", target), str(config["listen"]), port
            )
        sock = _socket_in(str(config["netns"]), ("127.0.0.1", port))
        return await self.loop.create_server(
            lambda: Downstream(self, "back", ("127.0.0.1", port)), sock=sock
        )


def _nodelay(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


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
