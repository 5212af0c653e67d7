"""Pure leader-lease decisions for control planes that share one database: when to try
for the lease, whether this process may still act, and what changed after an attempt.

Times are this process's monotonic clock; the lease's own expiry is the database's
(`Lease.remaining`), so no two machines' clocks are ever compared. The holder stops
acting `margin` seconds before the database could hand the lease to another process:
with `sent_at` taken before the renewal was sent, `sent_at + remaining` is never later
than the database's expiry, whatever the network delays.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from crosscloud.domain import lease


@dataclass(frozen=True)
class LeasePolicy:
    """The default: a 5 s lease renewed every second, acted on for at most 4 s after each
    renewal was sent; a standby reads the lease every second (takeover in 5-6 s)."""

    ttl: float = 5.0
    renew_every: float = 1.0
    margin: float = 1.0
    poll_every: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.margin < self.ttl:
            raise ValueError(f"margin must be within (0, ttl={self.ttl}), got {self.margin}")
        if not 0 < self.renew_every < self.ttl - self.margin:
            raise ValueError("renew_every must be shorter than ttl - margin")
        if self.poll_every <= 0:
            raise ValueError("poll_every must be more than 0")


class Change(enum.Enum):
    """What an attempt changed for the process that made it."""

    NONE = "none"
    ELECTED = "elected"  # it holds the lease now and did not a moment ago: adopt, then act
    LOST = "lost"  # it may not act any more: stop at once


@dataclass(frozen=True)
class View:
    """What one process believes about the lease between attempts."""

    epoch: int | None = None  # the epoch it holds; None: a standby
    valid_until: float = 0.0  # monotonic: it may act before this, never after
    seen: lease.Lease | None = None  # the lease as last read (names the leader)
    error: str = ""  # why the last attempt failed; "" when it did not


def may_act(view: View, *, now: float) -> bool:
    """Whether the process may act at `now`: it holds an epoch that has not lapsed."""
    return view.epoch is not None and now < view.valid_until


def wants(seen: lease.Lease | None, *, me: str) -> bool:
    """Whether to try to take (or renew) the lease, having read `seen`: there is none,
    it expired, or it is ours."""
    return seen is None or seen.remaining <= 0 or seen.holder.id == me


def lapse(view: View, *, now: float) -> tuple[View, Change]:
    """The view at `now` without a new attempt: a held epoch past its deadline is lost
    (the renewal may hang on a dead network; the deadline does not wait for it)."""
    if view.epoch is not None and now >= view.valid_until:
        return View(seen=view.seen, error=view.error), Change.LOST
    return view, Change.NONE


def after_attempt(
    view: View,
    *,
    me: str,
    seen: lease.Lease | None,
    error: str = "",
    sent_at: float,
    now: float,
    policy: LeasePolicy,
) -> tuple[View, Change]:
    """Fold one attempt into the view. `seen` is the lease as the attempt left it (None
    with `error` when the database could not be reached)."""
    had = view.epoch is not None
    if error:
        return lapse(View(view.epoch, view.valid_until, view.seen, error), now=now)
    if seen is not None and seen.held_by(me):
        until = sent_at + min(seen.remaining, policy.ttl) - policy.margin
        held = View(seen.epoch, until, seen)
        if not may_act(held, now=now):  # the answer came too late to act on
            return View(seen=seen), Change.LOST if had else Change.NONE
        # the same epoch, held without a lapse: nobody else acted meanwhile
        same = may_act(view, now=now) and view.epoch == seen.epoch
        return held, Change.NONE if same else Change.ELECTED
    return View(seen=seen), Change.LOST if had else Change.NONE


def next_attempt(view: View, *, sent_at: float, now: float, policy: LeasePolicy) -> float:
    """When to read or renew again: the holder `renew_every` after its last renewal was
    sent (half that from now while the database does not answer); a standby `poll_every`
    from now."""
    if view.epoch is None:
        return now + policy.poll_every
    if view.error:
        return now + policy.renew_every / 2
    return max(now, sent_at + policy.renew_every)
