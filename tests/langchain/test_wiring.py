"""Wiring of RoutedGenerator / AriadneLLM / ChatAriadne with the real router and a fake backend.

The router (MiniLM embedder, demo data) is real; only generation is faked, so these tests check the
plumbing: one routing pass, one mixed backend call, metadata, errors, isolation, async, streaming.
"""
from __future__ import annotations

import asyncio

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate

from ariadne_integrations.constants import BASE_ADAPTER as BASE
from ariadne_integrations.core.generator import RoutedGenerator
from ariadne_integrations.demo import DEMO_TASKS as TASKS
from ariadne_integrations.errors import IndexNotFoundError, InvalidInputError, UnknownAdapterError
from ariadne_integrations.langchain import AriadneLLM, ChatAriadne
from ariadne_integrations.testing import FakeBackend


def mixed_queries(held_out, n_per_task=2):
    qs, labels = [], []
    for t in TASKS:
        for q in held_out[t][:n_per_task]:
            qs.append(q)
            labels.append(t)
    return qs, labels


# --------------------------------------------------------------------------- RoutedGenerator
def test_routed_generator_routes_once_and_generates_one_mixed_batch(routing_router, fake_backend, held_out):
    gen = RoutedGenerator(routing_router, fake_backend)
    qs, labels = mixed_queries(held_out)
    out = gen.generate(qs, None)
    assert len(fake_backend.calls) == 1
    prompts, adapters, _ = fake_backend.calls[0]
    assert prompts == qs
    assert adapters == labels
    assert [r.decision.adapter for r in out] == labels
    assert all(r.text.startswith(f"[{t}]") for r, t in zip(out, labels))


def test_from_index_is_lazy_and_shares_loaded_objects(routing_index, fake_backend, monkeypatch):
    import ariadne_integrations.core.shared as routed

    routed.clear_caches()
    loads = []
    from ariadne_integrations.routing.router import AriadneRouter

    orig = AriadneRouter.load
    monkeypatch.setattr(AriadneRouter, "load", classmethod(lambda cls, *a, **k: loads.append(a) or orig.__func__(cls, *a, **k)))
    gens = [RoutedGenerator.from_index(routing_index, backend=fake_backend) for _ in range(10)]
    assert loads == [] and not any(g.loaded for g in gens)
    assert gens[0].adapters == list(TASKS)  # known from index.json without loading
    for g in gens:
        g.route(["Translate to SQL: list all users"])
    assert len(loads) == 1, "ten generators over one index must share one loaded router"


def test_routed_generator_turns_onnx_spinning_off(routing_router, fake_backend, monkeypatch):
    """A process that routes and then generates gets non-spinning ONNX sessions (they would hold the cores that
    generation needs: benchmarks/bench_route_then_generate.py); a generator without a router changes nothing."""
    from ariadne_integrations.routing import onnx_encoder

    monkeypatch.setattr(onnx_encoder, "_SPINNING", True)
    RoutedGenerator(None, fake_backend)
    assert onnx_encoder._SPINNING is True
    RoutedGenerator(routing_router, fake_backend)
    assert onnx_encoder._SPINNING is False


def test_forced_adapter_skips_routing_but_reports_a_decision(routing_router, fake_backend):
    gen = RoutedGenerator(routing_router, fake_backend, adapter="sql")
    (r,) = gen.generate(["Classify the sentiment: great phone"], None)
    assert r.forced and r.decision.adapter == "sql" and r.result.adapter == "sql"
    (b,) = gen.generate(["hello"], None, adapter=BASE)
    assert b.decision.adapter is None and b.result.adapter is None and b.forced
    with pytest.raises(UnknownAdapterError, match="nope"):
        RoutedGenerator(routing_router, fake_backend, adapter="nope")
    with pytest.raises(UnknownAdapterError, match="not in the index"):
        gen.generate(["x"], None, adapter="nope")


def test_abstained_prompts_go_to_the_bare_backbone(routing_router, fake_backend, held_out):
    gen = RoutedGenerator(routing_router, fake_backend)
    routing_router.set_thresholds(threshold=0.999)
    try:
        out = gen.generate([held_out["sql"][0]], None)
    finally:
        routing_router.set_thresholds(threshold=None)
    assert out[0].decision.abstained and out[0].decision.adapter is None
    assert fake_backend.calls[-1][1] == [None]


def test_routed_adapter_missing_from_backend_is_a_clear_error(routing_router, held_out):
    gen = RoutedGenerator(routing_router, FakeBackend(["sentiment"]))
    with pytest.raises(UnknownAdapterError, match="backend has no such adapter"):
        gen.generate([held_out["sql"][0]], None)


# --------------------------------------------------------------------------- AriadneLLM
def test_llm_batch_is_one_backend_call_with_decisions_in_generation_info(routing_index, fake_backend, held_out):
    llm = AriadneLLM(index=routing_index, backend=fake_backend, max_new_tokens=40)
    qs, labels = mixed_queries(held_out)
    result = llm.generate(qs)
    assert len(fake_backend.calls) == 1 and fake_backend.calls[0][1] == labels
    for gens, label in zip(result.generations, labels):
        info = gens[0].generation_info
        assert info["adapter"] == label and info["forced"] is False
        assert 0 < info["score"] <= 1 and info["margin"] >= 0 and info["abstained"] is False
        assert info["runner_up"] in TASKS and info["runner_up"] != label
        assert info["finish_reason"] == "stop" and info["completion_tokens"] > 0
    usage = result.llm_output["token_usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert result.llm_output["model_name"] == "fake-backbone"
    # chain batch -> still one call
    fake_backend.calls.clear()
    chain = PromptTemplate.from_template("{q}") | llm | StrOutputParser()
    outs = chain.batch([{"q": q} for q in qs])
    assert len(fake_backend.calls) == 1
    assert [o.split("]")[0][1:] for o in outs] == labels


def test_llm_is_cheap_to_construct(routing_index, fake_backend):
    llms = [AriadneLLM(index=routing_index) for _ in range(10)]
    assert all(m._gen is None for m in llms)
    assert AriadneLLM.from_index(routing_index, adapter="sql").adapter == "sql"


def test_llm_per_call_settings_and_stop(routing_index, fake_backend, held_out):
    llm = AriadneLLM(index=routing_index, backend=fake_backend, stop=["zzz"])
    text = llm.invoke(held_out["sql"][0], stop=["SQL"], max_new_tokens=7, temperature=0.5, adapter="date_iso")
    cfg = fake_backend.calls[-1][2]
    assert cfg.stop == ("SQL",) and cfg.max_new_tokens == 7 and cfg.temperature == 0.5
    assert fake_backend.calls[-1][1] == ["date_iso"]
    assert "SQL" not in text and text.startswith("[date_iso]")
    llm.invoke("hello there")
    assert fake_backend.calls[-1][2].stop == ("zzz",)


def test_llm_bad_inputs_raise_typed_errors(routing_index, fake_backend, tmp_path):
    llm = AriadneLLM(index=routing_index, backend=fake_backend)
    with pytest.raises(InvalidInputError, match="empty"):
        llm.invoke("")
    with pytest.raises(InvalidInputError, match="empty"):
        llm.invoke("   ")
    with pytest.raises(InvalidInputError, match=r"inputs\[1\]"):
        llm.batch(["fine", 42])
    with pytest.raises(InvalidInputError, match=r"prompts\[1\]"):
        llm.generate(["fine", ""])
    with pytest.raises(IndexNotFoundError, match="does not exist"):
        AriadneLLM(index=tmp_path / "nope")
    with pytest.raises(UnknownAdapterError, match="not in the index"):
        AriadneLLM(index=routing_index, adapter="nope")
    with pytest.raises(UnknownAdapterError, match="nope"):
        llm.invoke("hello", adapter="nope")
    with pytest.raises(InvalidInputError, match="non-empty"):
        AriadneLLM(index=routing_index, stop=["ok", ""])
    with pytest.raises(InvalidInputError, match="non-empty"):
        llm.invoke("hello", stop=[""])
    with pytest.raises(InvalidInputError, match="unsupported call argument"):
        llm.invoke("hello", bogus=1)
    bare = AriadneLLM()  # no index: the bare backbone answers; nothing loads yet
    assert bare.generator.router is None and bare.generator.adapters == [] and not bare.generator.loaded
    with pytest.raises(UnknownAdapterError, match="index="):
        AriadneLLM(adapter="sql")
    assert fake_backend.calls == [], "no failed call may reach the backend"


def test_llm_return_exceptions_isolates_the_bad_prompt(routing_index, held_out):
    backend = FakeBackend(TASKS, fail_on="EXPLODE")
    llm = AriadneLLM(index=routing_index, backend=backend)
    good = held_out["sql"][0]
    outs = llm.batch([good, "", 3, "EXPLODE now please", held_out["sentiment"][0]], return_exceptions=True)
    assert outs[0].startswith("[sql]") and outs[4].startswith("[sentiment]")
    assert isinstance(outs[1], InvalidInputError) and isinstance(outs[2], InvalidInputError)
    assert isinstance(outs[3], RuntimeError) and "EXPLODE" in str(outs[3])
    aouts = asyncio.run(llm.abatch([good, "", "EXPLODE"], return_exceptions=True))
    assert aouts[0].startswith("[sql]") and isinstance(aouts[1], InvalidInputError) and isinstance(aouts[2], RuntimeError)


class _Tokens(BaseCallbackHandler):
    def __init__(self):
        self.tokens = []

    def on_llm_new_token(self, token, **kwargs):
        self.tokens.append(token)


def test_llm_stream_calls_on_llm_new_token_and_async_paths(routing_index, fake_backend, held_out):
    llm = AriadneLLM(index=routing_index, backend=fake_backend)
    cb = _Tokens()
    pieces = list(llm.stream(held_out["sql"][0], config={"callbacks": [cb]}))
    assert len(pieces) > 2 and "".join(pieces).startswith("[sql]")
    assert "".join(cb.tokens) == "".join(pieces)

    async def main():
        a = [p async for p in llm.astream(held_out["date_iso"][0])]
        b = await llm.ainvoke(held_out["sentiment"][0])
        c = await llm.abatch([held_out["sql"][0], held_out["support_intent"][0]])
        return a, b, c

    a, b, c = asyncio.run(main())
    assert "".join(a).startswith("[date_iso]") and b.startswith("[sentiment]")
    assert c[0].startswith("[sql]") and c[1].startswith("[support_intent]")


def test_llm_route_on_callable(routing_index, fake_backend, held_out):
    llm = AriadneLLM(index=routing_index, backend=fake_backend, route_on=lambda p: p.split("||")[-1])
    llm.invoke(f"{held_out['sentiment'][0]} || {held_out['sql'][0]}")
    assert fake_backend.calls[-1][1] == ["sql"]


# --------------------------------------------------------------------------- ChatAriadne
def test_chat_routes_on_last_human_message_by_default(routing_index, fake_backend, held_out):
    chat = ChatAriadne(index=routing_index, backend=fake_backend)
    msgs = [SystemMessage("You are terse."), HumanMessage(held_out["sql"][0]), AIMessage("SELECT 1;"),
            HumanMessage(held_out["sentiment"][1])]
    out = chat.invoke(msgs)
    assert isinstance(out, AIMessage) and out.response_metadata["adapter"] == "sentiment"
    prompt = fake_backend.calls[-1][0][0]
    assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user"]
    assert out.usage_metadata["total_tokens"] == out.usage_metadata["input_tokens"] + out.usage_metadata["output_tokens"]
    assert out.response_metadata["model_name"] == "fake-backbone:sentiment"
    assert out.response_metadata["finish_reason"] == "stop"
    first = ChatAriadne(index=routing_index, backend=fake_backend, route_on=lambda m: m[1].text)
    assert first.invoke(msgs).response_metadata["adapter"] == "sql"
    with pytest.raises(InvalidInputError):
        ChatAriadne(index=routing_index, route_on="first")


def test_chat_model_kwarg_forces_adapter_and_stream_has_last_chunk(routing_index, fake_backend, held_out):
    chat = ChatAriadne(index=routing_index, backend=fake_backend)
    out = chat.invoke(held_out["sql"][0], model="sentiment")
    assert out.response_metadata["adapter"] == "sentiment" and out.response_metadata["forced"] is True
    assert ChatAriadne(index=routing_index, model="sql").adapter == "sql"
    assert chat._get_ls_params(model="x")["ls_model_name"] == "x"
    chunks = list(chat.stream(held_out["date_iso"][0]))
    assert all(isinstance(c, AIMessageChunk) for c in chunks) and len(chunks) > 2
    assert chunks[-1].chunk_position == "last" and chunks[-1].usage_metadata["output_tokens"] > 0
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert full.text.startswith("[date_iso]") and full.response_metadata["adapter"] == "date_iso"

    async def main():
        got = [c async for c in chat.astream(held_out["support_intent"][0])]
        return got, await chat.ainvoke(held_out["sql"][0])

    got, msg = asyncio.run(main())
    assert got[-1].chunk_position == "last" and msg.response_metadata["adapter"] == "sql"


def test_chat_bad_inputs(routing_index, fake_backend):
    chat = ChatAriadne(index=routing_index, backend=fake_backend)
    with pytest.raises(InvalidInputError):
        chat.invoke([HumanMessage("")])
    with pytest.raises(InvalidInputError, match="non-empty"):
        chat.invoke("hi", stop=[""])
    with pytest.raises(UnknownAdapterError):
        chat.invoke("hi", model="gpt-4")
    assert fake_backend.calls == []


def test_chat_batch_is_one_backend_call_with_per_input_results(routing_index, fake_backend, held_out):
    chat = ChatAriadne(index=routing_index, backend=fake_backend)
    qs, labels = mixed_queries(held_out)
    cb = _Tokens()
    outs = chat.batch(qs, config={"callbacks": [cb]}, stop=["zzz"])
    assert len(fake_backend.calls) == 1 and fake_backend.calls[0][1] == labels
    assert [o.response_metadata["adapter"] for o in outs] == labels
    assert all(o.content.startswith(f"[{t}]") for o, t in zip(outs, labels))
    fake_backend.calls.clear()
    aouts = asyncio.run(chat.abatch(qs[:3]))
    assert len(fake_backend.calls) == 1 and [o.response_metadata["adapter"] for o in aouts] == labels[:3]
    fake_backend.calls.clear()
    mixed = chat.batch([qs[0], "", qs[1]], return_exceptions=True)
    assert isinstance(mixed[1], InvalidInputError) and mixed[0].response_metadata["adapter"] == labels[0]
    assert len(fake_backend.calls) == 1


@pytest.mark.parametrize("make", [
    lambda idx, be, **kw: AriadneLLM(index=idx, backend=be, **kw),
    lambda idx, be, **kw: ChatAriadne(index=idx, backend=be, **kw),
])
def test_threshold_override_sends_weak_matches_to_the_bare_backbone(routing_index, fake_backend, make):
    question = "What is the capital of France?"
    strict = make(routing_index, fake_backend, threshold=0.99)
    out = strict.invoke(question)
    info = out.response_metadata if hasattr(out, "response_metadata") else strict.generate([question]).generations[0][0].generation_info
    assert info["adapter"] is None and info["abstained"] is True and info["best"] in TASKS and not info["forced"]
    assert fake_backend.calls[-1][1] == [None]  # the bare backbone answered
    lenient = make(routing_index, fake_backend, threshold=-1.0)
    lenient.invoke(question)
    assert fake_backend.calls[-1][1] == [info["best"]]


def test_forced_adapter_reports_no_made_up_score(routing_index, fake_backend):
    llm = AriadneLLM(index=routing_index, backend=fake_backend)
    for forced, adapter in (("sql", "sql"), (BASE, None)):
        info = llm.generate(["hello"], adapter=forced).generations[0][0].generation_info
        assert info["forced"] is True and info["adapter"] == adapter and info["abstained"] is False
        assert info["score"] is None and info["margin"] is None and info["scores"] == {}
