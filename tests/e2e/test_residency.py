"""Residency chaos, end to end: local placements named as regions (two in the EU, one in
the US) behind the gateway; EU-zone requests (by an API token bound to the zone, and by
the header) under steady load while every EU replica is SIGKILLed. Counted at the
replicas, which write down each request they serve: not one EU request is served outside
the EU, the gateway answers 503 with Retry-After while the zone is down (unzoned traffic
fails over to the US meanwhile), and EU traffic resumes on EU replicas when they return.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from tests.e2e.deploy import Deployer, app_folder, isolated

pytestmark = pytest.mark.timeout(300)

SERVICE = """\
import os

from crosscloud import Service, endpoint

HERE = os.environ["CROSSCLOUD_PLACEMENT"]
BOOK = os.path.join(os.environ["RESIDENCY_BOOK"], HERE.replace("/", "_") + ".log")


class Where(Service):
    @endpoint
    def where(self, tag: str) -> str:
        with open(BOOK, "a") as book:  # the replica's own count of what it served
            book.write(tag + "\\n")
        return HERE
"""

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: resident
spec:
  services:
    - name: where
      source: service.py:Where
      env: {{RESIDENCY_BOOK: "{book}"}}
  placements:
    - {{provider: local, region: eu-west-1, services: [{{name: where, replicas: 1}}]}}
    - {{provider: local, region: eu-central-1, services: [{{name: where, replicas: 1}}]}}
    - {{provider: local, region: us-east-1, services: [{{name: where, replicas: 2}}]}}
  traffic:
    failover: [local/eu-west-1, local/eu-central-1, local/us-east-1]
    residency:
      eu: [local/eu-west-1, local/eu-central-1]
      us: [local/us-east-1]
"""
EU = {"local/eu-west-1", "local/eu-central-1"}


class Answer(NamedTuple):
    sent: float
    status: int
    body: str
    retry_after: str | None


class Clients:
    """Threads POSTing to /where/where with fixed headers, each request tagged."""

    def __init__(self, url: str, prefix: str, headers: dict[str, str], threads: int) -> None:
        self.url, self.prefix, self.headers = url, prefix, headers
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.count = 0
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(trust_env=False, timeout=30, headers=self.headers) as client:
            while not self.stop.is_set():
                with self.lock:
                    self.count += 1
                    tag = f"{self.prefix}-{self.count}"
                sent = time.monotonic()
                try:
                    r = client.post(self.url, json={"tag": tag})
                    answer = Answer(sent, r.status_code, r.text[:200], r.headers.get("retry-after"))
                except httpx.HTTPError as exc:
                    answer = Answer(sent, 0, repr(exc), None)
                with self.lock:
                    self.answers.append(answer)
                if answer.status != 200:
                    time.sleep(0.02)

    def since(self, moment: float = 0.0) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.sent >= moment]

    def __enter__(self) -> Clients:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[Deployer, Path]]:
    book = tmp_path / "book"
    book.mkdir()
    with isolated(tmp_path) as d:
        folder = app_folder(tmp_path, MANIFEST.format(book=book), SERVICE)
        d.run("up", str(folder / "crosscloud.yaml"))
        yield d, book


def _served(book: Path) -> dict[str, Counter[str]]:
    """What each placement's replicas wrote down: tag prefixes counted per placement."""
    found: dict[str, Counter[str]] = {}
    for log in book.glob("*.log"):
        placement = log.stem.replace("_", "/", 1)
        found[placement] = Counter(line.split("-")[0] for line in log.read_text().split())
    return found


def _token(d: Deployer, *args: str) -> str:
    return d.run("token", "create", "resident", *args).stdout.strip()


def test_eu_requests_never_leave_the_eu_even_when_it_is_dead(
    deployed: tuple[Deployer, Path],
) -> None:
    d, book = deployed
    gateway = d.gateway()
    url = f"{gateway}/where/where"
    eu_token, plain = _token(d, "--residency", "eu"), _token(d, "--name", "plain")
    bearer = {"authorization": f"Bearer {eu_token}"}
    other = {"authorization": f"Bearer {plain}"}
    # What clients are told before any load: a token's zone cannot be escaped by the
    # header, an unknown zone is refused, and the zone's placements answer.
    escape = httpx.post(url, json={"tag": "x"}, headers={**bearer, "x-crosscloud-residency": "us"})
    assert escape.status_code == 403 and "bound to residency zone 'eu'" in escape.text
    unknown = httpx.post(
        url, json={"tag": "x"}, headers={**other, "x-crosscloud-residency": "apac"}
    )
    assert unknown.status_code == 400 and "unknown residency zone 'apac'" in unknown.text
    control = d.processes()["controlplane"][0]
    victims = [r for r in d.replicas() if r["placement"] in EU]
    assert len(victims) == 2
    by_token = Clients(url, "eutoken", bearer, threads=2)
    by_header = Clients(url, "euheader", {**other, "x-crosscloud-residency": "eu"}, threads=1)
    anywhere = Clients(url, "free", other, threads=1)
    with by_token, by_header, anywhere:
        d.wait(lambda: len(by_token.since()) > 100, what="EU load")
        os.kill(control, signal.SIGSTOP)  # nothing restarts the EU while we watch
        try:
            for r in victims:
                os.kill(r["pid"], signal.SIGKILL)
            killed = time.monotonic()
            # The zone is down: EU requests are answered 503 with Retry-After, and
            # unzoned requests are served in the US.
            d.wait(
                lambda: sum(a.status == 503 for a in by_token.since(killed + 3)) > 20,
                timeout=60,
                what="503s for the dead EU zone",
            )
            d.wait(
                lambda: sum(a.status == 200 for a in anywhere.since(killed + 3)) > 20,
                timeout=60,
                what="unzoned requests served by the US",
            )
        finally:
            os.kill(control, signal.SIGCONT)
        back = time.monotonic()
        d.wait(
            lambda: (
                sum(a.status == 200 for a in by_token.since(back)) > 50
                and sum(a.status == 200 for a in by_header.since(back)) > 20
            ),
            timeout=120,
            what="EU traffic back on the EU replicas",
        )
    zoned = by_token.since() + by_header.since()
    statuses = Counter(a.status for a in zoned)
    assert set(statuses) <= {200, 502, 503}, statuses  # never a client error or a hang
    refused = [a for a in zoned if a.status == 503 and a.sent > killed + 3]
    assert refused and all(a.retry_after == "5" for a in refused)
    assert all("residency zone 'eu'" in a.body for a in refused)
    assert {a.body.strip('"') for a in zoned if a.status == 200} <= EU
    served = _served(book)
    outside = {p: c for p, c in served.items() if p not in EU}
    assert sum(c["eutoken"] + c["euheader"] for c in outside.values()) == 0, served
    assert sum(c["free"] for c in outside.values()) > 20  # the US did serve unzoned requests
    # Every EU answer was written down in the EU (a replica killed mid-request may have
    # written one down before its retry, so at least as many).
    answered = sum(1 for a in by_token.since() if a.status == 200)
    assert sum(served[p]["eutoken"] for p in EU if p in served) >= answered > 0
