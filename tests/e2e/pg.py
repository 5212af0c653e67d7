"""A throwaway PostgreSQL server that a test may stop and start (the store tests' server,
tests/adapters/conftest.py, is shared by the whole session and never restarted): initdb
into a temp dir, a free port on 127.0.0.1, run as `postgres` when we are root."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from tests.adapters.conftest import _free_port, _pg_binary, _run, _run_as


class PgServer:
    """One PostgreSQL data directory and the server on it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cc-ha-pg-"))
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.prefix = _run_as()
        self.pg_ctl = _pg_binary("pg_ctl")
        self.port = _free_port()
        if self.prefix:
            shutil.chown(self.root, user=self.prefix[2])
        initdb = _pg_binary("initdb")
        _run(
            [*self.prefix, initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust"],
            "initialize a PostgreSQL data directory",
        )

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        command = [*self.prefix, self.pg_ctl, "-D", str(self.data), "-l", str(self.log)]
        _run([*command, "-o", options, "-w", "-t", "60", "start"], "start PostgreSQL", self.log)

    def running(self) -> bool:
        status = [*self.prefix, self.pg_ctl, "-D", str(self.data), "status"]
        return subprocess.run(status, capture_output=True, timeout=30, check=False).returncode == 0

    def start_if_stopped(self) -> None:
        if not self.running():
            self.start()

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended and open transactions rolled back (a restart)."""
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )

    def database(self) -> str:
        """A new empty database's URL."""
        name = f"cc_ha_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
