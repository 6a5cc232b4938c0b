"""Structured output and forced tool calls on the REAL embedded backbone with the demo LoRA adapters:
routed extraction into pydantic, one mixed-adapter batch across adapters, include_raw, TypedDict / dict
schemas, bind_tools, and the typed error when the token limit cuts the JSON."""
from __future__ import annotations

from typing import Literal

import pytest
from langchain_core.tools import tool
from pydantic import BaseModel, Field
from typing_extensions import Annotated, TypedDict

from ariadne_integrations.demo import DEMO_TASKS as TASKS
from ariadne_integrations.errors import StructuredOutputError
from ariadne_integrations.langchain import ChatAriadne

pytest.importorskip("xgrammar", reason="structured output needs the [structured] extra")
pytestmark = pytest.mark.slow

REVIEWS = [
    ("Classify the sentiment: What a horrible backpack! It was a waste of money. 2/5.", "negative"),
    ("Customer review: I adore these headphones. My whole family enjoyed them. 5/5.", "positive"),
]


class Review(BaseModel):
    """A product review."""

    sentiment: Literal["positive", "negative"]
    product: str = Field(max_length=32)


class ReviewStars(TypedDict):
    """A product review's label and stars."""

    sentiment: Annotated[Literal["positive", "negative"], ..., "the sentiment"]
    stars: Annotated[int, ..., "stars from 1 to 5"]


@pytest.fixture(scope="module")
def chat(real_index):
    return ChatAriadne(index=str(real_index), max_tokens=48)


def test_routed_extraction_into_pydantic(chat):
    structured = chat.with_structured_output(Review, include_raw=True)
    for text, label in REVIEWS:
        out = structured.invoke(text)
        assert out["parsing_error"] is None and isinstance(out["parsed"], Review)
        assert out["parsed"].sentiment == label, out["raw"].content
        assert out["raw"].response_metadata["adapter"] == "sentiment"


def test_batch_of_four_across_adapters_is_one_generate_and_parses_four_of_four(chat, held_out, monkeypatch):
    backend = chat.generator.backend
    calls = []
    orig = backend.generate

    def counting(prompts, adapters, config, **kw):
        calls.append((list(adapters), config.json_schema))
        return orig(prompts, adapters, config, **kw)

    monkeypatch.setattr(backend, "generate", counting)
    answer = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 40}}, "required": ["answer"]}
    qs = [held_out[t][3] for t in TASKS]
    out = chat.with_structured_output(answer, include_raw=True).batch(qs)
    assert [o["parsing_error"] for o in out] == [None] * 4
    assert all(isinstance(o["parsed"]["answer"], str) for o in out)
    assert [o["raw"].response_metadata["adapter"] for o in out] == list(TASKS)
    assert len(calls) == 1 and calls[0][0] == list(TASKS), "one mixed-adapter generate, one adapter per row"


def test_typeddict_and_dict_schemas(chat):
    text, label = REVIEWS[0]
    out = chat.with_structured_output(ReviewStars).invoke(text)
    assert out["sentiment"] == label and isinstance(out["stars"], int)
    schema = {"title": "Label", "type": "object", "properties": {"sentiment": {"enum": ["positive", "negative"]}},
              "required": ["sentiment"]}
    assert chat.with_structured_output(schema).invoke(REVIEWS[1][0]) == {"sentiment": "positive"}


def test_bind_tools_forced(chat):
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @tool
    def get_weather(location: str) -> str:
        """Get the weather at a location."""
        return "sunny"

    msg = chat.bind_tools([add], tool_choice="add").invoke("What is 3 plus 4?")
    (call,) = msg.tool_calls
    assert call["name"] == "add" and set(call["args"]) == {"a", "b"} and all(isinstance(v, int) for v in call["args"].values())
    msg = chat.bind_tools([get_weather, add], tool_choice="any").invoke("What is 3 plus 4?")
    assert msg.tool_calls[0]["name"] in ("add", "get_weather") and msg.content == ""


def test_json_cut_by_max_tokens_raises_the_typed_error(chat):
    with pytest.raises(StructuredOutputError, match="max_new_tokens=6"):
        chat.with_structured_output(Review, max_tokens=6).invoke(REVIEWS[0][0])
