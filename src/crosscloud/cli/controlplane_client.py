"""How the CLI reaches the control plane of the state directory: read its address and
token, start it in the background when none runs, and call its API."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from crosscloud import errors
from crosscloud.adapters import extras, paths
from crosscloud.cli import leader

START_TIMEOUT = 30.0


class ControlPlane:
    """A connection to the running control plane."""

    def __init__(self, url: str, token: str, *, timeout: float = 120.0) -> None:
        self.url = url
        self._http = httpx.Client(
            base_url=url,
            headers={"authorization": f"Bearer {token}"},
            timeout=timeout,
            trust_env=False,
        )

    def get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("POST", path, content=orjson.dumps(body))

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            log = paths.home() / "logs" / "controlplane.log"
            raise errors.CrossCloudError(
                f"the control plane at {self.url} did not answer {method} {path}"
                f" ({type(exc).__name__}); see {log}"
            ) from None
        return self._decode(response)

    def _decode(self, response: httpx.Response) -> Any:
        body = response.json()
        if response.status_code == 409 and body.get("error") == "NotLeader":
            raise errors.NotLeader(str(body.get("detail")))  # a standby: not a user error
        if response.status_code >= 400:
            detail = body.get("detail")
            if isinstance(detail, list):
                detail = "\n".join(detail)
            raise (
                errors.UserError(str(detail))
                if response.status_code < 500
                else errors.CrossCloudError(str(detail))
            )
        return body


def _running(*, write: bool = False) -> dict[str, Any] | None:
    """A running control plane's info and token; of several, the leader (leader.py)."""
    return leader.choose(paths.home(), write=write)


def connect(*, start: bool, timeout: float = 120.0, write: bool = False) -> ControlPlane | None:
    """The running control plane (the leader, for a `write`); started first when `start`
    (else None if none runs)."""
    info = _running(write=write)
    if info is None and start:
        info = _start()
        if write:  # on PostgreSQL it may stand by while another leads elsewhere
            info = _running(write=True) or info
    if info is None:
        return None
    return ControlPlane(info["url"], info["token"], timeout=timeout)


def _start() -> dict[str, Any]:
    extras.raise_if(extras.state_needs(os.environ.get(paths.STATE_URL_ENV)))
    home = paths.home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = home / "logs" / "controlplane.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, paths.HOME_ENV: str(home)}
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "crosscloud.controlplane"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        info = _running()
        if info is not None:
            return info
        if child.poll() is not None and _running() is None:
            raise _why(log, offset, child.returncode)
        time.sleep(0.05)
    raise errors.CrossCloudError(
        f"the control plane did not start in {START_TIMEOUT:g}s; see {log}"
    )


def _why(log: Path, offset: int, code: int) -> errors.CrossCloudError:
    """The control plane's own `error:` line when it gave one (its exit code kept: 2 for
    a user error), else the end of its log."""
    with log.open("rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode(errors="replace").splitlines()
    said = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if said:
        failure = errors.CrossCloudError(said[-1])
        failure.exit_code = code if code > 0 else 1
        return failure
    tail = "\n".join(lines[-10:])
    return errors.CrossCloudError(f"the control plane did not start:\n{tail}")
