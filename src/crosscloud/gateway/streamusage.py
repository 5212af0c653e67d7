"""The model tokens of an answer, from its `usage` (JSON, or a stream's last chunk);
streams are counted even when the client does not ask for `usage`.

An OpenAI-compatible server sends a stream's token counts only in a last chunk that the
client asks for (`stream_options: {"include_usage": true}`), as OpenAI documents it and
vLLM, our runtime and the mock engine do: a chunk with `"choices": []` and a `usage`
object is that chunk alone. So a streaming request that does not ask for it is forwarded
asking for it (`ask_usage`), and that one chunk is taken out of what the client receives
(`UsageStrip`): the client gets the bytes the server would have sent it, and the gateway
reads the counts (`counted`, from the answer's tail, which sees the bytes before they are
stripped). Counting content chunks would be wrong where `usage` can be had (a chunk may
carry several tokens, and the prompt's are in none), so chunks are counted only for a
stream that ended without it: its client left (499) before the last chunk, or its server
does not send it.

Only a whole, parsed body is rewritten (llm.SCAN_LIMIT, 1 MiB): a longer one goes as it
came, and its stream is counted only if its client asked for `usage`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

#: The end of an answer kept for its `usage` (a stream's last chunk is a few hundred bytes).
TAIL = 8192
_PROMPT = re.compile(rb'"prompt_tokens"\s*:\s*(\d{1,12})')
_COMPLETION = re.compile(rb'"completion_tokens"\s*:\s*(\d{1,12})')
_ASK = b'"stream_options":{"include_usage":true},'
_LENGTH = re.compile(rb"(?im)^content-length:[^\r\n]*\r\n")
#: The blank line that ends a server-sent event (split on, kept: [event, end, ..., rest]).
_END = re.compile(rb"(\r\n\r\n|\n\n|\r\r)")
#: A stream that has gone this far without an event's end is not SSE: pass it on as is.
PENDING_LIMIT = 64 * 1024


def wants_usage(parsed: dict[str, Any]) -> bool:
    """Whether a request is a stream whose client asked for its `usage` chunk (or no
    stream at all: a whole answer carries `usage` anyway)."""
    if parsed.get("stream") is not True:
        return True
    options = parsed.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def ask_usage(
    head: bytes, body: bytes, parsed: dict[str, Any], *, chunked: bool
) -> tuple[bytes, bytes] | None:
    """(head, body) asking the server for the stream's `usage` chunk, or None when the
    request needs no change (not a stream, the client asked already) or cannot take one
    (`stream_options` that is not an object: the server's own 400 should answer it)."""
    if wants_usage(parsed):
        return None
    options = parsed.get("stream_options")
    if options is None and "stream_options" not in parsed:
        # Spliced in after the opening brace: every byte the client sent goes on as sent.
        at = body.index(b"{") + 1
        body = body[:at] + _ASK + body[at:]
    elif options is None or isinstance(options, dict):
        asked = {**(options or {}), "include_usage": True}
        body = orjson.dumps({**parsed, "stream_options": asked})
    else:
        return None
    if not chunked:
        head = _LENGTH.sub(b"content-length: %d\r\n" % len(body), head, count=1)
    return head, body


def _usage_only(event: bytes) -> bool:
    """Whether an event is the `usage` chunk: no choices, a usage object."""
    if b'"usage"' not in event:
        return False  # `[DONE]`, a content chunk: no parse (a failed one raises, slowly)
    payload = b"".join(line[5:].strip() for line in event.splitlines() if line.startswith(b"data:"))
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(chunk, dict)
        and chunk.get("choices") == []
        and isinstance(chunk.get("usage"), dict)
    )


def _end_of_events(data: bytes) -> int:
    """Where the last whole event in `data` ends (0: none does)."""
    end = 0
    for sep in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        at = data.rfind(sep)
        if at >= 0:
            end = max(end, at + len(sep))
    return end


class UsageStrip:
    """Takes the `usage` chunk out of an event stream that did not ask for it, passing
    every other event on as soon as it is whole."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, data: bytes) -> bytes:
        """What of `data` (and what was held before it) goes to the client now."""
        if self.pending:
            data, self.pending = self.pending + data, b""
        if data[-2:] != b"\n\n":  # a read usually ends with an event (or with \r\n\r\n)
            end = _end_of_events(data)
            if len(data) - end > PENDING_LIMIT:
                return data  # no event ends: not an event stream, nothing to strip
            data, self.pending = data[:end], data[end:]
        if b'"usage"' not in data:
            return data
        parts = _END.split(data)
        kept = [
            parts[i] + parts[i + 1]
            for i in range(0, len(parts) - 1, 2)
            if not _usage_only(parts[i])
        ]
        return b"".join(kept) + parts[-1]

    def take(self) -> bytes:
        """What is held at the end of the answer (an event the server did not end)."""
        rest, self.pending = self.pending, b""
        return rest


def counted(tail: list[bytes], status: int, events: int) -> tuple[int, int] | None:
    """(prompt, completion) tokens of an answer: its `usage`; or, for a stream (`events`
    its `data:` lines, -1 for no stream) that ended without one, a token per chunk."""
    end = b"".join(tail)[-TAIL:] if tail else b""
    if 200 <= status < 300:
        found = usage_of(end)
        if found is not None:
            return found
    elif status != 499:
        return None  # an error answer, or a replica that failed: nothing was generated
    chunks = events - end.count(b"data: [DONE]")
    return (0, chunks) if chunks > 0 else None


def usage_of(tail: bytes) -> tuple[int, int] | None:
    """(prompt, completion) tokens from the last `usage` object in `tail`, if any."""
    at = tail.rfind(b'"usage"')
    if at < 0:
        return None
    rest = tail[at:]
    p, c = _PROMPT.search(rest), _COMPLETION.search(rest)
    if p is None and c is None:
        return None  # "usage": null, as in every chunk but the last of an OpenAI stream
    return (int(p[1]) if p else 0), (int(c[1]) if c else 0)
