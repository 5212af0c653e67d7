"""The SQLite state file under faults, at the store's boundary: private permissions, a
corrupt file named in one line, a deleted or replaced file noticed (at once by an open
store, and by the next one through the guard beside it), and tokens never lost silently."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from crosscloud import errors
from crosscloud.adapters.store import sql_store as store
from crosscloud.adapters.store import sqlite_file as store_file
from crosscloud.domain import state, tokens

pytestmark = pytest.mark.timeout(60)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _deployment(name: str = "shop") -> state.DeploymentRecord:
    return state.DeploymentRecord(
        name=name, manifest_json="{}", manifest_hash="h", version=1, created_at=1.0, updated_at=1.0
    )


def _token(deployment: str = "shop") -> tokens.TokenRecord:
    _id, text = tokens.new_token(b"\x01" * tokens.ID_BYTES, b"\x02" * tokens.SECRET_BYTES)
    return tokens.record_for(
        text, token_id=_id, deployment=deployment, name="t", services=(), now=1
    )


def _corrupt(db: Path) -> None:
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists():
            path.write_bytes(os.urandom(path.stat().st_size or 4096))


def test_new_files_are_private_and_a_new_directory_too(tmp_path: Path) -> None:
    db = tmp_path / "home" / "state.db"
    opened = store.SqlStore(f"sqlite:///{db}")
    opened.put_deployment(_deployment())  # the WAL and -shm files exist from here
    for name in ("state.db", "state.db-wal", "state.db-shm", ".state.db.guard"):
        assert _mode(db.with_name(name)) == 0o600, name
    assert _mode(db.parent) == 0o700
    opened.close()


def test_older_files_in_a_loose_directory_are_made_private(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store.SqlStore(f"sqlite:///{db}").close()
    for path in tmp_path.iterdir():
        path.chmod(0o644)
    tmp_path.chmod(0o755)
    store.SqlStore(f"sqlite:///{db}").close()
    assert _mode(db) == 0o600
    assert store_file.loose_mode(tmp_path) == "0755"  # the CLI and the control plane warn


def test_a_corrupt_file_is_named_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    opened = store.SqlStore(f"sqlite:///{db}")
    opened.put_deployment(_deployment())
    opened.close()
    _corrupt(db)
    with pytest.raises(errors.StateCorrupt) as caught:
        store.SqlStore(f"sqlite:///{db}")
    message = str(caught.value)
    assert "\n" not in message
    assert f"state database {db} is corrupt" in message
    assert "crosscloud down --force" in message


def test_a_file_deleted_under_an_open_store_is_noticed_by_the_next_call(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    opened = store.SqlStore(f"sqlite:///{db}")
    opened.put_deployment(_deployment())
    for path in tmp_path.glob("state.db*"):
        path.unlink()
    with pytest.raises(errors.StateVanished, match="deleted or replaced"):
        opened.list_deployments()
    assert not db.exists()  # and no empty database was made in its place
    with pytest.raises(errors.StateVanished):  # nor by the next control plane
        store.SqlStore(f"sqlite:///{db}")
    assert not db.exists()
    opened.close()


def test_a_replaced_file_is_noticed_too(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    opened = store.SqlStore(f"sqlite:///{db}")
    other = tmp_path / "other.db"
    store.SqlStore(f"sqlite:///{other}").close()
    os.replace(other, db)
    with pytest.raises(errors.StateVanished):
        opened.get_deployment("shop")
    opened.close()


def test_after_retire_a_new_database_keeps_deployments_that_had_tokens_closed(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    opened = store.SqlStore(f"sqlite:///{db}")
    opened.put_deployment(_deployment("shop"))
    opened.put_deployment(_deployment("open"))
    opened.add_token(_token("shop"))
    opened.close()
    for path in tmp_path.glob("state.db*"):
        path.unlink()
    lines = store_file.retire(db, corrupt=False, now=2.0)
    assert any("shop had API tokens" in line for line in lines), lines
    fresh = store.SqlStore(f"sqlite:///{db}")
    found = fresh.list_tokens()
    assert [(t.deployment, t.active) for t in found] == [("shop", False)]  # closed, not open
    assert fresh.list_tokens(deployment="open") == []
    assert [e.kind for e in fresh.list_events(deployment="shop")] == ["TokensLost"]
    fresh.close()
    again = store.SqlStore(f"sqlite:///{db}")  # opening again adds nothing more
    assert len(again.list_tokens()) == 1
    again.close()


def test_retire_moves_a_corrupt_file_aside_and_a_new_one_opens(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    opened = store.SqlStore(f"sqlite:///{db}")
    opened.put_deployment(_deployment())
    opened.close()
    _corrupt(db)
    lines = store_file.retire(db, corrupt=True, now=0.0)
    (aside,) = tmp_path.glob("state.db.corrupt-*[0-9]")
    assert str(aside) in lines[0]
    assert not db.exists()
    assert store.SqlStore(f"sqlite:///{db}").list_deployments() == []
