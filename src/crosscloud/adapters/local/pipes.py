"""The byte-moving half of a region's link relay (relay.py): each relayed connection is
two `Side`s, and each direction a `Pipe` that holds bytes back for the link's delay, in
order, pausing the sender past HIGH_WATER bytes held."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from typing import Protocol, cast

HIGH_WATER = 4 * 2**20  # bytes held back per direction before the sender is paused


class Link(Protocol):
    """What a relayed connection asks of its relay: the event loop and each chunk's delay
    (`toward` "in", into the region, or "back")."""

    loop: asyncio.AbstractEventLoop

    def delay(self, toward: str) -> float: ...


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

    def __init__(self, relay: Link, toward: str) -> None:
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

    def __init__(self, relay: Link, toward: str, target: tuple[str, int]) -> None:
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


def _nodelay(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
