"""Pure data for the control plane's leader lease: who holds it, its fencing epoch, and how
long it has left by the database's clock (never compared with another machine's clock)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Holder:
    """One control plane process, as the others see it in the lease row.

    `id` is new for every process (a restarted control plane is a new holder); the rest
    says where to find it, for the line that names the leader."""

    id: str
    url: str = ""
    pid: int = 0
    host: str = ""
    home: str = ""

    def describe(self) -> str:
        where = f" on {self.host}" if self.host else ""
        at = f" at {self.url}" if self.url else ""
        return f"control plane pid {self.pid}{where}{at}"


@dataclass(frozen=True)
class Lease:
    """The lease as one read saw it. `epoch` grows by one each time the holder changes
    (the fencing token checked by every write); `remaining` is the seconds left before
    it expires, by the database's clock at that read (<= 0: expired, anyone may take it)."""

    holder: Holder
    epoch: int
    remaining: float

    def held_by(self, holder_id: str) -> bool:
        return self.holder.id == holder_id and self.remaining > 0
