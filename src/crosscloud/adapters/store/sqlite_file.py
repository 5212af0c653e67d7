"""The SQLite state file under faults: private permissions, and a guard file beside it
that notices when the database is deleted, replaced or corrupt, and remembers which
deployments had API tokens so that losing the database never opens them.

The guard (`.state.db.guard`, hidden so that `rm state.db*` leaves it) holds the id of the
database this directory holds and the deployments that ever had a token. With a guard and
no database, the database vanished: the control plane refuses to start on a new, empty one
(its deployments' processes may still run) until `crosscloud down --force` has stopped them
and retired the guard. A retired guard lets a new database be made, and its deployments
that had tokens get a revoked placeholder token there, so their gateway routes stay closed
(every request 401) until a new token is created.

The database, its WAL and shared-memory files and the guard are 0600 (SQLite gives the WAL
and -shm files the database's mode); the directory is made 0700.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import orjson

from crosscloud import errors
from crosscloud.domain import tokens

PRIVATE = 0o600
SIDECARS = ("-wal", "-shm", "-journal")


@dataclasses.dataclass(frozen=True)
class Guard:
    """What the guard file says: the database's id (None: retired, a new one may be made),
    when it was made, and the deployments that had API tokens (name -> first seen)."""

    store: str | None
    created_at: float
    guarded: dict[str, float] = dataclasses.field(default_factory=dict)


def guard_path(db: Path) -> Path:
    return db.with_name(f".{db.name}.guard")


def read_guard(db: Path) -> Guard | None:
    try:
        doc = orjson.loads(guard_path(db).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise errors.StateDamaged(
            f"{guard_path(db)} cannot be read ({exc}); it guards {db}: remove it only if"
            " nothing of this state directory runs (`crosscloud down --force` first)"
        ) from None
    return Guard(doc.get("store"), float(doc["created_at"]), dict(doc.get("guarded") or {}))


def write_guard(db: Path, guard: Guard) -> None:
    """Atomically, 0600 (a reader never sees half a file)."""
    path = guard_path(db)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    with os.fdopen(fd, "wb") as out:
        out.write(orjson.dumps(dataclasses.asdict(guard)))
    os.replace(tmp, path)


def loose_mode(path: Path) -> str | None:
    """`path`'s mode (e.g. '0755') when its group or others may read or enter it."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return f"{mode:04o}" if mode & 0o077 else None


def _private(path: Path) -> None:
    """Make an existing file 0600 (its owner's alone); a missing one is left missing."""
    try:
        if stat.S_IMODE(path.stat().st_mode) != PRIVATE:
            path.chmod(PRIVATE)
    except FileNotFoundError:
        pass


class StateFile:
    """One SQLite database file of the control plane, watched while it is open."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.guard: Guard | None = None
        self._inode: int | None = None

    def open(self) -> None:
        """Before the database is opened: refuse a vanished one, make a missing one 0600
        (with its directory 0700), and make existing files private."""
        self.db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        guard = read_guard(self.db)
        if guard is not None and guard.store is not None and not self._present():
            raise errors.StateVanished(self.vanished_message(guard))
        fd = os.open(self.db, os.O_RDWR | os.O_CREAT, PRIVATE)
        os.close(fd)
        for path in (self.db, *(self.db.with_name(self.db.name + s) for s in SIDECARS)):
            _private(path)
        self._inode = self.db.stat().st_ino
        if guard is None or guard.store is None:  # new, or retired by `down --force`
            guard = Guard(uuid.uuid4().hex, time.time(), dict(guard.guarded) if guard else {})
            write_guard(self.db, guard)
        self.guard = guard

    def _present(self) -> bool:
        try:
            return self.db.stat().st_size > 0  # SQLite takes an empty file for a new database
        except FileNotFoundError:
            return False

    def check(self) -> None:
        """Before each transaction: the file opened is still the one at its path."""
        try:
            inode = self.db.stat().st_ino
        except FileNotFoundError:
            inode = None
        if self._inode is not None and inode != self._inode:
            raise errors.StateVanished(self.vanished_message(self.guard))

    def protect(self, deployments: Iterable[str]) -> None:
        """Remember that these deployments have API tokens (before the token is stored)."""
        guard = self.guard or read_guard(self.db)
        if guard is None:
            return
        new = {name: time.time() for name in deployments if name not in guard.guarded}
        if new:
            guard = dataclasses.replace(guard, guarded={**guard.guarded, **new})
            write_guard(self.db, guard)
            self.guard = guard

    def vanished_message(self, guard: Guard | None) -> str:
        made = time.strftime("%Y-%m-%d %H:%M", time.localtime(guard.created_at)) if guard else "?"
        return (
            f"state database {self.db} was deleted or replaced (the one made {made} is gone):"
            " the deployments it held may still run; `crosscloud down --force` stops them (found"
            " by their marks) and lets the next `up` start a new database"
        )

    def corrupt_message(self, reason: str) -> str:
        return (
            f"state database {self.db} is corrupt ({reason}): `crosscloud down --force` stops"
            " what it ran (found by their marks) and moves the file aside; the next `up`"
            " starts a new one"
        )


def lost_token(deployment: str, *, now: float) -> tokens.TokenRecord:
    """A revoked token no text can match (a SHA-256 of zeros): the deployment's services
    need a token, and none is valid until `crosscloud token create`."""
    return tokens.TokenRecord(
        id=uuid.uuid4().hex[: tokens.ID_BYTES * 2],
        deployment=deployment,
        name="lost with an earlier state database",
        sha256="0" * 64,
        last4="----",
        created_at=now,
        revoked_at=now,
    )


def retire(db: Path, *, corrupt: bool, now: float) -> list[str]:
    """After `down --force` stopped everything: move a corrupt database aside and retire
    the guard, so the next open makes a new database. Returns what was done, as lines."""
    lines = []
    if corrupt:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
        aside = db.with_name(f"{db.name}.corrupt-{stamp}")
        for suffix in ("", *SIDECARS):
            source = db.with_name(db.name + suffix)
            if source.exists():
                source.rename(aside.with_name(aside.name + suffix))
        lines.append(f"{db} was corrupt: moved aside to {aside}; the next `up` makes a new one")
    guard = read_guard(db)
    if guard is not None and guard.store is not None:
        write_guard(db, dataclasses.replace(guard, store=None))
        if not corrupt:
            lines.append(f"{db} was gone: the next `up` makes a new one")
    if guard is not None and guard.guarded:
        names = ", ".join(sorted(guard.guarded))
        lines.append(
            f"deployment(s) {names} had API tokens, lost with the database: they stay closed"
            " (401) when deployed again, until `crosscloud token create NAME`"
        )
    return lines
