"""Table tests for what the gateway reads of OpenAI traffic without buffering it: the
`model` of a request (parsed, or scanned past the read limit), `usage` at the end of an
answer (JSON or a stream's last chunk), and what replicas say at /v1/models and /metrics."""

from __future__ import annotations

import pytest

from crosscloud.gateway import engines, llm, streamusage

STREAM_END = (
    b'data: {"choices":[{"delta":{"content":"x"}}],"usage":null}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (b'{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}', (7, 2)),
        (STREAM_END, (12, 3)),  # the last chunk's, past the nulls of the others
        (b'data: {"choices":[],"usage":null}\n\ndata: [DONE]\n\n', None),
        (b'{"usage": {"prompt_tokens": 5}}', (5, 0)),  # embeddings: no completion
        (b'{"choices":[{"text":"no usage here"}]}', None),
        (b"", None),
    ],
)
def test_usage_from_the_end_of_an_answer(tail: bytes, expected: tuple[int, int] | None) -> None:
    assert streamusage.usage_of(tail) == expected


@pytest.mark.parametrize(
    ("body", "whole", "model", "parsed"),
    [
        (b'{"model":"m1","messages":[]}', True, "m1", True),
        (b'{"messages":[{"content":"\\"model\\": \\"evil\\""}],"model":"m2"}', True, "m2", True),
        (b'{"model": 3}', True, None, True),
        (b"not json", True, None, False),
        # past the read limit: only a scan of what came, never a parse
        (b'{"stream":true,"model":"big\\u0041","messages":[{"content":"xx', False, "bigA", False),
        (b'{"messages":[{"content":"xx', False, None, False),
    ],
)
def test_model_of_a_request(body: bytes, whole: bool, model: str | None, parsed: bool) -> None:
    found, data = llm.read_request(body, whole=whole)
    assert found == model
    assert (data is not None) == parsed


def test_models_of_a_replica_list() -> None:
    body = b'{"object":"list","data":[{"id":"b"},{"id":"a"},{"id":"a"},{"x":1},{"id":""}]}'
    assert engines.models_of(body) == ("a", "b")
    assert engines.models_of(b'{"detail":"not found"}') == ()
    assert engines.models_of(b"<html>") == ()
    assert engines.models_of(None) == ()


def test_queue_of_vllm_metrics() -> None:
    text = (
        b"# HELP vllm:num_requests_waiting Requests waiting.\n"
        b'vllm:num_requests_waiting{model_name="a"} 3.0\n'
        b'vllm:num_requests_waiting{model_name="b"} 2.0\n'
        b"vllm:num_requests_running 4\n"
        b"vllm:num_requests_waiting_by_reason 9\n"
    )
    assert engines.queue_of(text) == (5, 4)
    assert engines.queue_of(b"crosscloud_requests_total 3\n") == (-1, -1)  # not exported
    assert engines.queue_of(None) == (-1, -1)
