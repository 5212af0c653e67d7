"""What only the SQL store does: URLs, SQLite settings, reopening, schema upgrades."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from crosscloud import errors
from crosscloud.adapters.store import schema as store_schema
from crosscloud.adapters.store import sql_store as store
from crosscloud.domain import state

V1_DUMP = Path(__file__).parent / "data" / "state_v1.sql"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:pw@db.example:5432/cc", "postgresql+psycopg://u:pw@db.example:5432/cc"),
        ("postgres://u@h/cc", "postgresql+psycopg://u@h/cc"),
        ("postgresql+psycopg://u@h/cc", "postgresql+psycopg://u@h/cc"),
        ("sqlite:////abs/state.db", "sqlite:////abs/state.db"),
    ],
)
def test_resolve_url(given: str, expected: str) -> None:
    assert store.resolve_url(given) == expected


def test_default_url_follows_crosscloud_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CROSSCLOUD_STATE_URL", raising=False)
    monkeypatch.setenv("CROSSCLOUD_HOME", str(tmp_path / "cc"))
    assert store.resolve_url() == f"sqlite:///{tmp_path / 'cc' / 'state.db'}"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert store.resolve_url("sqlite:///~/x/state.db") == f"sqlite:///{tmp_path / 'x/state.db'}"
    monkeypatch.setenv("CROSSCLOUD_STATE_URL", "postgresql://u@h/cc")
    assert store.resolve_url() == "postgresql+psycopg://u@h/cc"


def test_unsupported_url_is_a_user_error_without_the_password() -> None:
    with pytest.raises(errors.UserError, match="'mysql' is not supported") as caught:
        store.resolve_url("mysql://root:hunter2@h/db")
    assert "hunter2" not in str(caught.value)


def test_unreachable_postgres_is_transient_and_hides_the_password() -> None:
    with pytest.raises(errors.TransientError, match="unavailable") as caught:
        store.SqlStore("postgresql://u:hunter2@127.0.0.1:1/cc?connect_timeout=2")
    assert "hunter2" not in str(caught.value)


def test_sqlite_file_is_created_in_wal_mode_and_survives_reopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CROSSCLOUD_STATE_URL", raising=False)
    monkeypatch.setenv("CROSSCLOUD_HOME", str(tmp_path / "home"))
    first = store.SqlStore()
    first.upsert_replica(state.ReplicaRecord("r", "d", "s", "local/a", 1, pid=7))
    first.close()
    with sqlite3.connect(tmp_path / "home" / "state.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    again = store.SqlStore()
    assert again.get_replica("r") == state.ReplicaRecord("r", "d", "s", "local/a", 1, pid=7)
    again.close()


def test_two_stores_writing_one_sqlite_file_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    stores = [store.SqlStore(url), store.SqlStore(url)]

    def write(which: int) -> None:
        for i in range(40):
            stores[which].add_event(state.Event(ts=float(i), deployment="d", kind="k", message=""))

    threads = [threading.Thread(target=write, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = stores[0].list_events(limit=1000)
    assert len(events) == 80
    assert len({e.id for e in events}) == 80
    for s in stores:
        s.close()


def _check_upgraded_v1(opened: store.SqlStore) -> None:
    assert opened.schema_version() == store_schema.LATEST
    assert opened.get_deployment("shop") == state.DeploymentRecord(
        "shop",
        '{"apiVersion": "crosscloud.dev/v1", "metadata": {"name": "shop"}}',
        "sha256:0a1b",
        3,
        1700000000.0,
        1700000500.0,
    )
    old = opened.get_replica("shop-api-a-1")
    assert old is not None
    assert (old.state, old.pid, old.port, old.process_start_time) == (
        state.ReplicaState.READY,
        4242,
        8123,
        987654,
    )
    assert old.crash_count == 0  # a field v1 rows never had reads as its default
    [event] = opened.list_events()
    assert (event.message, event.fields) == ("shop-api-a-1 is ready", {})
    added = opened.add_event(
        state.Event(
            ts=1.7e9 + 600, deployment="shop", kind="k", message="new", fields={"replica": "x"}
        )
    )
    assert opened.list_events()[-1] == added
    assert opened.list_tokens() == []  # schema 3 added the (empty) tokens table


def test_a_v1_sqlite_state_file_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(V1_DUMP.read_text())
    opened = store.SqlStore(f"sqlite:///{path}")
    _check_upgraded_v1(opened)
    opened.close()
    reopened = store.SqlStore(f"sqlite:///{path}")  # upgrading twice changes nothing
    assert len(reopened.list_events()) == 2
    reopened.close()


def test_a_v1_postgres_database_is_upgraded_on_open(pg_url: str) -> None:
    engine = store.create_engine(store.resolve_url(pg_url))
    statements = [
        line for line in V1_DUMP.read_text().splitlines() if line.startswith("INSERT INTO ")
    ]
    with engine.begin() as conn:
        store_schema.upgrade(conn, target=1)
        conn.execute(sa.delete(store_schema.schema_version))  # the dump brings its own row
        for statement in statements:
            # the sequence must hand out the event ids, as it did for a real v1 database
            statement = statement.replace(
                "INSERT INTO events VALUES(1,",
                "INSERT INTO events (ts, deployment, kind, message) VALUES(",
            )
            conn.exec_driver_sql(statement.replace("%", "%%"))
    engine.dispose()
    opened = store.SqlStore(pg_url)
    _check_upgraded_v1(opened)
    opened.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store.SqlStore(url).close()
    with sqlite3.connect(tmp_path / "state.db") as raw:
        raw.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(errors.UserError, match="schema version 99, newer"):
        store.SqlStore(url)
