"""The local target: each replica is a detached `python -m crosscloud.runtime` on 127.0.0.1,
        command = self._command(spec, port)
        if net is not None:
            command = netns.exec_prefix(net.netns) + command
        self._health_paths[targets.health_key(spec.deployment, spec.service)] = spec.health_path

A replica runs in its own session (it outlives the control plane that started it), logs to
$CROSSCLOUD_HOME/logs/<deployment>/<service>/<region>/<replica-id>.log, and is known by
(pid, process start time), so a control plane that restarts adopts its replicas but never
a process that merely inherited a recorded pid. Placements `local/<region>` are just
separate labels: each behaves as its own cloud on this machine.
"""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import httpx

from crosscloud import errors
from crosscloud.adapters import paths
from crosscloud.adapters.local import netns, procs
from crosscloud.adapters.security import tls
from crosscloud.domain import state, targets

HOST = "127.0.0.1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _safe(part: str) -> str:
    return _UNSAFE.sub("_", part).lstrip(".") or "_"


class LocalTarget:
    """Starts, observes and stops replica processes on this machine (a
    `ports.ProcessTarget`)."""

    def __init__(
        self,
        *,
        home: Path | None = None,
        python: str = sys.executable,
        drain_grace: float = 10.0,
        stop_grace: float = 15.0,
        probe_timeout: float = 1.0,
        clock: Callable[[], float] = time.time,
        client_tls: tls.TlsFiles | None = None,
    ) -> None:
        self.home = home if home is not None else paths.home()
        self.python = python
        self.drain_grace = drain_grace
        self.stop_grace = stop_grace
        self._clock = clock
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._exit_codes: dict[int, int] = {}  # children reaped by stop(), until observed
        self._http = httpx.Client(timeout=probe_timeout, trust_env=False)
        self._health_paths: dict[str, str] = {}
        self.probe_timeout = probe_timeout
        #: The control plane's own certificate, for the probes of replicas serving TLS
        #: (loaded once the control plane has issued it).
        self._client_files = client_tls
        self.client_tls: tls.Reloading | None = None
        self._https: tuple[ssl.SSLContext, httpx.Client] | None = None

    def use_health_paths(self, paths: Mapping[str, str]) -> None:
        self._health_paths = dict(paths)

    def log_path(self, *, deployment: str, service: str, placement: str, replica_id: str) -> Path:
        """Where a replica's stdout and stderr go (appended across restarts)."""
        region = placement.split("/", 1)[-1]
        parts = (deployment, service, region)
        return self.home.joinpath("logs", *map(_safe, parts), f"{_safe(replica_id)}.log")

    def record_log_path(self, record: state.ReplicaRecord) -> Path:
        return self.log_path(
            deployment=record.deployment,
            service=record.service,
            placement=record.placement,
            replica_id=record.id,
        )

    def start(self, spec: targets.LaunchSpec) -> state.ReplicaRecord:
        """Launch the replica on a free port (in its region's namespace when it has one);
        returns its record in state Starting."""
        net = spec.network
        host = HOST if net is None else net.address
        port = procs.free_port(host)  # free where the region's relay will listen for it
        log = self.log_path(
            deployment=spec.deployment,
            service=spec.service,
            placement=spec.placement,
            replica_id=spec.replica_id,
        )
        log.parent.mkdir(parents=True, exist_ok=True)
        command = self._command(spec, port)
        if net is not None:
            command = netns.exec_prefix(net.netns) + command
        self._health_paths[targets.health_key(spec.deployment, spec.service)] = spec.health_path
        started_at = self._clock()
        with log.open("ab") as out:
            out.write(_banner(spec, host, port, started_at))
            out.flush()
            try:
                child = subprocess.Popen(
                    command,
                    cwd=spec.cwd,
                    env=self._environment(spec, port),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise errors.TargetError(f"cannot start replica {spec.replica_id}: {exc}") from exc
        self._children[child.pid] = child
        return state.ReplicaRecord(
            id=spec.replica_id,
            deployment=spec.deployment,
            service=spec.service,
            placement=spec.placement,
            version=spec.version,
            state=state.ReplicaState.STARTING,
            pid=child.pid,
            host=host,
            port=port,
            restarts=spec.restarts,
            crash_count=spec.crash_count,
            started_at=started_at,
            process_start_time=procs.process_start_time(child.pid),
            capacity=spec.capacity,
            scheme="https" if spec.tls_cert and not spec.command else "http",
        )

    def _command(self, spec: targets.LaunchSpec, port: int) -> list[str]:
        bind = HOST if spec.network is None else spec.network.bind
        if spec.command:
            # str.replace, not str.format: other braces in arguments (JSON) stay as written
            given = (str(port), bind)
            return [a.replace("{port}", given[0]).replace("{host}", given[1]) for a in spec.command]
        where = ["--host", bind, "--port", str(port), "--grace", f"{self.drain_grace:g}"]
        if spec.tls_cert and spec.tls_ca:
            where += ["--tls-cert", spec.tls_cert, "--tls-ca", spec.tls_ca]
        return [self.python, "-m", "crosscloud.runtime", spec.source, *where]

    def _environment(self, spec: targets.LaunchSpec, port: int) -> dict[str, str]:
        env = dict(os.environ)
        threads = str(max(1, round(spec.cpus)))
        for name in _THREAD_VARS:  # replicas share the machine: don't each take every core
            env.setdefault(name, threads)
        env.update(spec.env)
        env.update(
            CROSSCLOUD_REPLICA_ID=spec.replica_id,
            CROSSCLOUD_PLACEMENT=spec.placement,
            CROSSCLOUD_CPUS=f"{spec.cpus:g}",
            PYTHONUNBUFFERED="1",
        )
        if spec.command:
            env.update(PORT=str(port), HOST=HOST if spec.network is None else spec.network.bind)
        return env

    def observe(self, records: Iterable[state.ReplicaRecord]) -> list[state.ReplicaObservation]:
        """The live state of each recorded replica: running (and ready?), exited, or gone."""
        return [self.observe_one(record) for record in records]

    def observe_one(self, record: state.ReplicaRecord) -> state.ReplicaObservation:
        if record.pid is None:
            return state.ReplicaObservation(record.id, state.Liveness.GONE, detail="no process")
        found = procs.identity(record.pid, record.process_start_time)
        if found is procs.Identity.OTHER:
            detail = f"pid {record.pid} now belongs to another process; not adopting it"
            return state.ReplicaObservation(record.id, state.Liveness.GONE, detail=detail)
        child = self._children.get(record.pid)
        if found is procs.Identity.DEAD or (child is not None and child.poll() is not None):
            return _exited(record, self._collect(record.pid))
        ready, detail = self._probe(record)
        return state.ReplicaObservation(
            record.id, state.Liveness.RUNNING, ready=ready, detail=detail
        )

    def _probe(self, record: state.ReplicaRecord) -> tuple[bool, str]:
        if record.url is None:
            return False, "no port recorded"
        key = targets.health_key(record.deployment, record.service)
        path = self._health_paths.get(key, targets.DEFAULT_HEALTH_PATH)
        try:
            response = self._client(record).get(f"{record.url}{path}")
        except httpx.HTTPError as exc:
            return False, f"{path}: {type(exc).__name__}"
        if response.status_code == 200:
            return True, ""
        try:
            detail = str(response.json().get("detail", ""))
        except ValueError:
            detail = response.text[:200]
        return False, f"{path} {response.status_code}: {detail}"

    def _client(self, record: state.ReplicaRecord) -> httpx.Client:
        """The HTTP client for probing `record`: over mutual TLS with the control plane's
        current certificate for a replica that serves TLS (a new client once it renews)."""
        if record.scheme != "https":
            return self._http
        ctx = self._tls_context()
        if ctx is None:
            raise httpx.ConnectError("no client certificate for the control plane yet")
        if self._https is None or self._https[0] is not ctx:
            if self._https is not None:
                self._https[1].close()
            client = httpx.Client(timeout=self.probe_timeout, trust_env=False, verify=ctx)
            self._https = (ctx, client)
        return self._https[1]

    def _tls_context(self) -> ssl.SSLContext | None:
        if self._client_files is None:
            return None
        if self.client_tls is None:
            try:
                self.client_tls = tls.Reloading(self._client_files, server=False).start()
            except errors.UserError:
                return None  # not issued yet: the replica shows as not ready
        return self.client_tls.current

    def wait_ready(
        self, record: state.ReplicaRecord, *, timeout: float
    ) -> state.ReplicaObservation:
        """Poll until the replica is ready, has exited, or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.observe_one(record)
            if seen.ready or seen.liveness is not state.Liveness.RUNNING:
                return seen
            if time.monotonic() >= deadline:
                return seen
            time.sleep(0.05)

    def stop(self, record: state.ReplicaRecord, *, grace: float | None = None) -> int | None:
        """SIGTERM the replica's process group, SIGKILL it after `grace` seconds; returns
        the exit code when this target started it. A pid that now belongs to another
        process is left alone."""
        pid = record.pid
        if (
            pid is None
            or procs.identity(pid, record.process_start_time) is not procs.Identity.ALIVE
        ):
            return self._reap(pid)
        procs.signal_group(pid, signal.SIGTERM)
        limit = self.stop_grace if grace is None else grace
        if not self._wait_gone(pid, record.process_start_time, limit):
            procs.signal_group(pid, signal.SIGKILL)
            self._wait_gone(pid, record.process_start_time, 10.0)
        procs.signal_group(pid, signal.SIGKILL)  # anything the replica spawned
        return self._reap(pid)

    def _wait_gone(self, pid: int, start_time: int | None, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        child = self._children.get(pid)
        while True:
            if child is not None and child.poll() is not None:
                return True
            if child is None and procs.identity(pid, start_time) is not procs.Identity.ALIVE:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _reap(self, pid: int | None) -> int | None:
        """The exit code of a finished child of ours (kept for the next observe)."""
        code = None if pid is None else self._collect(pid)
        if pid is not None and code is not None:
            self._exit_codes[pid] = code
        return code

    def _collect(self, pid: int) -> int | None:
        child = self._children.pop(pid, None)
        if child is None:
            return self._exit_codes.pop(pid, None)
        try:
            # a dead multi-threaded leader shows as a zombie before it can be reaped
            return child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._children[pid] = child
            return None

    def close(self) -> None:
        """Release the HTTP clients; replicas keep running (they are detached)."""
        self._http.close()
        if self._https is not None:
            self._https[1].close()
        if self.client_tls is not None:
            self.client_tls.stop()


def _exited(record: state.ReplicaRecord, code: int | None) -> state.ReplicaObservation:
    if code is None:
        detail = f"process {record.pid} ended (exit code unknown: not our child)"
    elif code < 0:
        detail = f"killed by {signal.Signals(-code).name}"
    else:
        detail = f"exited with code {code}"
    return state.ReplicaObservation(record.id, state.Liveness.EXITED, exit_code=code, detail=detail)


def _banner(spec: targets.LaunchSpec, host: str, port: int, now: float) -> bytes:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    where = "" if spec.network is None else f" in network namespace {spec.network.netns}"
    return (
        f"--- crosscloud: {when} starting replica {spec.replica_id} "
        f"(version {spec.version}, restart {spec.restarts}) on {host}:{port}{where}\n"
    ).encode()
