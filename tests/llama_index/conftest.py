"""LlamaIndex-suite fixtures: the real default embedder (loaded once), three small real document
indices the tests write, and example queries per tool. Nothing here touches OpenAI: every engine gets
``llm=MockLLM()`` (or AriadneLlamaLLM) and every index the real offline embedder."""
from __future__ import annotations

from typing import Sequence

import pytest

pytest.importorskip("llama_index.core")

from ariadne_integrations.testing import CountingEmbedder

# Three tools; examples are what users of each tool ask, HELD_OUT are new queries for the tests.
EXAMPLES: dict[str, list[str]] = {
    "billing_docs": [
        "why was I charged twice",
        "how do I get a refund for my subscription",
        "my credit card payment failed",
        "where can I download my invoice",
        "can I change my billing address",
        "what does the monthly plan cost",
        "cancel my paid plan and stop the charges",
        "the invoice amount is wrong",
    ],
    "product_docs": [
        "how do I export a report to csv",
        "where is the dashboard settings page",
        "how can I add a new user to my workspace",
        "the app crashes when I upload a file",
        "how to create a chart from my data",
        "can I share a dashboard with my team",
        "how do I reset my password",
        "is there a dark mode in the editor",
    ],
    "travel_policy": [
        "how much can I spend on a hotel during a business trip",
        "do I need approval before booking a flight",
        "can I fly business class to Tokyo",
        "what is the daily meal allowance when travelling",
        "how do I claim my taxi expenses after a trip",
        "is rail travel preferred over flying for short distances",
        "can I bring my partner on a work trip",
        "who books the rental car for a conference visit",
    ],
}

HELD_OUT: list[tuple[str, str]] = [
    ("I was billed twice this month", "billing_docs"),
    ("please send me a refund, the payment went through two times", "billing_docs"),
    ("how much is the yearly subscription", "billing_docs"),
    ("export my sales report as a spreadsheet", "product_docs"),
    ("how do I invite a colleague to the workspace", "product_docs"),
    ("the editor freezes when I open a big file", "product_docs"),
    ("what hotel budget applies for my trip to Berlin", "travel_policy"),
    ("am I allowed to book a business class flight", "travel_policy"),
    ("should I take the train or fly to the conference in Lyon", "travel_policy"),
]

DESCRIPTIONS = {
    "billing_docs": "Billing documentation: charges, refunds, invoices and subscription prices.",
    "product_docs": "Product documentation: how to use the app, reports, dashboards, users and settings.",
    "travel_policy": "Company travel policy: flights, hotels, meal allowances and expense claims.",
}

DOCS = {
    "billing_docs": [
        "Duplicate charges are refunded automatically within five business days. Contact billing if a charge "
        "appears twice after that.",
        "Invoices are available under Account > Billing > Invoices as PDF files. The monthly plan costs 12 euros "
        "and the yearly plan 120 euros.",
    ],
    "product_docs": [
        "To export a report, open it and choose Export > CSV or Excel. Large reports are emailed to you.",
        "Invite colleagues from Settings > Workspace > Members. Each new user receives an email invitation.",
    ],
    "travel_policy": [
        "Hotels up to 150 euros per night are approved automatically; more needs a manager's approval.",
        "Economy class is the rule for flights under six hours. Train travel is preferred under four hours. "
        "Expense claims, including taxis and train tickets, are filed within 30 days of the trip.",
    ],
}


@pytest.fixture(scope="session")
def counting_embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture(scope="session")
def examples() -> dict[str, list[str]]:
    return {k: list(v) for k, v in EXAMPLES.items()}


@pytest.fixture(scope="session")
def held_out() -> list[tuple[str, str]]:
    return list(HELD_OUT)


@pytest.fixture(scope="session")
def selector(examples):
    from ariadne_integrations.llama_index import AriadneSelector

    return AriadneSelector.from_examples(examples)


@pytest.fixture(scope="session")
def embed_model():
    from ariadne_integrations.llama_index import AriadneEmbedding

    return AriadneEmbedding()


@pytest.fixture(scope="session")
def doc_indices(embed_model):
    """Three real indices over the documents above: two VectorStoreIndex, one SummaryIndex."""
    from llama_index.core import Document, SummaryIndex, VectorStoreIndex

    out = {}
    for name, texts in DOCS.items():
        docs = [Document(text=t, metadata={"tool": name}) for t in texts]
        if name == "travel_policy":
            out[name] = SummaryIndex.from_documents(docs)
        else:
            out[name] = VectorStoreIndex.from_documents(docs, embed_model=embed_model)
    return out


@pytest.fixture(scope="session")
def mock_llm():
    from llama_index.core.llms import MockLLM

    return MockLLM(max_tokens=8)


@pytest.fixture(scope="session")
def query_tools(doc_indices, mock_llm):
    from llama_index.core.tools import QueryEngineTool

    return [
        QueryEngineTool.from_defaults(
            query_engine=idx.as_query_engine(llm=mock_llm), name=name, description=DESCRIPTIONS[name]
        )
        for name, idx in doc_indices.items()
    ]


@pytest.fixture(scope="session")
def retriever_tools(doc_indices):
    from llama_index.core.tools import RetrieverTool

    return [
        RetrieverTool.from_defaults(retriever=idx.as_retriever(), name=name, description=DESCRIPTIONS[name])
        for name, idx in doc_indices.items()
    ]


@pytest.fixture(scope="session")
def tool_choices():
    """``make(names)`` -> ToolMetadata list with the tools' descriptions (the three tools by default)."""
    from llama_index.core.tools import ToolMetadata

    def make(names: Sequence[str] = ("billing_docs", "product_docs", "travel_policy")) -> list:
        return [ToolMetadata(name=n, description=DESCRIPTIONS.get(n, f"tool {n}")) for n in names]

    return make
