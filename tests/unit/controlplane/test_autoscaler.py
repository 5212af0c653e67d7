"""The control plane's autoscaler glue against an in-memory store and canned gateway
stats: what it stores, which placements it moves, and the events it records."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from crosscloud.adapters.store.memory import MemoryStore
from crosscloud.controlplane import autoscaler, records
from crosscloud.controlplane.shared import Shared
from crosscloud.domain import manifest, state

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: app
spec:
  services:
    - name: echo
      source: service.py:Echo
      scaling: {minReplicas: 1, maxReplicas: 6, targetConcurrency: 2}
    - name: fixed
      source: service.py:Echo
  placements:
    - provider: local
      region: a
      services: [{name: echo, replicas: 1}, {name: fixed, replicas: 1}]
    - provider: local
      region: b
      services: [{name: echo, replicas: 1}]
"""


class FakeGateway:
    admin_url = "http://127.0.0.1:1"

    def alive(self) -> bool:
        return True


class Loop:
    """The autoscaler's inputs: the loop's shared part around an in-memory store, with a
    clock the test moves, and a gateway that answers."""

    def __init__(self, text: str = MANIFEST) -> None:
        self.now = 1000.0
        self.store = MemoryStore()
        self.shared = Shared(store=self.store, clock=lambda: self.now)
        self.gateway = FakeGateway()
        submitted = records.Submitted(text=text, path="/app/crosscloud.yaml")
        self.store.put_deployment(
            state.DeploymentRecord("app", submitted.dumps(), "hash", version=1)
        )

    @property
    def events(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(e.kind, e.message, e.fields) for e in self.store.list_events()]

    def submitted(self) -> records.Submitted:
        record = self.store.get_deployment("app")
        assert record is not None
        return records.submitted_of(record)

    def set_scale(self, **scale: int) -> None:
        record = self.store.get_deployment("app")
        assert record is not None
        updated = dataclasses.replace(self.submitted(), scale=scale)
        self.store.put_deployment(dataclasses.replace(record, manifest_json=updated.dumps()))


def stats(in_flight: int) -> autoscaler.Stats:
    return {
        "echo": {"in_flight": in_flight, "held": 0, "requests": 0, "busy_seconds": 0.0},
        "fixed": {"in_flight": 50, "held": 0, "requests": 0, "busy_seconds": 0.0},
    }


def run(ctl: Loop, scaler: autoscaler.Autoscaler, in_flight: int) -> None:
    scaler.fetch = lambda _url: stats(in_flight)
    scaler.step(ctl.shared, ctl.gateway)
    ctl.now += 1


def test_load_spreads_evenly_and_records_why() -> None:
    ctl = Loop()
    scaler = autoscaler.Autoscaler()
    run(ctl, scaler, in_flight=9)  # ceil(9 / 2) = 5
    assert ctl.submitted().autoscale == {"echo@local/a": 3, "echo@local/b": 2}
    assert ctl.submitted().overrides() == {"echo@local/a": 3, "echo@local/b": 2}
    [(kind, message, fields)] = ctl.events
    assert kind == "Autoscaled" and fields == {"service": "echo", "replicas": 5}
    assert message.startswith("echo from 2 to 5 replicas: 9.0 concurrent requests")
    run(ctl, scaler, in_flight=9)
    assert len(ctl.events) == 1  # same load, no new decision, no event


def test_a_pinned_placement_keeps_its_count() -> None:
    ctl = Loop()
    ctl.set_scale(**{"echo@local/a": 1})
    scaler = autoscaler.Autoscaler()
    run(ctl, scaler, in_flight=12)  # 6 in total, a is pinned at 1
    assert ctl.submitted().overrides() == {"echo@local/a": 1, "echo@local/b": 5}
    ctl.set_scale(**{"echo@local/a": 1, "echo@local/b": 1})
    run(ctl, scaler, in_flight=40)
    assert ctl.submitted().overrides() == {"echo@local/a": 1, "echo@local/b": 1}
    assert len(ctl.events) == 1  # everything pinned: nothing decided


def test_no_stats_no_decision_and_stale_counts_are_dropped() -> None:
    ctl = Loop()
    scaler = autoscaler.Autoscaler()
    scaler.fetch = lambda _url: None
    scaler.step(ctl.shared, ctl.gateway)
    assert ctl.submitted().autoscale == {} and not ctl.events
    run(ctl, scaler, in_flight=9)
    assert ctl.submitted().autoscale
    record = ctl.store.get_deployment("app")
    assert record is not None
    fixed = ctl.submitted().text.replace(", targetConcurrency: 2", "")
    updated = dataclasses.replace(ctl.submitted(), text=fixed)
    # a new manifest is a new hash (records.content_hash): the loop parses it again
    changed = dataclasses.replace(record, manifest_json=updated.dumps(), manifest_hash="hash2")
    ctl.store.put_deployment(changed)
    run(ctl, scaler, in_flight=9)
    assert ctl.submitted().autoscale == {}  # no longer autoscaled: back to the manifest


def test_settings_come_from_the_manifest() -> None:
    spec = manifest.load_manifest(MANIFEST, "m.yaml")
    scaler = autoscaler.Autoscaler(down_window=60)
    settings = scaler.settings(spec.service("echo").scaling)
    assert (settings.target_concurrency, settings.down_window) == (2, 60)
    assert not scaler.settings(spec.service("fixed").scaling).autoscaled


QUICKSTART = (Path(__file__).parents[3] / "examples/quickstart/crosscloud.yaml").read_text()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # the quickstart's 2 + 1 + 1 idles down to maxReplicas 2, kept in two regions
        ("", {"embedder@local/region-a": 1, "embedder@local/region-b": 1}),
        # minFailureDomains: 1 gives the old behaviour: one replica in one region
        (", minFailureDomains: 1", {"embedder@local/region-a": 1}),
    ],
)
def test_idle_scale_down_keeps_two_failure_domains(extra: str, expected: dict[str, int]) -> None:
    text = QUICKSTART.replace("targetConcurrency: 4}", f"targetConcurrency: 4{extra}}}")
    ctl = Loop(text)
    scaler = autoscaler.Autoscaler(down_window=5)
    for _ in range(10):  # idle past the scale-down window
        scaler.fetch = lambda _url: {"embedder": {"in_flight": 0, "requests": 0}}
        scaler.step(ctl.shared, ctl.gateway)
        ctl.now += 1
    counts = {k: v for k, v in ctl.submitted().autoscale.items() if v}
    assert counts == expected


def test_the_gateway_stats_become_a_sample() -> None:
    stats = {"in_flight": 3, "prompt_tokens": 900, "completion_tokens": 100, "waiting": 7}
    sample = autoscaler.sample_of(stats, now=5.0)
    assert (sample.tokens, sample.waiting, sample.in_flight) == (1000, 7, 3)
    assert autoscaler.sample_of({}, now=5.0).waiting == -1  # an older gateway: no queue
