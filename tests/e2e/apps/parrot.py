"""A dependency-free LLM service for the OpenAI wire tests: it "generates" the words of the
last message back, one token per word, `CROSSCLOUD_TEST_TOKEN_DELAY` seconds apart."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator

from crosscloud import Service, UserError, llm


def _words(text: str, delay: float) -> Iterator[str]:
    for i, word in enumerate(text.split()):
        if word == "boom":
            raise RuntimeError("the model broke mid-answer")
        time.sleep(delay)
        yield word if i == 0 else " " + word


class Parrot(Service):
    models = ["parrot-1", "parrot-mini"]

    def setup(self) -> None:
        self.delay = float(os.environ.get("CROSSCLOUD_TEST_TOKEN_DELAY", "0"))

    @llm.chat(concurrency=2)
    def chat(self, request: llm.ChatRequest) -> llm.Generation:
        prompt = " ".join(m.text for m in request.messages)
        if "refuse" in prompt:
            raise UserError("this parrot refuses")
        last = request.messages[-1].text
        return llm.Generation(tokens=_words(last, self.delay), prompt_tokens=len(prompt.split()))

    @llm.completions
    async def complete(self, request: llm.CompletionRequest) -> llm.Generation:
        assert isinstance(request.prompt, str)

        async def words() -> AsyncIterator[str]:
            for word in _words(request.prompt, 0):
                yield word

        n = len(request.prompt.split())
        return llm.Generation(tokens=words(), prompt_tokens=n, cached_tokens=n // 2)

    @llm.embeddings
    def embed(self, request: llm.EmbeddingRequest) -> llm.Embeddings:
        vectors = [[float(len(str(x))), 0.5, -1.0] for x in request.inputs]
        return llm.Embeddings(vectors=vectors, prompt_tokens=len(vectors))
