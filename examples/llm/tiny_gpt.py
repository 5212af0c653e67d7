"""A real causal language model small enough for a laptop's CPU: GPT-2's architecture from
`transformers`, randomly initialised from a fixed seed (nothing is downloaded: every replica
builds the same weights), with a byte-level tokenizer and a prefix key/value cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prefix_cache import PrefixCache

#: Printable ASCII: random weights would otherwise emit bytes that are not valid UTF-8.
FIRST, LAST = 32, 126
EOS = 256


def encode(text: str) -> list[int]:
    """Byte-level tokens: one id per UTF-8 byte (vocabulary 256 + EOS)."""
    return list(text.encode())


def chat_prompt(messages: list[tuple[str, str]]) -> str:
    """The chat template: the same messages always give the same prefix."""
    turns = "".join(f"<|{role}|>\n{text}\n" for role, text in messages)
    return turns + "<|assistant|>\n"


@dataclass(frozen=True)
class Size:
    layers: int = int(os.environ.get("TINY_GPT_LAYERS", "2"))
    width: int = int(os.environ.get("TINY_GPT_WIDTH", "128"))
    heads: int = int(os.environ.get("TINY_GPT_HEADS", "4"))
    context: int = int(os.environ.get("TINY_GPT_CONTEXT", "8192"))


class TinyGPT:
    """Generation with greedy or sampled decoding and prefix reuse."""

    def __init__(self, size: Size, *, threads: int, cache_tokens: int = 65536) -> None:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel

        torch.set_num_threads(threads)
        torch.manual_seed(0)  # the same weights in every replica
        config = GPT2Config(
            vocab_size=EOS + 1,
            n_positions=size.context,
            n_embd=size.width,
            n_layer=size.layers,
            n_head=size.heads,
            bos_token_id=EOS,
            eos_token_id=EOS,
            # Wider than GPT-2's 0.02, so that greedy decoding of random weights does not
            # settle on one repeated character and a wrong cache shows in the text.
            initializer_range=0.2,
        )
        self.torch = torch
        self.model = GPT2LMHeadModel(config).eval()
        self.context = size.context
        self.cache = PrefixCache(cache_tokens)
        mask = torch.full((EOS + 1,), float("-inf"))
        mask[FIRST : LAST + 1] = 0.0
        self.mask = mask

    def prefill(self, ids: list[int]) -> tuple[Any, Any, int]:
        """(next-token logits, key/values, prompt tokens found in the prefix cache)."""
        torch = self.torch
        hit = self.cache.lookup(ids)
        start, past = (hit.tokens, hit.cache) if hit else (0, None)
        with torch.inference_mode():
            out = self.model(torch.tensor([ids[start:]]), cache=past, use_cache=True)
        return out.logits[0, -1], out.cache, start

    def generate(
        self,
        ids: list[int],
        logits: Any,
        past: Any,
        *,
        limit: int,
        temperature: float,
        seed: int | None,
    ) -> Iterator[str]:
        """One character per token; the whole sequence's key/values go to the prefix cache
        at the end (a next turn of the conversation starts with it)."""
        torch = self.torch
        rng = torch.Generator().manual_seed(seed if seed is not None else len(ids))
        seq = list(ids)
        try:
            for _ in range(limit):
                token = self._pick(logits, temperature, rng)
                yield chr(token)
                seq.append(token)
                if len(seq) >= self.context:
                    return
                with torch.inference_mode():
                    out = self.model(torch.tensor([[token]]), cache=past, use_cache=True)
                logits, past = out.logits[0, -1], out.cache
        finally:
            # `past` holds every token of `seq` except the last one picked.
            self.cache.store(seq[: past.get_seq_length()], past)

    def _pick(self, logits: Any, temperature: float, rng: Any) -> int:
        masked = logits + self.mask
        if temperature <= 0:
            return int(masked.argmax())
        probs = self.torch.softmax(masked / temperature, dim=-1)
        return int(self.torch.multinomial(probs, 1, generator=rng))
