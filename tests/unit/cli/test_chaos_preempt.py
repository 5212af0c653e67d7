"""`crosscloud chaos preempt`: wrong input (a bad --notice, nothing deployed, an unknown
placement or service, a placement with no spot service or no running spot replica) gets
one `error:` line and exit 2, and nothing is touched: no replica noticed, no cooldown
recorded, no event. The control plane's side runs in-process (the real Controller over a
SQLite state file, replicas as records: tests/unit/controlplane/test_cost_day.py's Day);
the CLI reaches it through its API handlers instead of HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crosscloud.cli import controlplane_client
from crosscloud.cli import main as cli
from crosscloud.controlplane import api, operations
from tests.unit.controlplane.test_cost_day import Day

pytestmark = pytest.mark.timeout(60)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: shop}
spec:
  services:
    - name: api
      source: service.py:Api
      scaling: {minReplicas: 1, maxReplicas: 1}
      spot: {baseOnDemand: 0, overprovision: 0, dynamicFallback: false}
    - {name: web, source: service.py:Api}
  placements:
    - {provider: local, region: a, spotPricePerHour: 0.25, services: [{name: api}]}
    - {provider: local, region: b, spotPricePerHour: 0.25, services: [{name: api}]}
    - {provider: local, region: c, services: [{name: web, replicas: 1}]}
"""


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    return int(done.value.code or 0), capsys.readouterr().err


HINT = "is not a duration; write e.g. 250ms, 30s, 5m, 1h or 1h30m"


@pytest.mark.parametrize("notice", ["soon", "-5s", "30x", "", "1h 30m"])
def test_a_bad_notice_is_refused_before_anything_is_reached(
    notice: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CROSSCLOUD_HOME", str(tmp_path / "home"))
    code, err = _run(["chaos", "preempt", "local/a", "--notice", notice], capsys)
    assert code == 2
    errors = [line for line in err.splitlines() if "rror" in line]
    assert errors == [f"Error: Invalid value for '--notice': {notice!r} {HINT}"]
    assert not (tmp_path / "home").exists()


def test_with_nothing_deployed_it_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CROSSCLOUD_HOME", str(tmp_path / "home"))
    code, err = _run(["chaos", "preempt", "local/a"], capsys)
    assert (code, err) == (2, "error: nothing is deployed; run `crosscloud up FILE` first\n")


class InProcess:
    """What `controlplane_client.connect` returns, calling the API's handlers directly."""

    def __init__(self, day: Day) -> None:
        self.ctl = day.ctl

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return api.POST[path](self.ctl, body)

    def get(self, path: str, **params: Any) -> Any:
        return api.GET[path](self.ctl, params)


@pytest.fixture
def day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Day:
    day = Day(tmp_path)
    day.manifest.write_text(MANIFEST)
    operations.apply(
        day.ctl.shared, cluster_sync=day.ctl.clusters, text=MANIFEST, path=str(day.manifest)
    )
    monkeypatch.setattr(controlplane_client, "connect", lambda **_: InProcess(day))
    return day


def _state(day: Day) -> tuple[object, ...]:
    """All that a notice would change: replicas, the deployment (its cooldowns), events."""
    store = day.ctl.shared.store
    return (store.list_replicas(), store.list_deployments(), store.list_events(limit=500))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["local/nowhere"],
            "unknown placement 'local/nowhere'; the deployed placements: local/a, local/b, local/c",
        ),
        (
            ["locl/a"],
            "unknown placement 'locl/a' (did you mean 'local/a'?); the deployed placements:"
            " local/a, local/b, local/c",
        ),
        (["local/a", "--service", "nope"], "unknown service 'nope'; services: api, web"),
        (
            ["local/c"],
            "no spot service runs in 'local/c'; placements with spot services: local/a, local/b",
        ),
        (
            ["local/a", "--service", "web"],
            "no spot service runs in 'local/a' (service 'web'); placements with spot"
            " services: local/a, local/b",
        ),
    ],
)
def test_wrong_input_is_one_line_exit_2_and_touches_nothing(
    argv: list[str], message: str, day: Day, capsys: pytest.CaptureFixture[str]
) -> None:
    day.at(0)
    before = _state(day)
    code, err = _run(["chaos", "preempt", *argv, "--no-wait"], capsys)
    assert (code, err) == (2, f"error: {message}\n")
    assert _state(day) == before


def test_a_placement_with_no_running_spot_replica_touches_nothing(
    day: Day, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _state(day)  # deployed, no replica started yet
    code, err = _run(["chaos", "preempt", "local/a", "--no-wait"], capsys)
    assert (code, err) == (2, "error: no spot replica is running in local/a: nothing to preempt\n")
    assert _state(day) == before


def test_a_second_notice_for_the_same_replicas_is_refused(
    day: Day, capsys: pytest.CaptureFixture[str]
) -> None:
    day.at(0)
    spot = next(r for r in day.ctl.shared.store.list_replicas() if r.capacity == "spot")
    where = spot.placement
    cli.main(["chaos", "preempt", where, "--notice", "1h", "--no-wait"])  # no exit: 0
    said = capsys.readouterr().out
    assert said.startswith(f"notice given to 1 spot replica(s) in {where} ({spot.id})")
    before = _state(day)
    code, err = _run(["chaos", "preempt", where, "--no-wait"], capsys)
    assert (code, err) == (
        2,
        f"error: no spot replica is running in {where} (1 already noticed): nothing to preempt\n",
    )
    assert _state(day) == before
