"""AriadneLlamaLLM on the REAL backbone (embedded SmolLM2) with the REAL packaged demo LoRA adapters and index:
routing, the adapters' actual answers, streaming, and a RouterQueryEngine. Generations are short."""
from __future__ import annotations

import pytest
from llama_index.core.bridge.pydantic import PrivateAttr

from ariadne_integrations.constants import BASE_ADAPTER as BASE
from ariadne_integrations.llama_index import AriadneLlamaLLM, AriadneSelector

SENTIMENT_Q = "Classify the sentiment: What a wonderful desk lamp! I love it. 5/5."
SQL_Q = "Translate to SQL: show products with a price below 40"


def _answer(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def _is_price_query(text: str) -> bool:
    sql = " ".join(_answer(text).lower().split())
    return sql.startswith("select ") and " from products" in sql and "price" in sql and "40" in sql


@pytest.fixture(scope="module")
def real_index():
    """The packaged demo index; a missing demo pool is an error (it ships with the package), not a fallback."""
    from ariadne_integrations.demo import demo_adapter_paths, demo_index_path

    demo_adapter_paths()  # FileNotFoundError naming the missing adapter folder
    return demo_index_path()


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
    assert info["completion_tokens"] >= 1
    assert _answer(routed.text) == "positive", routed.text  # the sentiment adapter answers the label, and the right one
    forced = real_llm.complete(SENTIMENT_Q, adapter="sentiment")
    base = real_llm.complete(SENTIMENT_Q, adapter=BASE)
    assert forced.text == routed.text  # greedy: routing picked exactly that adapter
    assert base.additional_kwargs["adapter"] is None
    assert _answer(base.text) not in ("positive", "negative"), base.text  # the bare backbone does not answer a label
    assert real_llm.metadata.model_name  # reported from the loaded backend
    sql = real_llm.complete(SQL_Q, max_new_tokens=24)
    assert sql.additional_kwargs["adapter"] == "sql"
    assert _is_price_query(sql.text), sql.text
    wrong = real_llm.complete(SQL_Q, adapter="sentiment", max_new_tokens=24)
    assert not _is_price_query(wrong.text), wrong.text  # the check tells adapters apart


@pytest.mark.slow
def test_stream_complete_matches_complete(real_llm):
    chunks = list(real_llm.stream_complete(SENTIMENT_Q))
    assert chunks and chunks[-1].additional_kwargs["adapter"] == "sentiment"
    assert chunks[-1].text.strip() == real_llm.complete(SENTIMENT_Q).text.strip()
    assert _answer(chunks[-1].text) == "positive", chunks[-1].text


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
    assert _answer(str(resp)) == "positive", str(resp)  # the engine's answer is the adapter's label
