"""A local region as a network host of its own, for real: a namespace, a veth pair and the
link relay, made idempotently, carrying bytes with the link's latency, cut by a partition,
and removed whole. Needs root and `ip` (CI has both); skipped, saying so, without them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crosscloud.adapters.local import links, netns, procs
from crosscloud.domain import regionnet
from tests.conftest import free_port

pytestmark = [
    pytest.mark.skipif(netns.unavailable() is not None, reason=f"netns: {netns.unavailable()}"),
    pytest.mark.timeout(90),
]
ECHO = str(Path(__file__).parent / "data" / "tcp_echo.py")
PORT = 7000  # inside the namespace every port is free


@pytest.fixture
def region(tmp_path: Path) -> Iterator[links.Links]:
    made = links.Links(home=tmp_path / "home")
    yield made
    made.remove_all()


def _wanted(ports: tuple[int, ...] = (PORT,), egress: tuple[int, ...] = ()) -> links.Wanted:
    return links.Wanted("d", "local/r", ports, egress, regionnet.LinkProfile())


@pytest.fixture
def echo_inside(region: links.Links) -> Iterator[regionnet.RegionNet]:
    """The region made, with a TCP echo server on PORT inside its namespace."""
    net = region.ensure(_wanted())
    server = subprocess.Popen(
        [*netns.exec_prefix(net.netns), sys.executable, ECHO, net.ns_addr, str(PORT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdout.readline() == "ready\n"
    yield net
    server.kill()
    server.wait()
    server.stdout.close()


def _connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:  # the relay picks up a new config within its poll
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(b"?")
            if sock.recv(1) == b"?":
                return sock
            sock.close()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing echoes through {host}:{port}")
        time.sleep(0.05)


def _round_trips(sock: socket.socket, count: int = 9) -> float:
    """The median seconds for 100 bytes there and back."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        sock.sendall(b"x" * 100)
        got = b""
        while len(got) < 100:
            got += sock.recv(100 - len(got))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_the_region_is_made_once_and_removed_whole(region: links.Links) -> None:
    first = region.ensure(_wanted())
    relay = region.relay_pid(first.netns)
    again = region.ensure(_wanted())
    assert again == first  # same names, same addresses
    assert region.relay_pid(first.netns) == relay is not None  # not a second relay
    assert region.owned() == [first.netns] and netns.exists(first.netns)
    assert netns.link_up(first) is True
    inside = subprocess.run(
        [*netns.exec_prefix(first.netns), "ip", "-o", "-4", "addr", "show", first.ns_if],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{first.ns_addr}/30" in inside

    region.remove(first.netns)
    assert not netns.exists(first.netns)
    assert netns.link_up(first) is None  # both ends of the veth pair are gone
    assert region.owned() == [] and not list((region.home / "net").iterdir())
    deadline = time.monotonic() + 10
    while procs.identity(relay, None) is procs.Identity.ALIVE:
        assert time.monotonic() < deadline, "the relay outlived its region"
        time.sleep(0.05)


def test_the_relay_adds_the_link_latency(
    region: links.Links, echo_inside: regionnet.RegionNet
) -> None:
    net = echo_inside
    sock = _connect(net.host_addr, PORT)
    base = _round_trips(sock)
    region.set_chaos(net.netns, latency=0.080, jitter=0.0)
    region.apply_chaos(net.netns)
    time.sleep(0.5)  # the relay's poll
    slow = _round_trips(sock)
    print(f"round trip through the relay: {base * 1000:.2f} ms, at +80 ms: {slow * 1000:.2f} ms")
    assert base < 0.05
    assert 0.080 <= slow < 0.080 + 0.25  # the added time, never less; contention may add more
    sock.close()


def test_bytes_keep_their_order_through_a_slow_link(
    region: links.Links, echo_inside: regionnet.RegionNet
) -> None:
    net = echo_inside
    region.set_chaos(net.netns, latency=0.020, jitter=0.010)
    region.apply_chaos(net.netns)
    time.sleep(0.5)
    sock = _connect(net.host_addr, PORT)
    payload = os.urandom(3 * 2**20)  # past the relay's high-water mark: it must pause the sender
    sender = threading.Thread(target=sock.sendall, args=(payload,))
    sender.start()
    got = bytearray()
    while len(got) < len(payload):
        chunk = sock.recv(1 << 16)
        assert chunk, "the relay closed the connection"
        got += chunk
    sender.join()
    assert bytes(got) == payload
    sock.close()


def test_a_partition_cuts_the_link_until_it_is_mended(
    region: links.Links, echo_inside: regionnet.RegionNet
) -> None:
    net = echo_inside
    _connect(net.host_addr, PORT).close()
    region.set_chaos(net.netns, partitioned=True)
    assert region.apply_chaos(net.netns).partitioned
    assert netns.link_up(net) is False
    started = time.monotonic()
    with socket.create_connection((net.host_addr, PORT), timeout=5) as sock:
        sock.sendall(b"lost?")
        with contextlib.suppress(ConnectionResetError):  # the relay cannot reach the region:
            assert sock.recv(10) == b""  # it hangs up
    assert time.monotonic() - started < 2.0  # at once, not after a timeout
    region.ensure(_wanted())  # a pass of the control plane keeps the partition
    assert netns.link_up(net) is False

    region.set_chaos(net.netns, partitioned=None)
    region.apply_chaos(net.netns)
    assert netns.link_up(net) is True
    _connect(net.host_addr, PORT).close()


def test_replicas_reach_this_side_on_their_own_loopback(region: links.Links) -> None:
    """`egress` ports: what a replica sends to 127.0.0.1:PORT inside its namespace reaches
    127.0.0.1:PORT here (where the gateway listens)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, ECHO, "127.0.0.1", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        net = region.ensure(_wanted(egress=(port,)))
        probe = (
            "import socket,sys,time\n"
            "for _ in range(100):\n"
            "    try:\n"
            f"        s = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
            "        break\n"
            "    except OSError:\n"
            "        time.sleep(0.05)\n"
            "s.sendall(b'out of the region'); print(s.recv(100).decode())\n"
        )
        done = subprocess.run(
            [*netns.exec_prefix(net.netns), sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.stdout.strip() == "out of the region", done.stderr
    finally:
        server.kill()
        server.wait()
        assert server.stdout is not None
        server.stdout.close()


def test_a_killed_relay_is_started_again_by_the_next_pass(region: links.Links) -> None:
    net = region.ensure(_wanted())
    relay = region.relay_pid(net.netns)
    assert relay is not None
    os.kill(relay, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while region.relay_pid(net.netns) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    region.ensure(_wanted())
    assert region.relay_pid(net.netns) not in (None, relay)
