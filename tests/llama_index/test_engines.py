"""End to end, offline: AriadneSelector inside LlamaIndex's RouterQueryEngine and RouterRetriever over three
real document indices (two VectorStoreIndex with the real MiniLM embedder, one SummaryIndex)."""
from __future__ import annotations

import subprocess
import sys

import pytest
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.retrievers import RouterRetriever

from ariadne_integrations.llama_index import AriadneSelector


def _tools_of(nodes) -> set[str]:
    return {n.node.metadata["tool"] for n in nodes}


def test_router_query_engine_answers_each_held_out_query_with_its_tool(selector, query_tools, mock_llm, held_out):
    engine = RouterQueryEngine(selector=selector, query_engine_tools=query_tools, llm=mock_llm)
    names = [t.metadata.name for t in query_tools]
    for q, want in held_out:
        resp = engine.query(q)
        sel = resp.metadata["selector_result"]
        assert names[sel.ind] == want, (q, sel.reason)
        assert resp.source_nodes and _tools_of(resp.source_nodes) == {want}, q
        assert str(resp)  # MockLLM answered from the chosen tool's context


def test_router_retriever_retrieves_from_the_right_index(selector, retriever_tools, mock_llm, held_out):
    retriever = RouterRetriever(selector=selector, retriever_tools=retriever_tools, llm=mock_llm)
    for q, want in held_out:
        nodes = retriever.retrieve(q)
        assert nodes and _tools_of(nodes) == {want}, q


async def test_async_query_and_retrieve(selector, query_tools, retriever_tools, mock_llm):
    engine = RouterQueryEngine(selector=selector, query_engine_tools=query_tools, llm=mock_llm)
    resp = await engine.aquery("am I allowed to book a business class flight")
    assert _tools_of(resp.source_nodes) == {"travel_policy"}
    retriever = RouterRetriever(selector=selector, retriever_tools=retriever_tools, llm=mock_llm)
    nodes = await retriever.aretrieve("export my sales report as a spreadsheet")
    assert _tools_of(nodes) == {"product_docs"}


def test_multi_selection_is_summarised_by_the_engine(selector, query_tools, mock_llm):
    multi = AriadneSelector.from_router(selector.router, top_k=2)
    engine = RouterQueryEngine(selector=multi, query_engine_tools=query_tools, llm=mock_llm)
    resp = engine.query("refund the hotel invoice from my business trip")
    sel = resp.metadata["selector_result"]
    assert len(sel.inds) == 2
    names = [query_tools[i].metadata.name for i in sel.inds]
    assert _tools_of(resp.source_nodes) == set(names)  # both tools answered, then TreeSummarize combined
    assert str(resp)


def test_multi_selection_in_router_retriever_merges_nodes(selector, retriever_tools, mock_llm):
    multi = AriadneSelector.from_router(selector.router, multi_threshold=-1.0)
    retriever = RouterRetriever(selector=multi, retriever_tools=retriever_tools, llm=mock_llm)
    assert _tools_of(retriever.retrieve("anything about the company")) == set(
        t.metadata.name for t in retriever_tools
    )


def test_abstention_default_still_answers_and_empty_makes_the_engine_fail(selector, query_tools, mock_llm):
    low = AriadneSelector.from_router(selector.router, threshold=0.99)
    engine = RouterQueryEngine(selector=low, query_engine_tools=query_tools, llm=mock_llm)
    resp = engine.query("I was billed twice this month")
    assert resp.metadata["selector_result"].reason.startswith("low confidence")
    assert _tools_of(resp.source_nodes) == {"billing_docs"}
    # documented: with on_abstain="empty" LlamaIndex's engine itself refuses (it needs a selection)
    empty = AriadneSelector.from_router(selector.router, threshold=0.99, on_abstain="empty")
    engine = RouterQueryEngine(selector=empty, query_engine_tools=query_tools, llm=mock_llm)
    with pytest.raises(ValueError, match="Failed to select query engine"):
        engine.query("I was billed twice this month")


def test_importing_the_integration_touches_no_openai():
    code = (
        "import sys, os\n"
        "os.environ.pop('OPENAI_API_KEY', None)\n"
        "import ariadne_integrations\n"
        "assert 'llama_index' not in sys.modules and 'torch' not in sys.modules\n"
        "import ariadne_integrations.llama_index as li\n"
        "assert 'torch' not in sys.modules\n"
        "from ariadne_integrations.llama_index import AriadneSelector, AriadneLlamaLLM, AriadneEmbedding\n"
        "from llama_index.core import Settings\n"
        "assert Settings._llm is None and Settings._embed_model is None, 'Settings resolved at import'\n"
        "assert not any(m.startswith('openai') or m.startswith('llama_index.llms.openai') for m in sys.modules)\n"
        "llm = AriadneLlamaLLM()\n"  # construction is lazy: no models, no Settings
        "assert Settings._llm is None and 'torch' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
