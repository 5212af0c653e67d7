"""Helpers for the mutual TLS tests: a CA in a temporary folder with the certificates a
test needs, replicas served with them, a gateway configured for them, and clients that
present (or do not present) a certificate. Every process started is stopped by pid."""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from crosscloud.adapters.security import ca as camod
from crosscloud.adapters.security import files
from crosscloud.domain import identity
from tests.conftest import EXAMPLES, free_port, stop

ECHO = f"{EXAMPLES / 'echo' / 'service.py'}:Echo"
TD = identity.DEFAULT_TRUST_DOMAIN


@dataclass
class Pki:
    """A CA and the files issued from it, under `root`."""

    root: Path
    now: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.ca = camod.Authority.open(self.root / "ca", now=self.now)
        self.write_bundle()

    @property
    def bundle(self) -> Path:
        return self.root / "bundle.pem"

    def write_bundle(self, now: float | None = None) -> None:
        files.write_private(self.bundle, self.ca.bundle_pem(now=now or time.time()))

    def issue(self, name: str, uri: str, *, now: float | None = None) -> Path:
        """`name`.pem (key and certificate, 0600), plus `name`.crt/.key for curl."""
        leaf = self.ca.issue(uri, now=now or time.time())
        files.write_private(self.root / f"{name}.pem", leaf.pem)
        files.write_private(self.root / f"{name}.crt", leaf.cert_pem)
        files.write_private(self.root / f"{name}.key", leaf.key_pem)
        return self.root / f"{name}.pem"

    def client_context(self, name: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.bundle))
        ctx.check_hostname = False  # replicas are named by URI SANs, not hostnames
        ctx.load_cert_chain(str(self.root / f"{name}.pem"))
        return ctx


class Procs:
    """Processes of one test, stopped by pid at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], name: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.procs.append(proc)
        return proc, log

    def replica(
        self, pki: Pki, cert: Path, *, source: str = ECHO, extra: tuple[str, ...] = ()
    ) -> int:
        """A replica serving only mutual TLS with `cert` (and `extra` arguments); returns
        its port once ready (its process is the last of `procs`)."""
        port = free_port()
        args = [sys.executable, "-m", "crosscloud.runtime", source, "--port", str(port)]
        args += ["--tls-cert", str(cert), "--tls-ca", str(pki.bundle), *extra]
        proc, log = self.spawn(args, f"replica-{port}")
        probe = pki.client_context("probe") if (pki.root / "probe.pem").exists() else None
        wait_https(f"https://127.0.0.1:{port}/readyz", probe, proc, log)
        return port

    def gateway(self, config: dict[str, object]) -> int:
        port = free_port()
        config = {"listen": {"host": "127.0.0.1", "port": port}, **config}
        path = self.tmp / f"gateway-{port}.json"
        path.write_text(json.dumps(config))
        args = [sys.executable, "-m", "crosscloud.gateway", "--config", str(path)]
        proc, log = self.spawn(args, f"gateway-{port}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return port
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError(log.read_text())

    def stop_all(self) -> None:
        for proc in self.procs:
            stop(proc)


@contextlib.contextmanager
def probe_kit(tmp: Path) -> Iterator[tuple[Pki, Procs]]:
    """A CA with a `probe` certificate (the gateway's identity) and the processes of one
    test, all stopped at the end."""
    pki = Pki(tmp / "pki")
    pki.issue("probe", identity.gateway(TD))
    procs = Procs(tmp)
    try:
        yield pki, procs
    finally:
        procs.stop_all()


def wait_https(
    url: str, ctx: ssl.SSLContext | None, proc: subprocess.Popen[bytes], log: Path
) -> None:
    assert ctx is not None, "issue a `probe` certificate before starting replicas"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, verify=ctx, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not ready:\n{log.read_text()}")
