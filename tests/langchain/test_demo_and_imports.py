"""The main demo's splitter and end-to-end run; lazy imports of the LangChain side."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ariadne_integrations.demo.__main__ import DEFAULT_REQUEST, split_request


def test_split_request_is_deterministic():
    assert split_request("a; b\nc and then d") == ["a", "b", "c", "d"]
    assert split_request("Translate to SQL: list users. Classify the sentiment: bad lamp.") == [
        "Translate to SQL: list users.", "Classify the sentiment: bad lamp."]
    # a task phrased as a question keeps its '?' when other separators exist
    assert split_request("What is the date in ISO format? Due May 1, 2024; Write SQL: count users") == [
        "What is the date in ISO format? Due May 1, 2024", "Write SQL: count users"]
    assert len(split_request(DEFAULT_REQUEST)) == 5
    with pytest.raises(ValueError, match="empty"):
        split_request("  ")


def test_import_package_does_not_import_langchain():
    code = ("import sys, ariadne_integrations, ariadne_integrations.core.options, ariadne_integrations.core.generator; "
            "bad=[m for m in sys.modules if m.split('.')[0] in ('langchain_core','llama_index','torch','transformers')]; "
            "assert not bad, bad; "
            "from ariadne_integrations.langchain import AriadneLLM, ChatAriadne, AriadneRouterRunnable; "
            "assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# The default request's sub-queries, the adapter each must reach and the answer that adapter must give.
# Labels are checked against the demo data's own targets below, so a rebuilt pool that renames them fails
# with a clear message rather than through a mysterious answer mismatch.
DEFAULT_EXPECTED: list[tuple[str, str]] = [
    ("sentiment", "negative"),       # "The blender broke after two days, a total waste of money"
    ("sql", "kitchen"),              # "list the products in the kitchen category": SELECT ... FROM products ... 'kitchen'
    ("date_iso", "2025-03-03"),      # "due on March 3, 2025"
    ("support_intent", "refund"),    # "charged twice ..., I want my money back"
    ("sentiment", "positive"),       # "Amazing lamp, it exceeded my expectations"
]
CLASSIFICATION = ("sentiment", "support_intent")


def _targets(task: str) -> set[str]:
    from ariadne_integrations.demo import demo_data_path

    with open(demo_data_path(task, "train"), encoding="utf-8") as fh:
        return {json.loads(line)["target"] for line in fh}


def _first_line(answer: str) -> str:
    lines = answer.strip().splitlines()
    return lines[0].strip() if lines else ""


def _sql_ok(answer: str, table: str, value: str) -> bool:
    sql = " ".join(_first_line(answer).lower().replace('"', "'").split())
    return sql.startswith("select ") and f" from {table}" in sql and f"'{value}'" in sql


def test_default_expectations_match_the_demo_data():
    for task, expected in DEFAULT_EXPECTED:
        if task in CLASSIFICATION:
            assert expected in _targets(task), f"{expected!r} is not a {task} label of the demo data: {sorted(_targets(task))}"
    sql_targets = _targets("sql")
    assert any(_sql_ok(t, "products", "kitchen") for t in sql_targets), "the demo SQL data has no products/kitchen query"
    assert all(t.startswith("SELECT ") for t in sql_targets)
    assert all(len(t) == 10 and t[4] == t[7] == "-" for t in _targets("date_iso"))  # targets are YYYY-MM-DD


@pytest.mark.slow
def test_demo_main_routes_and_answers_each_subquery_right(real_index, capsys):
    """Each sub-query of the default request reaches its adapter AND gets that adapter's right answer: a wrong
    adapter (e.g. sentiment answering the refund request) or the bare backbone (a chatty sentence) fails."""
    from ariadne_integrations.demo.__main__ import main

    assert main(["--json", "--max-new-tokens", "24"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["query"] for r in rows] == split_request(DEFAULT_REQUEST)
    assert [r["adapter"] for r in rows] == [t for t, _ in DEFAULT_EXPECTED], rows
    assert all(0 < r["score"] <= 1 and r["runner_up"] not in (None, r["adapter"]) for r in rows), rows
    for row, (task, expected) in zip(rows, DEFAULT_EXPECTED):
        answer = row["answer"]
        if task == "sql":
            assert _sql_ok(answer, "products", expected), f"{row['query']!r}: not a products/{expected} query: {answer!r}"
        else:
            assert _first_line(answer) == expected, f"{row['query']!r} ({task}): expected {expected!r}, got {answer!r}"


@pytest.mark.slow
def test_demo_cold_first_run_converts_and_exports_then_matches_the_warm_run(real_index, tmp_path, capsys):
    """The first run on a fresh machine: with an empty cache folder the demo converts the GGUF backbone and
    exports the ONNX embedder itself; it must succeed, fill the cache, and give the same rows (routing and
    greedy answers) as a warm run on the already-populated cache."""
    from ariadne_integrations.demo.__main__ import main

    cache = tmp_path / "cache"
    cache.mkdir()
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "ARIADNE_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    args = ["--json", "--max-new-tokens", "8"]
    out = subprocess.run([sys.executable, "-m", "ariadne_integrations.demo", *args], capture_output=True, text=True,
                         env=env, cwd=repo, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    cold, log = json.loads(out.stdout), out.stderr
    assert "converting SmolLM2-135M-Instruct.Q4_1.gguf to safetensors" in log, log[-3000:]
    assert "exporting embedder" in log, log[-3000:]
    backbones = [p for p in (cache / "backbones").iterdir() if p.is_dir()]
    assert len(backbones) == 1 and ".tmp-" not in backbones[0].name, backbones  # converted atomically, no leftovers
    for f in ("config.json", "model.safetensors", "tokenizer_config.json"):
        assert (backbones[0] / f).is_file(), f
    assert (backbones[0] / "model.safetensors").stat().st_size > 400e6  # the de-quantised float32 weights
    onnx = list((cache / "embedders").glob("*.onnx"))
    assert len(onnx) == 1 and onnx[0].stat().st_size > 10e6, onnx

    assert main(args) == 0  # warm: this process, the usual cache
    warm = json.loads(capsys.readouterr().out)
    assert [r["query"] for r in cold] == [r["query"] for r in warm] == split_request(DEFAULT_REQUEST)
    assert [(r["adapter"], r["runner_up"]) for r in cold] == [(r["adapter"], r["runner_up"]) for r in warm]
    assert [r["adapter"] for r in cold] == [t for t, _ in DEFAULT_EXPECTED]
    assert [r["score"] for r in cold] == pytest.approx([r["score"] for r in warm], abs=1e-4)
    assert [r["answer"] for r in cold] == [r["answer"] for r in warm]  # the fresh conversion is the same model
