"""The packaged demo pool: files present, index routes its own tasks, each adapter beats the base model."""
from __future__ import annotations

import json

import pytest

from ariadne_integrations.demo import DEMO_TASKS, demo_adapter_paths, demo_data_path, demo_index_path, demo_scores


def _rows(task: str, split: str = "test") -> list[dict]:
    return [json.loads(line) for line in open(demo_data_path(task, split), encoding="utf-8")]


def test_files_exist_and_scores_recorded():
    paths = demo_adapter_paths()
    assert set(paths) == set(DEMO_TASKS) and len(DEMO_TASKS) >= 4
    for task, p in paths.items():
        assert (p / "adapter_config.json").is_file() and (p / "ariadne_inputs.jsonl").is_file()
        assert len(_rows(task, "train")) >= 100 and len(_rows(task)) >= 20
        s = demo_scores()["tasks"][task]
        assert s["adapter_exact_match"] >= s["base_exact_match"] + 0.5, (task, s)


def test_train_and_test_do_not_overlap():
    for task in DEMO_TASKS:
        assert not {r["input"] for r in _rows(task, "train")} & {r["input"] for r in _rows(task)}


@pytest.fixture(scope="module")
def router():
    from ariadne_integrations import AriadneRouter

    return AriadneRouter.load(demo_index_path())


def test_index_routes_each_task_to_its_adapter(router):
    from ariadne_integrations import evaluate_router

    texts, labels = [], []
    for task in DEMO_TASKS:
        for r in _rows(task):
            texts.append(r["input"])
            labels.append(task)
    report = evaluate_router(router, texts, labels)
    assert report.selection_accuracy >= 0.95, report.per_task
    for task in DEMO_TASKS:
        assert router.adapter_path(task) == str(demo_adapter_paths()[task].resolve())


def test_adapters_beat_the_base_model_end_to_end(router):
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.generation import GenerationConfig
    from ariadne_integrations.runtime.training import normalize_answer

    rt = AdapterRuntime(None, {t: router.adapter_path(t) for t in router.adapters})
    prompts, targets, adapters = [], [], []
    for task in DEMO_TASKS:
        for r in _rows(task)[:4]:
            prompts.append(r["input"])
            targets.append(r["target"])
            adapters.append(task)
    cfg = GenerationConfig(max_new_tokens=24)
    tuned = rt.generate(prompts, adapters, cfg)
    base = rt.generate(prompts, [None] * len(prompts), cfg)
    hits_tuned = sum(normalize_answer(g.text) == normalize_answer(t) for g, t in zip(tuned, targets))
    hits_base = sum(normalize_answer(g.text) == normalize_answer(t) for g, t in zip(base, targets))
    assert hits_tuned >= 0.75 * len(prompts) and hits_tuned > hits_base + len(prompts) // 2, (hits_tuned, hits_base)
