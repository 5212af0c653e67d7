"""API tokens through `crosscloud up`'s gateway: open until the first token, then 401 /
403 / 200, revocation at the next push, secrets never in a log; and the gateway's body
and header limits on the same deployment. Real processes, own state directory."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.deploy import Deployer, app_folder, isolated

pytestmark = pytest.mark.timeout(300)

MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: guarded
spec:
  services:
    - name: echo
      source: service.py:Echo
    - name: mirror
      source: service.py:Echo
  placements:
    - provider: local
      region: region-a
      services: [{name: echo}, {name: mirror}]
"""
COOKIE_SECRET = "cookie-secret-7f3a9c"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Deployer, Path]]:
    with isolated(tmp_path) as deployer:
        yield deployer, app_folder(tmp_path, MANIFEST)


def _call(url: str, token: str | None = None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(url, json={"text": "hi"}, headers=headers, timeout=30, trust_env=False)


def _create(d: Deployer, *args: str) -> str:
    result = d.run("token", "create", "guarded", *args)
    token = result.stdout.strip()
    assert token.startswith("cc_") and "shown only now" in result.stderr
    return token


def test_tokens_401_403_200_revoke_and_no_secret_in_logs(app: tuple[Deployer, Path]) -> None:
    d, folder = app
    d.run("up", str(folder / "crosscloud.yaml"))
    gw = d.gateway()
    echo, mirror = f"{gw}/echo/echo", f"{gw}/mirror/echo"
    assert _call(echo).json() == "hi"  # no token yet: open, and status says so
    assert d.status()["deployments"][0]["auth"] == {"mode": "open", "active_tokens": 0}
    assert "open: no API token yet" in d.run("status").stdout

    every = _create(d, "--name", "ci")
    narrow = _create(d, "--name", "mirror-only", "--service", "mirror")
    missing = d.wait(lambda: (r := _call(echo)).status_code == 401 and r, what="a 401")
    assert missing.headers["content-type"] == "application/json"
    assert "Bearer" in missing.json()["detail"]
    assert _call(echo, every).json() == "hi"
    assert _call(mirror, every).json() == "hi"
    assert _call(mirror, narrow).json() == "hi"
    forbidden = _call(echo, narrow)
    assert forbidden.status_code == 403 and "echo" in forbidden.json()["detail"]
    assert _call(echo, every[:-1] + ("A" if every[-1] != "A" else "B")).status_code == 401
    assert _call(echo, "Basic " + every).status_code == 401
    for open_route in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(gw + open_route, trust_env=False).status_code == 200
    assert _call(echo, every, cookie=f"session={COOKIE_SECRET}").status_code == 200

    listed = json.loads(d.run("token", "list", "-o", "json").stdout)
    assert sorted((t["name"], t["services"], t["last4"]) for t in listed) == [
        ("ci", [], every[-4:]),
        ("mirror-only", ["mirror"], narrow[-4:]),
    ]
    table = d.run("token", "list").stdout
    assert "mirror-only" in table and every not in table and narrow not in table

    # tokens outlive the deployment: the same one deployed again is not open
    assert "2 API token(s) kept" in d.run("down").stdout
    d.run("up", str(folder / "crosscloud.yaml"))
    gw = d.gateway()
    echo, mirror = f"{gw}/echo/echo", f"{gw}/mirror/echo"
    assert _call(echo).status_code == 401
    assert _call(echo, every).json() == "hi"

    ci_id = next(t["id"] for t in listed if t["name"] == "ci")
    assert "revoked" in d.run("token", "revoke", ci_id).stdout
    d.wait(lambda: _call(echo, every).status_code == 401, timeout=10, what="revocation")
    assert _call(mirror, narrow).json() == "hi"  # the other token still works
    assert d.status()["deployments"][0]["auth"] == {"mode": "token", "active_tokens": 1}
    again = d.run("token", "revoke", ci_id)
    assert "already revoked" in again.stdout
    unknown = d.run("token", "revoke", "000000000000", check=False)
    assert unknown.returncode == 2 and "no token '000000000000'" in unknown.stderr

    narrow_id = next(t["id"] for t in listed if t["name"] == "mirror-only")
    d.run("token", "revoke", narrow_id)  # every token revoked: still closed, never reopened
    d.wait(lambda: _call(mirror, narrow).status_code == 401, timeout=10, what="revocation")
    assert _call(echo).status_code == 401

    _no_secret_anywhere(d.home, [every, narrow, COOKIE_SECRET])


def _no_secret_anywhere(home: Path, secrets: list[str]) -> None:
    """Logs, the gateway's config and the state database hold no token and no cookie."""
    files = [p for p in home.rglob("*") if p.is_file() and not p.name.endswith(".token")]
    assert any(p.name == "gateway.log" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{secret[:6]}… found in {path}"


def test_bad_token_requests_are_refused_clearly(app: tuple[Deployer, Path]) -> None:
    d, folder = app
    d.run("up", str(folder / "crosscloud.yaml"))
    nope = d.run("token", "create", "nope", check=False)
    assert nope.returncode == 2 and "no deployment 'nope'; deployments: guarded" in nope.stderr
    bad = d.run("token", "create", "guarded", "--service", "other", check=False)
    assert bad.returncode == 2 and "has no service(s) ['other']" in bad.stderr


def _raw(gateway: str, request: bytes) -> bytes:
    """One request on a fresh connection; the first bytes of the answer."""
    where = urlsplit(gateway)
    with socket.create_connection((where.hostname or "", where.port or 80), timeout=30) as s:
        s.sendall(request)
        return s.recv(65536)


def test_body_and_header_limits_on_the_deployed_gateway(app: tuple[Deployer, Path]) -> None:
    d, folder = app
    d.run("up", str(folder / "crosscloud.yaml"))
    gw = d.gateway()
    _create(d)  # the limits apply before authentication: no token is sent below
    big = b"POST /echo/echo HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % (65 * 2**20)
    answer = _raw(gw, big)
    assert answer.startswith(b"HTTP/1.1 413") and b"over the limit" in answer
    many = b"".join(b"x-h%d: v\r\n" % i for i in range(150))
    answer = _raw(gw, b"GET /echo/echo HTTP/1.1\r\nhost: x\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431")
    huge = b"x-big: " + b"v" * (70 * 1024) + b"\r\n"
    answer = _raw(gw, b"GET /echo/echo HTTP/1.1\r\nhost: x\r\n" + huge + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431")
    assert _call(f"{gw}/echo/echo").status_code == 401  # and the gateway still serves
