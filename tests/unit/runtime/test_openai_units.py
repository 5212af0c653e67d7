"""Stop strings, OpenAI error params and LLM handler definitions: tables of inputs."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from crosscloud import Service, errors, llm
from crosscloud.runtime import openai_wire
from crosscloud.runtime.stops import StopFilter
from crosscloud.sdk.definition import define
from crosscloud.sdk.openai_schema import ChatRequest, EmbeddingRequest

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize(
    ("stops", "pieces", "sent", "stopped"),
    [
        ((), ["a", "b"], ["a", "b"], False),
        (("END",), ["he", "llo", " E", "N", "D", "x"], ["he", "llo", " ", "", ""], True),
        (("END",), ["he", "llo", " E", "x"], ["he", "llo", " ", "Ex"], False),
        (("END",), ["E", "NE", "ND"], ["", "EN", ""], True),  # "ENEND": the second E starts it
        (("\n", "."), ["one", ".", "two"], ["one", ""], True),
        (("ab",), ["xa", "b"], ["x", ""], True),
    ],
)
def test_stop_filter_never_sends_text_a_later_piece_turns_into_a_stop(
    stops: tuple[str, ...], pieces: list[str], sent: list[str], stopped: bool
) -> None:
    f = StopFilter(stops)
    out = []
    for piece in pieces:
        text, hit = f.feed(piece)
        out.append(text)
        if hit:
            break
    assert out == sent
    assert hit is stopped
    if not stopped and stops:
        assert "".join(out) + f.flush() == "".join(pieces)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "x", "content": "a"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user"}], "temperature": 3}, "temperature"),
        ({"model": "m", "messages": [{"role": "user"}], "n": 2}, "n"),
        ({"messages": [{"role": "user"}]}, "model"),
    ],
)
def test_validation_errors_name_the_param_as_openai_does(body: dict[str, Any], param: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        ChatRequest.model_validate(body)
    message, found = openai_wire.validation_problem(caught.value)
    assert found == param
    assert param in message


@pytest.mark.parametrize(
    ("given", "inputs"),
    [("a", ["a"]), (["a", "b"], ["a", "b"]), ([1, 2], [[1, 2]]), ([[1], [2, 3]], [[1], [2, 3]])],
)
def test_embedding_inputs_are_always_a_list(given: Any, inputs: list[Any]) -> None:
    assert EmbeddingRequest(model="m", input=given).inputs == inputs


def test_models_default_to_the_service_name_and_v1_is_reserved() -> None:
    class Tiny(Service):
        @llm.completions
        def complete(self, request: llm.CompletionRequest) -> llm.Generation:
            return llm.Generation(tokens=[], prompt_tokens=0)

    definition = define(Tiny)
    assert definition.models == ("Tiny",)
    assert [h.kind for h in definition.llm] == ["completions"]
    assert definition.endpoints == ()


class _WrongRequest(Service):
    @llm.chat
    def chat(self, request: llm.CompletionRequest) -> llm.Generation:
        raise NotImplementedError


class _TwoChats(Service):
    @llm.chat
    def one(self, request: llm.ChatRequest) -> llm.Generation:
        raise NotImplementedError

    @llm.chat
    def two(self, request: llm.ChatRequest) -> llm.Generation:
        raise NotImplementedError


class _Yields(Service):
    @llm.chat
    def chat(self, request: llm.ChatRequest) -> Any:
        yield "x"


class _ModelsWithoutHandlers(Service):
    models = ["m"]

    def setup(self) -> None:
        pass


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (_WrongRequest, "is crosscloud.llm.ChatRequest, not"),
        (_TwoChats, "already has a @chat handler"),
        (_Yields, "whose `tokens` is the generator"),
        (_ModelsWithoutHandlers, "no endpoints"),
    ],
)
def test_bad_llm_services_are_refused_with_the_reason(cls: type[Service], message: str) -> None:
    with pytest.raises(errors.ServiceDefinitionError, match=message):
        define(cls)


def test_generation_refuses_more_cached_than_prompt_tokens() -> None:
    with pytest.raises(ValueError, match="cached_tokens <= prompt_tokens"):
        llm.Generation(tokens=[], prompt_tokens=2, cached_tokens=3)
