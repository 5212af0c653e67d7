"""`pip install crosscloud` with no extras, as a new user gets it: the wheel built from
this tree, installed into a clean virtual environment, serves and deploys the echo
example on local placements; what needs a missing extra is refused in one line (exit 2)
naming the pip command, before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLES, ROOT, free_port, stop, wait_ready
from tests.e2e.deploy import Deployer, app_folder, post

pytestmark = pytest.mark.timeout(300)

EXTRA_MODULES = ("kubernetes", "urllib3", "torch", "tensorflow", "pyspark", "pyarrow", "psycopg")

LOCAL = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: hello}
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - provider: local
      region: region-a
      services: [{name: echo, replicas: 1}]
"""

EKS = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata: {name: hello-eks}
spec:
  services:
    - name: echo
      image: registry.example.com/echo:1
  placements:
    - provider: aws
      region: us-west-2
      type: EKS
      context: prod-eks
      services: [{name: echo}]
"""


def _run(*cmd: str | Path, timeout: float) -> None:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} -> {done.returncode}\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this tree in a fresh venv, with its base dependencies only (from pip's
    cache or PyPI; the venv gets no pip of its own, this interpreter's pip installs)."""
    root = tmp_path_factory.mktemp("base-install")
    started = time.monotonic()
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", root, ROOT, timeout=180)
    (wheel,) = root.glob("crosscloud-*.whl")
    _run(sys.executable, "-m", "venv", "--without-pip", root / "venv", timeout=60)
    python = root / "venv" / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", wheel, timeout=240)
    print(f"wheel built and installed in a clean venv in {time.monotonic() - started:.1f} s")
    return root / "venv"


def _env() -> dict[str, str]:
    """This environment, minus what could point the venv's Python at this tree's src/."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


class _Deployer(Deployer):
    def env(self) -> dict[str, str]:
        env = super().env()
        for name in ("PYTHONPATH", "PYTHONHOME"):
            env.pop(name, None)
        return env


def _deployer(venv: Path, tmp_path: Path) -> _Deployer:
    return _Deployer(tmp_path / "home", cli=(str(venv / "bin" / "crosscloud"),))


def test_the_venv_holds_the_wheel_and_no_extra(venv: Path) -> None:
    probe = (
        "import crosscloud, importlib.util as u; print(crosscloud.__file__);"
        f" print([m for m in {EXTRA_MODULES!r} if u.find_spec(m)])"
    )
    out = subprocess.run(
        [venv / "bin" / "python", "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
        env=_env(),
        check=True,
    ).stdout.splitlines()
    assert out[0].startswith(str(venv)), out  # the installed wheel, not this tree's src/
    assert out[1] == "[]"


def test_serve_answers_a_request(venv: Path, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    command = [venv / "bin" / "crosscloud", "serve", "examples/echo/service.py:Echo"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=_env(),
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log, timeout=60)
        assert post(f"{url}/echo", {"text": "hi"}).json() == "hi"
    finally:
        stop(proc)
    assert proc.returncode == 0, log.read_text()


def test_up_status_down_of_a_local_manifest(venv: Path, tmp_path: Path) -> None:
    folder = app_folder(tmp_path, LOCAL)
    deployer = _deployer(venv, tmp_path)
    try:
        deployer.run("up", str(folder / "crosscloud.yaml"), timeout=120)
        table = deployer.run("status", timeout=60).stdout
        assert "1/1" in table, table
        gateway = deployer.gateway()
        assert post(f"{gateway}/echo/echo", {"text": "through the gateway"}).json() == (
            "through the gateway"
        )
        assert set(deployer.processes()) >= {"controlplane", "gateway"}
        # the dashboard's files are in the wheel (package data), served by its control plane
        url = deployer.run("dashboard", timeout=60).stdout.split()[1]
        for path in ("", "app.js", "app.css"):
            answer = httpx.get(url + path, timeout=10)
            assert answer.status_code == 200 and len(answer.content) > 1000, path
        deployer.run("down", timeout=120)
        deployer.wait(lambda: not deployer.processes(), timeout=60, what="nothing left running")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{gateway}/echo/echo", timeout=5)
    finally:
        deployer.kill_everything()


@pytest.mark.parametrize(
    ("case", "extra"),
    [("eks", "k8s"), ("torch", "torch"), ("postgres", "postgres"), ("batch", "spark")],
)
def test_a_missing_extra_is_one_line_and_starts_nothing(
    venv: Path, tmp_path: Path, case: str, extra: str
) -> None:
    deployer = _deployer(venv, tmp_path)
    if case == "eks":
        args = ["up", str(app_folder(tmp_path, EKS) / "crosscloud.yaml")]
    elif case == "torch":
        args = ["up", str(EXAMPLES / "quickstart" / "crosscloud.yaml")]
    elif case == "postgres":
        text = LOCAL + "  state: {url: 'postgresql://cc@127.0.0.1:1/cc'}\n"
        args = ["up", str(app_folder(tmp_path, text) / "crosscloud.yaml")]
    else:
        data = tmp_path / "in.jsonl"
        data.write_text('{"text": "a"}\n')
        source = str(EXAMPLES / "echo" / "service.py")
        args = ["batch", f"{source}:Echo.echo", "-i", str(data), "-o", str(tmp_path / "out")]
    try:
        result = deployer.run(*args, check=False, timeout=60)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, result.stderr
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        assert lines[0].endswith(f"pip install 'crosscloud[{extra}]'")
        assert not deployer.home.exists()  # no state directory, no control plane
        assert not deployer.processes()
        assert not (tmp_path / "out").exists()
    finally:
        deployer.kill_everything()
