"""What LangChain / LlamaIndex users expect of a model object: misspelt arguments are errors, models
pickle and deep-copy, token counts come from the backbone's own tokenizer (real backbone)."""
from __future__ import annotations

import asyncio
import copy
import pickle

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler

from ariadne_integrations.errors import InvalidInputError
from ariadne_integrations.langchain import AriadneLLM, ChatAriadne
from ariadne_integrations.llama_index import AriadneLlamaLLM

WRAPPERS = (AriadneLLM, ChatAriadne, AriadneLlamaLLM)


@pytest.mark.parametrize("cls", WRAPPERS)
def test_misspelt_constructor_argument_is_an_error_listing_the_accepted_ones(cls, routing_index):
    with pytest.raises(InvalidInputError, match=r"unknown argument\(s\) \['max_new_token'\]") as info:
        cls(index=str(routing_index), max_new_token=4)
    assert "max_new_tokens" in str(info.value) and "temperature" in str(info.value)


@pytest.mark.parametrize("cls", WRAPPERS)
def test_out_of_range_settings_are_typed_errors(cls, routing_index):
    with pytest.raises(InvalidInputError, match="max_new_tokens"):
        cls(index=str(routing_index), max_new_tokens=0)
    with pytest.raises(InvalidInputError, match="top_p"):
        cls(index=str(routing_index), top_p=1.5)


def test_llama_index_rejects_unknown_call_arguments_like_langchain(routing_index, fake_backend):
    llm = AriadneLlamaLLM(index=str(routing_index), backend=fake_backend)
    with pytest.raises(InvalidInputError, match=r"unsupported call argument\(s\) \['bogus_kw'\]"):
        llm.complete("how do I reset my password", bogus_kw=1)
    assert llm.complete("how do I reset my password", max_tokens=5).text  # a known setting is fine


@pytest.mark.parametrize("cls", WRAPPERS)
def test_pickle_and_deepcopy_keep_settings_and_rebuild_the_generator(cls, routing_index, fake_backend):
    model = cls(index=str(routing_index), max_new_tokens=7, temperature=0.5, stop=["\n\n"])
    assert model.generator.adapters  # built: holds locks and lambdas
    clone = pickle.loads(pickle.dumps(model))
    deep = copy.deepcopy(model)
    for other in (clone, deep):
        assert (other.max_new_tokens, other.temperature, other.stop, other.index) == (7, 0.5, ["\n\n"], str(routing_index))
        assert other.generator is not model.generator and other.generator.adapters == model.generator.adapters
    shared = cls(index=str(routing_index), backend=fake_backend)
    assert copy.deepcopy(shared).backend is fake_backend  # heavy objects are shared, not copied


@pytest.mark.slow
def test_token_counts_come_from_the_backbone_tokenizer(real_index):
    chat = ChatAriadne(index=str(real_index))
    tok = chat.generator.tokenizer
    text = "Translate to SQL: list the products in the garden category"
    assert chat.get_num_tokens(text) == len(tok(text, add_special_tokens=False)["input_ids"]) > 5
    msgs = [SystemMessage("Be brief."), HumanMessage(text)]
    templated = tok.apply_chat_template([{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}],
                                        add_generation_prompt=True, tokenize=True)
    templated = templated["input_ids"] if isinstance(templated, dict) or hasattr(templated, "keys") else templated
    assert chat.get_num_tokens_from_messages(msgs) == len(templated) > chat.get_num_tokens(text)
    assert AriadneLLM(index=str(real_index)).get_num_tokens(text) == chat.get_num_tokens(text)


def test_llama_index_acomplete_records_one_llm_event(routing_index, fake_backend):
    handler = LlamaDebugHandler()
    llm = AriadneLlamaLLM(index=str(routing_index), backend=fake_backend, callback_manager=CallbackManager([handler]))
    asyncio.run(llm.acomplete("what is my account balance"))
    assert len(handler.get_event_pairs(CBEventType.LLM)) == 1
    asyncio.run(llm.achat([ChatMessage(role="user", content="what is my account balance")]))
    assert len(handler.get_event_pairs(CBEventType.LLM)) == 2
