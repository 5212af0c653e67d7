"""Table tests for prefix-affinity: the block-hash index (matches, LRU, memory bound)
and the pure routing decision."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from crosscloud.planning import affinity, prefix

A = affinity.Reason


@dataclass
class H:
    active: int = 0
    weight: float = 1.0
    ewma: float = 0.0


class FixedRng:
    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def text(*parts: str) -> bytes:
    return "".join(parts).encode()


B = prefix.BLOCK
SYS = "s" * (4 * B)  # four blocks


def test_chain_hashes_equal_prefixes_give_equal_leading_hashes() -> None:
    a = prefix.chain_hashes(text(SYS, "a" * 2 * B))
    b = prefix.chain_hashes(text(SYS, "b" * 2 * B))
    assert len(a) == len(b) == 6
    assert a[:4] == b[:4]
    assert a[4] != b[4]


def test_chain_hashes_depend_on_what_came_before() -> None:
    # the same block after a different prefix is a different hash
    a = prefix.chain_hashes(text("x" * B, "y" * B))
    b = prefix.chain_hashes(text("z" * B, "y" * B))
    assert a[1] != b[1]


@pytest.mark.parametrize(
    ("size", "blocks"), [(0, 0), (B - 1, 0), (B, 1), (2 * B - 1, 1), (10 * B, 10)]
)
def test_chain_hashes_whole_blocks_only(size: int, blocks: int) -> None:
    assert len(prefix.chain_hashes(b"q" * size)) == blocks


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]},
            b"<system>\nS\n<user>\nU",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
            b"<user>\nhi",
        ),
        ({"prompt": "once upon"}, b"once upon"),
        ({"prompt": ["first", "second"]}, b"first"),
        ({"prompt": [1, 2, 3]}, b""),
        ({}, b""),
    ],
)
def test_template_covers_every_message(body: dict[str, object], expected: bytes) -> None:
    assert prefix.template(body) == expected


def test_template_later_messages_change_the_text() -> None:
    one = {"messages": [{"role": "system", "content": SYS}, {"role": "user", "content": "q1"}]}
    two = {"messages": [{"role": "system", "content": SYS}, {"role": "user", "content": "q2"}]}
    assert prefix.template(one) != prefix.template(two)
    assert prefix.template(one).startswith(prefix.template({"messages": one["messages"][:1]}))


def test_match_counts_leading_blocks_per_host() -> None:
    index = prefix.PrefixIndex(capacity=100)
    common = prefix.chain_hashes(text(SYS, "a" * 2 * B))
    index.insert("r1", common)
    index.insert("r2", common[:4])
    other = prefix.chain_hashes(text(SYS, "b" * 2 * B))
    assert index.match(common) == {"r1": 6, "r2": 4}
    assert index.match(other) == {"r1": 4, "r2": 4}
    assert index.match(prefix.chain_hashes(b"z" * 4 * B)) == {}
    assert index.match([]) == {}


def test_lru_evicts_the_least_recently_used_blocks() -> None:
    index = prefix.PrefixIndex(capacity=4)
    old = prefix.chain_hashes(b"o" * 2 * B)
    new = prefix.chain_hashes(b"n" * 2 * B)
    index.insert("r1", old)
    index.insert("r1", new)
    assert index.match(old) == {"r1": 2}
    index.insert("r1", old)  # touched again: `new` is now the oldest
    index.insert("r1", prefix.chain_hashes(b"m" * 2 * B))
    assert index.match(old) == {"r1": 2}
    assert index.match(new) == {}


def test_memory_is_bounded_per_host() -> None:
    index = prefix.PrefixIndex(capacity=64)
    for i in range(200):
        index.insert("r1", prefix.chain_hashes(b"%05d" % i * B))
        index.insert("r2", prefix.chain_hashes(b"%05d" % (i + 7) * B))
    assert index.blocks("r1") == 64
    assert index.blocks("r2") == 64
    assert len(index) == 128


def test_eviction_takes_the_ends_of_prompts_first() -> None:
    # what a replica still holds of a prompt is a prefix of it, as in an engine's cache
    index = prefix.PrefixIndex(capacity=6)
    long = prefix.chain_hashes(text(SYS, "a" * 4 * B))  # 8 blocks: the last 2 evicted
    index.insert("r1", long)
    assert index.blocks("r1") == 6
    assert index.match(long) == {"r1": 6}
    assert index.match(long[:3]) == {"r1": 3}


def test_forget_drops_a_host() -> None:
    index = prefix.PrefixIndex(capacity=10)
    hashes = prefix.chain_hashes(b"k" * 4 * B)
    index.insert("r1", hashes)
    index.insert("r2", hashes)
    index.forget(["r1"])
    assert index.match(hashes) == {"r2": 4}
    index.forget(["r2", "unknown"])
    assert len(index) == 0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        prefix.PrefixIndex(capacity=0)


CFG = affinity.AffinityConfig(cache_threshold=0.5, balance_abs=2, balance_rel=1.0001)


@pytest.mark.parametrize(
    ("loads", "matched", "total", "expected"),
    [
        # the longest match wins when it covers enough and its replica is not overloaded
        ([0, 0, 0], [0, 8, 3], 10, (1, A.HIT)),
        ([1, 3, 1], [0, 8, 3], 10, (1, A.HIT)),  # 3 - 1 = 2: not over balance_abs
        # overloaded best match: the least-loaded instead
        ([1, 4, 2], [0, 8, 3], 10, (0, A.OVERLOADED)),
        # a match under cache_threshold x total: least-loaded
        ([3, 0, 2], [4, 0, 0], 10, (1, A.MISS)),
        ([0, 0], [0, 0], 0, (0, A.MISS)),  # a prompt shorter than a block
        # equal matches: the less loaded one
        ([2, 1, 0], [6, 6, 0], 10, (1, A.HIT)),
        # exactly the threshold is enough
        ([0, 0], [0, 5], 10, (1, A.HIT)),
        ([5], [0], 10, (0, A.MISS)),
    ],
)
def test_pick_table(
    loads: list[int], matched: list[int], total: int, expected: tuple[int, affinity.Reason]
) -> None:
    hosts = [H(active=a) for a in loads]
    assert affinity.pick(hosts, matched, total, FixedRng(0.0), CFG) == expected


def test_sglang_thresholds_tolerate_a_bigger_imbalance() -> None:
    sglang = affinity.AffinityConfig(cache_threshold=0.5, balance_abs=32, balance_rel=1.0001)
    hosts = [H(active=1), H(active=30)]
    assert affinity.pick(hosts, [0, 9], 10, FixedRng(), sglang) == (1, A.HIT)
    hosts = [H(active=1), H(active=34)]
    assert affinity.pick(hosts, [0, 9], 10, FixedRng(), sglang) == (0, A.OVERLOADED)


@pytest.mark.parametrize(
    ("loads", "sizes", "expected"),
    [
        ([0, 0, 0], [30, 5, 9], 1),  # idle alike: the one with the most room
        ([1, 0, 0], [0, 5, 9], 1),  # load first, then room
        ([0, 0], [4, 4], 0),  # a tie: from the random start
    ],
)
def test_misses_go_to_the_smallest_tree_among_the_least_loaded(
    loads: list[int], sizes: list[int], expected: int
) -> None:
    hosts = [H(active=a) for a in loads]
    pick = affinity.pick(hosts, [0] * len(loads), 10, FixedRng(0.0), CFG, sizes)
    assert pick == (expected, A.MISS)


def test_least_loaded_spreads_ties() -> None:
    hosts = [H(), H(), H(), H()]
    rng = random.Random(4)
    seen = {affinity.least_loaded(hosts, rng) for _ in range(50)}
    assert seen == {0, 1, 2, 3}
    assert affinity.least_loaded([H(active=2), H(active=0), H(active=1)], FixedRng(0.9)) == 1
