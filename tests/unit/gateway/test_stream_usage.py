"""Tables for counting streams whose client did not ask for `usage`: the request forwarded
asking for it (the client's bytes kept where they can be), and the `usage` chunk taken out
of the answer however the stream is cut into reads, every other byte passed on."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from crosscloud.gateway import streamusage

HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n\r\n"
ASK = b'"stream_options":{"include_usage":true},'


@pytest.mark.parametrize(
    ("body", "rewritten"),
    [
        # not a stream, or the client asked: nothing changes
        (b'{"model":"m","stream":false}', None),
        (b'{"model":"m"}', None),
        (b'{"model":"m","stream":true,"stream_options":{"include_usage":true}}', None),
        (b'{"model":"m","stream":true,"stream_options":"odd"}', None),  # the server's 400
        # spliced in: the client's bytes (spacing, escapes, key order) go on as sent
        (
            b' { "model" : "m\\u0041", "stream": true}',
            b" {" + ASK + b' "model" : "m\\u0041", "stream": true}',
        ),
        # options the client set are kept; include_usage false is overridden (then stripped)
        (
            b'{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1}}',
            b'{"model":"m","stream":true,"stream_options":{"include_usage":true,"x":1}}',
        ),
        (
            b'{"model":"m","stream":true,"stream_options":null}',
            b'{"model":"m","stream":true,"stream_options":{"include_usage":true}}',
        ),
    ],
)
def test_a_stream_asks_for_usage(body: bytes, rewritten: bytes | None) -> None:
    parsed: dict[str, Any] = orjson.loads(body)
    asked = streamusage.ask_usage(HEAD, body, parsed, chunked=False)
    if rewritten is None:
        assert asked is None
        return
    assert asked is not None
    head, new_body = asked
    assert new_body == rewritten
    assert orjson.loads(new_body)["stream_options"]["include_usage"] is True
    assert head == HEAD.replace(b"Content-Length: 99", b"content-length: %d" % len(rewritten))


def test_a_chunked_request_keeps_its_head() -> None:
    body = b'{"model":"m","stream":true}'
    chunked = HEAD.replace(b"Content-Length: 99\r\n", b"")
    assert streamusage.ask_usage(chunked, body, orjson.loads(body), chunked=True) == (
        chunked,
        b"{" + ASK + body[1:],
    )


USAGE = b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}'
CONTENT = [
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"usage"}}]}',
    # a server that puts usage in its last content chunk (older llama.cpp): kept
    b'data: {"id":"c","choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":5}}',
]


@pytest.mark.parametrize("sep", [b"\n\n", b"\r\n\r\n"])
@pytest.mark.parametrize("cut", [1, 3, 7, 64, 10_000])
def test_the_usage_chunk_is_taken_out_however_the_stream_is_cut(sep: bytes, cut: int) -> None:
    expected = b"".join(c + sep for c in CONTENT) + b"data: [DONE]" + sep
    stream = b"".join(c + sep for c in CONTENT) + USAGE + sep + b"data: [DONE]" + sep
    strip = streamusage.UsageStrip()
    out = [strip.feed(stream[i : i + cut]) for i in range(0, len(stream), cut)]
    assert b"".join(out) + strip.take() == expected
    # every whole event went on as soon as it was whole: nothing is held between events
    assert strip.pending == b""


def test_an_answer_that_is_not_an_event_stream_passes_through() -> None:
    strip = streamusage.UsageStrip()
    blob = b'{"choices":[],"usage":{"prompt_tokens":1}}' * 2000  # 84 kB, no event end
    got = strip.feed(blob[:30_000]) + strip.feed(blob[30_000:]) + strip.take()
    assert got == blob


DONE = b"data: [DONE]\n\n"
CHUNK = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'


@pytest.mark.parametrize(
    ("tail", "status", "events", "expected"),
    [
        ([CHUNK, USAGE + b"\n\n", DONE], 200, 3, (5, 2)),  # its usage, not its chunks
        ([b'{"usage":{"prompt_tokens":3,"completion_tokens":4}}'], 200, -1, (3, 4)),
        ([CHUNK * 20], 499, 20, (0, 20)),  # the client left mid-stream: a token a chunk
        ([CHUNK * 7, DONE], 200, 8, (0, 7)),  # a server that never sends usage
        ([b'{"choices":[]}'], 499, -1, None),  # not a stream: nothing to count by
        ([CHUNK * 3], 502, 3, None),  # the replica failed
        ([b'{"error":{"message":"bad"}}'], 400, -1, None),
    ],
)
def test_what_an_answer_counts(
    tail: list[bytes], status: int, events: int, expected: tuple[int, int] | None
) -> None:
    assert streamusage.counted(tail, status, events) == expected
