"""The packaged demo pool: files present, held-out data really held out, index routes the held-out split,
and each adapter's exact match is RECOMPUTED here on the held-out split with the real backbone and real
adapters (not read back from scores.json)."""
from __future__ import annotations

import json
import re
from functools import cache

import pytest

from ariadne_integrations.demo import (
    DEMO_TASKS,
    demo_adapter_paths,
    demo_data_path,
    demo_index_path,
    demo_oos_path,
    demo_scores,
)

MAX_ADAPTER_BYTES = 2_100_000  # r=8 on q/k/v/o in float16 is ~1.84 MB
MIN_ADAPTER_EXACT = 0.85  # each adapter, exact match on its held-out split
MIN_GAIN_OVER_BASE_LENIENT = 0.50  # adapter exact match minus the base model's lenient match (plain prompt)
MIN_GAIN_OVER_BASE_BEST = 0.30  # ... minus the base model's best measure (lenient or format-instructed, exact or lenient)


@cache
def _rows_cached(task: str, split: str) -> tuple[dict, ...]:
    with open(demo_data_path(task, split), encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def _rows(task: str, split: str = "test") -> list[dict]:
    return list(_rows_cached(task, split))


def _oos(split: str) -> list[dict]:
    with open(demo_oos_path(split), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _body(text: str, prefix: str = "") -> str:
    """The input without its instruction prefix, case, punctuation and digits."""
    if prefix and text.startswith(prefix):
        text = text[len(prefix):]
    return " ".join(re.sub(r"[^a-z]+", " ", text.lower()).split())


def test_files_exist_sizes_and_scores_recorded():
    from safetensors import safe_open

    paths = demo_adapter_paths()
    assert set(paths) == set(DEMO_TASKS) and len(DEMO_TASKS) >= 4
    scores = demo_scores()
    assert scores["command"].startswith("python scripts/build_demo_pool.py")
    for task, p in paths.items():
        assert (p / "adapter_config.json").is_file() and (p / "ariadne_inputs.jsonl").is_file()
        assert len(_rows(task, "train")) >= 400 and len(_rows(task)) >= 50
        weights = p / "adapter_model.safetensors"
        assert weights.stat().st_size < MAX_ADAPTER_BYTES, (task, weights.stat().st_size)
        with safe_open(str(weights), framework="np") as fh:
            assert all(str(fh.get_tensor(k).dtype) == "float16" for k in fh.keys()), task
        s = scores["tasks"][task]
        for key in ("base_exact_match", "base_lenient_match", "base_format_instructed_exact_match", "adapter_exact_match"):
            assert 0.0 <= s[key] <= 1.0, (task, key, s)
        assert s["n"] == len(_rows(task))
    for split in ("calibration", "test"):
        rows = _oos(split)
        assert len(rows) >= 50 and all(r["task"] == "oos" and r["input"].strip() for r in rows)


def test_adapters_index_exactly_their_training_inputs():
    for task, p in demo_adapter_paths().items():
        with open(p / "ariadne_inputs.jsonl", encoding="utf-8") as fh:
            indexed = [json.loads(line)["input"] for line in fh if line.strip()]
        assert indexed == [r["input"] for r in _rows(task, "train")], task
    meta = json.loads((demo_index_path() / "index.json").read_text(encoding="utf-8"))
    assert {a["name"]: a["n_examples"] for a in meta["adapters"]} == {t: len(_rows(t, "train")) for t in DEMO_TASKS}


def test_train_and_test_do_not_overlap_modulo_prefix_and_templates():
    for task in DEMO_TASKS:
        train, test = _rows(task, "train"), _rows(task)
        assert all(r.get("template") and "prefix" in r and r["input"].startswith(r["prefix"]) for r in train + test)
        # 1. exact strings
        assert not {r["input"] for r in train} & {r["input"] for r in test}, task
        # 2. the templates of the test split are never used for training
        shared = {r["template"] for r in train} & {r["template"] for r in test}
        assert not shared, (task, sorted(shared))
        # 3. no test input equals a training input once ANY known instruction prefix (of either split) is
        #    removed, nor up to case, punctuation and digits (a number filler alone does not make it new)
        prefixes = {r["prefix"] for r in train + test}
        train_bodies = {_body(r["input"], p) for r in train for p in prefixes if r["input"].startswith(p)}
        leaks = [r["input"] for r in test
                 if any(_body(r["input"], p) in train_bodies for p in prefixes if r["input"].startswith(p))]
        assert not leaks, (task, leaks[:5])


def test_oos_splits_are_disjoint_and_out_of_scope():
    cal, test = _oos("calibration"), _oos("test")
    assert not {r["template"] for r in cal} & {r["template"] for r in test}
    assert not {_body(r["input"]) for r in cal} & {_body(r["input"]) for r in test}
    demo_inputs = {_body(r["input"], r["prefix"]) for t in DEMO_TASKS for s in ("train", "test") for r in _rows(t, s)}
    assert not {_body(r["input"]) for r in cal + test} & demo_inputs


@pytest.fixture(scope="module")
def router():
    from ariadne_integrations import AriadneRouter

    return AriadneRouter.load(demo_index_path())


def test_index_routes_the_held_out_split(router):
    from ariadne_integrations import evaluate_router

    texts, labels = [], []
    for task in DEMO_TASKS:
        for r in _rows(task):
            texts.append(r["input"])
            labels.append(task)
    report = evaluate_router(router, texts, labels)
    assert report.selection_accuracy >= 0.98, report.per_task
    for task in DEMO_TASKS:
        assert router.adapter_path(task) == str(demo_adapter_paths()[task].resolve())


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0].strip() if text else ""


def test_adapters_recomputed_on_the_held_out_split(router):
    """Every held-out row through its adapter in ONE mixed-adapter batch; exact match of the first line."""
    from ariadne_integrations.runtime.adapters import AdapterRuntime
    from ariadne_integrations.runtime.generation import GenerationConfig

    rt = AdapterRuntime(None, {t: router.adapter_path(t) for t in router.adapters})
    prompts, targets, adapters = [], [], []
    for task in DEMO_TASKS:
        for r in _rows(task):
            prompts.append(r["input"])
            targets.append(r["target"])
            adapters.append(task)
    outs = rt.generate(prompts, adapters, GenerationConfig(max_new_tokens=24))
    recorded = demo_scores()["tasks"]
    for task in DEMO_TASKS:
        idx = [i for i, a in enumerate(adapters) if a == task]
        exact = sum(_first_line(outs[i].text) == targets[i] for i in idx) / len(idx)
        s = recorded[task]
        base_best = max(s["base_exact_match"], s["base_lenient_match"], s["base_format_instructed_exact_match"],
                        s["base_format_instructed_lenient_match"])
        wrong = [(prompts[i], targets[i], outs[i].text) for i in idx if _first_line(outs[i].text) != targets[i]]
        assert exact >= MIN_ADAPTER_EXACT, (task, exact, wrong[:5])
        assert exact >= s["base_lenient_match"] + MIN_GAIN_OVER_BASE_LENIENT, (task, exact, s["base_lenient_match"])
        assert exact >= base_best + MIN_GAIN_OVER_BASE_BEST, (task, exact, base_best)
        assert abs(exact - s["adapter_exact_match"]) <= 0.05, ("scores.json is stale", task, exact, s["adapter_exact_match"])

