"""What the gateway reads from OpenAI-compatible replicas beside their health: the models
they serve (`GET /v1/models`, for services whose manifest declares none) and their queue
(`vllm:num_requests_waiting` and `vllm:num_requests_running` at `/metrics`, where the
engine exports them), for routing by model and for the autoscaler's `targetQueueLength`.
"""

from __future__ import annotations

import asyncio
import ssl

import orjson

from crosscloud.adapters.security import tls
from crosscloud.gateway import cluster as gwcluster
from crosscloud.gateway import config as gwconfig

#: Models are asked for on the first check and then every this many checks (30 s at 5 s).
DISCOVER_EVERY = 6
#: Bytes read of an answer at most (a vLLM /metrics is ~100 KB).
READ_LIMIT = 1024 * 1024
WAITING = "vllm:num_requests_waiting"
RUNNING = "vllm:num_requests_running"


async def fetch(
    upstream: gwconfig.Upstream,
    path: str,
    *,
    within: float,
    context: ssl.SSLContext | None = None,
) -> bytes | None:
    """The body of a 200 answer to `GET path` (over mutual TLS with `context`), or None."""
    writer = None
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(
                upstream.host, upstream.port, ssl=context
            )
            writer.write(
                b"GET %b HTTP/1.1\r\nhost: %b:%d\r\nuser-agent: crosscloud-gateway\r\n"
                b"accept: */*\r\nconnection: close\r\n\r\n"
                % (path.encode(), upstream.host.encode(), upstream.port)
            )
            data = await reader.read(READ_LIMIT)
            while len(data) < READ_LIMIT:
                more = await reader.read(READ_LIMIT - len(data))
                if not more:
                    break
                data += more
    except (OSError, TimeoutError):
        return None
    finally:
        if writer is not None:
            writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or parts[1] != b"200" or b"transfer-encoding: chunked" in head.lower():
        return None  # a chunked answer is not worth a parser here: uvicorn and vLLM send lengths
    return body


def models_of(body: bytes | None) -> tuple[str, ...]:
    """The ids of an OpenAI model list, or () when it is not one."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return ()
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return ()
    ids = (m.get("id") for m in items if isinstance(m, dict))
    return tuple(sorted({i for i in ids if isinstance(i, str) and i}))


def queue_of(body: bytes | None) -> tuple[int, int]:
    """(waiting, running) summed over label sets; -1 for a figure not exported."""
    if not body:
        return -1, -1
    found = {WAITING: -1, RUNNING: -1}
    for line in body.decode(errors="replace").splitlines():
        name = line.partition("{")[0].partition(" ")[0]
        if name in found:
            try:
                value = float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                continue
            found[name] = max(found[name], 0) + int(value)
    return found[WAITING], found[RUNNING]


def _for(host: gwcluster.Host, context: ssl.SSLContext | None) -> ssl.SSLContext | None:
    """`context`, resuming the TLS session of the host's last connection (tls.resuming)."""
    return None if context is None else tls.resuming(context, host.tls_session)


async def observe(
    cluster: gwcluster.Cluster, *, discover: bool, context: ssl.SSLContext | None = None
) -> None:
    """One round of reading the replicas of `cluster` (concurrently; with `context`, the
    client side of mutual TLS to them)."""
    hosts = [h for h in cluster.hosts.values() if h.available]
    timeout = cluster.config.health.timeout
    config = cluster.config
    if discover and config.discover_models and not config.models and hosts:
        bodies = await asyncio.gather(
            *(
                fetch(h.upstream, "/v1/models", within=timeout, context=_for(h, context))
                for h in hosts
            )
        )
        changed = False
        for host, body in zip(hosts, bodies, strict=True):
            models = models_of(body)
            changed = changed or models != host.models
            host.models = models
        if changed:
            cluster.rebuild()  # the model map and `llm` follow (Gateway._index_models)
    if cluster.llm and hosts:
        bodies = await asyncio.gather(
            *(
                fetch(h.upstream, "/metrics", within=timeout, context=_for(h, context))
                for h in hosts
            )
        )
        for host, body in zip(hosts, bodies, strict=True):
            host.waiting, host.running = queue_of(body)
