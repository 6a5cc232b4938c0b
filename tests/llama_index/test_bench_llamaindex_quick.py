"""benchmarks/bench_llamaindex.py --quick end to end, in a subprocess, on the real CLINC150 data and the
real models (MiniLM embedder, SmolLM2 backbone): every method is in the JSON, every method is scored on
the same queries, and ARIADNE with examples is at least as accurate as LlamaIndex's
EmbeddingSingleSelector with descriptions."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ariadne_integrations

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_llamaindex.py"
SHARED_BENCHMARKS = (REPO.parent / "shared" / "benchmarks").resolve()

METHODS = [
    "AriadneSelector (examples)",
    "AriadneSelector (descriptions)",
    "EmbeddingSingleSelector (descriptions)",
    "EmbeddingSingleSelector (examples, as descriptions)",
    "EmbeddingSingleSelector (most central examples, as descriptions)",
    "LLMSingleSelector (SmolLM2-135M)",
    "chance (uniform random tool)",
    "always the first tool",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHARED_BENCHMARKS.is_dir(), reason=f"benchmark data not found at {SHARED_BENCHMARKS}"),
]


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench_llamaindex") / "quick.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    # The script imports the same package as this test process (this checkout, not another install).
    pkg_root = str(Path(ariadne_integrations.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([pkg_root, *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--data", str(SHARED_BENCHMARKS / "clinc150"), "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert out.is_file(), proc.stdout[-3000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    data["_stdout"] = proc.stdout
    return data


def test_every_method_on_the_same_queries(quick_results):
    results = quick_results["results"]
    assert list(results) == METHODS
    n = quick_results["n_common"]
    assert n >= 1 and quick_results["quick"] is True
    assert {results[m]["n"] for m in METHODS} == {n}
    for m in METHODS:
        r = results[m]
        assert 0.0 <= r["accuracy"] <= 1.0, m
        assert isinstance(r["given"], str) and r["given"].strip(), m


def test_figures_are_consistent(quick_results):
    results, n = quick_results["results"], quick_results["n_common"]
    for m in METHODS[:-2]:  # the selectors (not the two baselines): counts, picks and latency
        r = results[m]
        assert r["correct_count"] == round(r["accuracy"] * n)
        assert sum(r["picks"].values()) == n
        assert r["median_ms"] > 0 and r["p95_ms"] >= r["median_ms"]
    assert results["chance (uniform random tool)"]["accuracy"] == pytest.approx(1 / 10)
    first = quick_results["query_tasks"].get("banking", 0) / n
    assert results["always the first tool"]["accuracy"] == pytest.approx(first)
    assert isinstance(results["LLMSingleSelector (SmolLM2-135M)"]["degenerate_first_tool"], bool)
    # the table the README pastes has a row per method
    table = quick_results["table_markdown"]
    assert all(m in table for m in METHODS)
    assert table in quick_results["_stdout"]


def test_ariadne_examples_at_least_embedding_descriptions(quick_results):
    results = quick_results["results"]
    ariadne = results["AriadneSelector (examples)"]
    embedding = results["EmbeddingSingleSelector (descriptions)"]
    assert ariadne["accuracy"] >= embedding["accuracy"]
    if "secondary" in ariadne and "secondary" in embedding:  # the larger query set, when there is one
        assert ariadne["secondary"]["accuracy"] >= embedding["secondary"]["accuracy"]
