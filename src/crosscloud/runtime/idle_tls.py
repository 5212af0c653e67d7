"""At shutdown, finish closing TLS connections whose peer does not answer our close.

uvicorn's graceful shutdown closes every idle keep-alive connection and waits until each one
is gone. Over TLS a close sends close_notify and then waits (up to the event loop's 30 s SSL
shutdown timeout) for the peer's own close_notify. A pooled client that is not reading (the
control plane's health checks, any synchronous HTTP pool) answers only when it next uses the
connection, so a replica with nothing in flight used to wait out its whole grace period on
SIGTERM, and `crosscloud down` with it. TLS lets the side that closes stop waiting for the
answer (RFC 8446 section 6.1): once everything we wrote, close_notify last, has been sent and
acknowledged by the peer's TCP, the connection is closed without waiting for the answer. No
byte of a response is lost that way: a connection with anything still unsent is left alone.
"""

from __future__ import annotations

import asyncio
import fcntl
import struct
import termios
from collections.abc import Collection
from typing import Protocol

TICK = 0.1  # a peer that reads answers close_notify well within one tick on any network


class Connection(Protocol):
    """What a uvicorn protocol object offers here."""

    transport: asyncio.Transport


async def close_unanswered(connections: Collection[Connection], *, tick: float = TICK) -> None:
    """Until cancelled: close each TLS connection that was closing with nothing left to
    send on two ticks in a row (so a peer that reads had a tick to answer first)."""
    before: set[Connection] = set()
    while True:
        await asyncio.sleep(tick)
        waiting = {c for c in list(connections) if _sent_all_and_closing(c.transport)}
        for connection in waiting & before:
            connection.transport.abort()
        before = waiting


def _sent_all_and_closing(transport: asyncio.Transport) -> bool:
    """A TLS transport we asked to close, whose close_notify and everything before it has
    left this process and been acknowledged by the peer."""
    if not transport.is_closing() or transport.get_extra_info("ssl_object") is None:
        return False
    if transport.get_write_buffer_size():
        return False  # still flushing a response: the close_notify comes after it
    sock = transport.get_extra_info("socket")
    return sock is None or _unacknowledged(sock.fileno()) == 0


def _unacknowledged(fd: int) -> int:
    """Bytes in the kernel's send queue not yet acknowledged by the peer (Linux SIOCOUTQ);
    0 where the kernel cannot say (the user-space buffers above were empty)."""
    try:
        raw = fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0")
    except (OSError, AttributeError):
        return 0
    return int(struct.unpack("i", raw)[0])
