"""`crosscloud status` shows each placement's share of the traffic and its 5xx rate over
the last minute, read from the gateway's /metrics: two local regions split 3:1, a few
requests that make the handler fail. Real processes, own state directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.deploy import Deployer, app_folder, isolated

pytestmark = pytest.mark.timeout(300)

SERVICE = """
from crosscloud import Service, endpoint

class Echo(Service):
    @endpoint
    def echo(self, text: str) -> str:
        if text == "boom":
            raise RuntimeError("boom")
        return text
"""
MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: split
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - provider: local
      region: region-a
      services: [{name: echo}]
    - provider: local
      region: region-b
      services: [{name: echo}]
  traffic:
    split: {local/region-a: 75, local/region-b: 25}
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Deployer, Path]]:
    with isolated(tmp_path) as deployer:
        yield deployer, app_folder(tmp_path, MANIFEST, SERVICE)


def test_status_shows_traffic_share_and_error_rate_per_placement(
    app: tuple[Deployer, Path],
) -> None:
    d, folder = app
    d.run("up", str(folder / "crosscloud.yaml"))
    before = d.status()["deployments"][0]["traffic"]["rows"]
    assert before == []  # nothing sent yet
    gw = d.gateway()
    codes = []
    with httpx.Client(trust_env=False, timeout=30) as client:
        for i in range(200):
            # a failure now and then, never 5 in a row on one replica (no ejection)
            text = "boom" if i % 50 == 7 else "hi"
            codes.append(client.post(f"{gw}/echo/echo", json={"text": text}).status_code)
    assert codes.count(500) == 4 and codes.count(200) == 196

    rows = {r["placement"]: r for r in d.status()["deployments"][0]["traffic"]["rows"]}
    assert set(rows) == {"local/region-a", "local/region-b"}
    a, b = rows["local/region-a"], rows["local/region-b"]
    assert a["requests"] + b["requests"] == 200
    assert a["errors"] + b["errors"] == 4
    assert a["share"] + b["share"] == pytest.approx(1.0)
    assert 0.6 < a["share"] < 0.9  # split 75:25 (binomial, 200 draws: > 4 sd margin)
    for row in (a, b):
        assert row["error_rate"] == pytest.approx(row["errors"] / row["requests"])

    table = d.run("status").stdout
    assert "traffic" in table and "errors" in table and "last " in table
    line_a = next(line for line in table.splitlines() if "local/region-a" in line)
    assert f"{a['share']:.0%}" in line_a and f"{a['error_rate']:.1%}" in line_a
