"""Active health checks: GET the health path of every upstream on an interval.

A host that fails `unhealthy_threshold` checks in a row leaves rotation; one that passes
`healthy_threshold` comes back, and if outlier detection had also ejected it, that
ejection ends too (Envoy's `successful_active_health_check_uneject_host`, limited here
to hosts that were down, so a replica that is ready but answers 500s cannot flap back
in every interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable

from crosscloud.adapters.security import tls
from crosscloud.gateway import cluster as gwcluster
from crosscloud.gateway import config as gwconfig
from crosscloud.gateway import engines

#: The client context for mutual TLS to replicas at this moment, or None (plaintext).
TlsContext = Callable[[], ssl.SSLContext | None]


def _plaintext() -> ssl.SSLContext | None:
    return None


async def probe(
    host: gwcluster.Host,
    check: gwconfig.HealthCheck,
    *,
    context: ssl.SSLContext | None = None,
    identity: str | None = None,
) -> bool:
    """One check: True when the replica answers 2xx/3xx within the timeout (over mutual
    TLS with `context`, from a replica whose certificate names `identity`). Over TLS it
    resumes the session of the host's last connection and saves its own: a probe every
    second per replica would otherwise pay a full handshake each time."""
    upstream = host.upstream
    writer = None
    try:
        async with asyncio.timeout(check.timeout):
            reader, writer = await asyncio.open_connection(
                upstream.host,
                upstream.port,
                ssl=None if context is None else tls.resuming(context, host.tls_session),
            )
            peer = writer.get_extra_info("peercert")
            if context is not None and identity is not None and tls.peer_identity(peer) != identity:
                return False
            writer.write(
                b"GET %b HTTP/1.1\r\nhost: %b:%d\r\nuser-agent: crosscloud-gateway\r\n"
                b"connection: close\r\n\r\n"
                % (check.path.encode(), upstream.host.encode(), upstream.port)
            )
            line = await reader.readline()
            if context is not None and line:
                host.tls_session = tls.saved_session(writer, context)
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    finally:
        if writer is not None:
            writer.close()
    parts = line.split()
    return len(parts) >= 2 and parts[1][:1] in (b"2", b"3")


def apply(cluster: gwcluster.Cluster, host: gwcluster.Host, ok: bool) -> bool:
    """Update one host from one check; True when its availability changed."""
    check = cluster.config.health
    if ok:
        was_down = not host.healthy
        host.hc_failures = 0
        if not was_down:
            return False
        host.healthy = True
        if host.ejected and cluster.detector.uneject(host.id):
            host.ejected = False
        return True
    host.hc_failures += 1
    if host.healthy and host.hc_failures >= check.unhealthy_threshold:
        host.healthy = False
        host.close_idle()
        return True
    return False


async def check_cluster(cluster: gwcluster.Cluster, context: TlsContext = _plaintext) -> None:
    """Check every host of `cluster` once, concurrently, and rebuild its plan on change."""
    hosts = list(cluster.hosts.values())
    config = cluster.config
    ctx = None if config.identity is None else context()
    results = await asyncio.gather(
        *(probe(h, config.health, context=ctx, identity=config.identity) for h in hosts)
    )
    changed = False
    for host, ok in zip(hosts, results, strict=True):
        if cluster.hosts.get(host.id) is host:
            changed = apply(cluster, host, ok) or changed
    if changed:
        cluster.rebuild()


async def run(cluster: gwcluster.Cluster, context: TlsContext = _plaintext) -> None:
    """Check `cluster` forever at its interval (cancel the task to stop); on the same
    beat, learn the models of services that declare none, every DISCOVER_EVERY checks,
    and read the queues of OpenAI services' replicas (over mutual TLS with `context` for
    a service whose replicas have an identity)."""
    passes = 0
    while True:
        if cluster.config.health.enabled and cluster.hosts:
            with contextlib.suppress(Exception):
                await check_cluster(cluster, context)
            ctx = None if cluster.config.identity is None else context()
            with contextlib.suppress(Exception):
                discover = passes % engines.DISCOVER_EVERY == 0
                await engines.observe(cluster, discover=discover, context=ctx)
            passes += 1
        await asyncio.sleep(cluster.config.health.interval)
