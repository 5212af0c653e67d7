"""Where the CLI finds the control planes of a state directory.

Each control plane writes its address in a JSON file and its API token in a 0600 file
beside it, and removes both when it exits. The first one holds `controlplane.lock` and
writes `controlplane.json`; with SQLite it is the only one. With a PostgreSQL store
(where the lease decides who leads) more may run beside it, each as
`controlplane-<pid>.json`; they share the state directory, so whichever leads finds the
replicas, their logs and the gateway the others started.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path
from typing import IO, Any

import orjson

from crosscloud import errors
from crosscloud.adapters.local import procs

PRIMARY = "controlplane.json"


def claim(home: Path, *, shared: bool) -> tuple[IO[bytes] | None, Path]:
    """This process's info file, and the directory's lock when it got it (None: it runs
    beside the first, which only a shared store allows)."""
    handle = (home / "controlplane.lock").open("wb")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        if not shared:
            raise errors.UserError(
                f"a control plane already runs for {home} (more than one needs a PostgreSQL"
                " state database: spec.state.url or CROSSCLOUD_STATE_URL)"
            ) from None
        return None, home / f"controlplane-{os.getpid()}.json"
    return handle, home / PRIMARY


def token_path(info: Path) -> Path:
    return info.with_suffix(".token")


def new_token(info: Path) -> str:
    """A fresh API token, written 0600 beside the info file."""
    token = secrets.token_urlsafe(32)
    fd = os.open(token_path(info), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token)
    return token


def publish(info: Path, fields: dict[str, Any]) -> None:
    """Write the info file whole (a reader never sees half of it)."""
    tmp = info.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(fields))
    os.replace(tmp, info)


def withdraw(info: Path) -> None:
    info.unlink(missing_ok=True)
    token_path(info).unlink(missing_ok=True)


def live(home: Path) -> list[dict[str, Any]]:
    """The running control planes of `home` (the first one first), each with its `token`
    (and `token_file`);
    files left by one that died are removed."""
    found = []
    for path in sorted(home.glob("controlplane*.json"), key=lambda p: (p.name != PRIMARY, p.name)):
        try:
            info = dict(orjson.loads(path.read_bytes()))
            alive = procs.identity(int(info["pid"]), info.get("start_time"))
        except (OSError, ValueError, KeyError):
            continue
        if alive is procs.Identity.DEAD and path.name != PRIMARY:
            withdraw(path)  # a kill -9 left them (the first one's are rewritten by the next)
        if alive is not procs.Identity.ALIVE:
            continue
        try:
            info["token"] = token_path(path).read_text().strip()
        except OSError:
            continue
        info["token_file"] = str(token_path(path))  # where `crosscloud dashboard` points
        found.append(info)
    return found
