"""Fixtures for adapter tests: a throwaway PostgreSQL server for the store contract suite.

The server is started once per session (initdb + pg_ctl into a temp dir, a free port on
127.0.0.1, its unix socket inside the temp dir) unless CROSSCLOUD_TEST_PG_URL names one,
and stopped afterwards. PostgreSQL refuses to run as root, so as root the server runs as
the `postgres` (or `nobody`) user. If it cannot start, the tests that need it FAIL.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG_URL_ENV = "CROSSCLOUD_TEST_PG_URL"


def _pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    pytest.fail(
        f"PostgreSQL's `{name}` is not on PATH nor under /usr/lib/postgresql/*/bin: "
        f"run `make system-deps` (installs Debian's postgresql) or set {PG_URL_ENV}",
        pytrace=False,
    )


def _run_as() -> list[str]:
    """The prefix that runs a command as a non-root user when we are root."""
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--"]
    pytest.fail("running as root and neither `postgres` nor `nobody` exists", pytrace=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        pytest.fail(
            f"could not {what} (exit {done.returncode}): {done.stderr.strip()[-2000:]}\n{tail}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A libpq URL of a PostgreSQL server whose `postgres` database we may create DBs on."""
    configured = os.environ.get(PG_URL_ENV)
    if configured:
        yield configured
        return
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="cc-pg-"))
    data, log = root / "data", root / "server.log"
    prefix = _run_as()
    if prefix:
        shutil.chown(root, user=prefix[2])
    port = _free_port()
    _run(
        [*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        "initialize a PostgreSQL data directory",
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    _run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ],
        "start PostgreSQL",
        log,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped afterwards."""
    name = f"cc_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(pg_server_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        where = pg_server_url.split("@")[-1]
        pytest.fail(f"cannot create a test database on PostgreSQL at {where}: {exc}", pytrace=False)
    base = pg_server_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
