"""Mutual TLS to replicas: a new connection to a replica resumes the session of the last
one (an abbreviated handshake, no certificate chain parsed and checked again), for
requests and health checks alike; a replica that does not know the session gets a full
handshake, and the gateway still checks its identity."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from pathlib import Path

import pytest
import uvloop

from crosscloud.adapters.security import ca as camod
from crosscloud.adapters.security import files, tls
from crosscloud.domain import identity
from crosscloud.gateway import config as gwconfig
from crosscloud.gateway import server

pytestmark = pytest.mark.timeout(60)
SERVICE = identity.workload(identity.DEFAULT_TRUST_DOMAIN, "demo", "svc")
OTHER = identity.workload(identity.DEFAULT_TRUST_DOMAIN, "demo", "other")
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"


class _Replica(asyncio.Protocol):
    """Answers every request 200 and closes (so the gateway must reconnect), noting for
    each connection whether its TLS session was resumed."""

    def __init__(self, seen: list[bool]) -> None:
        self.seen = seen

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        sslobj = transport.get_extra_info("ssl_object")
        self.seen.append(bool(sslobj.session_reused))

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" in data:
            self.transport.write(ANSWER)  # type: ignore[attr-defined]
            self.transport.close()


def _pki(tmp: Path) -> dict[str, Path]:
    now = time.time()
    authority = camod.Authority.open(tmp / "ca", now=now)
    out = {"bundle": tmp / "bundle.pem"}
    files.write_private(out["bundle"], authority.bundle_pem(now=now))
    names = {"svc": SERVICE, "other": OTHER, "gateway": identity.gateway("crosscloud.local")}
    for name, uri in names.items():
        out[name] = tmp / f"{name}.pem"
        files.write_private(out[name], authority.issue(uri, now=now).pem)
    return out


async def _get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /svc/ HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    data = await reader.read()
    writer.close()
    return data.split(b"\r\n", 1)[0]


async def _serve(
    pki: dict[str, Path], name: str, seen: list[bool], port: int = 0
) -> asyncio.Server:
    context = tls.build(tls.TlsFiles(pki[name], None, pki["bundle"]), server=True)
    return await asyncio.get_running_loop().create_server(
        lambda: _Replica(seen), "127.0.0.1", port, ssl=context
    )


async def _scenario(
    pki: dict[str, Path], *, health: bool, then: str = "svc"
) -> tuple[list[bool], list[bytes]]:
    """Four requests through a gateway to one replica (after a second of health checks
    if `health`), then one more to a new replica process at the same address serving
    `then`'s certificate."""
    seen: list[bool] = []
    replica = await _serve(pki, "svc", seen)
    port = replica.sockets[0].getsockname()[1]
    config = gwconfig.parse(
        {
            "listen": {"host": "127.0.0.1", "port": 0},
            "upstreamTls": {"cert": str(pki["gateway"]), "ca": str(pki["bundle"])},
            "services": [
                {
                    "name": "svc",
                    "identity": SERVICE,
                    "upstreams": [{"id": "r1", "host": "127.0.0.1", "port": port}],
                    "healthCheck": {"interval": "0.2s" if health else "60s", "enabled": health},
                    "retries": {"attempts": 1},
                }
            ],
        }
    )
    gw = server.Gateway(config)
    await gw.start()
    try:
        if health:
            await asyncio.sleep(1.0)  # a few probes, each on a new connection
        statuses = [await _get(gw.port) for _ in range(4)]
        replica.close()
        await replica.wait_closed()
        replica = await _serve(pki, then, seen, port)  # knows none of the sessions
        statuses.append(await _get(gw.port))
    finally:
        await gw.stop()
        replica.close()
    return seen, statuses


def test_reconnects_resume_the_session(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    seen, statuses = uvloop.run(_scenario(pki, health=False))
    assert statuses == [b"HTTP/1.1 200 OK"] * 5
    # the first connection does the full handshake, every later one resumes; the new
    # replica process cannot resume: a full handshake, and it is still served
    assert seen == [False, True, True, True, False]


def test_a_replica_that_cannot_resume_is_checked_again(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    seen, statuses = uvloop.run(_scenario(pki, health=False, then="other"))
    # at the same address now: another service's replica; the session offered does not
    # skip the check of its certificate, and not one request reaches it
    assert statuses[:4] == [b"HTTP/1.1 200 OK"] * 4
    assert statuses[4] == b"HTTP/1.1 502 Bad Gateway"
    assert seen[:4] == [False, True, True, True] and not any(seen[4:])


def test_health_checks_resume_the_session(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    seen, statuses = uvloop.run(_scenario(pki, health=True))
    assert statuses == [b"HTTP/1.1 200 OK"] * 5
    # a second of probes at 0.2 s, then the four requests: only the first probe's
    # connection did a full handshake (the fifth request's new replica is one more)
    assert seen[0] is False and seen[1:8] == [True] * 7, seen


def test_a_session_is_offered_only_with_the_context_that_made_it(tmp_path: Path) -> None:
    pki = _pki(tmp_path)
    files_ = tls.TlsFiles(pki["gateway"], None, pki["bundle"])
    first, second = tls.build(files_, server=False), tls.build(files_, server=False)
    saved = (first, _handshake_session(first, pki))
    assert tls.resuming(first, None) is first
    assert tls.resuming(second, saved) is second  # reloaded context: start afresh
    assert tls.resuming(first, saved) is not first


def _handshake_session(client: ssl.SSLContext, pki: dict[str, Path]) -> ssl.SSLSession:
    """A session from a handshake over memory BIOs with a replica context."""
    srv = tls.build(tls.TlsFiles(pki["svc"], None, pki["bundle"]), server=True)
    ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(ci, co, server_hostname="x")
    s = srv.wrap_bio(si, so, server_side=True)
    for _ in range(4):
        for obj in (c, s):
            with contextlib.suppress(ssl.SSLWantReadError):
                obj.do_handshake()
        si.write(co.read())
        ci.write(so.read())
    s.write(b"x")
    ci.write(so.read())
    c.read(10)
    assert c.session is not None
    return c.session
