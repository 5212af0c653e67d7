"""The contenders: how each one is started, probed until it answers, and stopped.

Every server runs in its own session (process group), so stopping one ends exactly the
processes this benchmark started, workers included.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().with_name("apps")
VENVS = ROOT / "bench" / ".venvs"
MAIN_BIN = ROOT / ".venv" / "bin"
ECHO_BODY = b'{"text": "hello, world"}'


@dataclass(frozen=True)
class Spec:
    """One contender: its label and the command line that serves POST /echo on {port}."""

    name: str
    argv: tuple[str, ...]
    cwd: Path = ROOT
    env: dict[str, str] = field(default_factory=dict)
    stop_signal: int = signal.SIGTERM


def _uvicorn(bin_dir: Path, target: str) -> tuple[str, ...]:
    return (
        str(bin_dir / "uvicorn"),
        target,
        "--host=127.0.0.1",
        "--port={port}",
        "--loop=uvloop",
        "--http=httptools",
        "--no-access-log",
        "--log-level=warning",
    )


def contenders() -> list[Spec]:
    """(a) the floor, (b) crosscloud, (c) FastAPI, (d) BentoML, (e) Lepton Photon."""
    return [
        Spec("floor", _uvicorn(MAIN_BIN, "floor_app:app"), cwd=APPS),
        Spec(
            "crosscloud",
            (
                str(MAIN_BIN / "crosscloud"),
                "serve",
                "bench/runtime/apps/cc_app.py:Echo",
                "--port={port}",
                "--log-level=warning",
            ),
        ),
        Spec("fastapi", _uvicorn(VENVS / "fastapi" / "bin", "fastapi_app:app"), cwd=APPS),
        Spec(
            "bentoml",
            (
                str(VENVS / "bentoml" / "bin" / "bentoml"),
                "serve",
                "bentoml_service:Echo",
                "--host=127.0.0.1",
                "--port={port}",
            ),
            cwd=APPS,
            env={"BENTOML_DO_NOT_TRACK": "true"},
        ),
        # Photon's SIGTERM handler waits 5 s before it stops taking traffic; SIGINT is quick.
        Spec(
            "lepton",
            (str(VENVS / "lepton" / "bin" / "python"), "lepton_photon.py", "{port}"),
            cwd=APPS,
            stop_signal=signal.SIGINT,
        ),
    ]


def free_port() -> int:
    """A port nothing listens on right now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(port: int, path: str, body: bytes, *, timeout: float = 5.0) -> int:
    """POST body as JSON on a fresh connection; the status, or 0 when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body, {"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


def get(port: int, path: str) -> str:
    """GET path and return the body as text (for /metrics)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


class Server:
    """A started contender; use as a context manager so it is always stopped."""

    def __init__(self, spec: Spec, *, port: int | None = None, log: Path | None = None) -> None:
        self.spec = spec
        self.port = port or free_port()
        argv = [part.replace("{port}", str(self.port)) for part in spec.argv]
        out = log.open("ab") if log else subprocess.DEVNULL
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            cwd=spec.cwd,
            env={**os.environ, **spec.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ok(self, path: str, body: bytes, *, timeout: float = 180.0) -> float:
        """Seconds from start to the first 200 for POST path; RuntimeError past timeout."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited with {self.proc.returncode}")
            if post(self.port, path, body, timeout=2.0) == 200:
                return time.perf_counter() - self.started
            time.sleep(0.005)
        raise RuntimeError(f"{self.spec.name} gave no 200 on {path} within {timeout:.0f} s")

    def stop(self) -> None:
        """Signal the server, then end its whole process group if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(self.spec.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # our own session: workers left behind
        self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
