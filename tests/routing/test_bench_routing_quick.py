"""benchmarks/bench_routing.py --quick runs, compares the peers (semantic-router, LlamaIndex) and writes the JSON."""
from __future__ import annotations

import pytest

from tests.benchmark_runs import run_quick

pytest.importorskip("semantic_router")
pytest.importorskip("llama_index.core")


def test_bench_routing_quick(tmp_path, benchmarks_dir) -> None:
    out, png = tmp_path / "routing.json", tmp_path / "curve.png"
    data, _ = run_quick("bench_routing.py", out, "--data", str(benchmarks_dir), "--plot", str(png))
    assert data["quick"] is True
    assert {"accuracy", "abstention_clinc150", "speed", "peers"} <= set(data)
    peers = data["peers"]
    assert set(peers["columns"]) == {"bbh", "clinc150 domains", "clinc150 intents", "bbh + clinc150 domains"}
    sr = "semantic-router (IndexedRouter, LocalIndex, top_k=5, mean)"
    li = "LlamaIndex EmbeddingSingleSelector (descriptions)"
    for name, col in peers["columns"].items():
        methods = col["methods"]
        assert {sr, li, "kmeans k=ceil(sqrt n) [default]", "paper (5 subset means)", "trained logreg C=10"} <= set(methods), name
        for label, m in methods.items():
            assert 0.0 <= m["selection_accuracy"] <= 1.0, (name, label)
            assert 0 < m["n"] <= col["n_dev_in_scope"], (name, label)
        assert methods[sr]["n"] == col["n_dev_in_scope"]
        assert 0 <= methods[sr]["no_route"] <= methods[sr]["n"]
        assert methods[sr]["index_records"] <= col["n_train"]
        assert isinstance(col["default_ge_every_training_free_rival"], bool)
    assert peers["columns"]["bbh + clinc150 domains"]["adapters"] == (
        peers["columns"]["bbh"]["adapters"] + peers["columns"]["clinc150 domains"]["adapters"])
    assert set(peers["curve"]) == {"clinc150 domains", "bbh", "clinc150 intents"}
    for cv in peers["curve"].values():
        assert [p["per_adapter"] for p in cv["points"]][-1] == "all"
        sizes = [p["n_train"] for p in cv["points"]]
        assert sizes == sorted(sizes)
        for p in cv["points"]:
            for m in ("default (kmeans)", "paper", "semantic-router", "logreg C=10"):
                assert 0.0 <= p[m] <= 1.0
    for name in ("clinc150 domains", "bbh"):
        s = peers["speed"][name]
        assert s["ariadne_route_ms"]["p50"] > 0 and s["semantic_router_call_ms"]["p50"] > 0
        assert s["speedup_p50"] > 0
        assert "blocks" in s["method"]
        q = s["interleaved_per_query"]  # the query-by-query figure is kept beside the block one
        assert q["ariadne_route_ms_p50"] > 0 and abs(q["speedup_p50"] - q["semantic_router_call_ms_p50"] / q["ariadne_route_ms_p50"]) < 1e-9
        # its own HuggingFaceEncoder and our embedder are the same weights: the picks must mostly agree
        assert s["semantic_router_hf_vs_precomputed_agreement"] >= 0.8
    assert png.is_file() and png.stat().st_size > 10_000
