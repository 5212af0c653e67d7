"""Driving `crosscloud up/status/scale/rollout/down` as a user does, in an isolated state
directory, and finding exactly the processes that belong to it (by their environment)."""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import orjson

from crosscloud.adapters.local import links, netns
from tests.conftest import CROSSCLOUD, EXAMPLES, ROOT


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    items = (i.partition(b"=") for i in raw.split(b"\0") if i)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in items}


@dataclass
class Deployer:
    """A state directory of its own; every process started for it carries its path."""

    home: Path
    cli: tuple[str, ...] = tuple(CROSSCLOUD)  # the `crosscloud` command to run

    def env(self) -> dict[str, str]:
        env = {**os.environ, "CROSSCLOUD_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        env.pop("CROSSCLOUD_STATE_URL", None)
        return env

    def run(
        self, *args: str, timeout: float = 180, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.cli, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            cwd=ROOT,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"crosscloud {' '.join(args)} -> {result.returncode}\n{result.stderr}"
            )
        return result

    def start(self, *args: str, stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:
        """`crosscloud ARGS` in the background (stderr with stdout); the caller stops it."""
        return subprocess.Popen(
            [*self.cli, *args],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
            cwd=ROOT,
        )

    def status(self) -> dict[str, Any]:
        return dict(orjson.loads(self.run("status", "-o", "json").stdout))

    def replicas(self) -> list[dict[str, Any]]:
        return [r for d in self.status()["deployments"] for r in d["replicas"]]

    def processes(self) -> dict[str, list[int]]:
        """Live processes of this state directory: replicas by id, the gateway, the
        control plane (found by environment, so nothing else is ever touched)."""
        found: dict[str, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            env = _environ(int(entry.name))
            if env.get("CROSSCLOUD_HOME") != str(self.home):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if (entry / "stat").read_text().split(")")[-1].split()[0] == "Z":
                continue  # a zombie is already dead
            if "crosscloud.runtime" in cmdline:
                key = env.get("CROSSCLOUD_REPLICA_ID", "?")
            elif "crosscloud.gateway" in cmdline:
                key = "gateway"
            elif "crosscloud.controlplane" in cmdline:
                key = "controlplane"
            elif "crosscloud.adapters.local.relay" in cmdline:
                key = "relay"  # an isolated region's link
            else:
                continue
            found.setdefault(key, []).append(int(entry.name))
        return found

    def gateway(self) -> str:
        return str(self.status()["gateway"]["url"])

    def replica_tls(self) -> ssl.SSLContext:
        """A client context with the control plane's certificate of this deployment's CA:
        replicas serve mutual TLS and take no other client."""
        tls = self.home / "tls"
        ctx = ssl.create_default_context(cafile=str(tls / "bundle.pem"))
        ctx.check_hostname = False  # replicas are named by URI SANs (SPIFFE IDs)
        ctx.load_cert_chain(str(tls / "controlplane.pem"))
        return ctx

    def wait(self, predicate: Any, timeout: float = 120, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; last: {last!r}")

    def kill_everything(self) -> None:
        """Teardown: `down`, then SIGKILL whatever of this state directory still lives,
        and remove its regions' network namespaces if any were left."""
        self.run("down", check=False, timeout=120)
        for pids in self.processes().values():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if netns.unavailable() is None:
            links.Links(self.home).remove_all()


def post(url: str, body: dict[str, Any], timeout: float = 30) -> httpx.Response:
    return httpx.post(url, json=body, timeout=timeout, trust_env=False)


def app_folder(tmp_path: Path, manifest: str, service: str | None = None) -> Path:
    """A folder with `crosscloud.yaml` and `service.py` (the echo example by default)."""
    folder = tmp_path / "app"
    folder.mkdir(exist_ok=True)
    source = service if service is not None else (EXAMPLES / "echo" / "service.py").read_text()
    (folder / "service.py").write_text(source)
    (folder / "crosscloud.yaml").write_text(manifest)
    return folder


@contextlib.contextmanager
def isolated(tmp_path: Path) -> Iterator[Deployer]:
    """A Deployer with its own state directory; everything it started is gone afterwards."""
    deployer = Deployer(tmp_path / "home")
    try:
        yield deployer
    finally:
        deployer.kill_everything()


class Answer(NamedTuple):
    """One request of a `Load`: when it was sent and answered, its status (0: the client
    failed) and the start of its body (or the client's error)."""

    sent: float
    done: float
    status: int
    body: str

    @property
    def seconds(self) -> float:
        return self.done - self.sent


class Load:
    """Client threads POSTing `{"text": "x"}` to `url` in a loop until stopped (or until
    `limit` requests in all); every answer kept."""

    def __init__(
        self, url: str, *, threads: int = 4, timeout: float = 30.0, limit: int | None = None
    ) -> None:
        self.url, self.timeout, self.limit = url, timeout, limit
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(trust_env=False, timeout=self.timeout) as client:
            while not self.stop.is_set():
                with self.lock:
                    if self.limit is not None and len(self.answers) >= self.limit:
                        return
                sent = time.monotonic()
                try:
                    response = client.post(self.url, json={"text": "x"})
                    status, body = response.status_code, response.text[:80]
                except httpx.HTTPError as exc:
                    status, body = 0, repr(exc)
                with self.lock:
                    self.answers.append(Answer(sent, time.monotonic(), status, body))
                if status != 200:
                    time.sleep(0.005)  # refused at once while a gateway is down: do not spin

    def since(self, moment: float = 0.0) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.sent >= moment]

    def count(self, since: float = 0.0, status: int = 200) -> int:
        return sum(1 for a in self.since(since) if a.status == status)

    def statuses(self) -> Counter[int]:
        return Counter(a.status for a in self.since())

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=self.timeout + 30)
