"""AriadneLlamaLLM on the REAL backbone (embedded SmolLM2) with REAL PEFT LoRA adapters: the packaged demo
adapters and index when they are built, else two small random LoRA adapters made here (so the test also
runs in a checkout without the demo pool). Generations are short (max_new_tokens small)."""
from __future__ import annotations

import json

import pytest
from llama_index.core.bridge.pydantic import PrivateAttr

pytest.importorskip("peft")
pytest.importorskip("ariadne_integrations.runtime.adapters", reason="the adapter runtime is not in this checkout")

from ariadne_integrations.constants import BASE_ADAPTER as BASE
from ariadne_integrations.llama_index import AriadneLlamaLLM, AriadneSelector

SENTIMENT_Q = "Classify the sentiment: What a wonderful desk lamp! I love it. 5/5."
SQL_Q = "Translate to SQL: show products with a price below 40"


def _demo_index():
    try:
        from ariadne_integrations.demo import demo_adapter_paths, demo_index_path

        demo_adapter_paths()
        return demo_index_path()
    except Exception:  # noqa: BLE001 - demo pool not built in this checkout
        return None


def _random_lora_index(tmp_path_factory):
    """Two random (non-zero) LoRA adapters on the real backbone + an index over the demo tasks' inputs."""
    import torch
    from peft import LoraConfig, get_peft_model

    from ariadne_integrations.demo import demo_data_path
    from ariadne_integrations.routing.router import AriadneRouter
    from ariadne_integrations.runtime.backbone import load_backbone

    root = tmp_path_factory.mktemp("random_lora")
    model = load_backbone(None, fresh=True).model  # a private copy: the shared inference model stays untouched
    paths = {}
    for seed, task in enumerate(["sentiment", "sql"]):
        torch.manual_seed(seed)
        cfg = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        peft_model = get_peft_model(model, cfg)
        peft_model.save_pretrained(root / task)
        model = peft_model.unload()  # back to the bare backbone for the next adapter
        paths[task] = root / task
    examples = {}
    for task in paths:
        with open(demo_data_path(task, "train"), encoding="utf-8") as fh:
            examples[task] = [json.loads(line)["input"] for line in fh][:60]
    router = AriadneRouter.from_examples(examples, adapter_paths=paths)
    router.save(root / "index")
    return root / "index"


@pytest.fixture(scope="module")
def real_index(tmp_path_factory):
    return _demo_index() or _random_lora_index(tmp_path_factory)


class RecordingLLM(AriadneLlamaLLM):
    """AriadneLlamaLLM that keeps every chat response, to see which adapter answered inside an engine."""

    _seen: list = PrivateAttr(default_factory=list)

    def chat(self, messages, **kwargs):  # type: ignore[override]
        resp = super().chat(messages, **kwargs)
        self._seen.append(resp)
        return resp


@pytest.fixture(scope="module")
def real_llm(real_index):
    return RecordingLLM(index=str(real_index), max_new_tokens=8)


@pytest.mark.slow
def test_complete_answers_through_the_routed_adapter(real_llm):
    routed = real_llm.complete(SENTIMENT_Q)
    info = routed.additional_kwargs
    assert info["adapter"] == "sentiment" and not info["forced"] and info["score"] > 0
    assert info["completion_tokens"] >= 1 and routed.text.strip()
    forced = real_llm.complete(SENTIMENT_Q, adapter="sentiment")
    base = real_llm.complete(SENTIMENT_Q, adapter=BASE)
    assert forced.text == routed.text  # greedy: routing picked exactly that adapter
    assert base.additional_kwargs["adapter"] is None
    assert base.text != routed.text  # the adapter really changes the backbone's answer
    assert real_llm.metadata.model_name  # reported from the loaded backend
    assert real_llm.complete(SQL_Q).additional_kwargs["adapter"] == "sql"


@pytest.mark.slow
def test_stream_complete_matches_complete(real_llm):
    chunks = list(real_llm.stream_complete(SENTIMENT_Q))
    assert chunks and chunks[-1].additional_kwargs["adapter"] == "sentiment"
    assert chunks[-1].text.strip() == real_llm.complete(SENTIMENT_Q).text.strip()


@pytest.mark.slow
def test_query_engine_answers_with_the_adapter_the_question_routes_to(real_llm, real_index):
    from llama_index.core import Document, SummaryIndex
    from llama_index.core.query_engine import RouterQueryEngine
    from llama_index.core.tools import QueryEngineTool

    reviews = SummaryIndex.from_documents([Document(text="Customer reviews of our lamps and backpacks.")])
    catalog = SummaryIndex.from_documents([Document(text="The products table has columns name, price, category.")])
    tools = [
        QueryEngineTool.from_defaults(reviews.as_query_engine(llm=real_llm), name="sentiment",
                                      description="Customer reviews and their sentiment."),
        QueryEngineTool.from_defaults(catalog.as_query_engine(llm=real_llm), name="sql",
                                      description="Questions about the product database, answered in SQL."),
    ]
    selector = AriadneSelector.from_index(real_index)
    engine = RouterQueryEngine(selector=selector, query_engine_tools=tools, llm=real_llm)
    real_llm._seen.clear()
    resp = engine.query(SENTIMENT_Q)
    assert resp.metadata["selector_result"].ind == 0
    assert real_llm._seen and real_llm._seen[-1].additional_kwargs["adapter"] == "sentiment"
    assert str(resp).strip()
