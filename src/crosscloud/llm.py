"""`from crosscloud import llm`: OpenAI-compatible handlers for a Service.

```python
from crosscloud import Service, llm

class TinyLM(Service):
    models = ["tiny"]

    @llm.chat(concurrency=1)
    def chat(self, request: llm.ChatRequest) -> llm.Generation:
        ids = self.tokenize(request.messages)
        tokens = self.generate(ids, request.token_limit)  # a generator of str, one per token
        return llm.Generation(tokens=tokens, prompt_tokens=len(ids))
```
"""

from __future__ import annotations

from crosscloud.sdk.llm import Embeddings, Generation, chat, completions, embeddings
from crosscloud.sdk.openai_schema import (
    ChatMessage,
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    StreamOptions,
    TextPart,
)

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "CompletionRequest",
    "EmbeddingRequest",
    "Embeddings",
    "Generation",
    "StreamOptions",
    "TextPart",
    "chat",
    "completions",
    "embeddings",
]
