"""Stop strings for generated text: cut at the first one, and hold back only a tail that is
the start of one, so a stream never sends text that a later token turns into a stop, and
never delays text that cannot be."""

from __future__ import annotations


class StopFilter:
    """Feed pieces in order; each call says what may be sent now and whether to stop."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.buffer = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        """(text to send, stopped); after a stop, nothing more is sent."""
        if not self.stops:
            return piece, False
        text = self.buffer + piece
        hits = [i for i in (text.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.buffer = ""
            return text[: min(hits)], True
        keep = _partial(text, self.stops)
        self.buffer = text[len(text) - keep :]
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """What was held back, once the generation has ended without a stop."""
        rest, self.buffer = self.buffer, ""
        return rest


def _partial(text: str, stops: tuple[str, ...]) -> int:
    """The length of the longest end of `text` that begins some stop string."""
    best = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:k]):
                best = k
                break
    return best
