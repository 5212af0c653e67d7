"""`crosscloud serve` as a real process on 127.0.0.1: the user's commands from the README."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from crosscloud import Client, errors
from tests.conftest import CROSSCLOUD, EXAMPLES, ROOT, Served

pytestmark = pytest.mark.timeout(120)
ECHO = str(EXAMPLES / "echo" / "service.py")

SLOW = str(ROOT / "tests" / "e2e" / "apps" / "slow.py") + ":Slow"


def test_echo_over_http_and_with_the_client(serve: Callable[..., Served]) -> None:
    echo = serve(ECHO + ":Echo")
    r = httpx.post(f"{echo.url}/echo", json={"text": "hi"})
    assert (r.status_code, r.json()) == (200, "hi")
    with Client(echo.url) as client:
        assert client.echo(text="hi") == "hi"
        with pytest.raises(errors.ValidationFailed) as caught:
            client.echo(txt="hi")
        assert caught.value.status == 422
        assert {d["field"] for d in caught.value.detail} == {"text", "txt"}


def test_class_name_may_be_left_out_when_the_file_has_one_service(
    serve: Callable[..., Served],
) -> None:
    echo = serve(ECHO)
    assert httpx.post(f"{echo.url}/echo", json={"text": "x"}).json() == "x"


def test_busy_port_is_an_error_not_another_port(serve: Callable[..., Served]) -> None:
    echo = serve(ECHO)
    result = subprocess.run(
        [*CROSSCLOUD, "serve", ECHO, "--port", str(echo.port)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: port {echo.port} on 127.0.0.1 is already in use"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("examples/echo/missing.py", "no such file"),
        ("examples/echo/service.py:Nope", "no 'Nope' in it (Services found: Echo)"),
        ("no_such_module_xyz:Thing", "cannot import module 'no_such_module_xyz'"),
    ],
)
def test_bad_sources_print_one_line_and_exit_2(source: str, message: str) -> None:
    result = subprocess.run(
        [*CROSSCLOUD, "serve", source], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_token_from_the_environment_is_required(
    serve: Callable[..., Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSCLOUD_TOKEN", "t0ken")
    echo = serve(ECHO)
    assert httpx.post(f"{echo.url}/echo", json={"text": "x"}).status_code == 401
    assert httpx.get(f"{echo.url}/healthz").status_code == 200
    with Client(echo.url, token="t0ken") as client:
        assert client.echo(text="x") == "x"
    assert "t0ken" not in echo.output()


def _wait_in_flight(url: str, endpoint: str) -> None:
    """Until the replica's /metrics shows a request of `endpoint` being handled."""
    line = f'crosscloud_requests_in_flight{{endpoint="{endpoint}"}} 1.0'
    deadline = time.monotonic() + 30
    while line not in httpx.get(f"{url}/metrics").text:
        assert time.monotonic() < deadline, f"no request of {endpoint} in flight"
        time.sleep(0.02)


def test_sigterm_lets_in_flight_requests_finish(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    slow = serve(SLOW)
    answers: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{slow.url}/wait", json={"seconds": 1.5}, timeout=30)
        )
    )
    worker.start()
    _wait_in_flight(slow.url, "wait")
    slow.proc.send_signal(signal.SIGTERM)
    worker.join(timeout=30)
    assert [(a.status_code, a.json()) for a in answers] == [(200, "done")]
    assert slow.proc.wait(timeout=30) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{slow.url}/fast", json={}, timeout=5)


def test_sigterm_exits_without_the_module_teardown_but_runs_atexit_and_joins_threads(
    serve: Callable[..., Served], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSCLOUD_TEST_MARKS", str(tmp_path))
    tidy = serve(str(ROOT / "tests" / "e2e" / "apps" / "tidy.py") + ":Tidy")
    assert httpx.post(f"{tidy.url}/later", json={}).json() == "started"
    tidy.proc.send_signal(signal.SIGTERM)
    assert tidy.proc.wait(timeout=20) == 0  # the module teardown would sleep 60 s
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "done"


def test_sync_handlers_do_not_serialize_requests(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    slow = serve(SLOW)
    order: list[str] = []
    blocker = threading.Thread(
        target=lambda: order.append(
            httpx.post(f"{slow.url}/wait", json={"seconds": 3}, timeout=30).json()
        )
    )
    blocker.start()
    _wait_in_flight(slow.url, "wait")
    order.append(httpx.post(f"{slow.url}/fast", json={}, timeout=30).json())
    blocker.join(timeout=30)
    assert order == ["fast", "done"]


def test_setup_failure_exits_non_zero_with_the_reason_in_the_log(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    source = tmp_path / "broken.py"
    source.write_text(
        "from crosscloud import Service, endpoint\n"
        "class Broken(Service):\n"
        "    def setup(self) -> None:\n"
        "        raise RuntimeError('weights missing')\n"
        "    @endpoint\n"
        "    def f(self) -> int:\n"
        "        return 1\n"
    )
    broken = serve(str(source), wait=False)
    assert broken.proc.wait(timeout=60) == 3
    assert "RuntimeError: weights missing" in broken.output()


def test_call_command_prints_the_result(serve: Callable[..., Served]) -> None:
    echo = serve(ECHO)
    result = subprocess.run(
        [*CROSSCLOUD, "call", echo.url, "echo", "--data", '{"text": "yo"}'],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert (result.returncode, result.stdout.strip()) == (0, '"yo"')
    bad = subprocess.run(
        [*CROSSCLOUD, "call", echo.url, "echo", "--data", "{oops"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --data is not valid JSON")


def test_version() -> None:
    result = subprocess.run([*CROSSCLOUD, "--version"], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "crosscloud, version 0.1.0"


def test_reload_serves_the_edited_service(serve: Callable[..., Served], tmp_path: Path) -> None:
    source = tmp_path / "service.py"
    source.write_text((EXAMPLES / "echo" / "service.py").read_text())
    served = serve(f"{source}:Echo", "--reload")
    assert httpx.post(f"{served.url}/echo", json={"text": "a"}).json() == "a"
    # Saved once, right after the first answer: the worker can be ready before uvicorn's
    # reloader would have started watching, and that save must still count.
    source.write_text(source.read_text().replace("return text", "return text.upper()"))
    deadline = time.monotonic() + 60
    answer = None
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(f"{served.url}/echo", json={"text": "a"}).json()
        except httpx.HTTPError:
            answer = None  # the worker is restarting
        if answer == "A":
            break
        time.sleep(0.2)
    assert answer == "A"
