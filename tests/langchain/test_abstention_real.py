"""End to end with the real backbone and demo adapters: an out-of-scope sub-question is answered by the
bare backbone (metadata says so), not by a task adapter; a forced adapter reports no made-up score."""
from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from ariadne_integrations.constants import BASE_ADAPTER
from ariadne_integrations.langchain import AriadneLLM, ChatAriadne

pytestmark = pytest.mark.slow


def test_general_question_is_answered_by_the_bare_backbone(real_index):
    llm = AriadneLLM.from_index(real_index, max_new_tokens=16)
    q = "What is the capital of France?"
    res = llm.generate([q])
    info = res.generations[0][0].generation_info
    assert info["adapter"] is None and info["abstained"] is True and info["best"] is not None
    answer = res.generations[0][0].text
    assert "SELECT" not in answer.upper()  # it used to be answered by the SQL adapter
    assert answer == llm.invoke(q, adapter=BASE_ADAPTER)  # exactly what the bare backbone says
    chat = ChatAriadne.from_index(real_index, max_new_tokens=16)
    msg = chat.invoke([HumanMessage(q)])
    assert msg.response_metadata["adapter"] is None and msg.response_metadata["abstained"] is True
    assert msg.response_metadata["model_name"] == chat.generator.model_name  # no ":adapter" suffix


def test_forced_adapter_reports_forced_without_a_score(real_index):
    llm = AriadneLLM.from_index(real_index, max_new_tokens=4)
    info = llm.generate(["Classify the sentiment: great phone"], adapter="sentiment").generations[0][0].generation_info
    assert info == {**info, "adapter": "sentiment", "forced": True, "abstained": False, "score": None, "margin": None}
