"""The gateway process: routes, clusters, timers, and the API the control plane calls.

    gw = Gateway(config)
    await gw.start()
    gw.set_endpoints("embedder", [Upstream(id="r1", host="10.0.0.5", port=8000, ...)])

`set_endpoints` takes effect for the next request (no polling); an upstream marked
`draining` gets no new requests while the ones in flight finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import socket
import ssl
import time
from collections.abc import Iterable
from typing import Protocol, cast

from crosscloud.adapters import frontdoor as gwtls
from crosscloud.adapters import listen
from crosscloud.adapters.security import tls
from crosscloud.gateway import cluster as gwcluster
from crosscloud.gateway import config as gwconfig
from crosscloud.gateway import downstream, framing, health, llm, metrics
from crosscloud.gateway import exchange as gwexchange
from crosscloud.planning import quota

#: Resolution of per-try and overall timeouts (a sweep beats a timer per request).
TIMEOUT_TICK = 0.1

#: Client connections are swept for their timeouts this often at most (see `_sweep`).
SWEEP_TICK = 0.5
SWEEP_BATCH = 64
SWEEP_STEP = 0.01
#: Idle quota buckets and gone tokens' counters are dropped this often (auth.TokenAuth.prune).
PRUNE_TICK = 10.0

#: Paths the gateway answers itself (`Gateway.own_route`), whatever the services are.
OWN_PATHS = frozenset({b"/metrics", b"/healthz", b"/readyz", b"/-/stats", b"/v1/models"})


class Authorizer(Protocol):
    """The per-service token hook (auth.TokenAuth); tokens live with the control plane."""

    #: the quota slot of the request just allowed, for its exchange to release at its end
    holding: quota.Limiter | None
    #: (service, token id) of the request just allowed, None for no token
    holding_key: tuple[str, str] | None

    def __call__(
        self, service: str, authorization: bytes | None
    ) -> tuple[int, str] | tuple[int, str, int] | None:
        """None to allow, or (status, message) to refuse (429s add Retry-After seconds)."""

    def guards(self, service: str) -> bool:
        """Whether `service` needs a token."""

    @property
    def zoned(self) -> bool:
        """Whether some token is bound to a residency zone."""

    def zone_of(self, authorization: bytes | None) -> str | None:
        """The residency zone of an accepted token, or None."""

    def allows(self, service: str, authorization: bytes | None) -> bool:
        """Whether the header may call `service`, admitting and spending nothing."""

    def count_model(self, key: tuple[str, str], prompt: int, completion: int) -> None:
        """Model tokens of an answer to a request allowed under `key` (its holding_key)."""

    def prune(self, now: float) -> None:
        """Drop the state memory need not hold (idle buckets, gone tokens' counters)."""


def bind(host: str, port: int) -> socket.socket:
    """A non-blocking listening socket for the event loop; UserError when the port is taken."""
    sock = listen.bind(host, port, backlog=4096)
    sock.setblocking(False)
    return sock


class Gateway:
    """One listening gateway with its services."""

    def __init__(
        self,
        config: gwconfig.GatewayConfig,
        *,
        rng: random.Random | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.config = config
        self.rng = rng or random.Random()  # noqa: S311 - load balancing, not secrets
        #: Whether some token is bound to a residency zone (read per request: one attribute).
        self.zoned_tokens = False
        self.authorizer = authorizer
        self.own_paths = OWN_PATHS
        self.clusters: dict[str, gwcluster.Cluster] = {}
        self._by_name: dict[bytes, gwcluster.Cluster] = {}
        self._by_host: dict[bytes, gwcluster.Cluster] = {}
        #: OpenAI model name -> the service serving it (declared, else its replicas' list).
        self.models: dict[str, gwcluster.Cluster] = {}
        self.inflight: set[gwexchange.Exchange] = set()
        #: Open client connections, and the count of sweeps: a connection notes the tick
        #: when its state changes, so no request pays for a timer or a clock read.
        self.connections: set[downstream.Downstream] = set()
        self.tick = 0
        self._to_sweep: list[downstream.Downstream] = []
        self._sweep_timer: asyncio.TimerHandle | None = None
        self._tick_timer: asyncio.TimerHandle | None = None
        self.loop = _loop()
        self._server: asyncio.Server | None = None
        self._sock: socket.socket | None = None
        self._admin: asyncio.Server | None = None
        #: `clientCerts: required`: connections without a certificate get 403.
        self.requires_cert = False
        self.admin_port: int | None = None
        self._tls_stamp: tuple[object, ...] = ()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._timeout_timer: asyncio.TimerHandle | None = None
        self._outlier_timer: asyncio.TimerHandle | None = None
        self._prune_timer: asyncio.TimerHandle | None = None
        self._registry = metrics.registry_for(
            lambda: list(self.clusters.values()), lambda: _counts(self.authorizer)
        )
        self.port = config.port
        #: Mutual TLS to replicas: a client context per new upstream connection (`current`
        #: follows the files), and the mesh listener's server context; None: plaintext.
        self.upstream_tls: tls.Reloading | None = None
        self.mesh_tls: tls.Reloading | None = None
        self.mesh_port: int | None = None
        self._mesh_server: asyncio.Server | None = None
        self.set_upstream_tls(config.upstream_tls)
        for service in config.services:
            self.set_service(service)

    # -- the control plane's API ----------------------------------------------------------

    @property
    def authorizer(self) -> Authorizer | None:
        return self._authorizer

    @authorizer.setter
    def authorizer(self, found: Authorizer | None) -> None:
        self._authorizer = found
        self.zoned_tokens = found is not None and found.zoned

    def set_service(self, service: gwconfig.ServiceConfig) -> None:
        """Add or replace a service (its policies); its upstreams are `service.upstreams`."""
        old = self.clusters.get(service.name)
        if old is not None:
            old.reconfigure(service)
        else:
            new = gwcluster.Cluster(service, rng=self.rng)
            new.on_change = self._index_models
            self.clusters[service.name] = new
            if self._server is not None:
                self._start_health(new)
        self._reindex()

    def set_endpoints(self, service: str, upstreams: Iterable[gwconfig.Upstream]) -> None:
        """Replace the upstreams of `service`; unknown services are created with defaults."""
        cluster = self.clusters.get(service)
        if cluster is None:
            self.set_service(gwconfig.ServiceConfig(name=service, upstreams=tuple(upstreams)))
            return
        for host in cluster.set_endpoints(upstreams):
            host.close_idle()

    def remove_service(self, service: str) -> None:
        cluster = self.clusters.pop(service, None)
        if cluster is not None:
            cluster.held.fail_all(f"service {service!r} was removed from this gateway")
            for host in cluster.hosts.values():
                host.close_idle()
            task = self._tasks.pop(service, None)
            if task is not None:
                task.cancel()
            self._reindex()

    def set_upstream_tls(self, files: tls.TlsFiles | None) -> None:
        """Use `files` for mutual TLS to replicas (and the mesh listener): the same files
        are re-read now if they changed (the control plane renewed them), new ones replace
        the contexts. Connections already open keep theirs."""
        current = self.upstream_tls
        if current is not None and current.tls == files:
            current.check()
            if self.mesh_tls is not None:
                self.mesh_tls.check()
            return
        for old in (self.upstream_tls, self.mesh_tls):
            if old is not None:
                old.stop()
        if files is None:
            self.upstream_tls = self.mesh_tls = None
            return
        self.upstream_tls = tls.Reloading(files, server=False).start()
        self.mesh_tls = tls.Reloading(files, server=True).start()

    def snapshot(self) -> dict[str, object]:
        """Each service's upstreams and their state, as plain data (for status)."""
        return {
            name: [
                {
                    "id": h.id,
                    "placement": h.placement,
                    "healthy": h.healthy,
                    "ejected": h.ejected,
                    "draining": h.upstream.draining,
                    "active": h.active,
                }
                for h in c.hosts.values()
            ]
            for name, c in self.clusters.items()
        }

    def _reindex(self) -> None:
        self._by_name = {name.encode(): c for name, c in self.clusters.items()}
        self._by_host = {h.encode(): c for c in self.clusters.values() for h in c.config.hosts}
        self._index_models()

    def _index_models(self) -> None:
        """The model map, after a change of services, endpoints or what replicas list.
        A model two services claim goes to the first by name (deterministic)."""
        models: dict[str, gwcluster.Cluster] = {}
        for name in sorted(self.clusters, reverse=True):
            cluster = self.clusters[name]
            for model in cluster.served_models():
                models[model] = cluster
        self.models = models

    def model_cluster(self, model: str) -> gwcluster.Cluster | None:
        return self.models.get(model)

    # -- the request path's helpers ------------------------------------------------------

    def route(self, host: bytes, url: bytes) -> tuple[gwcluster.Cluster | None, bytes]:
        """The cluster for a request and the path to send upstream.

        A Host header naming a service keeps the whole path; otherwise `/{service}/rest`
        goes to `/rest` of that service."""
        if self._by_host and host:
            cluster = self._by_host.get(host.partition(b":")[0].lower())
            if cluster is not None:
                return cluster, url
        end = url.find(b"/", 1)
        query = url.find(b"?")
        if end < 0 or 0 <= query < end:
            cut = query if query >= 0 else len(url)
            return self._by_name.get(url[1:cut]), b"/" + url[cut:]
        return self._by_name.get(url[1:end]), url[end:]

    def own_route(self, url: bytes) -> bytes | None:
        """The gateway's own answer for /healthz, /readyz, /metrics and /-/stats, else None."""
        if url == b"/metrics":
            body = metrics.render(self._registry)
            return framing.response_bytes(
                200, body, content_type=b"text/plain; version=0.0.4; charset=utf-8"
            )
        if url in (b"/healthz", b"/readyz"):
            return framing.response_bytes(200, b'{"status":"ok"}')
        if url == b"/-/stats":  # the control plane's autoscaler reads this every pass
            return framing.response_bytes(200, metrics.stats(self.clusters.values()))
        return None

    def models_route(self, authorization: bytes | None) -> bytes | None:
        """`GET /v1/models`: the models of the services the caller may use (a service
        behind API tokens lists its models only to a token it accepts)."""
        if b"v1" in self._by_name:
            return None  # a service named v1 keeps its paths
        auth = self.authorizer
        names = [n for n in sorted(self.clusters) if auth is None or auth.allows(n, authorization)]
        return llm.models_answer(self.clusters[n] for n in names)

    def unknown_service(self, url: bytes) -> str:
        name = url.split(b"/")[1].split(b"?")[0].decode(errors="replace") if url[:1] == b"/" else ""
        known = ", ".join(sorted(self.clusters)) or "none configured"
        return f"no service {name!r} behind this gateway; services: {known}"

    def authorize(
        self, service: str, authorization: bytes | None
    ) -> tuple[int, str] | tuple[int, str, int] | None:
        return None if self.authorizer is None else self.authorizer(service, authorization)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen and start health checks and timers (bound to `self.port` after this)."""
        self.loop = asyncio.get_running_loop()
        tls = self.config.tls
        context = gwtls.server_context(tls) if tls is not None else None
        sock = self._sock = bind(self.config.host, self.config.port)
        self.port = sock.getsockname()[1]
        self._server = await self._listen(sock, tls, context)
        self._tls_stamp = gwtls.fingerprint(tls)
        if self.config.admin_port is not None:
            admin = bind("127.0.0.1", self.config.admin_port)
            self.admin_port = admin.getsockname()[1]
            self._admin = await self.loop.create_server(lambda: downstream.Admin(self), sock=admin)
        await self.start_mesh()
        for cluster in self.clusters.values():
            self._start_health(cluster)
        self._tick_timeouts()
        self._tick_outliers()
        self._tick()
        self._sweep()
        self._prune()

    async def _listen(
        self, sock: socket.socket, tls: gwtls.TlsConfig | None, context: ssl.SSLContext | None
    ) -> asyncio.Server:
        def factory() -> downstream.Downstream:
            return downstream.Downstream(self)

        self.requires_cert = tls is not None and tls.client_certs == "required"
        if tls is None or context is None:
            return await self.loop.create_server(factory, sock=sock)
        # The handshake has its own timeout: a client that connects and sends nothing (or
        # garbage, slowly) is dropped then, before it is a connection the limits count.
        return await self.loop.create_server(
            factory, sock=sock, ssl=context, ssl_handshake_timeout=tls.handshake_timeout
        )

    async def set_tls(self, tls: gwtls.TlsConfig | None) -> bool:
        """Serve `tls` (None: plain HTTP) to connections accepted from now on, when it or
        its files changed since the last call; connections open now keep theirs. The new
        listener takes a duplicate of the same listening socket before the old one closes,
        so no connection attempt is refused in between. UserError (nothing changed) when
        the certificate cannot be used. True when the listener changed."""
        stamp = gwtls.fingerprint(tls)
        if stamp == self._tls_stamp or self._sock is None or self._server is None:
            return False
        context = gwtls.server_context(tls) if tls is not None else None
        old, sock = self._server, self._sock.dup()
        self._server = await self._listen(sock, tls, context)
        self._sock, self._tls_stamp = sock, stamp
        self.config = dataclasses.replace(self.config, tls=tls)
        old.close()
        return True

    async def start_mesh(self) -> None:
        """Open the mesh listener (mutual TLS; see Downstream's `peer_deployment`) if the
        config asks for one and none is open yet."""
        if self._mesh_server is not None or self.config.mesh is None or self.mesh_tls is None:
            return
        mesh = bind(*self.config.mesh)
        self.mesh_port = mesh.getsockname()[1]
        self._mesh_server = await self.loop.create_server(
            lambda: downstream.Downstream(self, mesh=True), sock=mesh, ssl=self.mesh_tls.base
        )

    def _start_health(self, cluster: gwcluster.Cluster) -> None:
        old = self._tasks.pop(cluster.name, None)
        if old is not None:
            old.cancel()
        self._tasks[cluster.name] = self.loop.create_task(health.run(cluster, self._tls_context))

    def _tls_context(self) -> ssl.SSLContext | None:
        """The client context for replicas now (health checks read it every interval)."""
        return None if self.upstream_tls is None else self.upstream_tls.current

    def _tick_timeouts(self) -> None:
        now = time.perf_counter()  # the clock of request deadlines (exchange.py)
        timed_out = [ex for ex in list(self.inflight) if ex.expire(now)]
        for ex in timed_out:
            ex.after_timeout()
        self._timeout_timer = self.loop.call_later(TIMEOUT_TICK, self._tick_timeouts)

    def _sweep_period(self) -> float:
        limits = self.config.limits
        shortest = min(limits.header_timeout, limits.body_timeout, limits.idle_timeout)
        return min(SWEEP_TICK, max(0.05, shortest / 5))

    def _tick(self) -> None:
        """The clock of client timeouts: connections note `tick` when their state changes."""
        self.tick += 1
        self._tick_timer = self.loop.call_later(self._sweep_period(), self._tick)

    def _sweep(self) -> None:
        """Close client connections past their header, body, idle or linger timeout; a
        batch at a time, so that thousands of idle connections never stall the loop (one
        pass over 500 at once added half a millisecond to whichever request it met)."""
        todo = self._to_sweep
        if not todo:
            todo.extend(self.connections)
        batch = todo[-SWEEP_BATCH:]
        del todo[-SWEEP_BATCH:]
        period = self._sweep_period()
        for conn in batch:
            found = conn.overdue(self.tick, period, self.config.limits)
            if found is not None:
                conn.timed_out(*found)
        delay = SWEEP_STEP if todo else period
        self._sweep_timer = self.loop.call_later(delay, self._sweep)

    def _tick_outliers(self) -> None:
        now = self.loop.time()
        intervals = [c.config.outlier.interval for c in self.clusters.values()] or [10.0]
        for cluster in list(self.clusters.values()):
            cluster.sweep(now)
        # One sweep timer at the shortest interval: a host returns within one interval.
        delay = max(0.05, min(intervals))
        self._outlier_timer = self.loop.call_later(delay, self._tick_outliers)

    def _prune(self) -> None:
        if self.authorizer is not None:
            self.authorizer.prune(time.monotonic())
        self._prune_timer = self.loop.call_later(PRUNE_TICK, self._prune)

    async def stop(self) -> None:
        """Stop listening, cancel timers and health checks, close pooled connections."""
        timers = (
            self._timeout_timer,
            self._outlier_timer,
            self._sweep_timer,
            self._tick_timer,
            self._prune_timer,
        )
        for timer in timers:
            if timer is not None:
                timer.cancel()
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for listener in (self._server, self._admin, self._mesh_server):
            if listener is not None:
                listener.close()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(listener.wait_closed(), 1.0)
        self.set_upstream_tls(None)
        for cluster in self.clusters.values():
            for host in cluster.hosts.values():
                host.close_idle()

    def describe(self) -> str:
        services = {
            n: [h.upstream.port for h in c.hosts.values()] for n, c in self.clusters.items()
        }
        listen = f"{self.config.scheme}://{self.config.host}:{self.port}"
        return json.dumps({"listen": listen, "services": services})


def _loop() -> asyncio.AbstractEventLoop:
    """The running loop when there is one (the gateway process makes its Gateway inside
    uvloop.run, which sets no loop on the policy: asking the policy there made a second,
    never-closed loop); `start` takes the running loop in any case."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()


def _counts(authorizer: Authorizer | None) -> metrics.TokenCounts | None:
    """The token authorizer's counters, if it keeps any (auth.TokenAuth does)."""
    if authorizer is None or not hasattr(authorizer, "admitted"):
        return None
    return cast(metrics.TokenCounts, authorizer)
