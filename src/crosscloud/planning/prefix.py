"""Pure: an approximate, bounded-memory index of which replica has seen which prompt
prefix, for prefix-cache-aware routing (`policy: prefix-affinity`).

A prompt (the templated messages, see `template`) is cut into fixed-size blocks and each
block gets a chain hash: the hash of the block and of the chain before it, so equal hashes
mean equal prefixes (up to a hash collision, which only costs a worse routing choice).
This is what vLLM and SGLang do with their KV cache pages, and it keeps the index a flat
dict rather than a radix tree of strings. Each replica keeps at most `capacity` block
hashes, least recently used evicted first, like the replica's own cache.

No clock or randomness is read: recency is the order of use.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: Bytes per block: about 64 tokens of English text. Smaller blocks cost more hashing per
#: request (a 24 KB prompt is 94 blocks of 256 bytes) for a finer match.
BLOCK = 256
#: Block hashes remembered per replica: 16,384 x 256 B is 4 MiB of prompt text, about a
#: million tokens, the order of a GPU replica's KV cache. Memory: ~100 B per entry.
CAPACITY = 16_384


def chain_hashes(text: bytes, *, block: int = BLOCK) -> list[int]:
    """The chain hash of every whole block of `text` (a partial last block is left out:
    engines only cache whole pages)."""
    out: list[int] = []
    h = 0
    for start in range(0, len(text) - block + 1, block):
        h = hash((h, text[start : start + block]))
        out.append(h)
    return out


def template(body: Mapping[str, Any]) -> bytes:
    """The prompt of an OpenAI request as the text a replica would see first to last:
    every message's role and content for chat, the prompt for completions. Not any
    model's real chat template: only equal prefixes must give equal text."""
    messages = body.get("messages")
    if isinstance(messages, list):
        parts: list[str] = []
        for message in messages:
            if isinstance(message, dict):
                parts.append(f"<{message.get('role', '')}>")
                parts.append(_content(message.get("content")))
        return "\n".join(parts).encode()
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt.encode()
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
        return prompt[0].encode()  # a batch of prompts: routed by its first
    return b""


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


class PrefixIndex:
    """Which replica holds which block hashes; at most `capacity` per replica (LRU)."""

    def __init__(self, *, capacity: int = CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._by_host: dict[str, OrderedDict[int, None]] = {}
        self._owners: dict[int, set[str]] = {}

    def __len__(self) -> int:
        """Block hashes held, all replicas together (the memory bound: hosts x capacity)."""
        return sum(len(blocks) for blocks in self._by_host.values())

    def blocks(self, host: str) -> int:
        return len(self._by_host.get(host, ()))

    def insert(self, host: str, hashes: Sequence[int]) -> None:
        """`host` now holds the prefix `hashes` (most recently used); the oldest blocks
        beyond its capacity are forgotten."""
        if not hashes:
            return
        blocks = self._by_host.setdefault(host, OrderedDict())
        owners = self._owners
        for h in hashes:
            if h in blocks:
                blocks.move_to_end(h)
            else:
                blocks[h] = None
                owners.setdefault(h, set()).add(host)
        while len(blocks) > self.capacity:
            old, _ = blocks.popitem(last=False)
            holders = owners.get(old)
            if holders is not None:
                holders.discard(host)
                if not holders:
                    del owners[old]

    def match(self, hashes: Sequence[int]) -> dict[str, int]:
        """For each replica holding the first block: how many leading blocks it holds."""
        owners = self._owners
        if not hashes or hashes[0] not in owners:
            return {}
        alive = set(owners[hashes[0]])
        found: dict[str, int] = {}
        for i in range(1, len(hashes)):
            holders = owners.get(hashes[i])
            still = alive & holders if holders is not None else set()
            for gone in alive - still:
                found[gone] = i
            alive = still
            if not alive:
                return found
        for host in alive:
            found[host] = len(hashes)
        return found

    def forget(self, hosts: Iterable[str]) -> None:
        """Drop replicas that left the service."""
        for host in hosts:
            blocks = self._by_host.pop(host, None)
            for h in blocks or ():
                holders = self._owners.get(h)
                if holders is not None:
                    holders.discard(host)
                    if not holders:
                        del self._owners[h]
