"""`command:` services on local placements: any program that serves HTTP on the port it is
given (`{port}` in its arguments, or `$PORT`) is started, health-checked on its
`healthPath` and routed by the gateway like a crosscloud replica; here Python's own
http.server, which crosscloud did not write."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.deploy import isolated

pytestmark = pytest.mark.timeout(180)


def test_command_services_are_started_health_checked_and_routed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "hello.txt").write_text("hello from a server crosscloud did not build\n")
    manifest = tmp_path / "crosscloud.yaml"
    manifest.write_text(
        f"""
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {{name: servers}}
spec:
  services:
    - name: files
      command: [{sys.executable}, -m, http.server, "{{port}}", --bind, "{{host}}", --directory, {site}]
      healthPath: /hello.txt
    - name: by-env
      command: [sh, -c, 'exec "$0" -m http.server "$PORT" --bind 127.0.0.1', {sys.executable}]
      healthPath: /site/hello.txt
  placements:
    - {{provider: local, region: region-a}}
    - {{provider: local, region: region-b, services: [{{name: files}}]}}
"""
    )
    with isolated(tmp_path) as deployer:
        deployer.run("up", str(manifest), timeout=150)
        replicas = deployer.replicas()
        assert sorted((r["service"], r["state"]) for r in replicas) == [
            ("by-env", "Ready"),
            ("files", "Ready"),
            ("files", "Ready"),
        ]
        gateway = deployer.gateway()
        for _ in range(4):  # both regions answer
            r = httpx.get(f"{gateway}/files/hello.txt", timeout=10, trust_env=False)
            assert (r.status_code, r.text) == (
                200,
                "hello from a server crosscloud did not build\n",
            )
        r = httpx.get(f"{gateway}/by-env/site/hello.txt", timeout=10, trust_env=False)
        assert r.status_code == 200  # started in the manifest's folder, on $PORT
        served = httpx.get(f"{gateway}/metrics", timeout=10, trust_env=False).text
        assert served.count('placement="local/region-b"') > 0
        # A command that dies is restarted like a replica (a new process, restarts 1).
        victim = next(r for r in deployer.replicas() if r["service"] == "by-env")
        os.kill(victim["pid"], signal.SIGKILL)
        again = deployer.wait(
            lambda: next(
                (
                    r
                    for r in deployer.replicas()
                    if r["id"] == victim["id"]
                    and r["state"] == "Ready"
                    and r["pid"] != victim["pid"]
                ),
                None,
            ),
            timeout=60,
            what="the killed command to be restarted",
        )
        assert again["restarts"] == 1
        # A replica that stops answering its health path leaves the gateway's rotation.
        (site / "hello.txt").unlink()
        deployer.wait(
            lambda: all(
                r["state"] != "Ready" for r in deployer.replicas() if r["service"] == "files"
            ),
            timeout=60,
            what="files replicas to be seen as not ready",
        )


@pytest.mark.parametrize(
    ("service", "message"),
    [
        (
            "image: vllm/vllm-openai:v0.11.0",
            "runs image 'vllm/vllm-openai:v0.11.0', which local placements cannot run",
        ),
        (
            "command: [no-such-server-xyz, --port, '{port}']",
            "command program 'no-such-server-xyz': not on PATH",
        ),
    ],
)
def test_up_refuses_what_a_local_placement_cannot_run(
    tmp_path: Path, service: str, message: str
) -> None:
    manifest = tmp_path / "crosscloud.yaml"
    manifest.write_text(
        "apiVersion: crosscloud.dev/v1\nkind: CloudDeployment\nmetadata: {name: bad}\n"
        f"spec:\n  services:\n    - name: llm\n      {service}\n"
        "  placements:\n    - {provider: local, region: laptop}\n"
    )
    with isolated(tmp_path) as deployer:
        result = deployer.run("up", str(manifest), check=False, timeout=120)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert deployer.replicas() == []
