"""Two control planes on one PostgreSQL, one leading: real control planes, replicas, a
gateway and a PostgreSQL server (restarted by one test) on 127.0.0.1.

The control planes share the state directory, as on one machine: whichever leads finds
the replicas and the gateway the other started. Each test checks what a user would see:
requests through the gateway, `crosscloud` commands, and the processes and rows there
are per placement."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from crosscloud.controlplane import instances
from tests.conftest import CROSSCLOUD, ROOT
from tests.e2e.deploy import Deployer, Load, app_folder
from tests.e2e.pg import PgServer

pytestmark = pytest.mark.timeout(300)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: ha
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - {provider: local, region: region-a, services: [{name: echo, replicas: 2}]}
    - {provider: local, region: region-b, services: [{name: echo, replicas: 1}]}
"""
TAKEOVER_BOUND = 10.0  # seconds: the requirement for a new leader


@dataclass
class HaDeployer(Deployer):
    """A state directory whose control planes share a PostgreSQL database."""

    state_url: str = ""
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)  # SIGSTOPped: SIGCONT at teardown

    def env(self) -> dict[str, str]:
        return {**super().env(), "CROSSCLOUD_STATE_URL": self.state_url}

    def standby(self) -> subprocess.Popen[bytes]:
        """`crosscloud controlplane` beside the running one, logging to a file."""
        log = self.home / "logs" / f"standby-{len(self.started)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [*CROSSCLOUD, "controlplane"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=ROOT,
                start_new_session=True,
            )
        self.started.append(proc)
        return proc

    def planes(self) -> dict[int, dict[str, Any]]:
        """The live control planes by pid, each with its /v1/health (None: no answer)."""
        return {
            int(info["pid"]): {**info, "health": health(info)} for info in instances.live(self.home)
        }

    def leader(self) -> int | None:
        for pid, plane in self.planes().items():
            if (plane["health"] or {}).get("role") == "leader":
                return pid
        return None

    def census(self) -> dict[str, list[int]]:
        """Live replica processes of this state directory per placement, and gateways."""
        found: dict[str, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            env = _environ(int(entry.name))
            if env.get("CROSSCLOUD_HOME") != str(self.home) or _zombie(entry):
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:  # it exited meanwhile
                continue
            if b"crosscloud.runtime" in cmdline:
                found.setdefault(env.get("CROSSCLOUD_PLACEMENT", "?"), []).append(int(entry.name))
            elif b"crosscloud.gateway" in cmdline:
                found.setdefault("gateway", []).append(int(entry.name))
        return found


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    items = (i.partition(b"=") for i in raw.split(b"\0") if i)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in items}


def until(predicate: Any, *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `predicate` every `interval` (Deployer.wait polls every 0.3 s: too coarse to
    time a takeover)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def _zombie(entry: Path) -> bool:
    try:
        return (entry / "stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def health(info: dict[str, Any]) -> dict[str, Any] | None:
    try:
        response = httpx.get(
            f"{info['url']}/v1/health",
            headers={"authorization": f"Bearer {info['token']}"},
            timeout=1.0,
            trust_env=False,
        )
    except httpx.HTTPError:
        return None
    return dict(response.json()) if response.status_code == 200 else None


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = PgServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def ha(tmp_path: Path, pg: PgServer) -> Iterator[tuple[HaDeployer, Path]]:
    """`up` of a 2-region echo deployment on PostgreSQL, and a standby control plane that
    reports the first one as its leader."""
    d = HaDeployer(tmp_path / "home", state_url=pg.database())
    try:
        manifest = app_folder(tmp_path, MANIFEST) / "crosscloud.yaml"
        d.run("up", str(manifest))
        [first] = d.planes()
        d.standby()
        d.wait(
            lambda: len(d.planes()) == 2 and d.leader() == first,
            timeout=60,
            what="a standby beside the leader",
        )
        yield d, manifest
    finally:
        for pid in d.stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        pg.start_if_stopped()
        d.kill_everything()
        for proc in d.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _recorded(d: Deployer) -> dict[str, int]:
    return {r["id"]: r["pid"] for r in d.replicas()}


def _replica_processes(d: Deployer) -> dict[str, list[int]]:
    return {k: v for k, v in d.processes().items() if k not in ("gateway", "controlplane")}


def test_leader_killed_under_load_a_standby_takes_over_and_no_request_fails(
    ha: tuple[HaDeployer, Path],
) -> None:
    d, _manifest = ha
    old = d.leader()
    assert old is not None
    [standby] = [pid for pid in d.planes() if pid != old]
    before, [gateway] = _recorded(d), d.processes()["gateway"]
    url = d.gateway()
    with Load(f"{url}/echo/echo", timeout=10) as load:
        d.wait(lambda: load.count() > 200, what="steady load")
        killed = time.monotonic()
        os.kill(old, signal.SIGKILL)
        scaled: list[subprocess.CompletedProcess[str]] = []  # sent while nobody leads
        writer = threading.Thread(
            target=lambda: scaled.append(
                d.run("scale", "echo", "3", "--placement", "local/region-a", check=False)
            )
        )
        writer.start()
        until(lambda: d.leader() == standby, timeout=30, what="a new leader")
        takeover = time.monotonic() - killed
        after = time.monotonic()
        d.wait(lambda: load.count(since=after) > 300, timeout=60, what="load after the takeover")
    print(f"\nnew leader {takeover:.2f} s after SIGKILL of the old one (health polled every 50 ms)")
    assert takeover < TAKEOVER_BOUND
    codes = load.statuses()
    assert set(codes) == {200}, f"requests through the gateway: {codes}"

    # adopted, not replaced: the same replica processes and gateway, nothing else running
    assert d.gateway() == url
    assert before.items() <= _recorded(d).items()  # (and the replica the scale added)
    assert d.processes()["gateway"] == [gateway]
    running = _replica_processes(d)
    assert {rid: running.get(rid) for rid in before} == {rid: [p] for rid, p in before.items()}
    status = d.status()
    assert status["controlplane"]["role"] == "leader" and status["controlplane"]["pid"] == standby
    assert f"control plane: pid {standby} leads at" in d.run("status").stdout
    events = d.run("status", "--events", "20", "-o", "json").stdout
    assert f"control plane pid {standby} leads" in events

    # and it acts: the scale sent during the takeover waited for it and is done, and a
    # killed replica comes back
    writer.join(timeout=60)
    assert scaled and scaled[0].returncode == 0, scaled
    victim = next(iter(before.values()))
    os.kill(victim, signal.SIGKILL)
    d.wait(
        lambda: (
            sorted(r["state"] for r in d.replicas()) == ["Ready"] * 4
            and victim not in _recorded(d).values()
        ),
        timeout=120,
        what="the replica restarted and the scale done by the new leader",
    )
    recorded = _recorded(d)
    assert _replica_processes(d) == {rid: [pid] for rid, pid in recorded.items()}


class Census(threading.Thread):
    """Every 50 ms: replica processes and active replica rows per placement, gateways.
    Keeps the most of each seen, with when."""

    ACTIVE = ("Pending", "Starting", "Ready")

    def __init__(self, d: HaDeployer) -> None:
        super().__init__(daemon=True)
        self.d = d
        self.stop = threading.Event()
        self.most: dict[str, tuple[int, str]] = {}

    def _note(self, key: str, count: int, what: str) -> None:
        if count > self.most.get(key, (0, ""))[0]:
            self.most[key] = (count, what)

    def _rows(self) -> dict[str, int]:
        url = self.d.state_url
        with psycopg.connect(url, connect_timeout=1, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT placement, count(*) FROM replicas WHERE state = ANY(%s) GROUP BY 1",
                (list(self.ACTIVE),),
            ).fetchall()
        return {str(placement): int(count) for placement, count in rows}

    def run(self) -> None:
        while not self.stop.wait(0.05):
            found = self.d.census()
            for key, pids in found.items():
                self._note(f"processes {key}", len(pids), f"{pids} at {time.monotonic():.1f}")
            with contextlib.suppress(psycopg.Error):
                for placement, count in self._rows().items():
                    self._note(f"rows {placement}", count, f"at {time.monotonic():.1f}")

    def __enter__(self) -> Census:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(timeout=10)


def test_a_frozen_leader_that_resumes_never_acts_beside_the_new_one(
    ha: tuple[HaDeployer, Path],
) -> None:
    """SIGSTOP the leader past its lease; while it is frozen the standby takes over and
    acts (a killed replica restarted, a killed gateway restarted, a scale to 3); then
    SIGCONT it. Split brain would show as more replica processes or rows in a placement
    than were ever asked for, or two gateways."""
    d, _manifest = ha
    old = d.leader()
    assert old is not None
    [new] = [pid for pid in d.planes() if pid != old]
    url = d.gateway()
    with Census(d) as census, Load(f"{url}/echo/echo", threads=2, timeout=10) as load:
        d.wait(lambda: load.count() > 100, what="steady load")
        os.kill(old, signal.SIGSTOP)
        d.stopped.append(old)
        until(lambda: d.leader() == new, timeout=30, what="the standby to lead")
        victim = d.census()["local/region-a"][0]
        os.kill(victim, signal.SIGKILL)
        [gateway] = d.census()["gateway"]
        os.kill(gateway, signal.SIGKILL)  # the frozen leader watched it too
        d.run("scale", "echo", "3", "--placement", "local/region-a")
        d.wait(
            lambda: sorted(r["state"] for r in d.replicas()) == ["Ready"] * 4,
            timeout=120,
            what="the new leader to converge",
        )
        os.kill(old, signal.SIGCONT)  # it wakes up believing it leads, with an old view
        resumed = time.monotonic()
        time.sleep(6)  # passes, a gateway watcher and lease attempts of the old one
        d.wait(lambda: load.count(since=resumed) > 100, timeout=60, what="load after it resumed")
    most = {key: count for key, (count, _when) in census.most.items()}
    print(f"\nthe most seen at once: {census.most}")
    assert most["processes local/region-a"] <= 3, census.most
    assert most["processes local/region-b"] <= 1, census.most
    assert most["rows local/region-a"] <= 3, census.most
    assert most["rows local/region-b"] <= 1, census.most
    assert most["processes gateway"] == 1, census.most
    assert (d.planes()[old]["health"] or {}).get("role") == "standby"
    assert d.leader() == new
    recorded = _recorded(d)
    assert len(recorded) == 4
    assert _replica_processes(d) == {rid: [pid] for rid, pid in recorded.items()}
    assert d.gateway() == url and len(d.census()["gateway"]) == 1
    log = (d.home / "logs" / "controlplane.log").read_text()
    assert "lost the lease" in log or "standing by" in log
    refused = httpx.post(
        f"{d.planes()[old]['url']}/v1/scale",
        headers={"authorization": f"Bearer {d.planes()[old]['token']}"},
        json={"service": "echo", "replicas": 1, "placement": "local/region-b"},
        trust_env=False,
        timeout=10,
    )
    assert refused.status_code == 409
    assert f"is a standby; the leader is control plane pid {new}" in refused.json()["detail"]


@dataclass
class Scaled:
    replicas: int
    code: int
    stderr: str


def _desired(d: Deployer, placement: str = "local/region-a") -> int | None:
    """The replica count `status` says is wanted; None while it cannot tell."""
    result = d.run("status", "-o", "json", check=False, timeout=30)
    if result.returncode != 0:
        return None
    for dep in orjson.loads(result.stdout)["deployments"]:
        for service in dep["services"]:
            if service["placement"] == placement:
                return int(service["replicas"])
    return None


def _scale(d: Deployer, replicas: int) -> Scaled:
    result = d.run("scale", "echo", str(replicas), "--placement", "local/region-a", check=False)
    return Scaled(replicas, result.returncode, result.stderr)


def _settled(d: Deployer) -> int:
    """The wanted count once the database answers again (the control planes reconnect)."""
    found: list[int] = []
    until(lambda: found.append(_desired(d) or -1) or found[-1] >= 0, timeout=90, what="status")
    return found[-1]


def _one_line(outcome: Scaled) -> str:
    lines = outcome.stderr.strip().splitlines()
    assert outcome.code == 1 and len(lines) == 1 and lines[0].startswith("error: "), outcome
    return lines[0]


def test_postgresql_restarted_mid_scale_the_scale_is_done_or_refused_never_half(
    ha: tuple[HaDeployer, Path], pg: PgServer
) -> None:
    """PostgreSQL stops (fast: sessions cut, open transactions rolled back) while a scale
    is on its way; another scale is sent while it is down; then it starts again. Each
    scale asks for a count nobody asked for before it, so `status` afterwards shows which
    took effect: the one that said done, none that said error."""
    d, _manifest = ha
    planes = set(d.planes())
    url = d.gateway()
    seen = []
    with Load(f"{url}/echo/echo", threads=2, timeout=10) as load:
        began = time.monotonic()
        first = _scale(d, 3)
        took = time.monotonic() - began  # the stops below land near its end: the request
        assert first.code == 0, first
        wanted = _settled(d)
        for outage, delay in ((2.0, 0.85 * took), (7.0, 0.95 * took)):  # 7 s: past the lease
            mid_value, down_value = sorted({1, 2, 3} - {wanted})  # neither asked for before
            stopper = threading.Timer(delay, pg.stop, args=("fast",))
            stopper.start()
            mid = _scale(d, mid_value)  # on its way when the database stops
            stopper.join()
            stopped_at = time.monotonic()
            time.sleep(max(0.0, outage - 1.5))
            during = _scale(d, down_value)  # the database is down: refused
            time.sleep(max(0.0, outage - (time.monotonic() - stopped_at)))
            pg.start()
            after = _settled(d)
            seen.append((mid, during, after))
            line = _one_line(during)
            assert "unavailable" in line or "lease" in line, line
            assert "nothing was changed" in line or "unavailable" in line, line
            if mid.code == 0:
                assert after == mid_value, (mid, after)  # done
            else:
                _one_line(mid)
                assert after == wanted, (mid, after)  # refused: as before
            wanted = after
        done = _scale(d, 3 if wanted != 3 else 2)
        assert done.code == 0, done  # the control planes reconnected by themselves
        wanted = done.replicas
        assert _settled(d) == wanted
    for mid, during, after in seen:
        print(f"\nscale: {took:.2f} s; mid-scale to {mid.replicas}: exit {mid.code} {mid.stderr!r}")
        print(f"while down, scale to {during.replicas}: {during.stderr.strip()!r}; then {after}")
    codes = load.statuses()
    assert set(codes) == {200}, f"the deployment kept serving through the restarts: {codes}"
    assert set(d.planes()) == planes  # the same processes: nothing restarted them
    d.wait(
        lambda: sorted(r["state"] for r in d.replicas()) == ["Ready"] * (wanted + 1),
        timeout=120,
        what="convergence to the last scale",
    )
    recorded = _recorded(d)
    assert _replica_processes(d) == {rid: [pid] for rid, pid in recorded.items()}
