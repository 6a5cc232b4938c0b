"""AriadneLlamaLLM.structured_predict / astructured_predict / stream_structured_predict / as_structured_llm:
decoded under the output class's JSON schema on the REAL backbone with the demo adapters, so the answer
always parses into the class; a cut answer raises the typed error."""
from __future__ import annotations

import asyncio
import json
from typing import Literal

import pytest
from llama_index.core.prompts import PromptTemplate
from pydantic import BaseModel, Field

from ariadne_integrations.errors import StructuredOutputError
from ariadne_integrations.llama_index import AriadneLlamaLLM
from ariadne_integrations.runtime.generation import GenerationConfig, GenerationResult
from ariadne_integrations.testing import FakeBackend

REVIEW = "Classify the sentiment: What a horrible backpack! It was a waste of money. 2/5."
PROMPT = PromptTemplate("{review}")


class Review(BaseModel):
    """A product review's label and stars."""

    sentiment: Literal["positive", "negative"]
    stars: int = Field(ge=1, le=5)


class _Scripted(FakeBackend):
    def __init__(self, reply: str, finish: str = "stop") -> None:
        super().__init__(["sentiment", "support_intent", "date_iso", "sql"])
        self.reply, self.finish = reply, finish

    def generate(self, prompts, adapters, config: GenerationConfig) -> list[GenerationResult]:  # type: ignore[override]
        out = super().generate(prompts, adapters, config)
        for r in out:
            r.text, r.finish_reason = self.reply, self.finish
        return out


@pytest.mark.parametrize("chat_model", [True, False], ids=["chat", "completion"])
def test_schema_reaches_the_backend_and_the_answer_is_validated(chat_model):
    backend = _Scripted('{"sentiment": "negative", "stars": 2}')
    llm = AriadneLlamaLLM(backend=backend, chat_model=chat_model)
    assert llm.structured_predict(Review, PROMPT, review="meh") == Review(sentiment="negative", stars=2)
    assert json.loads(backend.calls[-1][2].json_schema) == Review.model_json_schema()
    bad = AriadneLlamaLLM(backend=_Scripted('{"sentiment": "negative", "stars": 9}'))  # a server that ignored minimum
    with pytest.raises(StructuredOutputError, match="fails its validation"):
        bad.structured_predict(Review, PROMPT, review="meh")
    cut = AriadneLlamaLLM(backend=_Scripted('{"senti', finish="length"), max_new_tokens=5)
    with pytest.raises(StructuredOutputError, match="max_new_tokens=5"):
        cut.structured_predict(Review, PROMPT, review="meh")


# --------------------------------------------------------------------------- real backbone
@pytest.fixture(scope="module")
def llm():
    pytest.importorskip("xgrammar", reason="structured output needs the [structured] extra")
    from ariadne_integrations.demo import demo_index_path

    return AriadneLlamaLLM(index=str(demo_index_path()), max_new_tokens=48)


@pytest.mark.slow
def test_structured_predict_routes_and_parses(llm):
    out = llm.structured_predict(Review, PROMPT, review=REVIEW)
    assert isinstance(out, Review) and out.sentiment == "negative"
    out = asyncio.run(llm.astructured_predict(Review, PROMPT, review="Customer review: I adore this cartoon. 5/5."))
    assert isinstance(out, Review) and out.sentiment == "positive"
    streamed = list(llm.stream_structured_predict(Review, PROMPT, review=REVIEW))
    assert streamed == [llm.structured_predict(Review, PROMPT, review=REVIEW)]


@pytest.mark.slow
def test_as_structured_llm(llm):
    from llama_index.core.llms import ChatMessage

    sllm = llm.as_structured_llm(Review)
    resp = sllm.chat([ChatMessage(role="user", content=REVIEW)])
    assert isinstance(resp.raw, Review) and resp.raw.sentiment == "negative"
    assert Review.model_validate_json(resp.message.content or "") == resp.raw
    assert isinstance(sllm.complete(REVIEW).raw, Review)


@pytest.mark.slow
def test_cut_answer_raises_the_typed_error(llm):
    with pytest.raises(StructuredOutputError, match="raise max_new_tokens"):
        llm.structured_predict(Review, PROMPT, llm_kwargs={"max_new_tokens": 4}, review=REVIEW)
