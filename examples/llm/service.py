"""An OpenAI-compatible language model service: a real GPT-2-architecture model on the CPU
(random weights from a fixed seed; see tiny_gpt.py), with a prefix key/value cache whose
hits show in `usage.prompt_tokens_details.cached_tokens` and `vllm:prefix_cache_hits_total`.
"""

from __future__ import annotations

from typing import Any

from crosscloud import Resources, Service, UserError, llm


class TinyChat(Service):
    """Chat and text completions from tiny-gpt."""

    name = "tiny-gpt"
    models = ["tiny-gpt"]
    resources = Resources(cpu=1, memory="1Gi")
    requirements = ["torch==2.13.0", "transformers>=5.0"]

    lm: Any

    def setup(self) -> None:
        import tiny_gpt

        self.lm = tiny_gpt.TinyGPT(tiny_gpt.Size(), threads=self.resources.threads())
        self.lm.prefill(tiny_gpt.encode("warm up"))  # first-call costs out of the first request

    @llm.chat(concurrency=1)  # one model, one generation at a time; the rest queue
    def chat(self, request: llm.ChatRequest) -> llm.Generation:
        import tiny_gpt

        prompt = tiny_gpt.chat_prompt([(m.role, m.text) for m in request.messages])
        return self._generate(tiny_gpt.encode(prompt), request.token_limit or 64, request)

    @llm.completions(concurrency=1)
    def complete(self, request: llm.CompletionRequest) -> llm.Generation:
        import tiny_gpt

        ids = (
            request.prompt if isinstance(request.prompt, list) else tiny_gpt.encode(request.prompt)
        )
        return self._generate(ids, request.token_limit or 16, request)

    def _generate(
        self, ids: list[int], limit: int, request: llm.ChatRequest | llm.CompletionRequest
    ) -> llm.Generation:
        room = self.lm.context - len(ids)
        if room < 1:
            raise UserError(
                f"the prompt is {len(ids)} tokens; this model's context is {self.lm.context}"
            )
        logits, past, cached = self.lm.prefill(ids)
        tokens = self.lm.generate(
            ids,
            logits,
            past,
            limit=min(limit, room),
            temperature=request.temperature,
            seed=request.seed,
        )
        return llm.Generation(tokens=tokens, prompt_tokens=len(ids), cached_tokens=cached)
