"""Stop strings for generated text: cut at the first one, and hold back a tail that could be
the start of one, so a stream never sends text that a later token turns into a stop."""

from __future__ import annotations


class StopFilter:
    """Feed pieces in order; each call says what may be sent now and whether to stop."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
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
        keep = min(self.hold, len(text))
        self.buffer = text[len(text) - keep :]
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """What was held back, once the generation has ended without a stop."""
        rest, self.buffer = self.buffer, ""
        return rest
