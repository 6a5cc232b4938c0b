"""The packaged demo index abstains by default: general questions go to the bare backbone, the demo tasks'
held-out queries still reach their adapters (figures on sets the calibration never saw)."""
from __future__ import annotations

import pytest

from ariadne_integrations.demo import DEMO_TASKS, demo_data_path, demo_index_path, demo_root
from ariadne_integrations.jsonl import read_jsonl
from ariadne_integrations.langchain import AriadneLLM, ChatAriadne
from ariadne_integrations.llama_index import AriadneLlamaLLM
from ariadne_integrations.routing.router import AriadneRouter
from ariadne_integrations.testing import FakeBackend


def test_demo_index_ships_a_calibrated_threshold():
    router = AriadneRouter.load(demo_index_path())
    assert router.threshold is not None and 0.2 < router.threshold < 0.6


def test_general_questions_go_to_the_base_model_and_task_queries_to_their_adapters():
    from benchmarks.bench_abstention_demo import measure

    res = measure()
    assert res["general_answered_by_base"] >= 0.9, res["general_still_routed"]
    assert res["held_out_routed_to_their_adapter"] >= 0.98


@pytest.mark.parametrize("make", [AriadneLLM.from_index, ChatAriadne.from_index, AriadneLlamaLLM.from_index])
def test_every_wrapper_abstains_by_default_and_says_so(make):
    backend = FakeBackend(DEMO_TASKS)
    model = make(str(demo_index_path()), backend=backend)
    (r,) = model.generator.generate(["What is the capital of France?"])
    assert r.adapter is None and r.metadata()["abstained"] is True and r.metadata()["adapter"] is None
    assert backend.calls[-1][1] == [None]
    task_query = read_jsonl(demo_data_path("sql", "test"))[0][0]
    (t,) = model.generator.generate([task_query])
    assert t.adapter == "sql" and not t.metadata()["abstained"]
    assert (demo_root() / "data" / "oos_calibration.jsonl").is_file()
