"""Run a gateway process from a config file until SIGTERM; SIGHUP re-reads the file, which
is how the control plane pushes endpoint changes (applied at once, no polling)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys

from crosscloud import errors
from crosscloud.adapters import frontdoor as gwtls
from crosscloud.adapters import listen
from crosscloud.gateway import auth, server
from crosscloud.gateway import config as gwconfig

log = logging.getLogger("crosscloud.gateway")


def apply(gw: server.Gateway, config: gwconfig.GatewayConfig) -> None:
    """Make the running gateway's services match `config` (listen address unchanged)."""
    wanted = {s.name for s in config.services}
    for name in [n for n in gw.clusters if n not in wanted]:
        gw.remove_service(name)
    for service in config.services:
        gw.set_service(service)
    # tokens revoked since the last file are gone; counters and quota buckets carry over
    gw.authorizer = auth.for_config(config, gw.authorizer)
    gw.set_upstream_tls(
        config.upstream_tls
    )  # renewed certificates are read now, not at the next poll
    if config.mesh is not None and gw.config.mesh is None:
        gw.config = dataclasses.replace(gw.config, mesh=config.mesh)
        gw.loop.create_task(gw.start_mesh())  # the first deployment with mutual TLS
    # New limits hold for connections accepted from now on, and for the timeout sweep.
    gw.config = dataclasses.replace(gw.config, limits=_fit_fd_limit(config.limits))


async def run(path: str, *, host: str | None = None, port: int | None = None) -> None:
    config = config_read = gwconfig.load(path)
    if host is not None:
        config = dataclasses.replace(config, host=host)
    if port is not None:
        config = dataclasses.replace(config, port=port)
    config = dataclasses.replace(config, limits=_fit_fd_limit(config.limits))
    gw = server.Gateway(config, authorizer=auth.for_config(config))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Before listening: once the port accepts, a SIGHUP reloads (the control plane waits
    # for that before it signals; the default action of SIGHUP would end the process).
    loop.add_signal_handler(signal.SIGHUP, _reload, gw, path)
    await gw.start()
    if _changed(path, config_read):  # while starting (a SIGHUP then was ignored)
        _reload(gw, path)
    names = ", ".join(sorted(gw.clusters)) or "no services yet"
    where = f"{config.scheme}://{config.host}:{gw.port}"
    print(f"gateway listening on {where} ({names})", file=sys.stderr)
    if gw.mesh_port is not None:
        mesh_host = config.mesh[0] if config.mesh else config.host
        print(f"gateway mesh (mutual TLS) on {mesh_host}:{gw.mesh_port}", file=sys.stderr)
    await stop.wait()
    await gw.stop()


def _changed(path: str, read: gwconfig.GatewayConfig) -> bool:
    try:
        return gwconfig.load(path) != read
    except errors.CrossCloudError:
        return True  # _reload says what is wrong with it


def _fit_fd_limit(limits: gwconfig.Limits) -> gwconfig.Limits:
    """Raise the open-file limit; if it still cannot hold maxConnections clients (each may
    need an upstream connection too), lower the cap so that past it clients get a clean
    503 rather than the accept loop failing with EMFILE."""
    fds = listen.raise_fd_limit()
    fit = max(1, (fds - 64) // 2)
    if fit >= limits.max_connections:
        return limits
    log.warning(
        "open-file limit %d holds %d client connections, not limits.maxConnections %d:"
        " using %d (raise it with ulimit -n)",
        fds,
        fit,
        limits.max_connections,
        fit,
    )
    return dataclasses.replace(limits, max_connections=fit)


def _reload(gw: server.Gateway, path: str) -> None:
    try:
        config = gwconfig.load(path)
        apply(gw, config)
    except errors.CrossCloudError as exc:
        # A bad file must not take the data plane down: keep serving the last good config.
        log.error("not reloading %s: %s", path, exc)
        return
    log.info("reloaded %s", path)
    # The listener's certificate (renewed files, or TLS turned on or off) changes apart:
    # it takes an await, and a certificate that cannot be used keeps the last good one.
    task = gw.loop.create_task(_reload_tls(gw, config.tls))
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)


_PENDING: set[asyncio.Task[None]] = set()


async def _reload_tls(gw: server.Gateway, tls: gwtls.TlsConfig | None) -> None:
    try:
        changed = await gw.set_tls(tls)
    except errors.CrossCloudError as exc:
        log.error("keeping the front door's last certificate: %s", exc)
        return
    if changed:
        log.info("front door now %s", "HTTPS" if tls is not None else "plain HTTP")
