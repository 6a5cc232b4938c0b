"""AriadneLlamaLLM wiring with the REAL router and a recording fake backend (the real backbone is in
test_llm_real.py): which adapter each call routes to, what reaches the backend, metadata, errors."""
from __future__ import annotations

import asyncio
import threading

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import CustomLLM

from ariadne_integrations.constants import BASE_ADAPTER as BASE
from ariadne_integrations.core.generator import RoutedGenerator
from ariadne_integrations.errors import IndexNotFoundError, InvalidInputError, UnknownAdapterError
from ariadne_integrations.llama_index import AriadneLlamaLLM, query_from_prompt
from ariadne_integrations.runtime.generation import GenerationResult, StreamChunk


class RecordingBackend:
    """Answers "<adapter>: <last user text>" and records every call (prompts, adapters, config)."""

    model_name = "fake-backbone"

    def __init__(self, adapters):
        self._adapters = set(adapters)
        self.calls: list[tuple] = []
        self.lock = threading.Lock()

    def _text(self, p):
        return p if isinstance(p, str) else p[-1]["content"]

    def generate(self, prompts, adapters, config):
        with self.lock:
            self.calls.append(("generate", list(prompts), list(adapters), config))
        return [GenerationResult(text=f"{a}: {self._text(p)[:20]}", adapter=a, prompt_tokens=7, completion_tokens=3)
                for p, a in zip(prompts, adapters)]

    def stream(self, prompt, adapter, config):
        with self.lock:
            self.calls.append(("stream", [prompt], [adapter], config))
        for w in ["one ", "two ", "three"]:
            yield StreamChunk(text=w, adapter=adapter)
        yield StreamChunk(text="", final=True, adapter=adapter, prompt_tokens=5, completion_tokens=3, finish_reason="stop")

    def has_adapter(self, name):
        return name in self._adapters


@pytest.fixture()
def backend(selector):
    return RecordingBackend(selector.router.adapters)


@pytest.fixture()
def llm(selector, backend):
    return AriadneLlamaLLM.from_generator(RoutedGenerator(selector.router, backend), max_new_tokens=12)


def test_is_a_custom_llm_with_metadata(llm):
    assert isinstance(llm, CustomLLM)
    md = llm.metadata
    assert md.model_name == "fake-backbone" and md.num_output == 12 and md.is_chat_model
    assert md.context_window == 2048


def test_complete_routes_and_reports_the_decision(llm, backend):
    resp = llm.complete("I was billed twice this month")
    info = resp.additional_kwargs
    assert info["adapter"] == "billing_docs" and not info["abstained"] and not info["forced"]
    assert info["score"] > info["scores"]["product_docs"] and info["margin"] > 0
    assert info["runner_up"] in {"product_docs", "travel_policy"}
    assert info["prompt_tokens"] == 7 and info["completion_tokens"] == 3
    assert resp.text.startswith("billing_docs:")
    _, _, adapters, config = backend.calls[-1]
    assert adapters == ["billing_docs"] and config.max_new_tokens == 12


def test_routes_on_the_question_inside_llama_index_templates(llm, backend):
    from llama_index.core.prompts.default_prompts import DEFAULT_TEXT_QA_PROMPT

    prompt = DEFAULT_TEXT_QA_PROMPT.format(
        context_str="Hotels up to 150 euros per night are approved. Flights in economy class.",
        query_str="I was billed twice this month",
    )
    assert query_from_prompt(prompt) == "I was billed twice this month"
    resp = llm.complete(prompt, formatted=True)
    assert resp.additional_kwargs["adapter"] == "billing_docs"  # not travel, despite the travel context
    assert backend.calls[-1][1] == [prompt]  # the backend still gets the whole prompt


def test_forced_adapter_and_bare_backbone(llm, backend):
    resp = llm.complete("I was billed twice", adapter="travel_policy")
    assert resp.additional_kwargs["adapter"] == "travel_policy" and resp.additional_kwargs["forced"]
    resp = llm.complete("I was billed twice", adapter=BASE)
    assert resp.additional_kwargs["adapter"] is None and backend.calls[-1][2] == [None]
    with pytest.raises(UnknownAdapterError):
        llm.complete("hello", adapter="nope")


def test_chat_sends_messages_and_routes_on_last_user_message(llm, backend):
    msgs = [ChatMessage(role=MessageRole.SYSTEM, content="You are helpful."),
            ChatMessage(role=MessageRole.USER, content="I was charged twice"),
            ChatMessage(role=MessageRole.ASSISTANT, content="Sorry to hear."),
            ChatMessage(role=MessageRole.USER, content="can I fly business class to Tokyo")]
    resp = llm.chat(msgs)
    assert resp.message.role == MessageRole.ASSISTANT
    assert resp.additional_kwargs["adapter"] == "travel_policy"
    sent = backend.calls[-1][1][0]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]


def test_stream_complete_and_stream_chat(llm, backend):
    chunks = list(llm.stream_complete("export my report to csv"))
    assert "".join(c.delta for c in chunks) == "one two three" and chunks[-1].text == "one two three"
    assert all(c.additional_kwargs["adapter"] == "product_docs" for c in chunks)
    assert chunks[-1].additional_kwargs["completion_tokens"] == 3
    chat_chunks = list(llm.stream_chat([ChatMessage(role=MessageRole.USER, content="hotel budget for my trip")]))
    assert chat_chunks[-1].message.content == "one two three"
    assert chat_chunks[-1].additional_kwargs["adapter"] == "travel_policy"


async def test_async_paths(llm):
    a, b = await asyncio.gather(llm.acomplete("I was billed twice"), llm.achat(
        [ChatMessage(role=MessageRole.USER, content="invite a colleague to my workspace")]))
    assert a.additional_kwargs["adapter"] == "billing_docs"
    assert b.additional_kwargs["adapter"] == "product_docs"
    chunks = [c async for c in await llm.astream_complete("hotel budget for my trip")]
    assert chunks[-1].additional_kwargs["adapter"] == "travel_policy"


def test_settings_stop_and_kwargs_reach_the_backend(selector, backend):
    llm = AriadneLlamaLLM(generator=RoutedGenerator(selector.router, backend), stop=["\n\n"], temperature=0.5)
    llm.complete("I was billed twice", max_tokens=5)
    cfg = backend.calls[-1][3]
    assert cfg.stop == ("\n\n",) and cfg.temperature == 0.5 and cfg.max_new_tokens == 5


def test_bad_input(llm, selector, backend, tmp_path):
    with pytest.raises(InvalidInputError):
        llm.complete("   ")
    with pytest.raises(InvalidInputError):
        llm.chat([ChatMessage(role=MessageRole.USER, content="")])
    with pytest.raises(InvalidInputError):
        AriadneLlamaLLM(generator=RoutedGenerator(selector.router, backend), stop=[""])
    with pytest.raises(IndexNotFoundError):
        AriadneLlamaLLM(index=str(tmp_path / "missing"))
    with pytest.raises(UnknownAdapterError):
        AriadneLlamaLLM(generator=RoutedGenerator(selector.router, backend), adapter="nope")


def test_construction_from_index_is_lazy(selector, tmp_path):
    selector.router.save(tmp_path / "idx")
    llm = AriadneLlamaLLM(index=str(tmp_path / "idx"))
    assert not llm.generator.loaded
    assert llm.metadata.model_name  # metadata never loads the backbone
    assert not llm.generator.loaded
    assert llm.generator.adapters == selector.router.adapters


def test_query_engine_response_names_the_answering_adapter(selector, backend, doc_indices):
    from llama_index.core.query_engine import RouterQueryEngine
    from llama_index.core.tools import QueryEngineTool

    llm = AriadneLlamaLLM.from_generator(RoutedGenerator(selector.router, backend), max_new_tokens=12)
    tools = [QueryEngineTool.from_defaults(idx.as_query_engine(llm=llm), name=name, description=f"{name} documents")
             for name, idx in doc_indices.items()]
    engine = RouterQueryEngine(selector=selector, query_engine_tools=tools, llm=llm)
    resp = engine.query("can I expense a business class flight")
    assert resp.metadata["ariadne_adapter"] == "travel_policy"
    assert [c["adapter"] for c in resp.metadata["ariadne_routing"]] == ["travel_policy"]
    assert resp.metadata["ariadne_routing"][0]["score"] > 0 and "scores" not in resp.metadata["ariadne_routing"][0]
    plain = doc_indices["product_docs"].as_query_engine(llm=llm).query("how do I export a report")
    assert plain.metadata["ariadne_adapter"] == "product_docs"

    async def aquery():
        return await engine.aquery("refund for a duplicate invoice charge")

    assert asyncio.run(aquery()).metadata["ariadne_adapter"] == "billing_docs"
