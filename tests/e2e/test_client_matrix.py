"""The clients people use, end to end through `crosscloud up`'s gateway: 200 requests from
each (curl three ways, urllib, requests with and without a Session, httpx, aiohttp, ab with
and without keep-alive, wrk with and without `Connection: close`), and in the middle of
each run every replica of one region is SIGKILLed. No client may see a failed request.

One deployment serves the whole matrix (three local regions of two replicas); the region
killed rotates, and each client starts once its region is back in the gateway's rotation.
The echo handler takes 10 ms so that requests are in flight on the replicas it kills."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx
import pytest
import requests

from tests.e2e.deploy import Deployer, app_folder, isolated

pytestmark = pytest.mark.timeout(180)

REQUESTS = 200
REGIONS = ("region-a", "region-b", "region-c")
BODY = b'{"text": "x"}'
ANSWER = b'"x"'
MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: clients
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
""" + "".join(
    f"    - {{provider: local, region: {r}, services: [{{name: echo, replicas: 2}}]}}\n"
    for r in REGIONS
)
SERVICE = '''\
"""Echo that takes 10 ms, so a killed replica has requests in flight."""

import asyncio

from crosscloud import Service, endpoint


class Echo(Service):
    @endpoint
    async def echo(self, text: str) -> str:
        await asyncio.sleep(0.01)
        return text
'''


@dataclass
class Outcome:
    """What one client saw: requests it made, how many failed, and what it said about them
    (a line per failed request, or the tool's own tally for ab and wrk)."""

    requests: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def fail(self, error: str, count: int = 1) -> None:
        self.failed += count
        self.errors.append(error)


Client = Callable[[str, Path], Outcome]


# -- command-line clients: one process each for the 200 requests ------------------------


def _curl(*flags: str) -> Client:
    def run(url: str, tmp: Path) -> Outcome:
        config = tmp / "curl.cfg"
        config.write_text(f'url = "{url}"\noutput = "/dev/null"\n' * REQUESTS)
        argv = ["curl", "-s", "-K", str(config), "-X", "POST", *flags]
        argv += ["-H", "content-type: application/json", "--data-binary", BODY.decode()]
        argv += ["-w", "%{http_code} %{size_download} %{exitcode} %{errormsg}\n"]
        lines = _command(argv).splitlines()
        out = Outcome(requests=len(lines))
        for line in lines:
            code, size, *_ = line.split(" ")
            if code != "200" or size != str(len(ANSWER)):
                out.fail(line)
        return out

    return run


def _ab(*flags: str) -> Client:
    def run(url: str, tmp: Path) -> Outcome:
        body = tmp / "body.json"
        body.write_bytes(BODY)
        # -r: count a broken connection as a failed request rather than abort the run
        argv = ["ab", "-q", "-r", *flags, "-n", str(REQUESTS), "-c", "4", "-s", "30"]
        text = _command([*argv, "-p", str(body), "-T", "application/json", url])
        out = Outcome(requests=_number(r"Complete requests:\s+(\d+)", text))
        failed = re.search(r"Failed requests:\s+(\d+)(.*)", text)
        if failed and int(failed.group(1)):
            out.fail(f"ab: {failed.group(0).strip()}", int(failed.group(1)))
        if non2xx := _number(r"Non-2xx responses:\s+(\d+)", text):
            out.fail(f"ab: {non2xx} non-2xx responses", non2xx)
        if out.requests < REQUESTS:  # it gave up: what it never sent failed too
            out.fail(f"ab completed {out.requests} of {REQUESTS}: {text[-400:]}", REQUESTS)
            out.requests = REQUESTS
        return out

    return run


WRK_SCRIPT = f"""\
wrk.method = "POST"
wrk.body = '{BODY.decode()}'
wrk.headers["Content-Type"] = "application/json"
local answered = 0
response = function(status, headers, body)
  answered = answered + 1
  if answered >= {REQUESTS} then wrk.thread:stop() end
end
"""


def _wrk(*flags: str) -> Client:
    def run(url: str, tmp: Path) -> Outcome:
        script = tmp / "post.lua"
        script.write_text(WRK_SCRIPT)
        # -d: an upper bound; the script stops wrk after 200 answers (in well under 10 s)
        argv = ["wrk", "-t1", "-c4", "-d10s", "--timeout", "10s", "-s", str(script), *flags]
        text = _command([*argv, url])
        out = Outcome(requests=_number(r"(\d+) requests in", text))  # answered ones
        if non2xx := _number(r"Non-2xx or 3xx responses: (\d+)", text):
            out.fail(f"wrk: {non2xx} non-2xx responses", non2xx)
        if sockets := re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
        ):
            broken = sum(int(n) for n in sockets.groups())
            out.fail(f"wrk: {sockets.group(0)}", broken)
            out.requests += broken  # requests that got no answer at all
        return out

    return run


def _command(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    return done.stdout + done.stderr


def _number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    return int(found.group(1)) if found else 0


# -- Python clients ---------------------------------------------------------------------


def _each(send: Callable[[], tuple[int, bytes]]) -> Outcome:
    out = Outcome()
    for _ in range(REQUESTS):
        out.requests += 1
        try:
            status, body = send()
        except Exception as exc:  # every kind of failure is what this test counts
            out.fail(repr(exc))
            continue
        if status != 200 or body != ANSWER:
            out.fail(f"{status} {body[:100]!r}")
    return out


def _urllib(url: str, tmp: Path) -> Outcome:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def send() -> tuple[int, bytes]:
        request = urllib.request.Request(
            url, data=BODY, headers={"content-type": "application/json"}
        )
        try:
            with opener.open(request, timeout=30) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()

    return _each(send)


def _requests_plain(url: str, tmp: Path) -> Outcome:
    def send() -> tuple[int, bytes]:
        response = requests.post(
            url, data=BODY, headers={"content-type": "application/json"}, timeout=30
        )
        return response.status_code, response.content

    return _each(send)


def _requests_session(url: str, tmp: Path) -> Outcome:
    with requests.Session() as session:
        session.trust_env = False

        def send() -> tuple[int, bytes]:
            response = session.post(
                url, data=BODY, headers={"content-type": "application/json"}, timeout=30
            )
            return response.status_code, response.content

        return _each(send)


def _httpx(url: str, tmp: Path) -> Outcome:
    with httpx.Client(trust_env=False, timeout=30) as client:

        def send() -> tuple[int, bytes]:
            response = client.post(url, content=BODY, headers={"content-type": "application/json"})
            return response.status_code, response.content

        return _each(send)


def _aiohttp(url: str, tmp: Path) -> Outcome:
    async def main() -> Outcome:
        out = Outcome(requests=REQUESTS)
        slots = asyncio.Semaphore(8)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def one() -> None:
                async with slots:
                    try:
                        async with session.post(
                            url, data=BODY, headers={"content-type": "application/json"}
                        ) as response:
                            body = await response.read()
                            if response.status != 200 or body != ANSWER:
                                out.fail(f"{response.status} {body[:100]!r}")
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        out.fail(repr(exc))

            await asyncio.gather(*(one() for _ in range(REQUESTS)))
        return out

    return asyncio.run(main())


CLIENTS: dict[str, Client] = {
    "curl": _curl(),
    "curl-connection-close": _curl("-H", "Connection: close"),
    "curl-http1.0": _curl("--http1.0"),
    "urllib": _urllib,
    "requests": _requests_plain,
    "requests-session": _requests_session,
    "httpx": _httpx,
    "aiohttp": _aiohttp,
    "ab": _ab(),
    "ab-keepalive": _ab("-k"),
    "wrk": _wrk(),
    "wrk-connection-close": _wrk("-H", "Connection: close"),
}


# -- the deployment, and the kill in the middle of each run ------------------------------


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployer]:
    tmp = tmp_path_factory.mktemp("clients")
    with isolated(tmp) as d:
        d.run("up", str(app_folder(tmp, MANIFEST, SERVICE) / "crosscloud.yaml"))
        yield d


def _gateway_counts(gateway: str) -> tuple[int, dict[str, int]]:
    """(requests answered for echo, upstreams in rotation per region) from /metrics."""
    answered, available = 0, dict.fromkeys(REGIONS, 0)
    for line in httpx.get(f"{gateway}/metrics", trust_env=False, timeout=5).text.splitlines():
        if 'service="echo"' not in line:
            continue
        value = int(float(line.rsplit(" ", 1)[1]))
        if line.startswith("crosscloud_gateway_requests_total{"):
            answered += value
        elif line.startswith("crosscloud_gateway_upstream_available{"):
            region = line.split('placement="local/', 1)[1].split('"', 1)[0]
            available[region] = available.get(region, 0) + value
    return answered, available


class Killer:
    """SIGKILLs `pids` from a thread once the gateway has answered `after` more requests."""

    def __init__(self, gateway: str, pids: list[int], after: int) -> None:
        self.gateway, self.pids = gateway, pids
        self.base = _gateway_counts(gateway)[0]
        self.after = after
        self.at: int | None = None  # requests of this run answered when it struck
        self.finished = threading.Event()  # set by the caller when the client is done
        self.during = False  # the client was still running when it struck
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.finished.is_set():
            answered = _gateway_counts(self.gateway)[0] - self.base
            if answered >= self.after:
                for pid in self.pids:
                    os.kill(pid, signal.SIGKILL)
                self.at, self.during = answered, not self.finished.is_set()
                return
            time.sleep(0.005)

    def __enter__(self) -> Killer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finished.set()
        self.thread.join(timeout=30)


def _ready_for(d: Deployer, gateway: str, region: str) -> list[int]:
    """Wait until `region` and one other are wholly in rotation; the region's pids."""

    def ready() -> list[int] | None:
        available = _gateway_counts(gateway)[1]
        mine = [
            r["pid"]
            for r in d.replicas()
            if r["placement"] == f"local/{region}" and r["state"] == "Ready"
        ]
        others = [n for r, n in available.items() if r != region and n == 2]
        return mine if len(mine) == 2 and available[region] == 2 and others else None

    return list(d.wait(ready, timeout=120, what=f"{region} and one more region in rotation"))


@pytest.mark.parametrize("name", list(CLIENTS))
def test_no_client_sees_a_failed_request_when_a_region_dies(
    deployed: Deployer, name: str, tmp_path: Path
) -> None:
    d = deployed
    gateway = d.gateway()
    region = REGIONS[list(CLIENTS).index(name) % len(REGIONS)]
    pids = _ready_for(d, gateway, region)
    with Killer(gateway, pids, after=REQUESTS // 2) as killer:
        outcome = CLIENTS[name](f"{gateway}/echo/echo", tmp_path)
        killer.finished.set()
    counts = (
        f"{name}: {outcome.requests} requests, {outcome.failed} failed;"
        f" {region}'s 2 replicas SIGKILLed after {killer.at} of them"
    )
    print(f"\n{counts}")
    assert outcome.requests >= REQUESTS, counts
    assert killer.during, f"{counts}: the kill did not land while the client was running"
    assert outcome.failed == 0, f"{counts}\nerrors: {outcome.errors[:20]}"
