"""with_structured_output / bind_tools wiring on a real routing index with a scripted backend (no model):
what schema reaches the backend, how answers become parsed objects and tool calls, the errors."""
from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_json_schema
from pydantic import BaseModel, Field
from typing_extensions import Annotated, TypedDict

from ariadne_integrations.demo import DEMO_TASKS as TASKS
from ariadne_integrations.errors import InvalidInputError, StructuredOutputError
from ariadne_integrations.langchain import AriadneLLM, ChatAriadne, to_chat_messages
from ariadne_integrations.runtime.generation import GenerationConfig, GenerationResult
from ariadne_integrations.testing import FakeBackend


class Review(BaseModel):
    """A product review."""

    sentiment: Literal["positive", "negative"]
    product: str = Field(max_length=40)


class ReviewDict(TypedDict):
    """A product review."""

    sentiment: Annotated[Literal["positive", "negative"], ..., "the sentiment"]
    product: Annotated[str, ..., "the product"]


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def get_weather(location: str) -> str:
    """Get the weather at a location."""
    return "sunny"


class ScriptedBackend(FakeBackend):
    """Answers structured calls with ``reply`` (and ``finish``); free calls like FakeBackend."""

    def __init__(self, reply: str = "", finish: str = "stop") -> None:
        super().__init__(TASKS)
        self.reply, self.finish = reply, finish

    def generate(self, prompts: Any, adapters: Any, config: GenerationConfig) -> list[GenerationResult]:
        out = super().generate(prompts, adapters, config)
        if config.json_schema is not None:
            for r in out:
                r.text, r.finish_reason = self.reply, self.finish
        return out

    def stream(self, prompt: Any, adapter: str | None, config: GenerationConfig):  # type: ignore[override]
        if config.json_schema is None:
            yield from super().stream(prompt, adapter, config)
            return
        half = len(self.reply) // 2
        from ariadne_integrations.runtime.generation import StreamChunk

        yield StreamChunk(text=self.reply[:half], adapter=adapter)
        yield StreamChunk(text=self.reply[half:], adapter=adapter)
        yield StreamChunk(text="", final=True, adapter=adapter, prompt_tokens=3, completion_tokens=9, finish_reason=self.finish)


def chat_on(index: Any, backend: FakeBackend, **kw: Any) -> ChatAriadne:
    return ChatAriadne(index=str(index), backend=backend, **kw)


REVIEW = '{"sentiment": "negative", "product": "blender"}'


@pytest.mark.parametrize("schema", [Review, ReviewDict, Review.model_json_schema()], ids=["pydantic", "typeddict", "dict"])
def test_structured_output_binds_the_schema_and_parses(routing_index, schema):
    backend = ScriptedBackend(REVIEW)
    out = chat_on(routing_index, backend).with_structured_output(schema).invoke("Review: the blender broke")
    (_, _, config), = backend.calls
    assert json.loads(config.json_schema) == convert_to_json_schema(schema)
    if schema is Review:
        assert out == Review(sentiment="negative", product="blender")
    else:
        assert out == {"sentiment": "negative", "product": "blender"}


def test_include_raw_returns_raw_parsed_and_error(routing_index, held_out):
    chat = chat_on(routing_index, ScriptedBackend(REVIEW))
    out = chat.with_structured_output(Review, include_raw=True).invoke(held_out["sentiment"][0])
    assert set(out) == {"raw", "parsed", "parsing_error"}
    assert out["parsed"] == Review(sentiment="negative", product="blender") and out["parsing_error"] is None
    assert isinstance(out["raw"], AIMessage) and out["raw"].response_metadata["adapter"] == "sentiment"
    # valid JSON that fails the model's validation (max_length) -> parsing_error, as langchain-core reports it
    long = json.dumps({"sentiment": "positive", "product": "x" * 80})
    bad = chat_on(routing_index, ScriptedBackend(long)).with_structured_output(Review, include_raw=True).invoke("hi")
    assert bad["parsed"] is None and bad["parsing_error"] is not None


def test_json_mode_and_function_calling_methods(routing_index):
    backend = ScriptedBackend('{"any": [1, 2]}')
    assert chat_on(routing_index, backend).with_structured_output(method="json_mode").invoke("hi") == {"any": [1, 2]}
    assert json.loads(backend.calls[-1][2].json_schema) == {"type": "object"}
    backend = ScriptedBackend(REVIEW)
    out = chat_on(routing_index, backend).with_structured_output(Review, method="function_calling").invoke("hi")
    assert out == Review(sentiment="negative", product="blender")
    out = chat_on(routing_index, backend).with_structured_output(Review.model_json_schema(), method="function_calling").invoke("hi")
    assert out == {"sentiment": "negative", "product": "blender"}
    with pytest.raises(InvalidInputError, match="needs a schema"):
        chat_on(routing_index, backend).with_structured_output(None)
    with pytest.raises(InvalidInputError, match="method"):
        chat_on(routing_index, backend).with_structured_output(Review, method="xml")  # type: ignore[arg-type]


def test_cut_json_raises_the_typed_error_saying_what_to_raise(routing_index):
    chat = chat_on(routing_index, ScriptedBackend('{"sentiment": "neg', finish="length"), max_tokens=7)
    with pytest.raises(StructuredOutputError, match=r"max_new_tokens=7.*raise max_new_tokens"):
        chat.with_structured_output(Review).invoke("hi")
    with pytest.raises(StructuredOutputError, match="max_new_tokens=7"):
        list(chat.with_structured_output(Review).stream("hi"))
    with pytest.raises(StructuredOutputError, match="max_new_tokens=7"):
        chat.bind_tools([add], tool_choice="add").invoke("hi")
    not_json = chat_on(routing_index, ScriptedBackend("sure! here it is"))
    with pytest.raises(StructuredOutputError, match="not valid JSON"):
        not_json.with_structured_output(Review).invoke("hi")
    llm = AriadneLLM(index=str(routing_index), backend=ScriptedBackend('{"a', finish="length"))
    with pytest.raises(StructuredOutputError):
        llm.invoke("hi", json_schema={"type": "object"})


def test_structured_batch_is_one_routed_backend_call(routing_index, held_out):
    backend = ScriptedBackend(REVIEW)
    qs = [held_out[t][0] for t in TASKS]
    out = chat_on(routing_index, backend).with_structured_output(ReviewDict).batch(qs)
    assert out == [{"sentiment": "negative", "product": "blender"}] * 4
    (_, adapters, config), = backend.calls  # one mixed-adapter call for the whole batch
    assert adapters == list(TASKS) and config.json_schema is not None


def test_bind_tools_forced_name_constrains_to_the_arguments(routing_index):
    backend = ScriptedBackend('{"a": 3, "b": 4}')
    msg = chat_on(routing_index, backend).bind_tools([add, get_weather], tool_choice="add").invoke("3 plus 4?")
    assert json.loads(backend.calls[-1][2].json_schema)["properties"].keys() == {"a", "b"}
    assert msg.content == "" and msg.tool_calls[0]["name"] == "add" and msg.tool_calls[0]["args"] == {"a": 3, "b": 4}
    assert msg.tool_calls[0]["id"].startswith("call_") and msg.response_metadata["finish_reason"] == "tool_calls"
    chunks = list(chat_on(routing_index, backend).bind_tools([add], tool_choice={"type": "function", "function": {"name": "add"}})
                  .stream("3 plus 4?"))
    assert len(chunks) == 1 and chunks[0].tool_calls[0]["args"] == {"a": 3, "b": 4}


def test_bind_tools_any_with_several_tools_constrains_to_any_of_them(routing_index):
    backend = ScriptedBackend('{"name": "get_weather", "arguments": {"location": "Paris"}}')
    msg = chat_on(routing_index, backend).bind_tools([add, get_weather], tool_choice="any").invoke("weather in Paris?")
    schema = json.loads(backend.calls[-1][2].json_schema)
    assert [v["properties"]["name"]["enum"] for v in schema["anyOf"]] == [["add"], ["get_weather"]]
    assert msg.tool_calls[0]["name"] == "get_weather" and msg.tool_calls[0]["args"] == {"location": "Paris"}
    one = ScriptedBackend('{"location": "Paris"}')  # "any" with one tool: that tool, arguments only
    assert chat_on(routing_index, one).bind_tools([get_weather], tool_choice="required").invoke("x").tool_calls[0]["args"] == {
        "location": "Paris"}


@pytest.mark.parametrize("choice", [None, "auto"])
def test_free_tool_choice_is_not_implemented_and_says_what_is(routing_index, choice):
    with pytest.raises(NotImplementedError, match=r"tool_choice=<tool name>.*'any'.*'none'"):
        chat_on(routing_index, FakeBackend(TASKS)).bind_tools([add], tool_choice=choice)


def test_bind_tools_bad_choices(routing_index):
    chat = chat_on(routing_index, FakeBackend(TASKS))
    with pytest.raises(InvalidInputError, match="not one of the bound tools"):
        chat.bind_tools([add], tool_choice="multiply")
    with pytest.raises(InvalidInputError, match="no tools"):
        chat.bind_tools([], tool_choice="any")
    assert chat.bind_tools([add], tool_choice="none").invoke("hi").content  # nothing bound: a plain answer


def test_tool_call_history_reads_as_the_json_the_model_writes():
    msgs = to_chat_messages([
        HumanMessage("What is 1 + 2"),
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "x1", "type": "tool_call"}]),
        ToolMessage("3", name="add", tool_call_id="x1"),
    ])
    assert msgs[1] == {"role": "assistant", "content": '{"name": "add", "arguments": {"a": 1, "b": 2}}'}
    assert msgs[2]["role"] == "user" and "add" in msgs[2]["content"]
