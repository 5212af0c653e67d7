"""The control plane process: its token in a 0600 file, its address where the CLI finds it
(instances.py), and the loop every second or as soon as something changes. One per state
directory with SQLite; with PostgreSQL several, of which the lease holder acts
(leadership.py, takeover.py) and the others stand by."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from crosscloud import errors
from crosscloud.adapters import paths
from crosscloud.adapters.local import links, procs
from crosscloud.adapters.local import target as local
from crosscloud.adapters.store import sqlite_file as store_file
from crosscloud.adapters.store.sql_store import SqlStore
from crosscloud.controlplane import (
    api,
    certs,
    instances,
    leadership,
    networks,
    takeover,
    traffic,
    usage,
)
from crosscloud.controlplane.controller import Controller
from crosscloud.controlplane.gatewaylink import GatewayLink
from crosscloud.controlplane.shared import Shared

log = logging.getLogger("crosscloud.controlplane")
TICK = 1.0
IDLE_EXIT = 5.0  # with nothing deployed, exit after this long (so `down` leaves nothing)


def info_path(home: Path) -> Path:
    """The first control plane's address file (the others': instances.live)."""
    return home / instances.PRIMARY


def token_path(home: Path) -> Path:
    return instances.token_path(info_path(home))


def run(*, stay: bool = False) -> int:
    """Serve the API and run the loop until SIGTERM (or, unless `stay`, until nothing has
    been deployed for a while)."""
    home = paths.home()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    loose = store_file.loose_mode(home)
    if loose:
        log.warning("state directory %s is mode %s: others may read its logs", home, loose)
    os.environ[paths.HOME_ENV] = str(home)  # replicas inherit it: the orphan sweep's mark
    store = SqlStore()
    lock, info_file = instances.claim(home, shared=leadership.is_shared(store))
    leader = leadership.for_store(store, home=home)  # a standby until it takes the lease
    gateway = GatewayLink(home)
    gateway.may_act = leader.may_act
    issued = certs.Certificates(home)
    target = local.LocalTarget(home=home, client_tls=issued.controlplane_files())
    shared = Shared(store=store)
    network = networks.NetworkSync(links.Links(home))
    if network.reason is not None:
        log.info("isolated local regions fall back to 127.0.0.1: %s", network.reason)
    ctl = Controller(
        shared=shared,
        target=target,
        gateway=gateway,
        leader=leader,
        network=network,
        certs=issued,
    )
    leader.on_change = shared.wake.set
    token = instances.new_token(info_file)
    server = api.ApiServer(ctl, token, io_timeout=_seconds(api.TIMEOUT_ENV, 10.0))
    server.start()
    info = {
        "pid": os.getpid(),
        "start_time": procs.process_start_time(os.getpid()),
        "url": f"http://127.0.0.1:{server.port}",
        "home": str(home),
        "state_url": os.environ.get(paths.STATE_URL_ENV),
    }
    leader.me = dataclasses.replace(leader.me, url=str(info["url"]))
    leader.start()  # its first attempt before the CLI can find it: alone, it leads at once
    instances.publish(info_file, info)
    log.info("control plane on %s (pid %d, state %s)", info["url"], os.getpid(), home)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        _loop(ctl, server, stop, takeover.Follower(ctl, home), stay=stay)
    finally:
        server.shutdown()
        ctl.close()
        leader.stop()  # a held lease is given up: a standby takes over at once
        instances.withdraw(info_file)
        if lock is not None:
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
    clock = ctl.shared.clock
    try:
        ctl.tick()
    except errors.CrossCloudError as exc:
        if ctl.health.failed(clock(), str(exc)):
            log.error("loop: %s", exc)
    except Exception as exc:
        if ctl.health.failed(clock(), f"{type(exc).__name__}: {exc}"):
            log.exception("loop pass failed")
    else:
        ctl.health.passed(clock())


def _loop(
    ctl: Controller,
    server: api.ApiServer,
    stop: threading.Event,
    follower: takeover.Follower,
    *,
    stay: bool,
) -> None:
    started = time.time()
    shared = ctl.shared

    def busy() -> bool:  # stops still draining, API calls running
        return ctl.busy() or bool(server.active)

    while not stop.is_set():
        if follower.leads():  # a standby runs no pass (takeover.py)
            _pass(ctl)
        traffic.sample(ctl.traffic, ctl.gateway.admin_url, now=shared.clock())
        if follower.leads():  # the leader alone adds to the usage buckets
            _meter(ctl)
        if not stay and _finished(shared, busy=busy, started=started):
            log.info("nothing deployed; the control plane exits")
            return
        shared.wake.wait(TICK)
        shared.wake.clear()


def _meter(ctl: Controller) -> None:
    """Requests per service and token into the store's usage buckets (usage.py)."""
    shared = ctl.shared

    def owners() -> dict[str, str]:
        return {s.name: d.name for d in shared.deployments() for s in d.spec.spec.services}

    try:
        usage.sample(
            ctl.usage,
            ctl.gateway.admin_url,
            now=shared.clock(),
            deployment_of=owners,
            store_usage=shared.store.add_usage,
            prune_usage=shared.store.prune_usage,
        )
    except errors.CrossCloudError as exc:  # a store it cannot write: the next pass tries
        log.warning("usage not recorded: %s", exc)


def _finished(shared: Shared, *, busy: Callable[[], bool], started: float) -> bool:
    """Nothing deployed, nothing `busy` (stops draining, API calls running), quiet for a
    while.

    Checked under the loop's lock: `down` holds it while it stops replicas, so the
    process never exits (and kills the HTTP threads) in the middle of a `down`."""
    with shared.lock:
        try:
            if shared.store.list_deployments() or busy():
                return False
            return _idle(shared, started) > IDLE_EXIT
        except errors.CrossCloudError:  # a store it cannot read: stay, and say why (status)
            return False


def _idle(shared: Shared, started: float) -> float:
    """Seconds since the control plane started or last recorded an event."""
    events = shared.store.list_events(limit=1)
    last = max(started, events[-1].ts) if events else started
    return time.time() - last


def main(argv: list[str] | None = None) -> int:
    """`python -m crosscloud.controlplane [--stay]`: `--stay` keeps it running with
    nothing deployed (a standby, or a control plane run as a service)."""
    stay = (sys.argv[1:] if argv is None else argv) == ["--stay"]
    logging.basicConfig(
        level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per probe: every second
    try:
        return run(stay=stay)
    except errors.CrossCloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
