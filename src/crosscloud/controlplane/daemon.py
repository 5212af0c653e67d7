"""The control plane process: one per state directory (a lock file prevents two), its
token in a 0600 file, its address in `controlplane.json`, and the loop every second or as
soon as something changes."""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO

import orjson

from crosscloud import errors
from crosscloud.adapters import local, paths, procs, store_file
from crosscloud.adapters.store import SqlStore
from crosscloud.controlplane import api, orphans, traffic
from crosscloud.controlplane.controller import Controller
from crosscloud.controlplane.gatewaylink import GatewayLink

log = logging.getLogger("crosscloud.controlplane")
TICK = 1.0
IDLE_EXIT = 5.0  # with nothing deployed, exit after this long (so `down` leaves nothing)


def info_path(home: Path) -> Path:
    return home / "controlplane.json"


def token_path(home: Path) -> Path:
    return home / "controlplane.token"


def _lock(home: Path) -> IO[bytes]:
    handle = (home / "controlplane.lock").open("wb")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise errors.UserError(f"a control plane already runs for {home}") from None
    return handle


def _token(home: Path) -> str:
    path = token_path(home)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token)
    return token


def run() -> int:
    home = paths.home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    loose = store_file.loose_mode(home)
    if loose:
        log.warning("state directory %s is mode %s: others may read its logs", home, loose)
    os.environ[paths.HOME_ENV] = str(home)  # replicas inherit it: the orphan sweep's mark
    lock = _lock(home)
    store = SqlStore()
    ctl = Controller(store=store, target=local.LocalTarget(home=home), gateway=GatewayLink(home))
    killed = orphans.sweep(home, {r.id: r for r in store.list_replicas()})
    for pid in killed:
        log.warning("stopped orphan replica process %d (not in the state store)", pid)
    server = api.ApiServer(ctl, _token(home), io_timeout=_seconds(api.TIMEOUT_ENV, 10.0))
    server.start()
    info = {
        "pid": os.getpid(),
        "start_time": procs.process_start_time(os.getpid()),
        "url": f"http://127.0.0.1:{server.port}",
        "home": str(home),
        "state_url": os.environ.get(paths.STATE_URL_ENV),
    }
    info_path(home).write_bytes(orjson.dumps(info))
    log.info("control plane on %s (pid %d, state %s)", info["url"], os.getpid(), home)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        _loop(ctl, server, stop)
    finally:
        server.shutdown()
        ctl.close()
        info_path(home).unlink(missing_ok=True)
        lock.close()
    return 0


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        raise errors.UserError(f"{name} must be a number of seconds") from None
    if value <= 0:
        raise errors.UserError(f"{name} must be more than 0 seconds")
    return value


def _pass(ctl: Controller) -> None:
    """One pass; its outcome goes to `ctl.health` (an error is logged when it changes,
    not every second while, say, the disk stays full)."""
    try:
        ctl.tick()
    except errors.CrossCloudError as exc:
        if ctl.health.failed(ctl.clock(), str(exc)):
            log.error("loop: %s", exc)
    except Exception as exc:
        if ctl.health.failed(ctl.clock(), f"{type(exc).__name__}: {exc}"):
            log.exception("loop pass failed")
    else:
        ctl.health.passed(ctl.clock())


def _loop(ctl: Controller, server: api.ApiServer, stop: threading.Event) -> None:
    started = time.time()
    while not stop.is_set():
        _pass(ctl)
        traffic.sample(ctl.traffic, ctl.gateway.url, now=ctl.clock())
        if _finished(ctl, server, started):
            log.info("nothing deployed; the control plane exits")
            return
        ctl.wake.wait(TICK)
        ctl.wake.clear()


def _finished(ctl: Controller, server: api.ApiServer, started: float) -> bool:
    """Nothing deployed, nothing stopping, no API call running, quiet for a while.

    Checked under the controller's lock: `down` holds it while it stops replicas, so the
    process never exits (and kills the HTTP threads) in the middle of a `down`."""
    with ctl.lock:
        try:
            if ctl.store.list_deployments() or ctl.busy() or server.active:
                return False
            return _idle(ctl, started) > IDLE_EXIT
        except errors.CrossCloudError:  # a store it cannot read: stay, and say why (status)
            return False


def _idle(ctl: Controller, started: float) -> float:
    """Seconds since the control plane started or last recorded an event."""
    events = ctl.store.list_events(limit=1)
    last = max(started, events[-1].ts) if events else started
    return time.time() - last


def main() -> int:
    logging.basicConfig(
        level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per probe: every second
    try:
        return run()
    except errors.CrossCloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
