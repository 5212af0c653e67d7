"""Exact split of a service's replicas over groups (one per provider, or one per declared
placement) so that the total is right, at least k providers are used, and the cost is least.

A dynamic program over (replicas placed, providers used so far); once k providers are used
the set no longer matters, so the states stay few. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_FULL = frozenset({"\x00enough"})

_State = tuple[int, frozenset[str]]
_Step = tuple[_State, str, int] | None


@dataclass(frozen=True)
class Group:
    """Choose one provider of `options` and a count m in [low, high] (m = 0 only when low is
    0, meaning the group is unused); `options[p][m]` is the cost, None where impossible."""

    options: Mapping[str, Sequence[int | None]]
    low: int
    high: int


@dataclass(frozen=True)
class Split:
    """The optimum: its cost and, per group, (provider, replicas) or None if unused."""

    cost: int
    choices: tuple[tuple[str, int] | None, ...]


def solve(groups: Sequence[Group], *, total: int, min_providers: int) -> Split | None:
    """The least-cost choice per group meeting the total and spread, or None if none does."""
    need = max(1, min_providers)
    states: dict[_State, int] = {(0, frozenset()): 0}
    history: list[dict[_State, _Step]] = []
    for group in groups:
        states, back = _advance(states, group, total=total, need=need)
        history.append(back)
    end = (total, _FULL)
    if end not in states:
        return None
    return Split(states[end], tuple(_walk_back(history, end)))


def _advance(
    states: dict[_State, int], group: Group, *, total: int, need: int
) -> tuple[dict[_State, int], dict[_State, _Step]]:
    best: dict[_State, int] = {}
    back: dict[_State, _Step] = {}

    def relax(state: _State, cost: int, step: _Step) -> None:
        if state not in best or cost < best[state]:
            best[state], back[state] = cost, step

    if group.low == 0:  # leaving the group unused first makes earlier groups win ties
        for state, cost in states.items():
            relax(state, cost, None)
    for (placed, used), cost in states.items():
        for provider, costs in group.options.items():
            now_used = _with(used, provider, need)
            top = min(group.high, total - placed, len(costs) - 1)
            for m in range(max(1, group.low), top + 1):
                price = costs[m]
                if price is not None:
                    relax((placed + m, now_used), cost + price, ((placed, used), provider, m))
    return best, back


def _with(used: frozenset[str], provider: str, need: int) -> frozenset[str]:
    if used is _FULL:
        return _FULL
    grown = used | {provider}
    return _FULL if len(grown) >= need else grown


def _walk_back(history: list[dict[_State, _Step]], end: _State) -> list[tuple[str, int] | None]:
    choices: list[tuple[str, int] | None] = []
    state = end
    for back in reversed(history):
        step = back[state]
        if step is None:
            choices.append(None)
        else:
            state, provider, m = step
            choices.append((provider, m))
    choices.reverse()
    return choices
