"""A bounded prefix cache of key/value tensors: the longest cached token prefix of a prompt
is reused, so only the rest of the prompt is computed (what vLLM's automatic prefix caching
does with blocks, here with whole sequences)."""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hit:
    """The cached key/values for `tokens` (a copy: the caller may extend it)."""

    tokens: int
    cache: Any  # transformers' DynamicCache, cropped to `tokens`


class PrefixCache:
    """Sequences of token ids and the key/values computed for them, least recently used
    first out once more than `max_tokens` are held."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.held = 0
        self.entries: OrderedDict[tuple[int, ...], Any] = OrderedDict()

    def lookup(self, ids: list[int]) -> Hit | None:
        """The longest cached prefix of `ids`, leaving at least the last id to compute
        (the model needs one new token to give the next token's logits)."""
        best_key, best = None, 0
        for key in self.entries:
            shared = _common(key, ids, limit=len(ids) - 1)
            if shared > best:
                best_key, best = key, shared
        if best_key is None:
            return None
        self.entries.move_to_end(best_key)
        cache = copy.deepcopy(self.entries[best_key])
        cache.crop(best - cache.get_seq_length())  # a negative count: tokens to drop
        return Hit(tokens=best, cache=cache)

    def store(self, ids: list[int], cache: Any) -> None:
        """Keep `cache` (the key/values of exactly `ids`); prefixes of it become redundant."""
        key = tuple(ids)
        for old in [k for k in self.entries if len(k) <= len(key) and key[: len(k)] == k]:
            self.held -= len(old)
            del self.entries[old]
        self.entries[key] = cache
        self.held += len(key)
        while self.held > self.max_tokens and len(self.entries) > 1:
            old, _ = self.entries.popitem(last=False)
            self.held -= len(old)


def _common(a: tuple[int, ...], b: list[int], *, limit: int) -> int:
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
