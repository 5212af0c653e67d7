"""The gateway process the control plane runs beside itself: started (or adopted after a
control plane restart) on a stable port, and told about endpoint changes at once by
rewriting its config file and sending SIGHUP (a push, not a poll). A thread waits on the
gateway's pid and starts a new one on the same port the moment it dies, without waiting
for the loop's next pass."""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import orjson

from crosscloud import errors
from crosscloud.adapters import frontdoor
from crosscloud.adapters.local import procs
from crosscloud.domain import gatewayfile, manifest, state, targets, tokens

log = logging.getLogger("crosscloud.controlplane")
CRASH_LOOP = 1.0  # a gateway that dies sooner than this after its start waits for the loop


class GatewayLink:
    """Keeps one gateway process running and its config in step with the endpoints."""

    def __init__(
        self,
        home: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.home = home
        self.host = host
        self.config_path = home / "gateway.json"
        self.info_path = home / "gateway.pid.json"
        self.log_path = home / "logs" / "gateway.log"
        self._port = self._configured_port = port
        self._admin_port: int | None = None
        self._https: bool | None = None  # None: as the running gateway's record says
        self._mesh_port: int | None = None
        self._last: bytes | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self.on_restart: Callable[[], None] = lambda: None  # a note waits: wake the loop
        self._mutex = threading.Lock()  # the loop, the API and the watcher all start/stop it
        self._watched: int | None = None  # the pid a watcher thread waits on
        self._notes: list[str] = []
        self.may_act: Callable[[], bool] = lambda: True  # the leader of several (leadership.py)

    @property
    def url(self) -> str:
        """The front door: https:// when the manifest's `traffic.tls` asks for it."""
        if self._https is None:
            info = self._info()
            self._https = bool(info and str(info.get("url", "")).startswith("https://"))
        return f"{'https' if self._https else 'http'}://{self.host}:{self.port}"

    @property
    def admin_url(self) -> str:
        """Where the control plane reads the gateway's /metrics and /-/stats: its admin
        port (plain HTTP on 127.0.0.1, own answers only), whatever the front door asks."""
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def admin_port(self) -> int:
        if self._admin_port is None:
            info = self._info()
            known = info.get("admin_port") if info else None
            self._admin_port = int(known) if known else procs.free_port("127.0.0.1")
        return self._admin_port

    @property
    def port(self) -> int:
        if self._port is None:
            info = self._info()
            self._port = int(info["port"]) if info else procs.free_port(self.host)
        return self._port

    @property
    def mesh_port(self) -> int:
        """The port of the gateway's mutual TLS listener for services calling services."""
        if self._mesh_port is None:
            info = self._info()
            found = info.get("mesh_port") if info else None
            self._mesh_port = int(found) if found else procs.free_port(self.host)
        return self._mesh_port

    def mesh_url(self, service: str) -> str:
        return f"https://{self.host}:{self.mesh_port}/{service}"

    def _info(self) -> dict[str, Any] | None:
        try:
            return dict(orjson.loads(self.info_path.read_bytes()))
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        info = self._info()
        if not info:
            return False
        found = procs.identity(int(info["pid"]), info.get("start_time"))
        return found is procs.Identity.ALIVE

    def ensure(
        self,
        services: list[gatewayfile.ServiceFile],
        limits: gatewayfile.LimitsFile | None = None,
        tls: gatewayfile.TlsFile | None = None,
        *,
        upstream_tls: gatewayfile.UpstreamTlsFile | None = None,
        reload: bool = False,
    ) -> None:
        """Start the gateway if it is not running, then push `services` (its client
        `limits`, the front door's `tls`, and with `upstream_tls` its certificate for mutual
        TLS to replicas and the mesh listener) if they changed, or if `reload` (its
        certificate files were renewed)."""
        listen = gatewayfile.ListenFile(
            host=self.host, port=self.port, tls=tls, admin_port=self.admin_port
        )
        self._https = tls is not None
        mesh = None
        if upstream_tls is not None:
            mesh = gatewayfile.MeshFile(host=self.host, port=self.mesh_port)
        config = gatewayfile.GatewayFile(
            listen=listen,
            limits=limits or gatewayfile.LimitsFile(),
            services=services,
            upstream_tls=upstream_tls,
            mesh=mesh,
        )
        body = orjson.dumps(config.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        # A certificate renewed in place leaves the file as it was: its files' stamps are
        # part of what is compared, so the gateway is told (SIGHUP) and loads it.
        seen = body
        if tls is not None:
            stamp = frontdoor.fingerprint(frontdoor.TlsConfig(**tls.model_dump()))
            seen += repr(stamp).encode()
        with self._mutex:
            if not self.alive():
                gone = self._info()  # recorded and not running: it died (or was killed)
                self._write(body, seen)
                self._start()
                if gone:
                    self._notes.append(f"gateway pid {gone['pid']} was gone; {self._restarted()}")
                return
            if self._watched is None:  # adopted from an earlier control plane
                self._watch(None)
                log.info("watching the running gateway on %s (pid %s)", self.url, self._watched)
            if (seen != self._last or reload) and self._listening():
                self._write(body, seen)
                self._signal(signal.SIGHUP)

    def take_notes(self) -> list[str]:
        """Restarts since the last call, as event messages."""
        with self._mutex:
            notes, self._notes = self._notes, []
        return notes

    def _restarted(self) -> str:
        info = self._info() or {}
        return f"restarted on {self.url} (pid {info.get('pid')})"

    def _watch(self, child: subprocess.Popen[bytes] | None) -> None:
        info = self._info()
        if info is None:
            return
        pid = int(info["pid"])
        self._watched = pid
        started = time.monotonic()
        threading.Thread(
            target=self._await_exit, args=(pid, child, started), daemon=True, name="gateway-watch"
        ).start()

    def _await_exit(self, pid: int, child: subprocess.Popen[bytes] | None, started: float) -> None:
        """Wait for `pid` to exit; restart it at once unless it was stopped on purpose,
        replaced already, or is crash-looping (then the loop's pass restarts it, 1/s)."""
        if child is not None:
            code: int | None = child.wait()
        elif not _wait_pid(pid):
            return  # cannot wait on it: the loop's pass notices instead
        else:
            code = None
        with self._mutex:
            if self._watched != pid:
                return
            self._watched = None
            if not self.may_act():
                return  # a standby now: the leader restarts it
            if time.monotonic() - started < CRASH_LOOP:
                return
            self._start()
            how = "exited" if code is None else _exit_text(code)
            self._notes.append(f"gateway pid {pid} {how}; {self._restarted()}")
        log.warning("gateway pid %d %s; restarted on %s", pid, how, self.url)
        self.on_restart()

    def _write(self, body: bytes, seen: bytes) -> None:
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_bytes(body)
        os.replace(tmp, self.config_path)  # the gateway never reads a half-written file
        self._last = seen

    def _start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "crosscloud.gateway", "--config", str(self.config_path)]
        with self.log_path.open("ab") as out:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._child = child
        info = {
            "pid": child.pid,
            "start_time": procs.process_start_time(child.pid),
            "port": self.port,
            "admin_port": self.admin_port,
            "url": self.url,
            "mesh_port": self.mesh_port,
        }
        self.info_path.write_bytes(orjson.dumps(info))
        log.info("gateway started on %s (pid %d)", self.url, child.pid)
        self._watch(child)

    def _listening(self) -> bool:
        """Whether the gateway accepts connections, and so has its SIGHUP handler (else a
        SIGHUP would end it): until then the push waits for the next pass."""
        try:
            socket.create_connection((self.host, self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def _signal(self, sig: signal.Signals) -> None:
        info = self._info()
        if info and self.alive():
            os.kill(int(info["pid"]), sig)

    def release(self) -> None:
        """Leave the gateway running but stop watching it, and forget what was read of it
        (its port, its config): another control plane leads now, or this one is about to
        adopt the gateway afresh."""
        with self._mutex:
            self._watched = None
            self._last = None
            self._port = self._configured_port
            self._admin_port = self._https = None
            self._mesh_port = None

    def stop(self, grace: float = 10.0) -> None:
        with self._mutex:
            self._watched = None  # stopped on purpose: the watcher leaves it down
            self._stop(grace)

    def _stop(self, grace: float) -> None:
        info = self._info()
        if info and self.alive():
            pid = int(info["pid"])
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.alive() and time.monotonic() < deadline:
                if self._child is not None:
                    self._child.poll()
                time.sleep(0.05)
            if self.alive():
                os.kill(pid, signal.SIGKILL)
        if self._child is not None:
            self._child.wait(timeout=10)
            self._child = None
        self.info_path.unlink(missing_ok=True)
        self._last = None


def _wait_pid(pid: int) -> bool:
    """Block until `pid` (not our child) exits; False if the kernel cannot tell us."""
    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll()
    finally:
        os.close(fd)
    return True


def _exit_text(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def service_config(
    spec: manifest.Manifest,
    service: str,
    endpoints: list[state.EndpointRecord],
    *,
    api_tokens: list[tokens.TokenRecord] | None = None,
    draining: Collection[str] = (),
    identity: str | None = None,
) -> gatewayfile.ServiceFile:
    """One service of the gateway's config file, from the manifest's traffic settings
    and the deployment's API tokens (`api_tokens`: every one, revoked included);
    replicas in `draining` (ids) get no new request (a preemption notice); with
    `identity`, mutual TLS to replicas that must present it."""
    traffic = spec.spec.traffic
    outlier = traffic.outlier_detection
    declared = next((s for s in spec.spec.services if s.name == service), None)
    return gatewayfile.ServiceFile(
        name=service,
        policy=declared.policy if declared and declared.policy else traffic.policy,
        models=list(declared.models) if declared else [],
        # Services that declare no models may still serve some: asked every 30 s.
        discover_models=not (declared and declared.models),
        failover=list(traffic.failover),
        split=dict(traffic.split),
        timeout=traffic.timeout,
        retries=gatewayfile.RetriesFile(
            attempts=traffic.retries.attempts, per_try_timeout=per_try_timeout(traffic)
        ),
        outlier_detection=gatewayfile.OutlierFile(
            consecutive_5xx=max(1, outlier.consecutive_5xx_errors),
            interval=outlier.interval,
            base_ejection_time=outlier.base_ejection_time,
            max_ejection_percent=outlier.max_ejection_percent,
        ),
        health_check=gatewayfile.HealthFile(
            path=_health_path(spec, service), interval=1.0, timeout=1.0
        ),
        upstreams=[_upstream(ep, draining=draining) for ep in endpoints],
        residency={zone: list(members) for zone, members in traffic.residency.items()},
        affinity=_affinity(traffic.prefix_affinity),
        identity=identity,
        **_auth(api_tokens or [], service),
    )


def _affinity(found: manifest.PrefixAffinity) -> gatewayfile.AffinityFile:
    return gatewayfile.AffinityFile(
        cache_threshold=found.cache_threshold,
        balance_abs=found.balance_abs_threshold,
        balance_rel=found.balance_rel_threshold,
        capacity=found.blocks_per_replica,
    )


def _health_path(spec: manifest.Manifest, service: str) -> str:
    try:
        return spec.service(service).health_path or targets.DEFAULT_HEALTH_PATH
    except KeyError:
        return targets.DEFAULT_HEALTH_PATH


def _upstream(
    endpoint: state.EndpointRecord, *, draining: Collection[str]
) -> gatewayfile.UpstreamFile:
    host, _, port = endpoint.url.partition("://")[2].partition(":")
    return gatewayfile.UpstreamFile(
        id=endpoint.replica_id or endpoint.url,
        host=host,
        port=int(port),
        placement=endpoint.placement,
        draining=endpoint.replica_id in draining,
    )


def per_try_timeout(traffic: manifest.TrafficSpec) -> float:
    """The manifest's, else the overall timeout shared by the first try and its retries
    (30 s and 2 retries: 10 s a try). Not the whole timeout: a replica that hangs would
    then hold each of its requests for all of it, with no time left to retry elsewhere."""
    retries = traffic.retries
    if retries.per_try_timeout:
        return retries.per_try_timeout
    return traffic.timeout / (retries.attempts + 1)


def limits_config(specs: list[manifest.Manifest]) -> gatewayfile.LimitsFile | None:
    """The gateway's client limits (`spec.traffic.limits`), None with no deployment. One
    gateway serves every deployment, so each limit is the most generous any of them asks
    for: no deployment's clients are refused by another's tighter setting."""
    if not specs:
        return None
    chosen = [s.spec.traffic.limits for s in specs]
    fields = manifest.TrafficLimits.model_fields
    return gatewayfile.LimitsFile(
        **{name: max(getattr(lim, name) for lim in chosen) for name in fields}
    )


def _quota(quota: tokens.Quota) -> gatewayfile.QuotaFile | None:
    return gatewayfile.QuotaFile.model_validate(quota.as_dict()) if quota.limited else None


def _auth(found: list[tokens.TokenRecord], service: str) -> dict[str, gatewayfile.AuthFile]:
    """No `auth` (open) while the deployment never had a token; else the hashes of the
    active tokens that cover `service` (all revoked: nothing passes, nothing reopens)."""
    if not found:
        return {}
    allowed = [t for t in found if t.active and t.allows(service)]
    hashes = [
        gatewayfile.TokenFile(
            id=t.id, sha256=t.sha256, quota=_quota(t.quota), residency=t.residency
        )
        for t in allowed
    ]
    return {"auth": gatewayfile.AuthFile(tokens=hashes)}


def tls_config(
    deps: list[tuple[manifest.Manifest, Path]], *, issued: Callable[[], Path] | None = None
) -> gatewayfile.TlsFile | None:
    """The front door's TLS (`spec.traffic.tls`, paths made absolute from the manifest's
    folder `deps[i][1]`), None for plain HTTP. Without certFile and keyFile, the file
    `issued()` returns (a certificate from the deployment's CA, frontdoor_cert.py). One
    gateway serves every deployment: the first by name that asks for TLS sets it."""
    for spec, folder in sorted(deps, key=lambda d: d[0].metadata.name):
        tls = spec.spec.traffic.tls
        if tls is None:
            continue
        if tls.cert_file is None or tls.key_file is None:
            if issued is None:
                return None  # checked at `up`: nothing to check for an issued certificate
            cert = key = issued()
        else:
            cert, key = folder / tls.cert_file, folder / tls.key_file
        ca = tls.client_ca_file
        return gatewayfile.TlsFile(
            cert_file=str(cert),
            key_file=str(key),
            client_certs=tls.client_certs,
            client_ca_file=None if ca is None else str(folder / ca),
            handshake_timeout=tls.handshake_timeout,
        )
    return None


def check_tls(spec: manifest.Manifest, *, path: str, folder: Path) -> None:
    """Refuse (UserError naming the manifest) a `traffic.tls` whose files the gateway could
    not serve: checked at `up`, before the gateway is told, so a bad certificate never
    takes the front door down."""
    found = tls_config([(spec, folder)])
    if found is None:
        return
    try:
        frontdoor.server_context(frontdoor.TlsConfig(**found.model_dump()))
    except errors.UserError as exc:
        message = str(exc).replace("listen.tls", "spec.traffic.tls")
        raise errors.UserError(f"{path}: {message}") from None
