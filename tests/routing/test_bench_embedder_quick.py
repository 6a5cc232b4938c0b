"""benchmarks/bench_embedder.py --quick end to end on the real CLINC150 queries and the real MiniLM: every
variant is in the JSON, the ONNX fp32 ones give PyTorch's embeddings, and sentence-transformers' own ONNX
backend is listed as not available (with the reason) when no --st-onnx-python is given."""
from __future__ import annotations

from tests.benchmark_runs import run_quick

ST_ONNX = "sentence-transformers backend='onnx'"
LOCAL = ["pytorch fp32", "onnx fp32, char-sorted, one session", "onnx fp32, token-sorted, one session",
         "onnx fp32 (default)", "onnx int8 per-channel"]


def test_bench_embedder_quick(tmp_path, benchmarks_dir) -> None:
    out = tmp_path / "embedder.json"
    data, stdout = run_quick("bench_embedder.py", out, "--data", str(benchmarks_dir), timeout=1800)
    assert data["quick"] is True and data["queries"] == 128 and data["repeats"] == 1
    assert set(data["variants"]) == {*LOCAL, ST_ONNX}
    for name in LOCAL:
        entry = data["variants"][name]
        assert entry["available"] is True
        assert set(entry["queries_per_s_by_batch_size"]) == {"16", "32", "64", "128"}
        assert all(v > 0 for v in entry["queries_per_s_by_batch_size"].values())
        assert entry["single_query_p50_ms"] > 0
        assert -1.0 <= entry["cosine_to_pytorch_min"] <= entry["cosine_to_pytorch_mean"] <= 1.0 + 1e-6
    for name in LOCAL[:4]:  # fp32: the same embeddings as PyTorch
        assert data["variants"][name]["cosine_to_pytorch_min"] > 0.9999
    assert data["variants"]["onnx int8 per-channel"]["cosine_to_pytorch_min"] > 0.9
    st = data["variants"][ST_ONNX]
    assert st["available"] is False and "--st-onnx-python" in st["reason"]
    assert data["sentence_transformers_onnx"]["available"] is False
    assert data["padded_tokens_per_query"]["tokens"]["32"] <= data["padded_tokens_per_query"]["chars"]["32"]
    assert f"{ST_ONNX:37} not available" in stdout
