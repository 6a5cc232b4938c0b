"""benchmarks/bench_scale.py --quick runs and writes the JSON the README's figures come from."""
from __future__ import annotations

from tests.benchmark_runs import run_quick


def test_bench_scale_quick(tmp_path) -> None:
    out = tmp_path / "scale.json"
    data, _ = run_quick("bench_scale.py", out, "--adapters", "10,1000", "--queries", "32", timeout=120)
    assert {"machine", "dimension", "centroids_per_adapter", "quick", "ann_available", "sizes", "cold_start"} <= set(data)
    assert set(data["sizes"]) == {"10", "1000"}
    for block in data["sizes"].values():
        e = block["exact"]
        assert {"matrix_bytes", "index_rss_delta_bytes", "search_ms_single", "search_ms_batch64", "route_decision_ms_single"} <= set(e)
        assert e["matrix_bytes"] == block["centroids"] * data["dimension"] * 4
        assert {"p50", "p95"} <= set(e["search_ms_single"])
        a = block["ann"]
        if data["ann_available"]:
            assert {"build_s", "memory_bytes", "search_ms_single", "search_ms_batch64", "top1_agreement"} <= set(a)
            assert 0.0 <= a["top1_agreement"] <= 1.0
        else:
            assert a is None
