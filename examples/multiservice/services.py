"""Two services of one deployment: `summary` calls `tokenizer` by name through the
gateway (`crosscloud.call`), wherever its replicas run."""

from __future__ import annotations

import crosscloud
from crosscloud import Resources, Service, endpoint


class Tokenizer(Service):
    """Splits text into lower-case words."""

    name = "tokenizer"
    resources = Resources(cpu="250m", memory="128Mi")

    @endpoint
    def split(self, text: str) -> list[str]:
        return [w.strip(".,;:!?").lower() for w in text.split() if w.strip(".,;:!?")]


class Summary(Service):
    """Counts words, using the tokenizer service."""

    name = "summary"
    resources = Resources(cpu="250m", memory="128Mi")

    @endpoint
    def count(self, text: str) -> dict[str, int]:
        words = crosscloud.call("tokenizer", "split", text=text)
        counts: dict[str, int] = {}
        for word in words:
            counts[word] = counts.get(word, 0) + 1
        return counts
